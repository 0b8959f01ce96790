"""Why an asked time cannot be offered, in pt-BR, and the free slots nearest to it.

`check_availability` uses both when the patient names a time that no professional has free:
the reply says why (the minimum notice, a break in the professional's day, outside their
hours, already taken) and lists the options closest to that time first, not the day's first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from atende.tenant import WEEKDAYS, Professional, Service, Tenant
from atende.tools.scheduling import Busy, Slot, _duration_text, _hours_text


def nearest(slots: Sequence[Slot], at: time, limit: int | None) -> list[Slot]:
    """`slots` ordered by how far each starts from `at` on its own day (ties: the earlier
    first), cut to `limit`."""
    def distance(slot: Slot) -> tuple[date, float, datetime]:
        local = slot.start
        asked = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
        return local.date(), abs((local - asked).total_seconds()), local

    ordered = sorted(slots, key=distance)
    return ordered if limit is None else ordered[:max(limit, 0)]


def _overlapping(busy: Iterable[Busy], pro_id: str, start: datetime, end: datetime
                 ) -> list[Busy]:
    return [b for b in busy if b.professional_id == pro_id and b.start < end and start < b.end]


def _why(tenant: Tenant, pro: Professional, service: Service, day: date, at: time,
         busy: Sequence[Busy]) -> str:
    intervals = tenant.working_hours(pro, WEEKDAYS[day.weekday()])
    if not intervals:
        return f"{pro.name} não atende nesse dia"
    start = datetime.combine(day, at, tzinfo=tenant.tz)
    end = start + timedelta(minutes=service.duration_minutes)
    hours = _hours_text(intervals)
    fits = [i for i in intervals
            if i.start <= at and (end.date() == day and end.time() <= i.end)]
    if not fits:
        first, last = intervals[0].start, intervals[-1].end
        lasts = f"{service.name.lower()} dura {service.duration_minutes} min"
        if first <= at < last:
            return f"{pro.name} está em intervalo nesse horário ({lasts}; atende {hours})"
        return f"{pro.name} não atende nesse horário ({lasts}; atende {hours})"
    taken = _overlapping(busy, pro.id, start.astimezone(UTC), end.astimezone(UTC))
    if any(b.blocked for b in taken):
        return f"a agenda de {pro.name} está bloqueada pela clínica nesse horário"
    if taken:
        return f"{pro.name} já está com esse horário ocupado"
    return ""


def refused(tenant: Tenant, service: Service, pros: Sequence[Professional], day: date,
            at: time, *, now: datetime, busy: Sequence[Busy]) -> str:
    """Why `service` can't start at `at` on `day` with any of `pros` (a pt-BR sentence), or ''
    when there is no reason to tell beyond "not free"."""
    start = datetime.combine(day, at, tzinfo=tenant.tz)
    notice = tenant.policies.min_notice_book_minutes
    if start < now + timedelta(minutes=notice):
        if start <= now:
            return f"Às {at:%H:%M} de hoje já passou."
        return (f"Às {at:%H:%M} não dá: para agendar, precisamos de pelo menos "
                f"{_duration_text(notice)} de antecedência.")
    weekday = WEEKDAYS[day.weekday()]
    working = [p for p in pros if tenant.working_hours(p, weekday)] or list(pros)
    pros = working  # who is off that day says nothing about this time
    reasons = [r for r in (_why(tenant, p, service, day, at, busy) for p in pros) if r]
    if not reasons or len(reasons) < len(pros):
        return ""
    return f"Às {at:%H:%M} não dá: " + "; ".join(reasons[:3]) + "."
