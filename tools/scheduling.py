"""Free appointment slots and the booking and cancellation rules, in the clinic's local time."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from atende.errors import NotFound, PolicyViolation, SlotUnavailable
from atende.tenant import WEEKDAYS, Interval, Professional, Service, Tenant
from atende.tools.dates import PERIOD_BOUNDS, Period, day_label

_ON_WEEKDAY = (
    "às segundas",
    "às terças",
    "às quartas",
    "às quintas",
    "às sextas",
    "aos sábados",
    "aos domingos",
)
_SLOT_ID = re.compile(
    r"^([a-z0-9][a-z0-9-]*)\|([a-z0-9][a-z0-9-]*)\|"
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$"
)
_END_OF_DAY = time(23, 59, 59)  # how tenant.Interval stores "24:00"


@dataclass(frozen=True)
class Busy:
    """Time a professional is already taken (an appointment, a block); aware, any timezone.
    `blocked`: the clinic blocked it (time off), which a refusal says instead of "ocupado"."""

    professional_id: str
    start: datetime
    end: datetime
    blocked: bool = False


@dataclass(frozen=True)
class Slot:
    """A bookable appointment time; `start`/`end` are aware, in the clinic's timezone."""

    professional_id: str
    service_id: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _utc(self.start, "Slot.start")
        _utc(self.end, "Slot.end")

    @property
    def id(self) -> str:
        """Stable handle the model passes back to book: 'ana-souza|limpeza|2026-03-11T09:00'."""
        return f"{self.professional_id}|{self.service_id}|{self.start:%Y-%m-%dT%H:%M}"


