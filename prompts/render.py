"""Render the system prompt of a turn from the tenant, the patient and "now"; version it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from atende.memory.store import Patient
from atende.tenant import WEEKDAYS, Tenant

BASE_DIR = Path(__file__).parent / "base"
_DAYS_PT = dict(zip(WEEKDAYS, ("seg", "ter", "qua", "qui", "sex", "sáb", "dom"), strict=True))
_WEEKDAY_LONG = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
                 "sábado", "domingo")


@cache
def _template(folder: Path = BASE_DIR) -> tuple[Template, str]:
    env = Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    source = (folder / "system.j2").read_text(encoding="utf-8")
    version = hashlib.sha256(source.encode()).hexdigest()[:12]
    return env.get_template("system.j2"), version


def prompt_version() -> str:
    """A short hash of the base template: recorded with every turn."""
    return _template()[1]


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


def render_system_prompt(tenant: Tenant, patient: Patient, appointments: list[dict[str, Any]],
                         now: datetime) -> tuple[str, str]:
    """The system prompt text and its version (a hash of the template)."""
    template, version = _template()
    local = now.astimezone(tenant.tz)
    today = local.date()
    text = template.render(
        tenant=tenant,
        patient=patient,
        appointments=appointments,
        hours=_hours_text(tenant),
        holidays=", ".join(f"{h.date:%d/%m/%Y} ({h.name})" for h in tenant.holidays
                           if h.date >= today),
        pro_services={p.id: ", ".join(tenant.service(s).name for s in p.services)
                      for p in tenant.professionals},
        service_names=", ".join(s.name for s in tenant.services),
        notice_book=_minutes(tenant.policies.min_notice_book_minutes),
        notice_cancel=_minutes(tenant.policies.min_notice_cancel_minutes),
        now_text=f"{_WEEKDAY_LONG[local.weekday()]}, {local:%d/%m/%Y %H:%M}",
    )
    return text, version
