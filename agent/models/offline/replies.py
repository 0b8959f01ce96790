"""What the offline model says: pt-BR texts (short, WhatsApp style) and the reply, or the next
tool call, written from a turn's tool results (`after_tools`).

Every R$ amount here is copied from a tool artifact; the clinic's own facts (address, hours,
payment, plans) come from the tenant file. Sentences that claim a booking, cancellation or
change are written only from a successful artifact, so the truthfulness guard never objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atende.agent.models.offline.dates import on_day
from atende.errors import PolicyViolation
from atende.tenant import WEEKDAYS, Tenant
from atende.tools.scheduling import check_cancellable

_DAY_PT = {"mon": "seg", "tue": "ter", "wed": "qua", "thu": "qui", "fri": "sex", "sat": "sáb",
           "sun": "dom"}
NOT_REQUESTED = ("Esse horário não é bem o que você pediu, então não marquei. Quer que eu veja "
                 "outros horários? Me diga o dia, o período e o profissional que prefere.")
OTHERS_DATA = ("Por privacidade, não posso mostrar nem mexer em dados ou consultas de outros "
               "pacientes: aqui eu só cuido das consultas deste número. Quem precisar pode falar "
               "com a gente pelo próprio WhatsApp. Posso ajudar com as suas consultas?")
MENU = ("Posso ajudar a agendar, remarcar ou cancelar consultas, e informar preços, promoções, "
        "endereço e horário de funcionamento.")
ASK_CHOICE = "Qual prefere? Responda com o número ou o horário."
TOOL_TROUBLE = "Não consegui consultar isso agora."
NO_INFORMATION = ("Não tenho essa informação por aqui. Quer que eu chame alguém da equipe para "
                  "te responder? Responda sim ou não.")
# Said before the clinic's handoff message, per reason (intents.CARE).
CARE_WORDS = {
    "urgent": ("Sinto muito que você esteja passando por isso. Se for uma emergência, procure um "
               "pronto-socorro ou ligue 192 (SAMU)."),
    "clinical": ("Essa é uma dúvida para a nossa equipe clínica; por aqui não oriento sobre "
                 "remédios ou sintomas."),
    "complaint": "Sinto muito pela experiência, e obrigado por nos contar.",
}
Call = tuple[str, dict[str, Any]]


@dataclass
class Step:
    """What the policy decided: tool calls to make, or a reply, plus the state after it."""

    intent: str | None
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    awaiting: str | None = None
    pending: dict[str, Any] = field(default_factory=dict)


def _compact_slots(slots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"slot_id": s["slot_id"], "start": s["start"], "label": s.get("label", "")}
            for s in slots if s.get("slot_id") and s.get("start")]


def compact_appt(appt: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "service", "service_id", "professional", "start", "label")
    return {k: appt.get(k) for k in keys}


def availability_step(flow: str, service: str, when: str | None, professional: str | None,
                      appointment: dict[str, Any] | None = None) -> Step:
    """Look for slots (`flow` "book" or "reschedule"), remembering what was asked."""
    pending: dict[str, Any] = {"flow": flow, "service": service, "when": when,
                               "professional": professional}
    if appointment:
        pending["appointment"] = appointment
    args = {"service": service, "when": when, "professional": professional}
    return Step(flow, calls=[("check_availability", args)], pending=pending)


def greeting(tenant: Tenant, now: datetime) -> str:
    hour = now.astimezone(tenant.tz).hour
    hello = "Bom dia" if 5 <= hour < 12 else "Boa tarde" if 12 <= hour < 18 else "Boa noite"
    return f"{hello}! Aqui é o assistente virtual da {tenant.name} 😊 {MENU} Como posso ajudar?"


def not_understood(tenant: Tenant, offer_human: bool, hint: str = "") -> str:
    if offer_human:
        return ("Desculpe, ainda não consegui entender. Quer que eu chame alguém da equipe? "
                "Responda sim ou não.")
    return f"Desculpe, não entendi. {hint or MENU}".strip()


def services(artifact: dict[str, Any], query: str | None, *, ask: bool = True) -> str:
    """Prices: one service in full, or the list; `ask` ends with "Quer agendar?"."""
    items = artifact.get("services") or []
    if not items:
        return "Não encontrei esse serviço. Quer que eu liste todos os nossos serviços?"
    trailer = "\nQuer agendar?" if ask else ""
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
        return text + trailer
    lines = []
    for s in items:
        line = f"• {s['name']} — {s['price_text']}"
        if s.get("promo_price_text"):
            line += f" (promoção: {s['promo_price_text']})"
        lines.append(line)
    return "Nossos serviços:\n" + "\n".join(lines) + ("\nQuer agendar algum?" if ask else "")


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
    """The words around an offer; the slots themselves go to the patient as the tool's
    `choices`, which each channel shows (numbered lines, or a list to tap)."""
    slots = artifact.get("slots") or []
    note = (artifact.get("note") or "").strip()
    head = f"{note}\n" if note else ""
    service = artifact.get("service") or "esse serviço"
    if not slots:
        return (f"{head}Não encontrei horários livres para {service}."
                " Quer que eu chame alguém da equipe para ver outra opção?")
    return f"{head}Horários disponíveis para {service}. {ASK_CHOICE}"


def ask_service(tenant: Tenant, names: list[str] | None = None) -> str:
    listed = ", ".join(names or [s.name for s in tenant.services])
    return f"Claro! Qual serviço você quer agendar? Temos: {listed}."


def booked(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    return (f"Pronto, está agendado! ✅\n{a['service']} em {a['label']} com {a['professional']}."
            " Se precisar remarcar ou cancelar, é só me chamar.")


def confirmed(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    return (f"Presença confirmada! ✅\n{a['service']} em {a['label']} com {a['professional']}."
            " Até lá!")


def rescheduled(artifact: dict[str, Any]) -> str:
    a = artifact["appointment"]
    text = f"Pronto, remarcado! ✅\n{a['service']} agora em {a['label']} com {a['professional']}."
    prev = artifact.get("previous")
    if prev:
        text += f"\nO horário anterior ({prev['label']}) foi liberado."
    return text


def cancelled(artifact: dict[str, Any], *, more: bool = False) -> str:
    """The cancel done; `more` when the reply goes on to a booking asked in the same message."""
    a = artifact["appointment"]
    done = f"Pronto, cancelado: {a['service']} em {a['label']}."
    if artifact.get("late"):
        done += " Obrigado por avisar."
    return done if more else f"{done} Se quiser marcar outro horário, é só me chamar."


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
    return ("Você tem estas consultas:\n" + "\n".join(lines)
            + f"\nQual delas quer {verb}? Responda com o número.")


def no_appointments(verb: str) -> str:
    return f"Não encontrei consultas futuras no seu número para {verb}. Quer agendar uma?"


def confirm_cancel(appt: dict[str, Any], then: dict[str, Any] | None = None) -> str:
    text = f"Confirma o cancelamento de {appointment_line(appt)}? Responda sim ou não."
    if then:
        text += f" Depois vejo os horários de {wanted(then)}."
    return text


def wanted(booking: dict[str, Any]) -> str:
    """"Avaliação odontológica (sexta de manhã)": a booking asked for, not yet looked up."""
    extra = ", ".join(filter(None, (booking.get("when"), booking.get("professional"))))
    return f"{booking['service']} ({extra})" if extra else booking["service"]


def too_close_to_move(tenant: Tenant, appt: dict[str, Any], now: datetime) -> str | None:
    """Why `appt` can no longer be moved here (inside the cancel notice), said before any
    options are offered; None if it still can be."""
    try:
        check_cancellable(tenant, datetime.fromisoformat(appt["start"]), now=now)
    except PolicyViolation as exc:
        return (f"{exc} Quer que eu chame alguém da recepção para ver isso com você? "
                "Se não, sua consulta continua como está.")
    return None


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


def phone(tenant: Tenant) -> str:
    if tenant.phone:
        return f"Nosso telefone é {tenant.phone} (e você pode falar com a gente por aqui mesmo)."
    return "Pode falar com a gente por aqui mesmo 😊"


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
        accepted = sorted({p for s in services for p in s.insurance})
        where = " para esse serviço" if service_id else ""
        if not accepted:
            return f"Não aceitamos {plan}{where}; atendemos só particular."
        listed = ", ".join(accepted[:-1]) + " e " + accepted[-1] if len(accepted) > 1 else accepted[0]
        return f"Não aceitamos {plan}{where}. Aceitamos {listed}, ou particular."
    plans = sorted({p for s in services for p in s.insurance})
    if not plans:
        return "No momento atendemos só particular, sem convênio."
    return "Aceitamos os convênios: " + ", ".join(plans) + " (a cobertura varia por serviço)."


def not_offered(tenant: Tenant, thing: str) -> str:
    """A straight no to a service the clinic doesn't list, and what it does."""
    names = [s.name for s in tenant.services]
    listed = ", ".join(names[:-1]) + " e " + names[-1] if len(names) > 1 else names[0]
    return (f"Não fazemos {thing} aqui. Fazemos: {listed}. Quer saber o preço de algum ou "
            "agendar?")


