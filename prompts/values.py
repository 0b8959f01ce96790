"""The variables a prompt template sees: the clinic's (static) and the turn's (per-turn)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from atende.memory.records import Patient
from atende.tenant import WEEKDAYS, Tenant

# Static for a tenant (holidays drop off as they pass: the text changes at most once a day).
STATIC_NAMES = frozenset({"tenant", "hours", "holidays", "pro_services", "service_names",
                          "notice_book", "notice_cancel"})
# Change every turn: only sections numbered 90 and up may use them, so the text before them
# is a stable prefix that providers' prompt caching can reuse.
PER_TURN_NAMES = frozenset({"now", "now_text", "patient", "appointments"})
ALL_NAMES = STATIC_NAMES | PER_TURN_NAMES

_DAYS_PT = dict(zip(WEEKDAYS, ("seg", "ter", "qua", "qui", "sex", "sáb", "dom"), strict=True))
_WEEKDAY_LONG = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
                 "sábado", "domingo")


def _minutes(n: int) -> str:
    if n % (24 * 60) == 0:
        days = n // (24 * 60)
        return f"{days} dia" + ("s" if days > 1 else "")
    if n % 60 == 0:
        return f"{n // 60} hora" + ("s" if n >= 120 else "")
    return f"{n} minutos"


def _hours_text(tenant: Tenant) -> str:
    parts = []
    for day in WEEKDAYS:
        intervals = tenant.business_hours.get(day)
        parts.append(f"{_DAYS_PT[day]} " + (", ".join(str(i) for i in intervals)
                                            if intervals else "fechado"))
    return "; ".join(parts)


def static_values(tenant: Tenant, today: date) -> dict[str, Any]:
    """The clinic's facts as the templates print them."""
    return {
        "tenant": tenant,
        "hours": _hours_text(tenant),
        "holidays": ", ".join(f"{h.date:%d/%m/%Y} ({h.name})" for h in tenant.holidays
                              if h.date >= today),
        "pro_services": {p.id: ", ".join(tenant.service(s).name for s in p.services)
                         for p in tenant.professionals},
        "service_names": ", ".join(s.name for s in tenant.services),
        "notice_book": _minutes(tenant.policies.min_notice_book_minutes),
        "notice_cancel": _minutes(tenant.policies.min_notice_cancel_minutes),
    }


def turn_values(tenant: Tenant, patient: Patient, appointments: list[dict[str, Any]],
                now: datetime) -> dict[str, Any]:
    """Every variable of one turn: the clinic's, then "now", the patient and their appointments."""
    local = now.astimezone(tenant.tz)
    return {
        **static_values(tenant, local.date()),
        "now": local,
        "now_text": f"{_WEEKDAY_LONG[local.weekday()]}, {local:%d/%m/%Y %H:%M}",
        "patient": patient,
        "appointments": appointments,
    }


def sample_turns(tenant: Tenant, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two made-up turns that take every branch of the base templates: a known patient with
    three upcoming appointments (also the one the token budget is measured on), and a new
    contact with none."""
    pro = tenant.professionals[0]
    service = tenant.service(pro.services[0])
    local = now.astimezone(tenant.tz)
    appointments = []
    for i in range(3):
        start = local + timedelta(days=i + 1)
        appointments.append({
            "id": f"exemplo-{i + 1}", "service_id": service.id, "service": service.name,
            "professional_id": pro.id, "professional": pro.name,
            "start": start.isoformat(timespec="minutes"),
            "label": f"{_DAYS_PT[WEEKDAYS[start.weekday()]]} {start:%d/%m %H:%M}",
            "status": "booked",
        })
    known = Patient(tenant.id, "+5511999990000", name="Maria Aparecida dos Santos",
                    stage="scheduled", source="console", interest=service.name,
                    notes="prefere horários pela manhã")
    return (turn_values(tenant, known, appointments, now),
            turn_values(tenant, Patient(tenant.id, "+5511999990001"), [], now))
