"""What the offline model says about the clinic itself, from its configuration: who works
there and does what, the days it is closed, someone it doesn't have, which of a professional's
services a word names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from atende.agent.models.offline import replies as say
from atende.agent.models.offline.intents import Reading, pick_option, words
from atende.agent.models.offline.replies import Step
from atende.tenant import WEEKDAYS, Professional, Service, Tenant
from atende.tools.catalog import find_service
from atende.tools.dates import day_label, parse_when

_NOON = datetime(2000, 1, 1, 12, tzinfo=UTC)  # option numbers only: the starts don't matter

# "com o Dr. Zeferino", "c a fulana": someone named as who should attend
_WITH_SOMEONE = re.compile(r"\bcom (?:o |a )?(dr |dra |doutor |doutora )?([a-z]{4,})\b")
_NOT_NAMES = {"voces", "voce", "urgencia", "calma", "certeza", "antecedencia", "desconto",
              "cartao", "dinheiro", "convenio", "plano", "mesma", "mesmo", "outra", "outro",
              "qualquer", "alguem", "quem", "dentista", "medico", "medica", "profissional",
              "fisioterapeuta", "professora", "professor", "doutor", "doutora", "minha", "minhas",
              "meus", "filho", "filha", "mae", "marido", "esposa", "amiga", "amigo", "ela", "ele"}
_DAY_NAMES = ("segundas", "terças", "quartas", "quintas", "sextas", "sábados", "domingos")
_WEEKDAY_PLURALS = ("segundas", "tercas", "quartas", "quintas", "sextas", "sabados", "domingos")
_EVERY_WEEKDAY = re.compile(r"\b(?:aos|nos|as|nas|todas? (?:as|os)) (" + "|".join(_WEEKDAY_PLURALS)
                            + r")\b")


def _plural_day(day: date) -> str:
    return _DAY_NAMES[day.weekday()]


def who(tenant: Tenant, pro: Professional) -> Step:
    """"Vocês têm ortodontista?": yes, who, and what they do."""
    names = [tenant.service(s).name for s in pro.services]
    text = (f"Sim! {pro.name} ({pro.specialty}) atende aqui e faz: {', '.join(names)}. "
            "Quer agendar?")
    pending: dict[str, Any] = {"professional": pro.name}
    if len(names) == 1:
        pending["service"] = names[0]
    return Step("info", text, awaiting="book_offer", pending=pending)

def closed_day(tenant: Tenant, r: Reading, today: date) -> str | None:
    """The clinic is closed on the one day the message names ("domingo", or "aos
    domingos" in general): why, and the hours."""
    weekly = _EVERY_WEEKDAY.search(r.words)
    if weekly is not None:
        index = _WEEKDAY_PLURALS.index(weekly.group(1))
        if tenant.business_hours.get(WEEKDAYS[index]):
            return None
        return f"Aos {_DAY_NAMES[index]} não abrimos. {say.hours(tenant)}"
    query = parse_when(r.when, today) if r.when else None
    if query is None or query.day_from is None or query.day_from != query.day_to:
        return None
    day = query.day_from
    holiday = tenant.holiday_on(day)
    if holiday is not None:
        why = f"Dia {day:%d/%m} é feriado ({holiday.name}) e a clínica não abre."
    elif not tenant.business_hours.get(WEEKDAYS[day.weekday()]):
        why = f"Aos {_plural_day(day)} não abrimos."
    else:
        return None
    return f"{why} {say.hours(tenant)} Quer marcar em outro dia?"

def among(tenant: Tenant, ids: Sequence[str], r: Reading, today: date) -> Service | None:
    """Of these services, the one a word of the message names ("uma sessão com o Thiago":
    his Sessão de fisioterapia), or the option picked by number ("1"), else None."""
    services = [tenant.service(i) for i in ids]
    said = set(r.words.split())
    named = [s for s in services
             if said & {w for w in words(s.name).split() if len(w) >= 5}]
    if len(named) == 1:
        return named[0]
    index = pick_option(r.text, [_NOON] * len(services), today)
    return services[index] if index is not None and r.words.split()[0].isdigit() else None

def stranger(tenant: Tenant, r: Reading, today: date) -> str | None:
    """The name in "com o Dr. Zeferino" when nobody here has it (nor is it a day or time)."""
    m = _WITH_SOMEONE.search(r.words)
    if m is None or m.group(2) in _NOT_NAMES or parse_when(m.group(2), today):
        return None
    if find_service(tenant, m.group(2)) is not None:
        return None
    title = {"dr": "Dr.", "doutor": "Dr.", "dra": "Dra.", "doutora": "Dra."}.get(
        (m.group(1) or "").strip(), "")
    return f"{title} {m.group(2).capitalize()}".strip()

def works_on(tenant: Tenant, pro: Professional, when: str | None, today: date) -> str | None:
    """Whether `pro` works on the one day `when` names, with the hours (pt-BR), or None."""
    query = parse_when(when, today) if when else None
    if query is None or query.day_from is None or query.day_from != query.day_to:
        return None
    day = query.day_from
    holiday = tenant.holiday_on(day)
    if holiday is not None:
        return f"Dia {day:%d/%m} é feriado ({holiday.name}) e a clínica não abre."
    hours = tenant.working_hours(pro, WEEKDAYS[day.weekday()])
    if not hours:
        return f"{pro.name} não atende {day_label(day)}."
    spans = " e ".join(f"das {i.start:%H:%M} às {i.end:%H:%M}" for i in hours)
    return f"Sim, {pro.name} atende {day_label(day)}, {spans}."
