"""What a replayed turn starts from, rebuilt from the transcript alone: the message history the
agent had (as the checkpoint kept it) and the patient record and appointments its system prompt
showed (`RecordedState`, in front of the replay's throwaway store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from atende.agent.nodes import AUDIO_MARK
from atende.agent.turn import TEAM_MARK
from atende.evals.transcript_format import AgentTurn, StaffMessage, ToolCall
from atende.memory.records import ACTIVE_STATUSES, Appointment, AppointmentStatus, Patient
from atende.memory.store import Store
from atende.tenant import Tenant

_BEFORE_SCHEDULED = ("new", "engaged", "qualified")


def patient_said(turn: AgentTurn) -> str:
    """The patient's message as the graph stored it: written text, then voice notes marked."""
    spoken = "\n".join(f"{AUDIO_MARK} {t.strip()}" for t in turn.transcripts if t.strip())
    written = turn.text
    return f"{written}\n{spoken}" if written and spoken else written or spoken


def recorded_turn(turn: AgentTurn, n: int, *, reply_metadata: dict[str, Any] | None = None
                  ) -> list[AnyMessage]:
    """Turn `n` as history: the patient, each recorded tool call and result, the reply.

    `reply_metadata` is what the replayed model attached to its own reply of this turn (the
    offline policy keeps its conversation state there); an LLM has none that matters.
    """
    out: list[AnyMessage] = [HumanMessage(content=patient_said(turn), id=f"rec-{n}-in")]
    for i, call in enumerate(turn.tool_calls):
        call_id = f"rec-{n}-call-{i}"
        out.append(AIMessage(content="", id=f"rec-{n}-ai-{i}", tool_calls=[
            {"name": call.name, "args": call.args, "id": call_id, "type": "tool_call"}]))
        result = call.result if call.result is not None else {"ok": call.ok}
        out.append(ToolMessage(content=json.dumps(result, ensure_ascii=False), artifact=result,
                               tool_call_id=call_id, name=call.name))
    if turn.reply is not None:
        out.append(AIMessage(content=turn.reply, id=f"rec-{n}-out",
                             response_metadata=dict(reply_metadata or {})))
    return out


def staff_said(entry: StaffMessage, n: int) -> AIMessage:
    """A message typed at the clinic, as the next turn showed it to the model."""
    return AIMessage(content=f"{TEAM_MARK} {entry.text}", name="equipe", id=f"rec-team-{n}")


def bounded(messages: list[AnyMessage], keep: int) -> list[AnyMessage]:
    """What the checkpoint kept after a turn (as `nodes.reply` bounds it): the newest `keep`
    messages, starting at a patient message."""
    if len(messages) <= keep:
        return messages
    cut = len(messages) - keep
    while cut < len(messages) and not isinstance(messages[cut], HumanMessage):
        cut += 1
    return messages[cut:]


class RecordedState:
    """The patient record and own appointments as the recorded tool results left them: what the
    context node reads. Every other call (the inbox, the turn log, the outbox) goes to `store`,
    a throwaway one; without it, any other call fails (the replay never touches real data)."""

    url = "replay://recorded"

    def __init__(self, tenant: Tenant, phone: str, store: Store | None = None) -> None:
        self.tenant = tenant
        self.phone = phone
        self._store = store
        self.patient = Patient(tenant.id, phone)
        self.appointments: dict[str, Appointment] = {}

    def learn(self, calls: list[ToolCall]) -> None:
        """Fold one recorded turn's tool results in."""
        for call in calls:
            result = call.result or {}
            if not result.get("ok"):
                continue
            views = [result.get("appointment"), *(result.get("appointments") or [])]
            for view in views:
                if isinstance(view, dict) and view.get("id"):
                    self._appointment(view)
            lead = result.get("patient")
            if isinstance(lead, dict):
                self.patient = Patient(self.tenant.id, self.phone, name=lead.get("name"),
                                       stage=lead.get("stage") or self.patient.stage,
                                       interest=lead.get("interest"))
            if result.get("action") == "booked" and self.patient.stage in _BEFORE_SCHEDULED:
                self.patient = Patient(self.tenant.id, self.phone, name=self.patient.name,
                                       stage="scheduled", interest=self.patient.interest)

    def _appointment(self, view: dict[str, Any]) -> None:
        try:
            start = datetime.fromisoformat(view["start"]).astimezone(UTC)
            minutes = self.tenant.service(view["service_id"]).duration_minutes
        except (KeyError, ValueError, TypeError):
            return
        status: AppointmentStatus = view.get("status") or "booked"
        self.appointments[view["id"]] = Appointment(
            id=view["id"], tenant_id=self.tenant.id, professional_id=view["professional_id"],
            service_id=view["service_id"], patient_phone=self.phone, start=start,
            end=start + timedelta(minutes=minutes), status=status)

    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return self.patient

    async def list_appointments(
        self, tenant_id: str, *, patient_phone: str | None = None,
        professional_id: str | None = None, start_from: datetime | None = None,
        start_to: datetime | None = None,
        statuses: tuple[AppointmentStatus, ...] | None = ACTIVE_STATUSES,
    ) -> list[Appointment]:
        found = [a for a in self.appointments.values()
                 if (statuses is None or a.status in statuses)
                 and (professional_id is None or a.professional_id == professional_id)
                 and (start_from is None or a.start >= start_from)
                 and (start_to is None or a.start < start_to)]
        return sorted(found, key=lambda a: a.start)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._store is not None:
            return getattr(self._store, name)
        raise AttributeError(f"replay never touches a database: Store.{name} is not available")
