"""pt-BR reply texts of the offline model: short, WhatsApp style, amounts only from tool results.

Every R$ amount here is copied from a tool artifact; the clinic's own facts (address, hours,
payment, plans) come from the tenant file. Sentences that claim a booking, cancellation or
change are written only from a successful artifact, so the truthfulness guard never objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atende.tenant import WEEKDAYS, Tenant

_DAY_PT = {"mon": "seg", "tue": "ter", "wed": "qua", "thu": "qui", "fri": "sex", "sat": "sáb",
           "sun": "dom"}
MENU = ("Posso ajudar a agendar, remarcar ou cancelar consultas, e informar preços, promoções, "
        "endereço e horário de funcionamento.")
ASK_CHOICE = "Qual prefere? Responda com o número ou o horário."
TOOL_TROUBLE = "Não consegui consultar isso agora."


def greeting(tenant: Tenant, now: datetime) -> str:
    hour = now.astimezone(tenant.tz).hour
    hello = "Bom dia" if 5 <= hour < 12 else "Boa tarde" if 12 <= hour < 18 else "Boa noite"
    return f"{hello}! Aqui é o assistente virtual da {tenant.name} 😊 {MENU} Como posso ajudar?"


def not_understood(tenant: Tenant, offer_human: bool, hint: str = "") -> str:
    if offer_human:
        return ("Desculpe, ainda não consegui entender. Quer que eu chame alguém da equipe? "
                "Responda sim ou não.")
    return f"Desculpe, não entendi. {hint or MENU}".strip()


def services(artifact: dict[str, Any], query: str | None) -> str:
    items = artifact.get("services") or []
    if not items:
        return "Não encontrei esse serviço. Quer que eu liste todos os nossos serviços?"
    if query and len(items) == 1:
        s = items[0]
        text = f"{s['name']}: {s['price_text']}"
        if s.get("duration_minutes"):
            text += f" ({s['duration_minutes']} min)"
        text += "."
        if s.get("description"):
            text += f" {s['description']}"
        if s.get("promo_price_text"):
            text += f"\nEm promoção: {s['promo_price_text']} ({s.get('promotion') or 'promoção'})."
        return text + "\nQuer agendar?"
    lines = []
    for s in items:
        line = f"• {s['name']} — {s['price_text']}"
        if s.get("promo_price_text"):
            line += f" (promoção: {s['promo_price_text']})"
        lines.append(line)
    return "Nossos serviços:\n" + "\n".join(lines) + "\nQuer agendar algum?"


def promotions(artifact: dict[str, Any]) -> str:
    promos = artifact.get("promotions") or []
    if not promos:
        return "No momento não temos promoções ativas. Quer saber os preços dos serviços?"
    lines = []
    for p in promos:
        line = f"• {p['text']}"
        prices = [x for x in p.get("prices") or [] if x.get("promo_price_text")]
        if prices:
            line += ": " + ", ".join(f"{x['service']} por {x['promo_price_text']}" for x in prices)
        if p.get("valid_to"):
            day = p["valid_to"].split("-")
            line += f" (até {day[2]}/{day[1]})" if len(day) == 3 else ""
        lines.append(line)
    return "Promoções de agora:\n" + "\n".join(lines) + "\nQuer agendar?"


def options(artifact: dict[str, Any]) -> str:
    slots = artifact.get("slots") or []
    note = (artifact.get("note") or "").strip()
    head = f"{note}\n" if note else ""
    if not slots:
        return (f"{head}Não encontrei horários livres para {artifact.get('service', 'esse serviço')}."
                " Quer que eu chame alguém da equipe para ver outra opção?").strip()
    lines = [f"{s['n']}. {s['label']}" for s in slots]
    return (f"{head}Horários disponíveis para {artifact.get('service', 'o serviço')}:\n"
            + "\n".join(lines) + f"\n{ASK_CHOICE}")


def ask_service(tenant: Tenant, names: list[str] | None = None) -> str:
    listed = ", ".join(names or [s.name for s in tenant.services])
    return f"Claro! Qual serviço você quer agendar? Temos: {listed}."


def booked(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    return (f"Pronto, está agendado! ✅\n{a['service']} em {a['label']} com {a['professional']}."
            " Se precisar remarcar ou cancelar, é só me chamar.")


def rescheduled(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    text = f"Pronto, remarcado! ✅\n{a['service']} agora em {a['label']} com {a['professional']}."
    prev = artifact.get("previous")
    if prev:
        text += f"\nO horário anterior ({prev['label']}) foi liberado."
    return text


def cancelled(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    return (f"Pronto, cancelado: {a['service']} em {a['label']}. "
            "Se quiser marcar outro horário, é só me chamar.")


def failed(artifact: dict[str, Any], retry: str) -> str:
    return f"{artifact.get('message') or TOOL_TROUBLE} {retry}".strip()


def appointment_line(appt: dict[str, Any]) -> str:
    who = f" com {appt['professional']}" if appt.get("professional") else ""
    return f"{appt['service']} — {appt['label']}{who}"


def appointments(items: list[dict[str, Any]]) -> str:
    if not items:
        return "Você não tem consultas marcadas no momento. Quer agendar uma?"
    if len(items) == 1:
        return f"Sua próxima consulta: {appointment_line(items[0])}."
    lines = [f"{i}. {appointment_line(a)}" for i, a in enumerate(items, start=1)]
    return "Suas próximas consultas:\n" + "\n".join(lines)


def pick_appointment(items: list[dict[str, Any]], verb: str) -> str:
    lines = [f"{i}. {appointment_line(a)}" for i, a in enumerate(items, start=1)]
    return (f"Você tem estas consultas:\n" + "\n".join(lines)
            + f"\nQual delas quer {verb}? Responda com o número.")


def no_appointments(verb: str) -> str:
    return f"Não encontrei consultas futuras no seu número para {verb}. Quer agendar uma?"


def confirm_cancel(appt: dict[str, Any]) -> str:
    return f"Confirma o cancelamento de {appointment_line(appt)}? Responda sim ou não."


def kept(appt: dict[str, Any] | None) -> str:
    if appt:
        return f"Tudo bem, mantive sua consulta de {appt['label']}. Posso ajudar em algo mais?"
    return "Tudo bem! Posso ajudar em algo mais?"


def hello_name(name: str | None) -> str:
    return f"Prazer, {name}!" if name else "Anotado!"


def address(tenant: Tenant) -> str:
    text = f"Ficamos na {tenant.address}."
    # notes may hold prices (parking); amounts must come from tools, so those notes stay out
    if tenant.notes and "R$" not in tenant.notes:
        text += f" {tenant.notes}"
    return text


def hours(tenant: Tenant) -> str:
    groups: list[tuple[list[str], str]] = []
    for day in WEEKDAYS:
        spans = " e ".join(str(i).replace("-", " às ") for i in tenant.business_hours.get(day, []))
        spans = spans or "fechado"
        if groups and groups[-1][1] == spans:
            groups[-1][0].append(day)
        else:
            groups.append(([day], spans))
    parts = []
    for days, spans in groups:
        name = _DAY_PT[days[0]] if len(days) == 1 else f"{_DAY_PT[days[0]]} a {_DAY_PT[days[-1]]}"
        parts.append(f"{name}: {spans}")
    return "Nosso horário de funcionamento: " + "; ".join(parts) + "."


def payment(tenant: Tenant) -> str:
    if not tenant.payment_methods:
        return "Sobre formas de pagamento, nossa equipe te informa na recepção."
    return "Aceitamos: " + ", ".join(tenant.payment_methods) + "."


def insurance(tenant: Tenant, plan: str | None, service_id: str | None) -> str:
    services = [s for s in tenant.services if service_id is None or s.id == service_id]
    if plan:
        covered = [s.name for s in services if plan in s.insurance]
        if covered:
            return f"Sim, aceitamos {plan} para: " + ", ".join(covered) + "."
        return f"Não atendemos {plan} para esse serviço, só particular."
    plans = sorted({p for s in services for p in s.insurance})
    if not plans:
        return "No momento atendemos só particular, sem convênio."
    return "Aceitamos os convênios: " + ", ".join(plans) + " (a cobertura varia por serviço)."


def thanks() -> str:
    return "Por nada! Se precisar de algo, é só chamar 😊"


def bye() -> str:
    return "Até mais! Qualquer coisa, é só chamar 😊"


def handoff_declined() -> str:
    return f"Tudo bem! {MENU}"
