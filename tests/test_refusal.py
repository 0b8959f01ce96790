"""A time nobody can take: the patient hears why, and the options nearest that time come first."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from atende.tenant import Tenant, load_tenant_file
from atende.tools.refusal import nearest, refused
from atende.tools.scheduling import Busy, free_slots

SP = ZoneInfo("America/Sao_Paulo")
EXAMPLE = Path(__file__).resolve().parents[1] / "tenants" / "clinica-exemplo.yaml"
NOW = datetime(2026, 3, 10, 7, 45, tzinfo=SP)  # a Tuesday
THU = date(2026, 3, 12)


@pytest.fixture(scope="module")
def clinic() -> Tenant:
    return load_tenant_file(EXAMPLE)


def _pros(clinic: Tenant, service_id: str) -> list:
    return [p for p in clinic.professionals if service_id in p.services]


def test_inside_the_minimum_notice_says_how_much_notice(clinic: Tenant) -> None:
    why = refused(clinic, clinic.service("limpeza"), _pros(clinic, "limpeza"), NOW.date(),
                  time(9, 0), now=NOW, busy=[])
    assert "2 horas de antecedência" in why


def test_a_time_in_the_lunch_break_names_the_break(clinic: Tenant) -> None:
    why = refused(clinic, clinic.service("limpeza"), _pros(clinic, "limpeza"), THU,
                  time(12, 30), now=NOW, busy=[])
    assert "intervalo" in why and "12:30" in why


def test_a_taken_time_says_taken_without_whose(clinic: Tenant) -> None:
    ana = next(p for p in clinic.professionals if p.id == "ana-souza")
    start = datetime(2026, 3, 11, 10, 0, tzinfo=SP)
    busy = [Busy("ana-souza", start, datetime(2026, 3, 11, 10, 45, tzinfo=SP))]
    why = refused(clinic, clinic.service("limpeza"), [ana], start.date(), time(10, 0),
                  now=NOW, busy=busy)
    assert "ocupado" in why


def test_a_free_time_has_no_reason(clinic: Tenant) -> None:
    assert refused(clinic, clinic.service("limpeza"), _pros(clinic, "limpeza"), THU,
                   time(9, 0), now=NOW, busy=[]) == ""


def test_nearest_orders_by_distance_to_the_asked_time(clinic: Tenant) -> None:
    slots = free_slots(clinic, "limpeza", now=NOW, busy=[], day_from=THU, day_to=THU)
    hours = [s.start.strftime("%H:%M") for s in nearest(slots, time(12, 30), 3)]
    assert hours[0] == "13:00" and "12:00" not in hours
    assert len(hours) == 3 and all(h >= "10:00" for h in hours)


def test_a_time_the_clinic_blocked_says_blocked(clinic: Tenant) -> None:
    ana = next(p for p in clinic.professionals if p.id == "ana-souza")
    start = datetime(2026, 3, 11, 14, 0, tzinfo=SP)
    busy = [Busy("ana-souza", start, datetime(2026, 3, 11, 16, 0, tzinfo=SP), blocked=True)]
    why = refused(clinic, clinic.service("limpeza"), [ana], start.date(), time(14, 0),
                  now=NOW, busy=busy)
    assert "bloqueada" in why and "ocupado" not in why
