"""The nodes of one turn: transcribe, model, writes, guard, reply (tools is LangGraph's
ToolNode), and `context`, the turn's opening state that `run_turn` hands the graph.

Each is `async def node(state, runtime) -> dict`, returning a partial state update.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.runtime import Runtime

from atende.agent import guard as truth
from atende.agent import write_guard
from atende.agent.context import TurnContext
from atende.agent.models.openai import OPENAI_ERRORS
from atende.agent.state import AgentState
from atende.agent.tokens import trim_to_budget
from atende.errors import ModelUnavailable, TranscriptionFailed
from atende.memory.records import Patient
from atende.prompts.render import render_system_prompt
from atende.tools.booking import my_appointments
from atende.tools.choices import offered
from atende.tools.proactive import facts as proactive_facts
from atende.tools.toolset import TOOLS

log = structlog.get_logger(__name__)
_PROVIDER_FAILURES: tuple[type[BaseException], ...] = (*OPENAI_ERRORS, ModelUnavailable)

AUDIO_MARK = "[áudio]"
AUDIO_FAILED_REPLY = (
    "Desculpe, não consegui ouvir o seu áudio. Pode me mandar por escrito, por favor?"
)
LOOP_LIMIT_REPLY = (
    "Desculpe, me enrolei aqui. Pode me dizer de novo o que você precisa? "
    "Se preferir, chamo alguém da nossa equipe."
)


def text_of(message: AnyMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part)
                   for part in content)


def turn_artifacts(messages: list[AnyMessage], turn_id: str) -> list[dict[str, Any]]:
    """The tool results (artifacts) produced in this turn, oldest first."""
    return [
        m.artifact for m in messages
        if isinstance(m, ToolMessage) and isinstance(m.artifact, dict)
        and m.artifact.get("turn_id") == turn_id
    ]


async def context(ctx: TurnContext) -> dict[str, Any]:
    """The turn's opening state: the clinic, the patient's record and upcoming appointments,
    and "now" in the system prompt, and the per-turn counters reset. `run_turn` hands it to the
    graph with the patient's message (one step fewer than a node of its own)."""
    scope = ctx.scope
    patient, mine = await asyncio.gather(
        scope.store.get_patient(scope.tenant.id, scope.patient_phone), my_appointments(scope))
    upcoming = mine["appointments"]
    render = ctx.system_prompt or render_system_prompt
    prompt, version = render(
        scope.tenant, patient or Patient(scope.tenant.id, scope.patient_phone), upcoming,
        scope.now, await proactive_facts(scope, upcoming),
    )
    return {"system_prompt": prompt, "prompt_version": version, "guard_feedback": None,
            "guard_attempts": 0, "write_refusals": 0, "model_calls": 0, "fell_back": False, "reply": None,
            "choices": None}


