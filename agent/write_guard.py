"""The write guard: `book_appointment` and `reschedule_appointment` run only on a slot that fits
what the patient asked for in this conversation (day, period or time, professional, service),
and a patient who asks to move an upcoming appointment gets it moved, never a second one booked.

What the patient asked is read from the patient's own messages since the last write that
succeeded, with the same grammar the tools use (`tools/dates.parse_when`, `tools/catalog`); the
latest message that states a day, a time, a professional or a service decides that one.
A slot the patient was shown in an earlier turn and then answered stands for what they asked
before it ("terça está lotada; quarta às 9h?" – "pode ser"). A refused call is not run: the
model reads the reason as the tool's result and gets one retry (`agent/nodes.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage

from atende.errors import DomainError
from atende.tenant import Professional, Service, Tenant, fold
from atende.tools.catalog import find_named_service, find_professional
from atende.tools.dates import PERIOD_BOUNDS, Period, parse_when
from atende.tools.scheduling import Slot, parse_slot_id

WRITES = frozenset({"book_appointment", "reschedule_appointment"})
# "às 10h" also says "depois das 10h" or "antes das 10h" to the grammar: a time is a
# neighbourhood, not an exact slot.
TIME_SLACK = timedelta(hours=2)
_WRITTEN = frozenset({"booked", "rescheduled", "cancelled"})

# Changing an appointment, in the usual words: "remarcar", "mudar o horário", or a verb of
# moving followed by "pra"/"para" and a day ("passa minha limpeza pra sexta").
MOVING_WORDS = re.compile(
    r"\b(?:remarca\w*|reagenda\w*|adiar|antecipar|"
    r"(?:mudar|trocar|alterar|passar|mudo|troco|mover|transferir) "
    r"(?:o |a |de |minha |meu |da |do )?(?:horario|dia|data|consulta))\b"
)
_MOVE_TO = re.compile(r"\b(?:mud|troc|pass|mov|transfer|jog|empurr)(?:ar|a|e|o|ir)\b"
                      r"(?: \w+){0,6}? (?P<to>(?:pra|para|pro|pras|pros|para as) .+)$")


_OWN = re.compile(r"\b(?:meu|minha|meus|minhas)\b")
# "passar o pilates de quarta para as 17h": the one on a day, an appointment already there
_THE_ONE_ON = re.compile(r"\b(?:o|a|os|as) \w+(?: \w+)? (?:de|do|da) (?:segunda|terca|quarta|"
                         r"quinta|sexta|sabado|domingo|amanha|hoje|dia \d{1,2})\b")


def moving(text: str, today: date) -> bool:
    """The patient talks about moving an appointment ("remarcar", "mudar o horário", "passa
    minha limpeza pra sexta", "trocar meu pilates pras 17h")."""
    w = _words(text)
    if MOVING_WORDS.search(w):
        return True
    to = _MOVE_TO.search(w)
    query = parse_when(to.group("to"), today) if to else None
    if query is None or query.ambiguous:
        return False
    # to another day; or to another time of one's own appointment ("trocar meu pilates pras 17h")
    return query.day_from is not None or bool(_OWN.search(w) or _THE_ONE_ON.search(w))
# ... unless it is another appointment: for someone else, or one more.
_ANOTHER = re.compile(
    r"\b(?:outra consulta|mais uma|outro agendamento|nova consulta|segunda consulta|"
    r"outra pessoa|nao e (?:pra|para) mim|"
    r"(?:pra|para|pro) (?:minha|meu|a minha|o meu) (?:filh|mae|pai|espos|marid|irm|namorad|"
    r"amig|sobrinh|net|av|sogr|tia|tio|prim)\w*)\b"
)


@dataclass(frozen=True)
class Asked:
    """What the patient asked for, each part None when they did not say."""

    days: tuple[date, date] | None = None
    period: Period | None = None
    at: time | None = None
    professional: Professional | None = None
    service: Service | None = None
    after: time | None = None  # "depois das 18h", "depois do almoço": starts from this time
    before: time | None = None  # "antes das 10", "cedinho": starts before this time


def _text(message: AnyMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", fold(text)).split())


def _since_last_write(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages after the last booking, move or cancellation that succeeded."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if (isinstance(m, ToolMessage) and isinstance(m.artifact, dict)
                and m.artifact.get("ok") and m.artifact.get("action") in _WRITTEN):
            return list(messages[i + 1:])
    return list(messages)


def _shown_before(messages: list[AnyMessage], slot_id: str) -> int:
    """Index of the last tool result that offered `slot_id` before the patient's latest
    message (the patient saw it and answered), or -1."""
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)),
                     default=-1)
    for i in range(last_human - 1, -1, -1):
        m = messages[i]
        if isinstance(m, ToolMessage) and isinstance(m.artifact, dict) and any(
                s.get("slot_id") == slot_id for s in m.artifact.get("slots") or ()):
            return i
    return -1


