"""`OfflineChatModel`: a deterministic pt-BR policy that drives the graph with the same tool calls
an LLM would make. The default without an API key and the fallback when the provider fails.

Its conversation state travels in each reply's `response_metadata["offline"]`
(`intent`, `awaiting`, `pending`, `misses`, `seq`), so the next turn knows the stage even when
older messages were trimmed away.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import field_validator

from atende.agent import guard as truth
from atende.agent.models.offline import clinic
from atende.agent.models.offline import replies as say
from atende.agent.models.offline.dates import (
    day_pieces,
    fitting,
    folded_with_map,
    keep_day,
    split_when,
)
from atende.agent.models.offline.intents import (
    CARE,
    Reading,
    pick_option,
    read,
    reminder_answer,
    split_cancel_and_book,
)
from atende.agent.models.offline.replies import Call, Step, availability_step
from atende.agent.write_guard import asked, misfits
from atende.errors import DomainError
from atende.tenant import Professional, Tenant
from atende.tools.catalog import find_professional, find_service, find_services
from atende.tools.notes import asks_practical
from atende.tools.scheduling import parse_slot_id

# Asking about something else keeps an open question open ("quanto custa?" between options).
_SIDE_INTENTS = ("prices", "services", "promotions", "address", "hours", "payment", "insurance")
_NEW_FLOW = ("cancel", "reschedule", "my_appointments", "human")
# Said before booking the first of several options that all fit, after a plain "pode".
FIRST_OPTION = "Todas as opções serviam, então marquei a primeira (a mais cedo)."
_SAME_DAY = re.compile(r"\b(?:n[oa]\s+)?mesmo\s+dia\b(?!\s+d[oa]s?\s+(?:[oa]\s+)?(?:meu|minha))",
                       re.IGNORECASE)
_SAME_PRO = re.compile(r"\b(?:com|c|cm|co) (?:ela|ele|a mesma|o mesmo)\b|"
                       r"\bmesm[ao] (?:profissional|doutor\w*|dra|dr|dentista|fisio\w*|"
                       r"professor\w*)\b")
# "no mesmo dia do meu rpg", "logo depois da minha sessão": a day (and time) another of the
# patient's appointments sets
_ANCHOR = re.compile(r"\b(?:(?:n[oa] )?mesmo dia|(?:logo )?(depois|antes)) d[oa]s? (?:o |a )?"
                     r"(?:meu|minha|meus|minhas) ((?!consulta\b)[a-z]+(?: de [a-z]+)?|consulta)")
_RELATION = re.compile(r"\b(?:logo |bem |imediatamente )?(depois|antes)(?: dele| dela| disso)?\b"
                       r"|\bem seguida\b")
_STRONG_BOOKING = re.compile(r"\b(?:marcar|agendar|agenda|marca|horarios?|vagas?|disponib\w*|"
                             r"encaixe)\b")


@dataclass
class Memo:
    """The policy's conversation state, carried from reply to reply."""

    intent: str | None = None
    awaiting: str | None = None
    pending: dict[str, Any] = field(default_factory=dict)
    misses: int = 0
    seq: int = 0

    @classmethod
    def load(cls, data: Any) -> Memo:
        if not isinstance(data, dict):
            return cls()
        pending = data.get("pending")
        return cls(intent=data.get("intent"), awaiting=data.get("awaiting"),
                   pending=dict(pending) if isinstance(pending, dict) else {},
                   misses=int(data.get("misses") or 0), seq=int(data.get("seq") or 0))

    def dump(self) -> dict[str, Any]:
        return {"intent": self.intent, "awaiting": self.awaiting, "pending": self.pending,
                "misses": self.misses, "seq": self.seq}


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)


# What the turn's prompt says atende sent first (prompts/base/95-patient.j2), read back here
# as an LLM reads it.
_REMINDER_LINE = re.compile(r"Lembrete enviado sobre a consulta de (?P<service>.+?) em "
                            r"(?P<label>.+?) \(id (?P<id>[^,\s]+), início (?P<start>[^)\s]+)\)")
_OFFER_LINE = re.compile(r"Horário da lista de espera reservado para o paciente: .+? \(oferta "
                         r"(?P<offer_id>[^,\s]+),")