async def transcribe(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Turn this turn's voice notes into text on the turn's patient message."""
    audio = state.get("audio") or []
    if not audio:
        return {}
    transcriber = runtime.context.transcriber
    texts: list[str] = []
    try:
        for note in audio:
            if note.transcript is not None:
                texts.append(note.transcript)
            elif transcriber is None:
                raise TranscriptionFailed("no transcriber configured")
            else:
                texts.append(await transcriber.transcribe(
                    note.data, filename=note.filename, mime_type=note.mime_type))
    except TranscriptionFailed as exc:
        log.warning("transcription_failed", error=str(exc))
        return {"audio": [], "reply": AUDIO_FAILED_REPLY,
                "messages": [AIMessage(content=AUDIO_FAILED_REPLY)]}
    last = state["messages"][-1]
    spoken = "\n".join(f"{AUDIO_MARK} {t.strip()}" for t in texts if t.strip())
    written = text_of(last).strip()
    merged = HumanMessage(content=f"{written}\n{spoken}" if written else spoken, id=last.id)
    return {"audio": [], "messages": [merged]}


async def model(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Ask the chat model for the next step; fall back to the offline policy if it fails."""
    ctx = runtime.context
    tenant = ctx.scope.tenant
    history = trim_to_budget(state["messages"], tenant.model.max_history_tokens,
                             model=ctx.models.name)
    system = state["system_prompt"]
    feedback = state.get("guard_feedback")
    if feedback:
        system += "\n\n" + feedback
    prompt = [SystemMessage(content=system), *history]
    fallback = ctx.models.fallback
    if state.get("fell_back") and fallback is not None:
        answer = await fallback.bind_tools(TOOLS).ainvoke(prompt)
        return _answered(state, answer, ctx.models.fallback_name, fell_back=True)
    try:
        answer = await ctx.models.primary.bind_tools(TOOLS).ainvoke(prompt)
    except _PROVIDER_FAILURES as exc:
        if fallback is None:
            raise ModelUnavailable(f"{ctx.models.name} failed: {exc}") from exc
        log.warning("model_fallback", model=ctx.models.name, fallback=ctx.models.fallback_name,
                    error=type(exc).__name__)
        # the rest of the turn stays on the fallback: no second wait on a provider that is down
        answer = await fallback.bind_tools(TOOLS).ainvoke(prompt)
        return _answered(state, answer, ctx.models.fallback_name, fell_back=True)
    return _answered(state, answer, ctx.models.name, fell_back=False)


def _answered(state: AgentState, answer: AIMessage, used: str | None, *, fell_back: bool
              ) -> dict[str, Any]:
    answer.response_metadata["atende_model"] = used or "fallback"
    return {"messages": [answer], "model_calls": state.get("model_calls", 0) + 1,
            "fell_back": fell_back}


async def writes(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Refuse a booking or a move the patient did not ask for (`write_guard`): the calls are
    answered with the reason instead of run, and the model gets one retry; a second refusal
    ends the turn with a question to the patient."""
    last = state["messages"][-1]
    calls = last.tool_calls if isinstance(last, AIMessage) else []
    if not any(c["name"] in write_guard.WRITES for c in calls):
        return {}
    scope = runtime.context.scope
    upcoming = (await my_appointments(scope))["appointments"]
    refused = {c["id"]: why for c in calls
               if (why := write_guard.check_write(c, state["messages"], scope.tenant, scope.now,
                                                  upcoming))}
    if not refused:
        return {}
    log.warning("write_guard_refused", reasons=list(refused.values()),
                attempt=state.get("write_refusals", 0))
    answers: list[AnyMessage] = []
    for c in calls:
        why = refused.get(c["id"], write_guard.NOT_RUN)
        answers.append(ToolMessage(
            content=why, tool_call_id=c["id"], name=c["name"],
            artifact={"ok": False, "code": "not_requested", "message": why,
                      "turn_id": scope.turn_id}))
    if state.get("write_refusals", 0) == 0:
        return {"messages": answers, "write_refusals": 1}
    return {"messages": [*answers, AIMessage(content=write_guard.ASK_REPLY)],
            "write_refusals": 2}


async def guard(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Refuse a reply that claims a booking, cancellation or change no tool made this turn."""
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:  # the model⇄tools loop hit its limit
        return _close(state, runtime, _final(last, LOOP_LIMIT_REPLY))
    text = text_of(last).strip()
    if not text:
        return _close(state, runtime, _final(last, LOOP_LIMIT_REPLY))
    outcomes = turn_artifacts(state["messages"], runtime.context.scope.turn_id)
    violations = truth.check_reply(text, outcomes)
    if not violations:  # a reply that stands offers what this turn's tools offered
        return _close(state, runtime, {"reply": text, "choices": offered(outcomes)})
    log.warning("guard_violation", reply=text, violations=[v.why for v in violations],
                attempt=state.get("guard_attempts", 0))
    if state.get("guard_attempts", 0) == 0:
        return {"messages": [RemoveMessage(id=str(last.id))], "guard_attempts": 1,
                "guard_feedback": truth.feedback(violations)}
    return _close(state, runtime, _final(last, truth.SAFE_REPLY))


def _final(last: AnyMessage, text: str) -> dict[str, Any]:
    replacement = AIMessage(content=text, id=last.id,
                            response_metadata=getattr(last, "response_metadata", {}))
    return {"messages": [replacement], "reply": text}


async def reply(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Close a turn the guard did not see (a voice note that could not be heard)."""
    return _close(state, runtime, {})


def _close(state: AgentState, runtime: Runtime[TurnContext], update: dict[str, Any]
           ) -> dict[str, Any]:
    """The turn's last update, and a bound on what the checkpoint keeps (oldest whole exchanges
    go first)."""
    keep = runtime.context.scope.tenant.model.max_stored_messages
    messages = state["messages"]
    if len(messages) <= keep:
        return {**update, "audio": []}
    cut = len(messages) - keep
    while cut < len(messages) and not isinstance(messages[cut], HumanMessage):
        cut += 1  # never keep a tool result without the call that asked for it
    stale = [RemoveMessage(id=m.id) for m in messages[:cut] if m.id is not None]
    return {**update, "audio": [], "messages": [*update.get("messages", []), *stale]}