def _utc(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {dt!r}")
    return dt.astimezone(UTC)


def local_label(dt: datetime, tenant: Tenant) -> str:
    """'qua 11/03 às 09:00' — `dt` in the clinic's local time, as patients read it."""
    local = _utc(dt, "dt").astimezone(tenant.tz)
    return f"{day_label(local.date())} às {local:%H:%M}"


def _duration_text(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hora" if hours == 1 else f"{hours} horas"
    if minutes > 60:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes} minutos"


def _hours_text(intervals: list[Interval]) -> str:
    spans = [f"{i.start:%H:%M}-{'24:00' if i.end == _END_OF_DAY else f'{i.end:%H:%M}'}" for i in intervals]
    return spans[0] if len(spans) == 1 else ", ".join(spans[:-1]) + " e " + spans[-1]


def _bounds(tenant: Tenant, day: date, interval: Interval) -> tuple[datetime, datetime]:
    """An interval of local wall-clock time on `day`, as UTC instants."""
    tz = tenant.tz
    start = datetime.combine(day, interval.start, tzinfo=tz)
    if interval.end == _END_OF_DAY:
        end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    else:
        end = datetime.combine(day, interval.end, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _day_starts(tenant: Tenant, pro: Professional, service: Service, day: date) -> Iterator[datetime]:
    """UTC starts on `day` where the whole service fits inside one working interval."""
    step = timedelta(minutes=tenant.policies.slot_interval_minutes)
    duration = timedelta(minutes=service.duration_minutes)
    for interval in tenant.working_hours(pro, WEEKDAYS[day.weekday()]):
        start, end = _bounds(tenant, day, interval)
        while start + duration <= end:
            yield start
            start += step


@dataclass(frozen=True)
class Spans:
    """One professional's busy time: disjoint UTC spans sorted by start (merged), their starts
    and ends in two lists so a lookup is one C-level bisect."""

    starts: list[datetime]
    ends: list[datetime]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) meets a span (the last one starting before `end` reaches
        furthest: the spans are disjoint and sorted)."""
        i = bisect_left(self.starts, end) - 1
        return i >= 0 and self.ends[i] > start


_FREE = Spans([], [])


def _busy_by_professional(busy: Iterable[Busy]) -> dict[str, Spans]:
    """Each professional's busy time as sorted, merged UTC spans."""
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    for b in busy:
        found.setdefault(b.professional_id, []).append((_utc(b.start, "Busy.start"), _utc(b.end, "Busy.end")))
    out: dict[str, Spans] = {}
    for pro, spans in found.items():
        starts: list[datetime] = []
        ends: list[datetime] = []
        for start, end in sorted(spans):
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        out[pro] = Spans(starts, ends)
    return out


def free_slots(
    tenant: Tenant,
    service_id: str,
    *,
    now: datetime,
    busy: Iterable[Busy],
    day_from: date | None = None,
    day_to: date | None = None,
    professional_id: str | None = None,
    period: Period | None = None,
    at: time | None = None,
    after: time | None = None,
    before: time | None = None,
    limit: int | None = None,
) -> list[Slot]:
    """Open slots for `service_id`, soonest first (ties in the clinic file's professional order).

    Days are the clinic's local dates, inclusive, clipped to today..today + booking horizon.
    `period` keeps starts within PERIOD_BOUNDS, `after`/`before` within that local window
    (`before` exclusive); `at` keeps starts at exactly that local time.
    Raises NotFound for an unknown service or professional, or one who doesn't do the service.
    """
    service = _service(tenant, service_id, NotFound)
    pros = [p for p in tenant.professionals if service.id in p.services]
    if professional_id is not None:
        pro = _professional(tenant, professional_id, NotFound)
        if pro not in pros:
            raise NotFound(f"{pro.name} não faz {service.name}.")
        pros = [pro]
    tz, policies = tenant.tz, tenant.policies
    now_utc = _utc(now, "now")
    today = now_utc.astimezone(tz).date()
    earliest = now_utc + timedelta(minutes=policies.min_notice_book_minutes)
    horizon = today + timedelta(days=policies.booking_horizon_days)
    duration = timedelta(minutes=service.duration_minutes)
    taken = _busy_by_professional(busy)
    low, high = PERIOD_BOUNDS[period] if period else (time.min, time.max)
    low, high = max(low, after or time.min), min(high, before or time.max)

    found: list[Slot] = []
    day = max(day_from or today, today)
    while day <= min(day_to or horizon, horizon) and (limit is None or len(found) < limit):
        if tenant.holiday_on(day) is None:
            todays: list[Slot] = []
            for pro in pros:
                pro_busy = taken.get(pro.id, _FREE)
                for start in _day_starts(tenant, pro, service, day):
                    local = start.astimezone(tz)
                    wall = local.time()
                    if (
                        start < earliest
                        or not low <= wall < high
                        or (at is not None and wall != at)
                        or pro_busy.overlaps(start, start + duration)
                    ):
                        continue
                    end = (start + duration).astimezone(tz)
                    todays.append(Slot(pro.id, service.id, local, end))
            found += sorted(todays, key=lambda s: s.start.astimezone(UTC))  # stable: YAML order
        day += timedelta(days=1)
    return found if limit is None else found[: max(limit, 0)]


def _service(tenant: Tenant, service_id: str, error: type[Exception]) -> Service:
    try:
        return tenant.service(service_id)
    except KeyError:
        raise error(f"Não encontrei o serviço “{service_id}”.") from None


def _professional(tenant: Tenant, professional_id: str, error: type[Exception]) -> Professional:
    try:
        return tenant.professional(professional_id)
    except KeyError:
        raise error(f"Não encontrei o profissional “{professional_id}”.") from None


def _pair(tenant: Tenant, professional_id: str, service_id: str) -> tuple[Professional, Service]:
    pro = _professional(tenant, professional_id, SlotUnavailable)
    service = _service(tenant, service_id, SlotUnavailable)
    if service.id not in pro.services:
        raise SlotUnavailable(f"{pro.name} não faz {service.name}.")
    return pro, service


def parse_slot_id(slot_id: str, tenant: Tenant) -> Slot:
    """The Slot behind an id from `Slot.id`; raises SlotUnavailable if it can't be one."""
    unknown = SlotUnavailable(
        "Não reconheci esse horário. Consulte a disponibilidade de novo e escolha um dos horários oferecidos."
    )
    match = _SLOT_ID.match(slot_id.strip())
    if not match:
        raise unknown
    pro, service = _pair(tenant, match.group(1), match.group(2))
    year, month, day, hour, minute = (int(g) for g in match.groups()[2:])
    try:
        start = datetime(year, month, day, hour, minute, tzinfo=tenant.tz)
    except ValueError:
        raise unknown from None
    if start.astimezone(UTC).astimezone(tenant.tz).time() != start.time():
        raise unknown  # a wall-clock time skipped by a daylight-saving change
    end = start.astimezone(UTC) + timedelta(minutes=service.duration_minutes)
    return Slot(pro.id, service.id, start, end.astimezone(tenant.tz))


def check_bookable(tenant: Tenant, slot: Slot, *, now: datetime, busy: Iterable[Busy]) -> None:
    """Raise SlotUnavailable or PolicyViolation (pt-BR reason) unless `slot` can be booked now."""
    pro, service = _pair(tenant, slot.professional_id, slot.service_id)
    tz, policies = tenant.tz, tenant.policies
    now_utc = _utc(now, "now")
    start = slot.start.astimezone(UTC)
    end = start + timedelta(minutes=service.duration_minutes)
    day = start.astimezone(tz).date()
    label = local_label(start, tenant)
    if start < now_utc:
        raise SlotUnavailable(f"O horário de {label} já passou.")
    holiday = tenant.holiday_on(day)
    if holiday is not None:
        raise SlotUnavailable(f"Dia {day:%d/%m} é feriado ({holiday.name}) e a clínica não abre.")
    intervals = tenant.working_hours(pro, WEEKDAYS[day.weekday()])
    if not intervals:
        raise SlotUnavailable(f"{pro.name} não atende {_ON_WEEKDAY[day.weekday()]}.")
    if start not in set(_day_starts(tenant, pro, service, day)):
        spans = [_bounds(tenant, day, i) for i in intervals]
        hours = f"Nesse dia {pro.name} atende {_hours_text(intervals)}."
        lasts = f"({service.name} dura {service.duration_minutes} min)"
        if any(a <= start and end <= b for a, b in spans):
            raise SlotUnavailable(
                f"O horário de {label} não está na agenda: os horários começam "
                f"a cada {policies.slot_interval_minutes} minutos. {hours}"
            )
        if spans[0][0] <= start < spans[-1][1]:
            raise SlotUnavailable(f"O horário de {label} cai no intervalo {lasts}. {hours}")
        raise SlotUnavailable(f"O horário de {label} fica fora do expediente {lasts}. {hours}")
    if start < now_utc + timedelta(minutes=policies.min_notice_book_minutes):
        notice = _duration_text(policies.min_notice_book_minutes)
        raise PolicyViolation(f"Para agendar, precisamos de pelo menos {notice} de antecedência.")
    last_day = now_utc.astimezone(tz).date() + timedelta(days=policies.booking_horizon_days)
    if day > last_day:
        raise PolicyViolation(
            f"Só agendamos com até {policies.booking_horizon_days} dias de "
            f"antecedência (até {last_day:%d/%m/%Y})."
        )
    busy = list(busy)
    if _busy_by_professional(b for b in busy if b.blocked).get(pro.id, _FREE).overlaps(start, end):
        raise SlotUnavailable(
            f"O horário de {label} não está disponível na agenda de {pro.name} (horário "
            "bloqueado pela clínica). Vamos ver outro horário?"
        )
    if _busy_by_professional(busy).get(pro.id, _FREE).overlaps(start, end):
        raise SlotUnavailable(
            f"O horário de {label} com {pro.name} já está ocupado. Vamos ver outro horário?"
        )


def check_cancellable(tenant: Tenant, start: datetime, *, now: datetime) -> None:
    """Raise PolicyViolation when an appointment at `start` is too close (or past) to cancel."""
    start_utc, now_utc = _utc(start, "start"), _utc(now, "now")
    notice = tenant.policies.min_notice_cancel_minutes
    phone = f" pelo telefone {tenant.phone}" if tenant.phone else ""
    if start_utc <= now_utc:
        raise PolicyViolation(f"A consulta de {local_label(start, tenant)} já passou.")
    if start_utc - now_utc < timedelta(minutes=notice):
        raise PolicyViolation(
            f"Cancelamentos e remarcações precisam de pelo menos {_duration_text(notice)} de "
            f"antecedência. Para a consulta de {local_label(start, tenant)}, fale com a "
            f"clínica{phone}."
        )