def read_proactive(system: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = _REMINDER_LINE.search(system)
    if m:
        out["reminder"] = m.groupdict()
    m = _OFFER_LINE.search(system)
    if m:
        out["offer"] = m.groupdict()
    return out


def _starts(items: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(i["start"]) for i in items]


class OfflineChatModel(BaseChatModel):
    """A rule-based pt-BR receptionist for `tenant`, deterministic for a given `now`."""

    tenant: Tenant
    now: datetime

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("OfflineChatModel needs a timezone-aware `now`")
        return value

    @property
    def _llm_type(self) -> str:
        return "atende-offline"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """The policy knows the tool contract already; the schemas are not needed."""
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        message = _Policy(self.tenant, self.now).respond(messages)
        return ChatResult(generations=[ChatGeneration(message=message)])


class _Policy:
    def __init__(self, tenant: Tenant, now: datetime):
        self.tenant = tenant
        self.now = now
        self.today = now.astimezone(tenant.tz).date()
        self.proactive: dict[str, Any] = {}

    # -- entry ---------------------------------------------------------------------------------

    def respond(self, messages: list[BaseMessage]) -> AIMessage:
        self.proactive = read_proactive(" ".join(_text(m) for m in messages
                                                 if isinstance(m, SystemMessage)))
        convo = [m for m in messages if not isinstance(m, SystemMessage)]
        last_ai = next((m for m in reversed(convo) if isinstance(m, AIMessage)), None)
        offline = last_ai.response_metadata.get("offline") if last_ai is not None else None
        memo = Memo.load(offline)
        if not offline:
            memo.seq = sum(len(m.tool_calls) for m in convo if isinstance(m, AIMessage))
        self.same_day = self._day_talked_about(convo)
        self.named_pro = self._professional_named(convo)
        results = self._trailing_results(convo, last_ai)
        listed = next((art for name, art in results if name == "list_my_appointments"), None)
        if memo.intent == "anchor" and listed is not None:
            step = self._anchored(memo.pending.get("text") or "", listed, memo)
        elif results:
            step = say.after_tools(self.tenant, self.now, results, memo.intent, memo.awaiting,
                                   memo.pending)
        else:
            texts: list[str] = []
            for m in reversed(convo):
                if not isinstance(m, HumanMessage):
                    break
                texts.insert(0, _text(m))
            step = self._after_human(" \n".join(texts), memo)
        return self._message(step, memo, self._turn_artifacts(convo))

    def _day_talked_about(self, convo: list[BaseMessage]) -> date | None:
        """The day of the appointment booked or moved last in this conversation: what "no
        mesmo dia" refers to."""
        for m in reversed(convo):
            art = m.artifact if isinstance(m, ToolMessage) else None
            appt = art.get("appointment") if isinstance(art, dict) and art.get("ok") else None
            if isinstance(appt, dict) and appt.get("start"):
                try:
                    return datetime.fromisoformat(appt["start"]).astimezone(self.tenant.tz).date()
                except ValueError:
                    return None
        return None

    def _professional_named(self, convo: list[BaseMessage]) -> Professional | None:
        """The professional the patient named last before this message: who "com ela" is."""
        earlier = convo[:-1] if convo and isinstance(convo[-1], HumanMessage) else convo
        for m in reversed(earlier):
            pro = find_professional(self.tenant, _text(m)) if isinstance(m, HumanMessage) else None
            if pro is not None:
                return pro
        return None

    @staticmethod
    def _trailing_results(convo: list[BaseMessage], last_ai: AIMessage | None
                          ) -> list[tuple[str, dict[str, Any]]]:
        if not convo or not isinstance(convo[-1], ToolMessage) or last_ai is None:
            return []
        names = {c["id"]: c["name"] for c in last_ai.tool_calls}
        start = next(i for i in range(len(convo) - 1, -1, -1) if convo[i] is last_ai)
        out = []
        for m in convo[start + 1:]:
            if isinstance(m, ToolMessage):
                art = m.artifact if isinstance(m.artifact, dict) else {"ok": False}
                out.append((names.get(m.tool_call_id) or m.name or "", art))
        return out

    @staticmethod
    def _turn_artifacts(convo: list[BaseMessage]) -> list[dict[str, Any]]:
        since = max((i for i, m in enumerate(convo) if isinstance(m, HumanMessage)), default=-1)
        return [m.artifact for m in convo[since + 1:]
                if isinstance(m, ToolMessage) and isinstance(m.artifact, dict)]

    def _message(self, step: Step, memo: Memo, artifacts: list[dict[str, Any]]) -> AIMessage:
        calls = []
        for name, args in step.calls:
            memo.seq += 1
            calls.append({"name": name, "args": args, "id": f"offline-{memo.seq}",
                          "type": "tool_call"})
        understood = step.intent != "unknown"
        state = Memo(intent=step.intent, awaiting=step.awaiting, pending=step.pending,
                     misses=0 if understood else memo.misses + 1, seq=memo.seq)
        text = "" if calls else self._grounded(step.text, artifacts)
        return AIMessage(content=text, tool_calls=calls,
                         response_metadata={"offline": state.dump()},
                         usage_metadata={"input_tokens": 0, "output_tokens": 0,
                                         "total_tokens": 0})

    @staticmethod
    def _grounded(text: str, artifacts: list[dict[str, Any]]) -> str:
        """Drop a sentence the truthfulness guard would refuse (e.g. a quoted tool message)."""
        bad = {v.sentence for v in truth.check_reply(text, artifacts)}
        if not bad:
            return text
        for sentence in filter(None, bad):
            text = text.replace(sentence, "")
        lines = (" ".join(line.split()) for line in text.split("\n"))
        return "\n".join(lines).strip() or say.TOOL_TROUBLE

    # -- a patient message ---------------------------------------------------------------------

    def _after_human(self, text: str, memo: Memo) -> Step:
        if self.same_day is not None:  # "e manutenção no mesmo dia?": that appointment's day
            text = _SAME_DAY.sub(f"em {self.same_day:%d/%m}", text)
        r = read(text, self.tenant, self.today)
        if r.professional is None and self.named_pro is not None and _SAME_PRO.search(r.words):
            r = replace(r, professional=self.named_pro)  # "uma limpeza com ela"
        lead: list[Call] = [("update_lead", {"name": r.name})] if r.name else []
        care = next((key for key in CARE if r.has(key)), None)
        if care is not None:  # pain, a clinical question, a complaint: a person, kindly
            return Step("human", calls=[*lead, ("request_human", {"reason": CARE[care]})],
                        pending={"say_before": say.CARE_WORDS[care]})
        if r.has("human") or (memo.awaiting == "handoff_confirm" and r.yes
                              and not r.has(*_NEW_FLOW[:-1])):
            reason = ("paciente pediu atendente" if r.has("human")
                      else memo.pending.get("reason") or "o assistente não entendeu o paciente")
            return Step("human", calls=[*lead, ("request_human", {"reason": reason})])
        anchor = (_ANCHOR.search(folded_with_map(text)[0]) if r.has("book", "want") or r.service
                  else None)
        if anchor is not None and memo.intent != "anchor":
            # "no mesmo dia do meu rpg": which day that is comes from the patient's appointments
            return Step("anchor", calls=[*lead, ("list_my_appointments", {})],
                        pending={"text": text})
        if r.has("others_data"):  # whatever else it asks: refused, with the reason
            step = Step("privacy", say.OTHERS_DATA)
        else:
            step = (self._proactive(text, r, memo) or self._answer(r, memo)
                    or self._new_intent(r, memo))
            step = self._with_side_answers(step, r)
        if lead:
            step.calls = [*lead, *step.calls]
            if not step.calls[1:] and step.text:
                step.pending = {**step.pending, "say": step.text}
                step.text = ""
        return step

    def _side_answers(self, r: Reading) -> list[str]:
        """What else the message asks besides a booking ("e aceita cartão?", "precisa levar
        alguma coisa?"), answered from the clinic's data."""
        texts = [say.payment(self.tenant)] if r.has("payment") else []
        if r.has("insurance"):
            texts.append(say.insurance(self.tenant, r.plan, r.service.id if r.service else None))
        return [*texts, *r.notes]

    def _with_side_answers(self, step: Step, r: Reading) -> Step:
        """Two requests in one message: a booking's options come with the other answer."""
        if not any(name == "check_availability" for name, _ in step.calls):
            return step
        extra = self._side_answers(r)
        if extra:
            before = step.pending.get("say_before")
            step.pending["say_before"] = " ".join(filter(None, [before, *extra]))
        return step

    def _anchored(self, text: str, listed: dict[str, Any], memo: Memo) -> Step:
        """The message again, with "o dia do meu rpg" replaced by that appointment's date (and
        "logo depois" by its end time), now that the patient's appointments are known."""
        folded, where = folded_with_map(text)
        m = _ANCHOR.search(folded)
        service = find_service(self.tenant, m.group(2)) if m else None
        appts = [a for a in listed.get("appointments") or []
                 if service is None or a.get("service_id") == service.id]
        if m is None or not appts:
            what = service.name if service else "essa consulta"
            return Step("book", f"Não encontrei {what} marcada no seu número. Qual dia você "
                        "prefere?")
        appt = appts[0]
        start = datetime.fromisoformat(appt["start"]).astimezone(self.tenant.tz)
        minutes = self.tenant.service(appt["service_id"]).duration_minutes
        after = folded[m.end():]
        rel = _RELATION.search(after)
        relation = m.group(1) or (rel and (rel.group(1) or "depois"))
        when = f"em {start:%d/%m}"
        if relation == "depois":
            when += f" a partir das {start + timedelta(minutes=minutes):%H:%M}"
        elif relation == "antes":
            when += f" antes das {start:%H:%M}"
        resolved = f"{text[:where[m.start()]]}{when} {_RELATION.sub(' ', after)}"
        step = self._after_human(resolved, Memo(seq=memo.seq))
        if step.calls:
            said = f"Sua consulta de {appt['service']} é {appt['label']}."
            step.pending["say_before"] = " ".join(filter(None, [said,
                                                               step.pending.get("say_before")]))
        return step

    def _proactive(self, text: str, r: Reading, memo: Memo) -> Step | None:
        """Answers to what atende wrote first (the context names it): a waitlist offer's "sim"
        or "não", a reminder's 1 / 2 / 0; "parar"; joining the waitlist."""
        if r.has("stop") and not r.has("book", "cancel", "reschedule"):
            return Step("stop", calls=[("stop_messages", {})])
        mid_flow = memo.awaiting in ("slot_choice", "cancel_confirm", "cancel_pick",
                                     "reschedule_pick", "service")
        offer = self.proactive.get("offer")
        if offer and not mid_flow and (r.yes or r.no) and not r.has(*_NEW_FLOW):
            return Step("waitlist", calls=[("answer_waitlist_offer", {"accept": r.yes})])
        appt = self.proactive.get("reminder")
        answer = reminder_answer(text) if appt and not mid_flow else None
        if answer == "confirm":
            return Step("confirm", calls=[("confirm_appointment", {"appointment_id": appt["id"]})])
        if answer == "cancel":
            return Step("cancel", calls=[("cancel_appointment", {"appointment_id": appt["id"]})],
                        pending={"appointment": appt})
        if answer == "reschedule":
            step = availability_step("reschedule", appt["service"], r.when, None, appointment=appt)
            step.pending["say_before"] = f"Vamos remarcar: {say.appointment_line(appt)}."
            return step
        if r.has("waitlist"):
            service = (r.service.name if r.service else memo.pending.get("service"))
            if service:
                args: dict[str, Any] = {"service": service}
                if r.professional:
                    args["professional"] = r.professional.name
                return Step("waitlist", calls=[("join_waitlist", args)])
        return None

    def _answer(self, r: Reading, memo: Memo) -> Step | None:
        """The patient answering what the last reply asked; None if they moved on."""
        a, p = memo.awaiting, memo.pending
        other = r.has(*_NEW_FLOW, *_SIDE_INTENTS)
        if a == "handoff_confirm" and r.no:
            kept = p.get("appointment")
            return Step("handoff_declined", say.kept(kept) if kept else say.handoff_declined())
        if a == "slot_choice" and not r.has(*_NEW_FLOW):
            return self._slot_answer(r, memo)
        if a in ("cancel_pick", "reschedule_pick") and not other:
            appts = p.get("appointments") or []
            index = pick_option(r.text, _starts(appts), self.today)
            if index is None and r.yes and len(appts) == 1:
                index = 0
            if index is not None:
                appt = appts[index]
                if a == "cancel_pick":
                    then = p.get("then")
                    return Step("cancel", say.confirm_cancel(appt, then), awaiting="cancel_confirm",
                                pending={"appointment": appt, **({"then": then} if then else {})})
                late = say.too_close_to_move(self.tenant, appt, self.now)
                if late is not None:
                    return Step("reschedule", late, awaiting="handoff_confirm",
                                pending={"appointment": appt,
                                         "reason": "remarcação dentro do prazo mínimo"})
                step = availability_step("reschedule", appt["service"],
                                         p.get("when") or r.when, None, appointment=appt)
                step.pending["say_before"] = f"Vamos remarcar: {say.appointment_line(appt)}."
                return step
            if r.no:
                return Step(memo.intent, say.kept(None))
        appt = p.get("appointment") or {}
        if a == "cancel_confirm" and appt.get("id") and not r.has("reschedule", *_SIDE_INTENTS):
            then = p.get("then")
            if r.yes or (r.has("cancel") and not r.no):
                cancel: Call = ("cancel_appointment", {"appointment_id": appt["id"]})
                return Step("cancel", calls=[cancel],
                            pending={"appointment": appt, **({"then": then} if then else {})})
            if r.no and then:  # the cancel is off; the booking may still be wanted
                text = (f"Tudo bem, mantive sua consulta de {appt['label']}. "
                        f"Quer que eu veja os horários de {say.wanted(then)}?")
                return Step("book", text, awaiting="look_again", pending=dict(then))
            if r.no:
                return Step("cancel", say.kept(appt))
        if a == "service" and not (r.service or r.professional) and p.get("professional"):
            pro = find_professional(self.tenant, p["professional"])
            chosen = clinic.among(self.tenant, pro.services, r, self.today) if pro is not None else None
            if chosen is not None:  # "1" for the first of the services listed
                r = replace(r, service=chosen)
        if a == "service" and (r.service or r.professional) and not r.has(*_NEW_FLOW):
            earlier = p.get("professional")
            pro = r.professional or (find_professional(self.tenant, earlier) if earlier else None)
            when = p.get("when")  # "a renata atende sexta?" ... "marca c ela de tarde": Friday
            when = keep_day(r.when, when, self.today) if r.when and when else r.when or when
            return self._booking(r, when, pro)
        if a in ("book_offer", "look_again") and not other:
            if r.yes or r.service is not None or r.when:
                service = r.service.name if r.service else p.get("service")
                when = r.when or (p.get("when") if a == "look_again" else None)
                if r.when and a == "look_again":
                    when = keep_day(r.when, p.get("when"), self.today)
                pro_name = r.professional.name if r.professional else p.get("professional")
                if service:
                    return availability_step("book", service, when, pro_name)
                return Step("book", say.ask_service(self.tenant), awaiting="service",
                            pending={"when": when, "professional": pro_name})
            if r.no:
                return Step(None, say.kept(None))
        return None

    def _slot_answer(self, r: Reading, memo: Memo) -> Step | None:
        p = memo.pending
        slots = p.get("slots") or []
        index = pick_option(r.text, _starts(slots), self.today) if slots else None
        note = None
        if index is None and r.yes and slots and not (r.when or r.has(*_SIDE_INTENTS)):
            # an agreement after a list: the option that fits what was asked; of several that
            # fit equally, the first (the soonest), said so; none fits (the list is another
            # day's) = ask
            fit = fitting(_starts(slots), p.get("when"), self.today)
            if fit:
                index = fit[0]
                if len(fit) > 1:
                    note = FIRST_OPTION
        if index is not None and self._beyond(r.text, slots[index]["slot_id"]):
            index = None  # "às 10h com a Dra. Carla" is not Dra. Ana's 10:00
        if index is not None:
            slot = slots[index]
            appt = p.get("appointment")
            if p.get("flow") == "reschedule" and appt:
                call: Call = ("reschedule_appointment",
                              {"appointment_id": appt["id"], "slot_id": slot["slot_id"]})
            else:
                call = ("book_appointment", {"slot_id": slot["slot_id"]})
            chosen = {**p, "chosen": slot, **({"say_before": note} if note else {})}
            return Step(p.get("flow") or "book", calls=[call], pending=chosen)
        if r.has(*_SIDE_INTENTS):
            return None
        service = r.service.name if r.service else p.get("service")
        pro = r.professional.name if r.professional else p.get("professional")
        if service and (r.when or r.professional or r.service):
            flow = p.get("flow") or "book"
            when = keep_day(r.when, p.get("when"), self.today) if r.when else p.get("when")
            return availability_step(flow, service, when, pro, appointment=p.get("appointment"))
        if r.no or r.other_options:
            return Step(memo.intent, "Sem problema! Me diga um dia ou período que fica melhor "
                        "(ex.: amanhã à tarde, sexta de manhã).", awaiting="slot_choice",
                        pending={**p, "slots": []})
        if r.yes and slots:
            return Step(memo.intent, say.ASK_CHOICE, awaiting="slot_choice", pending=p)
        return None

    def _beyond(self, text: str, slot_id: str) -> bool:
        """The slot misses something this message asks for (the write guard's own check)."""
        try:
            slot = parse_slot_id(slot_id, self.tenant)
        except DomainError:
            return False
        return bool(misfits(slot, asked([text], self.tenant, self.today), self.tenant))

    def _new_intent(self, r: Reading, memo: Memo) -> Step:
        # an open question with data (options, a pending cancel) survives a side question;
        # a loose "Quer agendar?" does not
        keep: dict[str, Any] = {"awaiting": memo.awaiting, "pending": memo.pending}
        if memo.awaiting == "book_offer":
            keep = {"awaiting": None, "pending": {"service": memo.pending.get("service")}}
        both = self._cancel_and_book(r) if r.has("cancel") else None
        if both is not None:
            return both
        for intent in ("reschedule", "cancel", "my_appointments"):
            if r.has(intent):
                # "remarcar a de quinta para sexta": which one, and the new day
                old, new = split_when(r.text, self.today)
                pending = {"selector": old, "when": new} if new else {"either": r.when}
                days = day_pieces(r.text, self.today) if intent == "reschedule" else []
                if not new and len(days) > 1:  # "a de amanhã, quinta dá?": which is which
                    pending["pieces"] = days
                return Step(intent, calls=[("list_my_appointments", {})], pending=pending)
        asking = r.has("prices", "promotions", "services", "insurance")
        strong_book = r.has("book") and not (asking and not _strong_booking(r.words))
        wants = r.service is not None and r.has("want") and not asking
        someone = clinic.stranger(self.tenant, r, self.today) if r.service and not r.professional else None
        if strong_book or wants or ((r.service or r.professional) and r.when) or someone:
            return self._booking(r)  # "tem limpeza com o Zeferino?" asks for a time too
        if r.has("promotions") and r.service is not None:
            # "a drenagem ainda está com desconto?": that service's price, with a promotion
            # only if one runs today
            return Step("prices", calls=[("list_services", {"query": r.service.name})],
                        pending={"query": r.service.name, "promo_asked": r.service.name})
        if r.has("promotions"):
            return Step("promotions", calls=[("list_promotions", {})], **keep)
        if r.professional is not None and r.question and not r.has("prices", "insurance"):
            return clinic.who(self.tenant, r.professional)  # "vcs tem endodontista?"
        # "o que levar na avaliação?": the notes answer it, not the price of the avaliação
        practical = bool(r.notes) and not r.has("prices", "services")
        if not practical and (r.has("prices", "services")
                              or (r.service and not r.has("insurance"))):
            several = find_services(self.tenant, r.text) if r.has("prices") else []
            if len(several) > 1:  # "quanto é a limpeza e o clareamento?": each price
                calls: list[Call] = [("list_services", {"query": svc.name}) for svc in several]
                return Step("prices", calls=calls, awaiting=memo.awaiting,
                            pending={**memo.pending, "query": several[0].name})
            # "quanto custa?" right after talking about a service is about that service
            earlier = memo.pending.get("service") if r.has("prices") else None
            query = r.service.name if r.service else earlier
            return Step("prices", calls=[("list_services", {"query": query})],
                        awaiting=memo.awaiting, pending={**memo.pending, "query": query})
        # "abrem domingo?": that day's answer, with the hours
        closed = clinic.closed_day(self.tenant, r, self.today)
        info = [fn for key, fn in (("address", say.address), ("hours", say.hours),
                                   ("phone", say.phone), ("payment", say.payment))
                if r.has(key) and not (closed and key == "hours")]
        texts = [*([closed] if closed else []), *(fn(self.tenant) for fn in info)]
        if r.has("insurance"):
            texts.append(say.insurance(self.tenant, r.plan, r.service.id if r.service else None))
        texts.extend(r.notes)  # "tem estacionamento?": the clinic's own notes
        if texts:
            return Step("info", " ".join(texts), **keep)
        if r.unoffered:  # "vcs fazem osteopatia?": a straight no, and what the clinic does
            return Step("info", say.not_offered(self.tenant, r.unoffered), **keep)
        if r.has("greeting"):
            return Step("greeting", say.greeting(self.tenant, self.now))
        if r.has("thanks"):
            return Step("thanks", say.thanks(), **keep)
        if r.has("bye"):
            return Step("bye", say.bye())
        if r.name:
            return Step("name", f"Como posso ajudar? {say.MENU}", **keep)
        if r.yes or r.no or not r.words:  # "ok", "beleza", "👍" after a finished task
            return Step("ack", say.ack(), **keep)
        if r.question and asks_practical(r.text):  # about the clinic, but not in its notes
            return Step("unknown", say.NO_INFORMATION, awaiting="handoff_confirm",
                        pending={"reason": f"pergunta sem resposta: {r.text[:120]}"})
        return self._not_understood(memo)

    def _cancel_and_book(self, r: Reading) -> Step | None:
        """"cancela a de quinta e marca uma avaliação sexta de manhã": the cancel first (with
        its confirmation), the booking carried along as `then`."""
        parts = split_cancel_and_book(r.text)
        if parts is None:
            return None
        old = read(parts[0], self.tenant, self.today)
        new = read(parts[1], self.tenant, self.today)
        listing: list[Call] = [("list_my_appointments", {})]
        if new.service is None:  # "cancela a de quinta e marca pra sexta" moves it
            return Step("reschedule", calls=listing,
                        pending={"selector": old.when, "when": new.when})
        then = {"service": new.service.name, "when": new.when,
                "professional": new.professional.name if new.professional else None}
        return Step("cancel", calls=listing, pending={"selector": old.when, "then": then})

    def _booking(self, r: Reading, when: str | None = None,
                 pro: Professional | None = None) -> Step:
        when = when or r.when
        pro = pro or r.professional
        if r.service is None and pro is not None:
            r = replace(r, service=clinic.among(self.tenant, pro.services, r, self.today))
        service = r.service
        if service is None and pro is not None and len(pro.services) == 1:
            service = self.tenant.service(pro.services[0])
        if service is None:
            names = ([self.tenant.service(s).name for s in pro.services] if pro else None)
            ask = say.ask_service(self.tenant, names)
            works = clinic.works_on(self.tenant, pro, when, self.today) if pro else None
            if works:  # "a Dra. Carla atende quinta?": the answer first
                ask = f"{works} {ask.removeprefix('Claro! ')}"
            return Step("book", ask, awaiting="service",
                        pending={"flow": "book", "when": when,
                                 "professional": pro.name if pro else None})
        step = availability_step("book", service.name, when, pro.name if pro else None)
        stranger = clinic.stranger(self.tenant, r, self.today) if pro is None else None
        if stranger:  # "com o Dr. Zeferino": nobody here; who does it, and their times
            who = [p.name for p in self.tenant.professionals if service.id in p.services]
            step.pending["say_before"] = (f"Não temos {stranger} na nossa equipe. {service.name} "
                                          f"é com: {', '.join(who)}.")
        if r.has("prices"):
            step.calls.insert(0, ("list_services", {"query": service.name}))
        return step

    def _not_understood(self, memo: Memo) -> Step:
        misses = memo.misses + 1
        if misses >= self.tenant.handoff.after_misunderstandings:
            return Step("unknown", say.not_understood(self.tenant, offer_human=True),
                        awaiting="handoff_confirm")
        hints = {
            "slot_choice": say.ASK_CHOICE,
            "cancel_confirm": "Confirma o cancelamento? Responda sim ou não.",
            "cancel_pick": "Responda com o número da consulta.",
            "reschedule_pick": "Responda com o número da consulta.",
            "service": say.ask_service(self.tenant),
        }
        return Step("unknown", say.not_understood(self.tenant, False,
                                                  hints.get(memo.awaiting or "", "")),
                    awaiting=memo.awaiting, pending=memo.pending)

def _strong_booking(text: str) -> bool:
    """A booking word other than "consulta" (which is also a service name in many clinics)."""
    return bool(_STRONG_BOOKING.search(text))


