"""The `Store` protocol every persistence backend implements, and the records it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from .poison import PoisonMessage

AppointmentStatus = Literal["booked", "confirmed", "cancelled", "completed", "no_show"]
ACTIVE_STATUSES: tuple[AppointmentStatus, ...] = ("booked", "confirmed")
LeadStage = Literal["new", "engaged", "qualified", "scheduled", "customer", "lost"]
LEAD_STAGES: tuple[LeadStage, ...] = ("new", "engaged", "qualified", "scheduled", "customer", "lost")
ConversationStatus = Literal["active", "human"]
Direction = Literal["in", "out"]
MessageStatus = Literal[
    "received", "queued", "sending", "sent", "delivered", "read", "played", "failed", "dead"
]
# Inbound rows are the inbox: `pending` until a turn answers them (`done`) or decides not to
# (`ignored`: e.g. the conversation is with a human). Outbound rows are the outbox.
InboxState = Literal["pending", "done", "ignored"]
Author = Literal["patient", "bot", "human"]
# How long a sender's claim on an outbound row lasts before another process may take the row
# for interrupted (`Store.outbox_recover`): far longer than any one send with its timeouts.
OUTBOX_LEASE = timedelta(minutes=2)
# Delivery only moves forward: a late "delivered" never overwrites "read".
DELIVERY_RANK: dict[str, int] = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4,
                                 "played": 5}
ProviderStatus = Literal["sent", "delivered", "read", "played", "failed"]


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
    paused_until: datetime | None = None  # the bot stays quiet while a human has the chat

    def bot_paused(self, now: datetime) -> bool:
        """True while a human owns the conversation (until resumed or `paused_until`)."""
        return self.status == "human" and (self.paused_until is None or now < self.paused_until)


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
    author: Author = "patient"
    channel: str | None = None
    provider_ts: datetime | None = None  # the provider's own timestamp (ordering), UTC
    state: InboxState | None = None  # inbound only
    attempts: int = 0  # outbound only: send attempts so far
    next_attempt_at: datetime | None = None  # outbound only: when a retry is due
    error: str | None = None  # outbound only: last provider error ("131047: Re-engagement ...")


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
    # what the turn did, kept for export and replay (the checkpoint only keeps recent history):
    # [{"name", "args", "ok", "result"}], in call order
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reply: str | None = None


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

    # inbox (webhooks → dispatcher)
    async def inbox_add(
        self,
        tenant_id: str,
        phone: str,
        *,
        channel: str,
        provider_message_id: str,
        provider_ts: datetime,
        kind: str,
        text: str | None,
        meta: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Store an inbound message as `pending`, creating patient and conversation on first
        contact; idempotent on (tenant, provider_message_id): a redelivery returns the stored
        row and False. Moves `conversation.last_inbound_at` forward (the 24-hour window)."""

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        """Pending inbound messages of a conversation, by provider timestamp then arrival."""

    async def conversations_with_pending(self) -> list[Conversation]:
        """Conversations that have pending inbound messages (picked up again after a restart)."""

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        """Mark pending inbound messages as handled without a reply (reason kept in meta)."""

    async def complete_turn(
        self,
        conversation_id: str,
        *,
        inbox_ids: list[str],
        turn_id: str | None,
        replies: list[str],
        meta: dict[str, Any] | None = None,
        last_meta: dict[str, Any] | None = None,
    ) -> list[Message]:
        """In one transaction: mark `inbox_ids` done (with `turn_id`) and queue `replies` as
        outbound rows (author bot, status queued), in order; `last_meta` joins the last row's
        meta (what goes out with the reply's final bubble: the options it offers). If any of
        `inbox_ids` is no longer pending, nothing is written and [] is returned: nothing is
        answered twice."""

    # outbox (dispatcher → senders)
    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        """Queued outbound rows whose `next_attempt_at` is due (or unset), oldest first."""

    async def outbox_claim(self, message_id: str) -> Message | None:
        """queued → sending, atomically (None if someone else took it or it is not queued);
        increments `attempts` and records the claim time, by the store's clock (the start of
        the claim's lease, see `outbox_recover`; SQLite: column `claimed_at`, migration v3)."""

    async def outbox_result(
        self,
        message_id: str,
        *,
        status: Literal["sent", "queued", "failed", "dead"],
        provider_message_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> Message:
        """Record a send attempt: sent (with the provider id), queued again for a retry at
        `next_attempt_at`, failed (a definitive 4xx) or dead (retries exhausted)."""

    async def outbox_recover(self, *, lease: timedelta | None = None) -> int:
        """Rows left `sending` by a sender that died are marked failed (they may have gone out;
        resending could answer twice). Returns how many.

        `lease=None`: every `sending` row — right only for the one sender of a single-process
        deployment, at its start-up. With several sender processes (`atende worker`), a row
        another live process claimed a moment ago is not interrupted: pass `lease` and only rows
        whose claim (`outbox_claim`) is older than `lease` count, measured by the store's own
        clock — on Postgres the database's `now()`, one clock for every machine. Each sender
        calls it periodically (OUTBOX_LEASE by default), not only at start-up.

        Backends: record the claim time in `outbox_claim` (SQLite: `messages.claimed_at`,
        migration v3; Postgres: the same column in a new migration, set to now() by the claim,
        and `atende_outbox_recover(error, lease interval)` updating only `sending` rows with
        `claimed_at IS NULL OR claimed_at <= now() - lease`, NULL lease = all). A row claimed
        before the column existed (NULL) counts as expired."""

    async def dead_letters(self, tenant_id: str | None = None, *, limit: int = 100) -> list[Message]:
        """Outbound rows that failed or died, newest first."""

    async def apply_status(
        self,
        tenant_id: str,
        provider_message_id: str,
        status: ProviderStatus,
        *,
        error: str | None = None,
    ) -> bool:
        """Apply a provider status callback to our outbound row; never moves backwards
        (DELIVERY_RANK); `failed` only applies before delivered. False if unknown or no change."""

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        """Our own outbound message with that provider id (tells the bot's echoes apart)."""

    # human takeover
    async def record_human_message(
        self,
        conversation_id: str,
        *,
        text: str | None,
        kind: str = "text",
        provider_message_id: str | None,
        provider_ts: datetime | None,
    ) -> tuple[Message, bool]:
        """Store a message a person at the clinic sent by hand (author human, direction out,
        status sent); idempotent on the provider id like `inbox_add`."""

    async def human_messages_since(self, conversation_id: str, since: datetime | None
                                   ) -> list[Message]:
        """Messages people at the clinic sent after `since` (to tell the bot what was said)."""

    async def pause_conversation(self, conversation_id: str, *, until: datetime | None,
                                 reason: str) -> Conversation:
        """Hand the conversation to a human: status human until `until` (None: until resumed)."""

    async def resume_conversation(self, conversation_id: str) -> Conversation:
        """Give the conversation back to the bot."""

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None: ...

    # turns
    async def start_turn(self, conversation_id: str, tenant_id: str, *, model: str,
                         prompt_version: str) -> Turn: ...

    async def finish_turn(self, turn_id: str, *, outcome: str, tokens_in: int = 0,
                          tokens_out: int = 0, tool_calls: list[dict[str, Any]] | None = None,
                          reply: str | None = None) -> Turn: ...

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        """A conversation's turns, oldest first."""

    async def list_conversations(
        self, tenant_id: str, *, phone: str | None = None, since: datetime | None = None
    ) -> list[Conversation]:
        """A tenant's conversations (optionally one phone, or active since a time), oldest first."""

    async def purge_bodies(self, tenant_id: str, *, before: datetime) -> int:
        """LGPD retention: blank the text and transcript of a tenant's messages created before
        `before`, and the replies kept on its turns; appointments and the rest are kept.
        Returns how many messages were blanked."""

    # poison messages (webhooks → ops)
    async def add_poison(
        self,
        tenant_id: str,
        *,
        channel: str,
        reason: str,
        provider_message_id: str | None = None,
        excerpt: str = "",
    ) -> PoisonMessage:
        """Keep a message that could not be stored, with its reason (received now, by the
        store's clock); idempotent on (tenant, channel, provider_message_id) when the id is
        known: a redelivery returns the first record."""

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100
                          ) -> list[PoisonMessage]:
        """Poison records of a tenant (or every tenant), newest first."""

    async def annotate_message(self, message_id: str, meta: dict[str, Any]) -> Message:
        """Merge `meta` into a stored message's meta (e.g. the transcript of a voice note)."""
