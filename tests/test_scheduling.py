"""Free slots respect hours, breaks, holidays, notice, horizon and bookings, in local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from atende.errors import NotFound, PolicyViolation, SlotUnavailable
from atende.tenant import Tenant, load_tenant_file
from atende.tools.scheduling import (
    Busy,
    Slot,
    check_bookable,
    check_cancellable,
    free_slots,
    local_label,
    parse_slot_id,
)

SP = ZoneInfo("America/Sao_Paulo")
EXAMPLE = Path(__file__).resolve().parents[1] / "tenants" / "clinica-exemplo.yaml"
# Tuesday 2026-03-10, 07:00 in São Paulo: the first bookable start is 09:00.
NOW = datetime(2026, 3, 10, 7, 0, tzinfo=SP)
WED = date(2026, 3, 11)


@pytest.fixture(scope="module")
def clinic() -> Tenant:
    return load_tenant_file(EXAMPLE)


def make_tenant(**overrides: Any) -> Tenant:
    raw: dict[str, Any] = {
        "id": "teste",
        "name": "Clínica Teste",
        "address": "Rua A, 1",
        "timezone": "America/Sao_Paulo",
        "business_hours": {d: ["08:00-12:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": [{"date": "2026-03-12", "name": "Aniversário da cidade"}],
        "services": [{"id": "consulta", "name": "Consulta", "duration_minutes": 60, "price": "100.00"}],
        "professionals": [{"id": "rui", "name": "Dr. Rui", "services": ["consulta"]}],
        "policies": {"min_notice_book_minutes": 0, "slot_interval_minutes": 60, "booking_horizon_days": 30},
    }
    raw.update(overrides)
    return Tenant.model_validate(raw)


def starts(slots: list[Slot], pro: str | None = None) -> list[str]:
    return [f"{s.start:%H:%M}" for s in slots if pro is None or s.professional_id == pro]


def at_local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=SP)


# -- free_slots ------------------------------------------------------------------------------


def test_lunch_breaks_are_excluded(clinic: Tenant) -> None:
    slots = free_slots(clinic, "limpeza", now=NOW, busy=[], day_from=WED, day_to=WED)
    # Dra. Ana works 08-12 and 13-17; a 45-minute cleaning must end by 12:00 and 17:00.
    assert starts(slots) == [
        "08:00",
        "08:30",
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "13:00",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
    ]
    assert {s.professional_id for s in slots} == {"ana-souza"}
    assert all(s.end - s.start == timedelta(minutes=45) for s in slots)


def test_break_at_half_past_and_ties_in_yaml_order(clinic: Tenant) -> None:
    thu = date(2026, 3, 12)
    slots = free_slots(clinic, "limpeza", now=NOW, busy=[], day_from=thu, day_to=thu)
    # Dra. Carla: 10:00-12:30 and 13:30-18:00, clipped to the clinic's 18:00 close.
    assert starts(slots, "carla-mendes") == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
        "16:30",
        "17:00",
    ]
    ten = [s.professional_id for s in slots if s.start.hour == 10 and s.start.minute == 0]
    assert ten == ["ana-souza", "carla-mendes"]
    assert [s.start for s in slots] == sorted(s.start for s in slots)


def test_holidays_have_no_slots(clinic: Tenant) -> None:
    tiradentes = date(2026, 4, 21)
    assert free_slots(clinic, "avaliacao", now=NOW, busy=[], day_from=tiradentes, day_to=tiradentes) == []
    around = free_slots(
        clinic, "avaliacao", now=NOW, busy=[], day_from=date(2026, 4, 20), day_to=date(2026, 4, 22)
    )
    assert {s.start.date() for s in around} == {date(2026, 4, 20), date(2026, 4, 22)}

    tenant = make_tenant()
    week = free_slots(
        tenant, "consulta", now=NOW, busy=[], day_from=date(2026, 3, 9), day_to=date(2026, 3, 15)
    )
    # the synthetic holiday (thu 12) and the closed weekend are skipped
    assert sorted({s.start.date().day for s in week}) == [10, 11, 13]


def test_min_notice(clinic: Tenant) -> None:
    def first(now: datetime) -> str:
        slots = free_slots(clinic, "limpeza", now=now, busy=[], limit=1)
        return f"{slots[0].start:%d/%m %H:%M}"

    assert first(NOW) == "10/03 09:00"
    assert first(NOW + timedelta(minutes=1)) == "10/03 09:30"
    # Dra. Carla's last cleaning ends at 17:45, before the clinic closes at 18:00
    assert first(datetime(2026, 3, 10, 15, 0, tzinfo=SP)) == "10/03 17:00"
    assert first(datetime(2026, 3, 10, 15, 1, tzinfo=SP)) == "11/03 08:00"


def test_horizon(clinic: Tenant) -> None:
    slots = free_slots(
        clinic, "avaliacao", now=NOW, busy=[], day_from=date(2026, 5, 1), day_to=date(2026, 6, 30)
    )
    assert max(s.start.date() for s in slots) == date(2026, 5, 9)  # today + 60 days
    assert free_slots(clinic, "avaliacao", now=NOW, busy=[], day_from=date(2026, 5, 10)) == []
    everything = free_slots(clinic, "avaliacao", now=NOW, busy=[])
    assert everything[-1].start.date() == date(2026, 5, 9)


def test_busy_professional_blocks_overlapping_starts_only(clinic: Tenant) -> None:
    # 09:00-09:45 local, stored in UTC as the database would
    taken = Busy(
        "ana-souza", datetime(2026, 3, 11, 12, 0, tzinfo=UTC), datetime(2026, 3, 11, 12, 45, tzinfo=UTC)
    )
    other = Busy("bruno-lima", at_local(WED, "10:00"), at_local(WED, "11:00"))
    slots = free_slots(clinic, "limpeza", now=NOW, busy=iter([taken, other]), day_from=WED, day_to=WED)
    assert starts(slots)[:4] == ["08:00", "10:00", "10:30", "11:00"]


def test_professional_filter(clinic: Tenant) -> None:
    slots = free_slots(clinic, "avaliacao", now=NOW, busy=[], professional_id="bruno-lima", limit=20)
    assert {s.professional_id for s in slots} == {"bruno-lima"}
    assert slots[0].start == at_local(WED, "09:00")  # he doesn't work on Tuesdays
    with pytest.raises(NotFound, match="não faz"):
        free_slots(clinic, "canal", now=NOW, busy=[], professional_id="ana-souza")
    with pytest.raises(NotFound):
        free_slots(clinic, "canal", now=NOW, busy=[], professional_id="nobody")
    with pytest.raises(NotFound):
        free_slots(clinic, "botox", now=NOW, busy=[])


def test_period_filter(clinic: Tenant) -> None:
    afternoon = free_slots(clinic, "avaliacao", now=NOW, busy=[], day_from=WED, day_to=WED, period="tarde")
    assert afternoon and all(time(12) <= s.start.time() < time(18) for s in afternoon)
    morning = free_slots(clinic, "avaliacao", now=NOW, busy=[], day_from=WED, day_to=WED, period="manha")
    assert morning and all(s.start.time() < time(12) for s in morning)
    assert len(morning) + len(afternoon) == len(
        free_slots(clinic, "avaliacao", now=NOW, busy=[], day_from=WED, day_to=WED)
    )
    assert free_slots(clinic, "avaliacao", now=NOW, busy=[], period="noite") == []


def test_at_filter(clinic: Tenant) -> None:
    slots = free_slots(clinic, "avaliacao", now=NOW, busy=[], at=time(10, 30), limit=4)
    assert [s.id for s in slots] == [
        "ana-souza|avaliacao|2026-03-10T10:30",
        "carla-mendes|avaliacao|2026-03-10T10:30",
        "ana-souza|avaliacao|2026-03-11T10:30",
        "bruno-lima|avaliacao|2026-03-11T10:30",
    ]


def test_limit_stops_early() -> None:
    seen: list[date] = []

    class Counting(Tenant):
        days: ClassVar[list[date]] = seen

        def holiday_on(self, day: date) -> Any:
            self.days.append(day)
            return super().holiday_on(day)

    tenant = Counting.model_validate(make_tenant().model_dump())
    slots = free_slots(tenant, "consulta", now=NOW, busy=[], limit=3)
    assert len(slots) == 3
    assert seen == [date(2026, 3, 10)]  # 08:00, 09:00 and 10:00 fill the limit on day one


def test_slot_id_round_trip(clinic: Tenant) -> None:
    for slot in free_slots(clinic, "canal", now=NOW, busy=[], limit=10):
        again = parse_slot_id(slot.id, clinic)
        assert again == slot
        assert again.end - again.start == timedelta(minutes=90)
    slot = free_slots(clinic, "limpeza", now=NOW, busy=[], limit=1)[0]
    assert slot.id == "ana-souza|limpeza|2026-03-10T09:00"  # local time, not UTC


@pytest.mark.parametrize(
    "slot_id",
    [
        "",
        "ana-souza|limpeza",
        "ana-souza|limpeza|amanhã às 9",
        "ana-souza|limpeza|2026-02-30T09:00",
        "ana-souza|limpeza|2026-03-11T25:00",
        "nobody|limpeza|2026-03-11T09:00",
        "ana-souza|botox|2026-03-11T09:00",
        "ana-souza|canal|2026-03-11T09:00",  # she doesn't do root canals
    ],
)
def test_bad_slot_ids(clinic: Tenant, slot_id: str) -> None:
    with pytest.raises(SlotUnavailable):
        parse_slot_id(slot_id, clinic)


def test_clinic_time_stored_and_compared_in_utc(clinic: Tenant) -> None:
    in_utc = free_slots(clinic, "limpeza", now=NOW.astimezone(UTC), busy=[], limit=5)
    assert in_utc == free_slots(clinic, "limpeza", now=NOW, busy=[], limit=5)
    first = in_utc[0]
    assert first.start.tzinfo == SP
    assert first.start.utcoffset() == timedelta(hours=-3)
    assert first.start.astimezone(UTC) == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_sao_paulo_old_daylight_saving_day() -> None:
    # Brazil dropped DST in 2019; on 2018-11-04 São Paulo clocks jumped 00:00 -> 01:00.
    tenant = make_tenant(
        business_hours={"sun": ["00:00-03:00"]},
        holidays=[],
        policies={"min_notice_book_minutes": 0, "slot_interval_minutes": 60},
    )
    day = date(2018, 11, 4)
    now = datetime(2018, 11, 3, 12, 0, tzinfo=UTC)
    slots = free_slots(tenant, "consulta", now=now, busy=[], day_from=day, day_to=day)
    assert starts(slots) == ["01:00", "02:00"]  # no phantom 00:00, and each lasts one real hour
    assert all(s.end.astimezone(UTC) - s.start.astimezone(UTC) == timedelta(hours=1) for s in slots)


def test_new_york_spring_forward_busy_in_utc() -> None:
    ny = ZoneInfo("America/New_York")
    tenant = make_tenant(
        timezone="America/New_York",
        business_hours={"sun": ["01:00-05:00"]},
        holidays=[],
        policies={"min_notice_book_minutes": 0, "slot_interval_minutes": 60},
    )
    day = date(2026, 3, 8)  # 02:00 -> 03:00
    now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    slots = free_slots(tenant, "consulta", now=now, busy=[], day_from=day, day_to=day)
    assert starts(slots) == ["01:00", "03:00", "04:00"]
    # 07:00-08:00 UTC is 03:00-04:00 EDT
    busy = [Busy("rui", datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC))]
    slots = free_slots(tenant, "consulta", now=now, busy=busy, day_from=day, day_to=day)
    assert starts(slots) == ["01:00", "04:00"]
    assert slots[0].start.tzinfo == ny


def test_interval_to_midnight() -> None:
    tenant = make_tenant(business_hours={"tue": ["18:00-24:00"]})
    slots = free_slots(tenant, "consulta", now=NOW, busy=[], day_from=NOW.date(), day_to=NOW.date())
    assert starts(slots) == ["18:00", "19:00", "20:00", "21:00", "22:00", "23:00"]


def test_naive_now_is_refused(clinic: Tenant) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        free_slots(clinic, "limpeza", now=datetime(2026, 3, 10, 7, 0), busy=[])  # noqa: DTZ001


# -- check_bookable / check_cancellable --------------------------------------------------------


def slot(clinic: Tenant, slot_id: str) -> Slot:
    return parse_slot_id(slot_id, clinic)


def test_every_offered_slot_is_bookable(clinic: Tenant) -> None:
    busy = [Busy("ana-souza", at_local(WED, "09:00"), at_local(WED, "10:00"))]
    for service in ("limpeza", "canal", "avaliacao"):
        offered = free_slots(clinic, service, now=NOW, busy=busy, day_to=date(2026, 3, 17))
        assert offered
        for s in offered:
            check_bookable(clinic, s, now=NOW, busy=busy)


@pytest.mark.parametrize(
    ("slot_id", "error", "reason"),
    [
        ("ana-souza|limpeza|2026-03-10T06:00", SlotUnavailable, "já passou"),
        ("ana-souza|limpeza|2026-04-21T09:00", SlotUnavailable, r"feriado \(Tiradentes\)"),
        ("ana-souza|limpeza|2026-03-11T17:00", SlotUnavailable, "fora do expediente"),
        ("ana-souza|limpeza|2026-03-11T07:00", SlotUnavailable, "fora do expediente"),
        ("ana-souza|limpeza|2026-03-11T12:00", SlotUnavailable, "intervalo"),
        ("ana-souza|limpeza|2026-03-11T11:30", SlotUnavailable, "intervalo"),  # runs into lunch
        ("ana-souza|limpeza|2026-03-11T09:10", SlotUnavailable, "a cada 30 minutos"),
        ("ana-souza|limpeza|2026-03-14T09:00", SlotUnavailable, "não atende aos sábados"),
        ("ana-souza|limpeza|2026-03-10T08:30", PolicyViolation, "2 horas de antecedência"),
        ("ana-souza|limpeza|2026-05-11T09:00", PolicyViolation, "até 60 dias"),
    ],
)
def test_bookable_reasons(clinic: Tenant, slot_id: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        check_bookable(clinic, slot(clinic, slot_id), now=NOW, busy=[])


def test_taken_slot(clinic: Tenant) -> None:
    wanted = slot(clinic, "ana-souza|limpeza|2026-03-11T09:00")
    busy = [
        Busy("ana-souza", datetime(2026, 3, 11, 12, 30, tzinfo=UTC), datetime(2026, 3, 11, 13, 0, tzinfo=UTC))
    ]  # 09:30-10:00 local
    with pytest.raises(SlotUnavailable, match="já está ocupado"):
        check_bookable(clinic, wanted, now=NOW, busy=busy)
    someone_else = [Busy("carla-mendes", busy[0].start, busy[0].end)]
    check_bookable(clinic, wanted, now=NOW, busy=someone_else)


def test_cancellation_notice(clinic: Tenant) -> None:
    appointment = at_local(WED, "09:00")
    check_cancellable(clinic, appointment, now=appointment - timedelta(hours=12))
    with pytest.raises(PolicyViolation, match="12 horas de antecedência"):
        check_cancellable(clinic, appointment, now=appointment - timedelta(hours=11, minutes=59))
    with pytest.raises(PolicyViolation, match="já passou"):
        check_cancellable(clinic, appointment, now=appointment + timedelta(minutes=1))


def test_local_label(clinic: Tenant) -> None:
    assert local_label(datetime(2026, 3, 11, 12, 0, tzinfo=UTC), clinic) == "qua 11/03 às 09:00"
    assert local_label(at_local(date(2026, 3, 14), "08:30"), clinic) == "sáb 14/03 às 08:30"