def asked(texts: Sequence[str], tenant: Tenant, today: date) -> Asked:
    """What `texts` (the patient's messages, oldest first) ask for; later statements win."""
    days = period = at = after = before = professional = service = None
    for text in texts:
        query = parse_when(text, today)
        if query is not None and not query.ambiguous:
            if query.day_from is not None and query.day_to is not None:
                days = (query.day_from, query.day_to)
            if any(v is not None for v in (query.period, query.at, query.after, query.before)):
                period, at, after, before = query.period, query.at, query.after, query.before
        professional = find_professional(tenant, text) or professional
        service = find_named_service(tenant, text) or service
    return Asked(days, period, at, professional, service, after, before)


def misfits(slot: Slot, wanted: Asked, tenant: Tenant) -> list[str]:
    """What about `slot` the patient did not ask for (pt-BR, for the model)."""
    start = slot.start.astimezone(tenant.tz)
    out: list[str] = []
    if wanted.days and not wanted.days[0] <= start.date() <= wanted.days[1]:
        first, last = wanted.days
        span = f"{first:%d/%m}" if first == last else f"de {first:%d/%m} a {last:%d/%m}"
        out.append(f"o paciente pediu o dia {span}, não {start:%d/%m}")
    if wanted.period:
        low, high = PERIOD_BOUNDS[wanted.period]
        if not low <= start.time() < high:
            out.append(f"o paciente pediu o período da {wanted.period.replace('manha', 'manhã')}, "
                       f"não {start:%H:%M}")
    if wanted.at:
        asked_at = start.replace(hour=wanted.at.hour, minute=wanted.at.minute)
        if abs(start - asked_at) > TIME_SLACK:
            out.append(f"o paciente pediu por volta das {wanted.at:%H:%M}, não {start:%H:%M}")
    if wanted.after and start.time() < wanted.after:
        out.append(f"o paciente pediu a partir das {wanted.after:%H:%M}, não {start:%H:%M}")
    if wanted.before and start.time() >= wanted.before:
        out.append(f"o paciente pediu antes das {wanted.before:%H:%M}, não {start:%H:%M}")
    if wanted.professional and wanted.professional.id != slot.professional_id:
        out.append(f"o paciente pediu {wanted.professional.name}, não "
                   f"{tenant.professional(slot.professional_id).name}")
    if wanted.service and wanted.service.id != slot.service_id:
        out.append(f"o paciente pediu {wanted.service.name}, não "
                   f"{tenant.service(slot.service_id).name}")
    return out


def check_write(call: dict[str, Any], messages: Sequence[AnyMessage], tenant: Tenant,
                now: datetime, upcoming: Sequence[dict[str, Any]]) -> str | None:
    """Why the write tool `call` must not run (pt-BR, for the model), or None when it may."""
    if call["name"] not in WRITES:
        return None
    slot_id = str(call["args"].get("slot_id") or "")
    try:
        slot = parse_slot_id(slot_id, tenant)
    except DomainError:
        return None  # the tool itself answers an unknown slot
    recent = _since_last_write(messages)
    today = now.astimezone(tenant.tz).date()
    humans = [_text(m) for m in recent if isinstance(m, HumanMessage)]
    # moving an appointment of this service is not booking a second one (unless the patient
    # said it is another appointment, or it is another service)
    same = [a for a in upcoming if a.get("service_id") == slot.service_id]
    if (call["name"] == "book_appointment" and same
            and any(moving(t, today) for t in humans)
            and not any(_ANOTHER.search(_words(t)) for t in humans)):
        appt = same[0]
        return (f"Não executado: o paciente pediu para mudar uma consulta que já tem "
                f"({appt.get('service')} em {appt.get('label')}, id {appt.get('id')}), não para "
                "marcar outra. Use reschedule_appointment com o appointment_id dessa consulta e o "
                "slot_id escolhido.")
    shown = _shown_before(recent, slot_id)
    last_human = max((i for i, m in enumerate(recent) if isinstance(m, HumanMessage)), default=-1)
    texts = [_text(m) for i, m in enumerate(recent)
             if isinstance(m, HumanMessage) and (i > shown or i == last_human)]
    wrong = misfits(slot, asked(texts, tenant, today), tenant)
    if not wrong:
        return None
    return ("Não executado: este horário não é o que o paciente pediu (" + "; ".join(wrong)
            + "). Ofereça horários que atendam ao pedido (check_availability) ou pergunte ao "
            "paciente se aceita outra opção; não marque sem a escolha dele.")


NOT_RUN = "Não executado: outra chamada deste passo foi recusada; chame de novo se ainda for preciso."
ASK_REPLY = ("Antes de marcar, quero confirmar com você: qual dia, horário e profissional você "
             "prefere? Assim eu vejo os horários certinhos.")
