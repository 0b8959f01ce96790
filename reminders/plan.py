"""When each proactive message about an appointment is due: pure functions of the clinic's
policy, the appointment's start and "now", in UTC, with quiet hours in the clinic's time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from atende.tenant import Reminders, Tenant

CONFIRMATION = "confirmation"
PlannedStatus = Literal["pending", "skipped"]


def offset_kind(hours: float) -> str:
    """The row's kind for a reminder `hours` before: "before_48h", "before_1.5h"."""
    return f"before_{hours:g}h"


@dataclass(frozen=True)
class Planned:
    kind: str
    due_at: datetime  # UTC
    status: PlannedStatus = "pending"
    reason: str | None = None


def after_quiet_hours(policy: Reminders, tenant: Tenant, at: datetime) -> datetime:
    """`at`, or the first minute after the clinic's quiet hours when `at` falls inside them."""
    quiet = policy.quiet_hours
    if quiet is None:
        return at
    local = at.astimezone(tenant.tz)
    if not quiet.covers(local.time()):
        return at
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:  # the quiet hours end tomorrow
        end = (local + timedelta(days=1)).replace(hour=quiet.end.hour, minute=quiet.end.minute,
                                                   second=0, microsecond=0)
    return end.astimezone(at.tzinfo)


def when_to_send(policy: Reminders, tenant: Tenant, due_at: datetime, start: datetime
                 ) -> tuple[datetime | None, str | None]:
    """The minute a reminder due at `due_at` may go out, or (None, reason) when quiet hours push
    it past `min_lead_minutes` before the appointment."""
    send_at = after_quiet_hours(policy, tenant, due_at)
    if send_at == due_at:
        return send_at, None
    if send_at > start - timedelta(minutes=policy.min_lead_minutes):
        local = due_at.astimezone(tenant.tz)
        return None, (f"quiet hours ({policy.quiet_hours}) at {local:%d/%m %H:%M}, and the next "
                      f"allowed minute is less than {policy.min_lead_minutes} min before the "
                      "appointment")
    return send_at, None


def plan(tenant: Tenant, start: datetime, now: datetime, *, confirmation: bool = True
         ) -> list[Planned]:
    """Every proactive message an appointment starting at `start`, booked at `now`, gets: the
    booking confirmation (now), and one reminder per offset, due `offset` before `start` and moved
    out of quiet hours; an offset already passed is planned as skipped, with the reason."""
    policy = tenant.reminders
    if not policy.enabled:
        return []
    planned: list[Planned] = []
    if confirmation and policy.booking_confirmation:
        planned.append(Planned(CONFIRMATION, now))
    for hours in policy.offsets_hours:
        kind, due = offset_kind(hours), start - timedelta(hours=hours)
        if due <= now:
            planned.append(Planned(kind, due, "skipped",
                                   f"booked {_hours(start - now)} ahead, closer than {hours:g} h"))
            continue
        send_at, reason = when_to_send(policy, tenant, due, start)
        planned.append(Planned(kind, due, "skipped", reason) if send_at is None
                       else Planned(kind, send_at))
    return planned


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"
