"""The records of what atende sends first: reminders about appointments, the waitlist that
refills a freed slot, and per-clinic flags (proactive sends paused, a template failing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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

    While `offered`, the slot (`offer_start` with `offer_professional_id`) is held for them until
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
    offer_start: datetime | None = None
    offer_professional_id: str | None = None
    offer_expires_at: datetime | None = None
    appointment_id: str | None = None  # the booking that settled it
    updated_at: datetime | None = None