def ack() -> str:
    return "Combinado! Se precisar de mais alguma coisa, é só chamar."


def thanks() -> str:
    return "Por nada! Se precisar de algo, é só chamar 😊"


def bye() -> str:
    return "Até mais! Qualquer coisa, é só chamar 😊"


def handoff_declined() -> str:
    return f"Tudo bem! {MENU}"


# -- the reply to tool results ---------------------------------------------------------------


def after_tools(tenant: Tenant, now: datetime, results: list[tuple[str, dict[str, Any]]],
                intent: str | None, awaiting: str | None, pending: dict[str, Any]) -> Step:
    """The reply written from this turn's tool results, or the next call the flow needs."""
    p = dict(pending)
    say_after = p.pop("say", None)
    say_before = p.pop("say_before", None)
    parts: list[str] = []
    step = Step(intent, awaiting=awaiting, pending=p)
    for name, art in results:
        ok = bool(art.get("ok"))
        if name == "update_lead":
            if ok:
                parts.append(hello_name((art.get("patient") or {}).get("name")))
        elif name == "list_services":
            items = art.get("services") or []
            several = sum(1 for n, _ in results if n == "list_services") > 1
            offering = any(n == "check_availability" for n, _ in results)
            last = not several_after(results, art)
            one = items[0]["name"] if art.get("matched") and len(items) == 1 else None
            query = one if several else p.get("query") or one
            parts.append(services(art, query, ask=not offering and last) if ok
                         else failed(art, ""))
            promo_asked = p.pop("promo_asked", None)
            if ok and promo_asked and len(items) == 1 and not items[0].get("promo_price_text"):
                parts.append(f"No momento não há promoção valendo para {items[0]['name']}; "
                             "o valor é o normal.")
            if several:
                items = []  # "Quer agendar?" after two prices names no one service
            if step.awaiting in (None, "book_offer"):
                one = p.get("query") and len(items) == 1
                step.awaiting = "book_offer"
                step.pending = {"service": items[0]["name"]} if one else {}
        elif name == "list_promotions":
            parts.append(promotions(art) if ok else failed(art, ""))
            promos = art.get("promotions") or []
            names = {s for promo in promos for s in promo.get("services") or []}
            if step.awaiting in (None, "book_offer"):
                step.awaiting = "book_offer"
                step.pending = {"service": names.pop()} if len(names) == 1 else {}
        elif name == "check_availability":
            parts.append(_offered(art, step, p))
        elif name in ("book_appointment", "reschedule_appointment"):
            if ok:
                parts.append(booked(art) if name == "book_appointment"
                             else rescheduled(art))
                # no open question, but "quanto custa?" next is about this service
                step.awaiting, step.pending = None, {"service": art["appointment"]["service"]}
            else:
                # the write guard's reason is for the model; the patient hears it plainly
                parts.append(NOT_REQUESTED if art.get("code") == "not_requested"
                             else failed(art, "Quer que eu veja outros horários?"))
                step.awaiting = "look_again"
                step.pending = {k: p.get(k) for k in ("service", "when", "professional")}
        elif name == "cancel_appointment":
            then = p.get("then")
            if ok:
                parts.append(cancelled(art, more=bool(then)))
                step.awaiting, step.pending = None, {}
                if then:  # "cancela a de quinta e marca uma avaliação sexta": now the booking
                    booking = availability_step("book", then["service"], then.get("when"),
                                                then.get("professional"))
                    booking.pending["say_before"] = join([say_before or "", *parts])
                    return booking
            else:
                parts.append(failed(art, "Se preferir, chamo alguém da equipe."))
                step.awaiting = "handoff_confirm"
                step.pending = {"reason": "o cancelamento não foi concluído pelo assistente"}
        elif name == "list_my_appointments":
            chained = _appointments(tenant, now, art, intent, pending, step, parts)
            if chained is not None:
                before = join([say_before or "", *parts])
                if before:
                    chained.pending["say_before"] = before
                return chained
        elif name == "request_human":
            parts.append(art.get("message") or tenant.handoff.message)
            step.awaiting, step.pending = None, {}
        elif name == "confirm_appointment":
            parts.append(confirmed(art) if ok else failed(art, "Se preferir, chamo alguém da equipe."))
            step.awaiting, step.pending = None, {}
        elif name == "answer_waitlist_offer":
            if ok and art.get("action") == "booked":
                parts.append(booked(art))
            elif ok:
                parts.append(art.get("message") or "Tudo bem.")
            else:
                parts.append(failed(art, "Quer que eu veja outros horários?"))
                step.awaiting = "book_offer"
            step.pending = {}
            if ok:
                step.awaiting = None
        elif name in ("stop_messages", "join_waitlist"):
            parts.append(art.get("message") if ok else failed(art, ""))
            step.awaiting, step.pending = None, {}
    if say_before:
        parts.insert(0, say_before)
    if say_after:
        parts.append(say_after)
    if not parts:
        parts.append(f"Como posso ajudar? {MENU}")
    step.text = join(parts)
    return step


