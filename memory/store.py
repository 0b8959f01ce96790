"""The `Store` protocol every persistence backend implements, and the records it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

AppointmentStatus = Literal["booked", "confirmed", "cancelled", "completed", "no_show"]
ACTIVE_STATUSES: tuple[AppointmentStatus, ...] = ("booked", "confirmed")
LeadStage = Literal["new", "engaged", "qualified", "scheduled", "customer", "lost"]
LEAD_STAGES: tuple[LeadStage, ...] = ("new", "engaged", "qualified", "scheduled", "customer", "lost")
ConversationStatus = Literal["active", "human"]
Direction = Literal["in", "out"]
MessageStatus = Literal["received", "queued", "sent", "delivered", "read", "failed"]


@dataclass(frozen=True)
class Patient:
    """A patient or lead of one clinic, keyed by phone in E.164."""

    tenant_id: str
    phone: str
    name: str | None = None
    stage: LeadStage = "new"
    source: str | None = None
    interest: str | None = None
    notes: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Conversation:
    id: str
    tenant_id: str
    phone: str
    channel: str
    status: ConversationStatus = "active"
    handoff_reason: str | None = None
    handoff_at: datetime | None = None
    last_inbound_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    tenant_id: str
    direction: Direction
    kind: str
    text: str | None
    status: MessageStatus
    created_at: datetime
    provider_message_id: str | None = None
    turn_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Appointment:
    """A booked slot. `start`/`end` are UTC; the patient sees them in the clinic's timezone."""

    id: str
    tenant_id: str
    professional_id: str
    service_id: str
    patient_phone: str
    start: datetime
    end: datetime
    status: AppointmentStatus
    created_by_turn: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class NewAppointment:
    tenant_id: str
    professional_id: str
    service_id: str
    patient_phone: str
    start: datetime
    end: datetime
    created_by_turn: str | None = None


@dataclass(frozen=True)
class Turn:
    """One agent turn: when it ran, with which model and prompt, and what it cost."""

    id: str
    conversation_id: str
    tenant_id: str
    started_at: datetime
    finished_at: datetime | None = None
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    outcome: str | None = None


class Store(Protocol):
    """Persistence of one deployment: every method is tenant-scoped and atomic.

    Booking is refused by the database itself when it overlaps an active appointment of the
    same professional (`SlotUnavailable`); cancelling or moving someone else's appointment is
    `NotFound`, because the query is scoped by the patient's phone.
    """

    url: str

    async def setup(self) -> None:
        """Create or migrate the schema; idempotent."""

    async def close(self) -> None: ...

    # patients / leads
    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None: ...

    async def upsert_patient(
        self, tenant_id: str, phone: str, *, source: str | None = None
    ) -> Patient:
        """Return the patient, creating a `new` lead on first contact."""

    async def update_patient(
        self,
        tenant_id: str,
        phone: str,
        *,
        name: str | None = None,
        stage: LeadStage | None = None,
        interest: str | None = None,
        source: str | None = None,
        add_note: str | None = None,
    ) -> Patient:
        """Set the given fields (None leaves a field as it is); notes are appended."""

    # conversations and messages
    async def get_or_create_conversation(
        self, tenant_id: str, phone: str, channel: str
    ) -> Conversation: ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def set_conversation_status(
        self, conversation_id: str, status: ConversationStatus, *, reason: str | None = None
    ) -> Conversation: ...

    async def add_message(
        self,
        conversation_id: str,
        *,
        direction: Direction,
        text: str | None,
        kind: str = "text",
        status: MessageStatus = "received",
        provider_message_id: str | None = None,
        turn_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message: ...

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        """The newest `limit` messages, oldest first."""

    # appointments
    async def book_appointment(self, new: NewAppointment) -> Appointment:
        """Insert a `booked` appointment; `SlotUnavailable` if it overlaps an active one."""

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None: ...

    async def list_appointments(
        self,
        tenant_id: str,
        *,
        patient_phone: str | None = None,
        professional_id: str | None = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        statuses: tuple[AppointmentStatus, ...] | None = ACTIVE_STATUSES,
    ) -> list[Appointment]:
        """Ordered by start; `statuses=None` for all."""

    async def cancel_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, turn_id: str | None = None
    ) -> Appointment:
        """Cancel the patient's own active appointment; `NotFound` otherwise."""

    async def reschedule_appointment(
        self,
        tenant_id: str,
        appointment_id: str,
        *,
        patient_phone: str,
        professional_id: str,
        start: datetime,
        end: datetime,
        turn_id: str | None = None,
    ) -> Appointment:
        """Move the patient's own active appointment atomically (`SlotUnavailable` on overlap)."""

    # turns
    async def start_turn(self, conversation_id: str, tenant_id: str, *, model: str,
                         prompt_version: str) -> Turn: ...

    async def finish_turn(self, turn_id: str, *, outcome: str, tokens_in: int = 0,
                          tokens_out: int = 0) -> Turn: ...
