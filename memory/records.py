"""The records every `Store` returns, their statuses, the pt-BR texts a refusal carries and the
checks a value passes before any backend stores it: backend-neutral, defined once.

A new table starts here: its frozen dataclass (field names are the table's column names; the
backends' row mapping in `memory/shared/rows.py` relies on it), its statuses, its texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from atende.errors import NotFound

ATENDE = "atende"  # the source of an appointment atende's own agent booked
# An appointment an outside system booked for a patient it knows by no phone (a Calendly invitee
# who gave none) has this as its patient phone: busy time, nobody's to list or message.
NO_PHONE = ""
AppointmentStatus = Literal["booked", "confirmed", "cancelled", "completed", "no_show"]
ACTIVE_STATUSES: tuple[AppointmentStatus, ...] = ("booked", "confirmed")
APPOINTMENT_STATUSES: tuple[AppointmentStatus, ...] = get_args(AppointmentStatus)
LeadStage = Literal["new", "engaged", "qualified", "scheduled", "customer", "lost"]
LEAD_STAGES: tuple[LeadStage, ...] = ("new", "engaged", "qualified", "scheduled", "customer", "lost")
ConversationStatus = Literal["active", "human"]
Direction = Literal["in", "out"]
MessageStatus = Literal[
    "received", "queued", "sending", "sent", "delivered", "read", "played", "failed", "dead"
]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = get_args(MessageStatus)
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
    proactive_opt_out: bool = False  # "parar": no reminders or offers (the clinic still answers)


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
    confirmed_at: datetime | None = None  # the patient confirmed (answering a reminder)
    cancel_reason: str | None = None  # "late: ..." when cancelled inside the notice
    source: str = ATENDE  # who booked it: atende's agent, or an outside system ("calendly")
    external_ref: str | None = None  # that system's id for it (unique per clinic)

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
    source: str = ATENDE
    external_ref: str | None = None  # required when `source` is not atende


@dataclass(frozen=True)
class ExternalWrite:
    """What an outside system's booking or cancellation did to its appointment: `changed` is
    False for a redelivery (the row was already so)."""

    appointment: Appointment
    changed: bool


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
    config_version: int | None = None  # the clinic configuration version in force
    tokens_in: int = 0
    tokens_out: int = 0
    outcome: str | None = None
    # what the turn did, kept for export and replay (the checkpoint only keeps recent history):
    # [{"name", "args", "ok", "result"}], in call order
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reply: str | None = None


@dataclass(frozen=True)
class PoisonMessage:
    """A message of a provider POST that failed validation or that the store refused.

    Kept so ops can see what was lost and why (`atende inbox poison`, `GET /admin/poison`); the
    POST was acknowledged, so the provider does not redeliver it. `excerpt` is the raw item
    redacted (no words, phones masked) and capped; `reason` names fields and errors, no values.
    """

    id: str
    tenant_id: str
    channel: str
    reason: str
    received_at: datetime
    provider_message_id: str | None = None
    excerpt: str = ""


# What the patient (or the model, re-planning) reads when the store refuses.
# pending: due later (or now); queued: handed to the outbox (one outbound row); sent: the
# provider accepted it; skipped / failed / cancelled carry a reason.
ReminderStatus = Literal["pending", "queued", "sent", "skipped", "failed", "cancelled"]
REMINDER_STATUSES: tuple[ReminderStatus, ...] = ("pending", "queued", "sent", "skipped", "failed",
                                                 "cancelled")
OPEN_REMINDER: tuple[ReminderStatus, ...] = ("pending", "queued")

WaitlistStatus = Literal["waiting", "offered", "booked", "expired", "removed"]
WAITLIST_STATUSES: tuple[WaitlistStatus, ...] = ("waiting", "offered", "booked", "expired",
                                                 "removed")
Period = Literal["manha", "tarde", "noite"]  # as `tools.dates.Period`


@dataclass(frozen=True)
class Reminder:
    """One proactive message about one appointment, unique per (appointment, kind)."""

    id: str
    tenant_id: str
    appointment_id: str
    kind: str  # "confirmation", "before_48h", ...
    due_at: datetime  # UTC: when it may go out (already moved out of quiet hours)
    status: ReminderStatus
    reason: str | None = None
    message_id: str | None = None  # the outbox row that carries it
    provider_message_id: str | None = None
    sent_at: datetime | None = None  # when it was handed to the outbox
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class WaitlistEntry:
    """A patient who wants an earlier time for a service (optionally a professional, a period).

    While `offered`, the slot (`offer_start_at` with `offer_professional_id`) is held for them until
    `offer_expires_at`; `offer_id` is what their "sim" (or the button) answers."""

    id: str
    tenant_id: str
    patient_phone: str
    service_id: str
    status: WaitlistStatus
    created_at: datetime
    professional_id: str | None = None
    period: Period | None = None
    offer_id: str | None = None
    offer_start_at: datetime | None = None
    offer_professional_id: str | None = None
    offer_expires_at: datetime | None = None
    appointment_id: str | None = None  # the booking that settled it
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TenantConfig:
    """One version of a clinic's configuration: the validated `Tenant` document (JSON), who
    wrote it and why. Versions count from 1 per clinic; the newest is the one in force."""

    tenant_id: str
    version: int
    document: dict[str, Any]
    author: str
    created_at: datetime
    note: str | None = None
    rollback_of: int | None = None  # the version this one restored


StaffRole = Literal["owner", "reception", "readonly"]
STAFF_ROLES: tuple[StaffRole, ...] = get_args(StaffRole)
TokenKind = Literal["api", "session"]


@dataclass(frozen=True)
class StaffUser:
    """A person of one clinic who may use the staff API (and, later, the console)."""

    id: str
    tenant_id: str
    email: str  # lower-case; unique across clinics (login names no clinic)
    name: str
    role: StaffRole
    password_hash: str
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


GoogleStatus = Literal["connected", "needs_reconnect"]
GOOGLE_STATUSES: tuple[GoogleStatus, ...] = get_args(GoogleStatus)


@dataclass(frozen=True)
class GoogleConnection:
    """A clinic's one Google OAuth connection. The tokens are ciphertext (the store never sees
    them in the clear: `integrations/google/cipher.py`); `expires_at` is the access token's.
    `lease_until`: a refresh is under way in some process until then (one at a time)."""

    tenant_id: str
    status: GoogleStatus
    refresh_token_enc: str
    scopes: str  # space-separated, as Google sends them
    access_token_enc: str | None = None
    expires_at: datetime | None = None
    reason: str | None = None  # why it needs reconnecting (`invalid_grant: ...`)
    lease_until: datetime | None = None
    connected_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class StaffToken:
    """An API token (an integration's) or a login session of one staff member; only the
    token's sha256 is stored."""

    id: str
    tenant_id: str
    staff_id: str
    kind: TokenKind
    name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class CalendarLink:
    """One of the clinic's Google calendars, associated with one of its professionals."""

    tenant_id: str
    calendar_id: str
    professional_id: str
    summary: str | None = None
    created_at: datetime | None = None


# The clinic's calendars: conflicts with what staff wrote elsewhere, and blocked time.
CalendarSource = Literal["google", "calendly"]
CALENDAR_SOURCES: tuple[CalendarSource, ...] = get_args(CalendarSource)
BLOCK_MAX = timedelta(days=366)  # a block longer than this is a typo, not time off


@dataclass(frozen=True)
class CalendarConflict:
    """Something staff put in an outside calendar (a Google event, a Calendly invitee) that
    overlaps an atende booking (`appointment_id`) or could not be placed: recorded for the clinic
    to settle, never dropped. Unique per (tenant, source, external_id, appointment_id); open
    until `resolved_at`. `summary` is the pt-BR line staff read."""

    id: str
    tenant_id: str
    source: CalendarSource
    external_id: str  # the Google event id, the Calendly invitee URI
    starts_at: datetime
    ends_at: datetime
    summary: str
    created_at: datetime
    professional_id: str | None = None
    appointment_id: str | None = None
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class Block:
    """A professional's time off or a blocked period: never offered, never bookable. `reason`
    is for staff only (patients are told the time is not available)."""

    id: str
    tenant_id: str
    professional_id: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    reason: str = ""
    created_by: str | None = None  # who blocked it ("cli", "api", a staff id later)


BusyKind = Literal["appointment", "block"]


@dataclass(frozen=True)
class BusySpan:
    """Time a professional is taken, as availability reads it: an active appointment's or a
    block's span (a projection, not a table)."""

    professional_id: str
    starts_at: datetime
    ends_at: datetime
    kind: BusyKind


def check_period(starts_at: datetime, ends_at: datetime, *, longest: timedelta | None = None
                 ) -> tuple[datetime, datetime]:
    """A period's two ends as UTC instants: aware, the end after the start, not longer than
    `longest`; `ValueError` naming the field otherwise."""
    start, end = utc(starts_at), utc(ends_at)
    if end <= start:
        raise ValueError(f"end must be after start; got {start.isoformat()} .. {end.isoformat()}")
    if longest is not None and end - start > longest:
        raise ValueError(f"a period is at most {longest.days} days; got {(end - start).days}")
    return start, end


BLOCKED = "Esse horário está bloqueado na agenda do profissional. Vou buscar outras opções."
CONFLICT_NOT_FOUND = "Não encontrei esse conflito de agenda."
BLOCK_NOT_FOUND = "Não encontrei esse bloqueio."


SLOT_TAKEN = "Esse horário acabou de ser ocupado. Vou buscar outras opções."
APPOINTMENT_NOT_FOUND = "Não encontrei esse agendamento entre os seus."
NOT_ACTIVE = {
    "cancelled": "Esse agendamento já está cancelado.",
    "completed": "Esse agendamento já aconteceu, então não dá para alterá-lo.",
    "no_show": "Esse agendamento já passou, então não dá para alterá-lo.",
}
CONVERSATION_NOT_FOUND = "Não encontrei essa conversa."
MESSAGE_NOT_FOUND = "Não encontrei essa mensagem."
TURN_NOT_FOUND = "Não encontrei esse turno."
# The error kept on an outbound row `outbox_recover` gave up on (ops read it, not patients).
INTERRUPTED = "interrupted while sending; not resent to avoid a duplicate"

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def check_phone(phone: str) -> None:
    if not _E164.fullmatch(phone):
        raise ValueError(f"phone must be E.164 like +5511999998888, got {phone!r}")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def utc(moment: datetime) -> datetime:
    """An aware instant in UTC; a naive one is refused (storage is UTC, never local guesses)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}; atende stores timezone-aware instants")
    return moment.astimezone(UTC)


def own_active(found: Appointment | None) -> Appointment:
    """The patient's own appointment if it is still active; `NotFound` saying why otherwise."""
    if found is None:
        raise NotFound(APPOINTMENT_NOT_FOUND)
    if found.status not in ACTIVE_STATUSES:
        raise NotFound(NOT_ACTIVE.get(found.status, APPOINTMENT_NOT_FOUND))
    return found


# The clinic's Google Calendars (`integrations/google/`): busy time mirrored from them, how far
# each calendar is synced, the push channels watching them, and the jobs writing bookings there.
CalendarJobAction = Literal["create", "update", "delete"]
CALENDAR_JOB_ACTIONS: tuple[CalendarJobAction, ...] = get_args(CalendarJobAction)


@dataclass(frozen=True)
class CalendarBusy:
    """Time a professional is busy in one of their calendars (an event staff created there):
    availability offers nothing that overlaps it. Unique per (tenant, calendar, event)."""

    tenant_id: str
    professional_id: str
    calendar_id: str
    event_id: str
    starts_at: datetime
    ends_at: datetime
    summary: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CalendarSyncState:
    """How far one calendar is mirrored: the provider's sync token for the next incremental
    sync (None: the next one is a full sync) and when a sync last finished."""

    tenant_id: str
    calendar_id: str
    sync_token: str | None = None
    synced_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CalendarChannel:
    """A push channel watching a calendar: notifications name `channel_id` and `resource_id`
    and carry the per-channel token, kept here only as its SHA-256 (`token_hash`)."""

    tenant_id: str
    channel_id: str
    calendar_id: str
    resource_id: str
    token_hash: str
    expires_at: datetime
    created_at: datetime | None = None


@dataclass(frozen=True)
class CalendarJob:
    """Writing an appointment to the clinic's calendar, durably, after the booking committed:
    retried with backoff (`next_at`) until `done_at`. Unique per (appointment, action, version)."""

    id: str
    tenant_id: str
    appointment_id: str
    action: CalendarJobAction
    version: str
    attempts: int
    next_at: datetime
    created_at: datetime
    last_error: str | None = None
    done_at: datetime | None = None