def several_after(results: list[tuple[str, dict[str, Any]]], art: dict[str, Any]) -> bool:
    """Another price list follows `art` in this turn's results."""
    index = next(i for i, (_, a) in enumerate(results) if a is art)
    return any(n == "list_services" for n, _ in results[index + 1:])


def _offered(art: dict[str, Any], step: Step, p: dict[str, Any]) -> str:
    if not art.get("ok"):  # a date, service or professional the patient can change
        step.awaiting, step.pending = "slot_choice", {**p, "slots": []}
        return failed(art, "Pode me dizer outro dia, serviço ou profissional?")
    slots = _compact_slots(art.get("slots") or [])
    if not slots:
        step.awaiting, step.pending = "handoff_confirm", {"reason": "sem horários livres"}
    else:
        step.awaiting = "slot_choice"
        step.pending = {**p, "service": art.get("service") or p.get("service"),
                        "slots": slots}
    return options(art)


def _appointments(tenant: Tenant, now: datetime, art: dict[str, Any], intent: str | None,
                  pending: dict[str, Any], step: Step, parts: list[str]) -> Step | None:
    today = now.astimezone(tenant.tz).date()
    then = pending.get("then") if intent == "cancel" else None
    carry = {"then": then} if then else {}
    step.awaiting, step.pending = None, {}
    if not art.get("ok"):
        parts.append(failed(art, ""))
        return None
    items = [compact_appt(a) for a in art.get("appointments") or []]
    verb = {"cancel": "cancelar", "reschedule": "remarcar"}.get(intent or "")
    if verb is None:
        parts.append(appointments(art.get("appointments") or []))
        return None
    if not items:
        if then:  # nothing to cancel, but the booking still stands
            parts.append(f"Não encontrei consultas futuras no seu número para {verb}.")
            return availability_step("book", then["service"], then.get("when"),
                                     then.get("professional"))
        parts.append(no_appointments(verb))
        step.awaiting = "book_offer"
        return None
    # day words pick the appointment when they match exactly one ("desmarcar a de amanhã");
    # for a reschedule, words that match none are the new day ("remarcar pra sexta")
    either = pending.get("either")
    starts = [_start(a) for a in items]
    pieces = pending.get("pieces") or []
    on = [p for p in pieces if len(on_day(p, starts, today)) == 1]
    if len(on) == 1:  # of two days named, the one an appointment is on picks it; the other is new
        either = None
        pending = {**pending, "selector": on[0],
                   "when": " ".join(p for p in pieces if p != on[0])}
    chosen = on_day(pending.get("selector") or either, starts, today)
    when = pending.get("when") if intent == "reschedule" else None
    if intent == "reschedule" and either and not chosen:
        when = either
    if len(chosen) == 1:
        items = [items[chosen[0]]]
    if len(items) > 1:
        parts.append(pick_appointment(items, verb))
        step.awaiting = f"{intent}_pick"
        step.pending = {"appointments": items, "when": when, **carry}
    elif intent == "cancel":
        parts.append(confirm_cancel(items[0], then))
        step.awaiting, step.pending = "cancel_confirm", {"appointment": items[0], **carry}
    elif (late := too_close_to_move(tenant, items[0], now)) is not None:
        parts.append(late)
        step.awaiting = "handoff_confirm"
        step.pending = {"appointment": items[0], "reason": "remarcação dentro do prazo mínimo"}
    else:
        parts.append(f"Vamos remarcar: {appointment_line(items[0])}.")
        return availability_step("reschedule", items[0]["service"], when, None,
                                 appointment=items[0])
    return None


def _start(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["start"])


def join(parts: list[str]) -> str:
    """Reply parts as paragraphs; a short exclamation ("Prazer, Maria!") leads the next one."""
    out = ""
    for part in filter(None, parts):
        if not out:
            out = part
        elif out.endswith("!") and len(out) < 40:
            out += " " + part
        else:
            out += "\n\n" + part
    return out
