"""Replay exported transcripts through a new model or prompt, one recorded agent turn at a time.

Each turn runs through the real turn graph (context → transcribe → model ⇄ tools → guard →
reply) on the history the agent had when it was recorded, at the time it was recorded; only the
tools node differs (`replay_tools`: recorded results, never a real tool) and the store is a
read-only `RecordedState`. So a turn's diff is about that turn alone: the history of the next
turn is the recorded one again, whatever the new model said. Staff messages are in the history
as the live turn showed them; unanswered patient messages and fixed replies are not (the agent
never saw them). One thing does carry over from the new model: the metadata of its own reply
(the offline policy keeps its conversation state there) rides on the recorded reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph

from atende.agent.context import ModelChain, PromptRenderer
from atende.agent.graph import build_graph
from atende.agent.state import AudioInput
from atende.evals.pseudonyms import fake_e164
from atende.evals.replay_history import (
    RecordedState,
    bounded,
    patient_said,
    recorded_turn,
    staff_said,
)
from atende.evals.replay_tools import ReplayContext, Tape, normalized, replay_tools
from atende.evals.transcript_format import AgentTurn, StaffMessage, Transcript
from atende.memory.records import Patient
from atende.memory.store import Store
from atende.tenant import Tenant
from atende.tools.choices import choices_of, numbered
from atende.tools.scope import Scope

ModelFactory = Callable[[Tenant, datetime], ModelChain]
Status = Literal["unchanged", "changed", "diverged", "error"]


@dataclass(frozen=True)
class CallChange:
    """One tool call, recorded vs new: same, args (changed), added or removed."""

    change: Literal["same", "args", "added", "removed"]
    name: str
    recorded_args: dict[str, Any] | None = None
    new_args: dict[str, Any] | None = None


@dataclass
class Side:
    """One side of a turn: what was recorded, or what the new run produced."""

    reply: str | None
    tool_calls: list[dict[str, Any]]  # {name, args, ok}
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class TurnReplay:
    index: int  # the agent turn's number in its conversation, from 1
    at: datetime
    patient: str
    recorded: Side
    new: Side
    calls: list[CallChange] = field(default_factory=list)
    not_recorded: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def reply_changed(self) -> bool:
        return (self.recorded.reply or "").strip() != (self.new.reply or "").strip()

    @property
    def status(self) -> Status:
        if self.error:
            return "error"
        if self.not_recorded:
            return "diverged"
        if self.reply_changed or any(c.change != "same" for c in self.calls):
            return "changed"
        return "unchanged"


@dataclass
class ConversationReplay:
    line: int
    tenant: str
    phone: str
    turns: list[TurnReplay] = field(default_factory=list)


@dataclass
class ReplayRun:
    source: str
    model: str
    prompt_dir: str | None
    conversations: list[ConversationReplay] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts = {"turns": 0, "unchanged": 0, "changed": 0, "diverged": 0, "error": 0}
        for conversation in self.conversations:
            for turn in conversation.turns:
                counts["turns"] += 1
                counts[turn.status] += 1
        return counts


def diff_calls(recorded: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[CallChange]:
    """Recorded calls in order (same, args changed or removed), then the calls the new run added.
    A recorded call pairs first with an identical new one, then with one of the same name."""
    left = list(range(len(new)))
    pairs: dict[int, int] = {}
    for i, call in enumerate(recorded):
        j = next((j for j in left if new[j]["name"] == call["name"]
                  and normalized(new[j]["args"]) == normalized(call["args"])), None)
        if j is not None:
            pairs[i] = j
            left.remove(j)
    for i, call in enumerate(recorded):
        if i not in pairs:
            j = next((j for j in left if new[j]["name"] == call["name"]), None)
            if j is not None:
                pairs[i] = j
                left.remove(j)
    out = []
    for i, call in enumerate(recorded):
        if i not in pairs:
            out.append(CallChange("removed", call["name"], recorded_args=call["args"]))
            continue
        other = new[pairs[i]]
        same = normalized(other["args"]) == normalized(call["args"])
        out.append(CallChange("same" if same else "args", call["name"], call["args"],
                              other["args"]))
    out += [CallChange("added", new[j]["name"], new_args=new[j]["args"]) for j in left]
    return out


class Replayer:
    """Replays transcripts with one model factory (and optionally other prompt templates)."""

    def __init__(self, models: ModelFactory, *, system_prompt: PromptRenderer | None = None
                 ) -> None:
        self.models = models
        self.system_prompt = system_prompt
        self.graph: CompiledStateGraph[Any, Any] = build_graph(tools=replay_tools)

    async def conversation(self, transcript: Transcript, tenant: Tenant, *, line: int = 0
                           ) -> ConversationReplay:
        phone = fake_e164(transcript.phone)
        state = RecordedState(tenant, phone)
        history: list[AnyMessage] = []
        done = ConversationReplay(line, transcript.tenant, transcript.phone)
        staff = 0
        for entry in transcript.turns:
            if isinstance(entry, StaffMessage) and entry.text:
                staff += 1
                history.append(staff_said(entry, staff))
            if not isinstance(entry, AgentTurn):
                continue
            n = len(done.turns) + 1
            turn, metadata = await self.turn(entry, n, tenant, state, history,
                                             transcript.conversation or "replay")
            done.turns.append(turn)
            history = bounded([*history, *recorded_turn(entry, n, reply_metadata=metadata)],
                              tenant.model.max_stored_messages)
            state.learn(entry.tool_calls)
        return done

    async def turn(self, entry: AgentTurn, n: int, tenant: Tenant, state: RecordedState,
                   history: list[AnyMessage], conversation_id: str
                   ) -> tuple[TurnReplay, dict[str, Any] | None]:
        """Re-generate recorded turn `n`; also the new reply's metadata, for the next turn."""
        recorded = Side(entry.reply, [c.model_dump(include={"name", "args", "ok"})
                                      for c in entry.tool_calls],
                        entry.model, entry.prompt_version, entry.tokens_in, entry.tokens_out)
        said = entry.text
        result = TurnReplay(n, entry.at, patient_said(entry), recorded, Side(None, []))
        voice = [m for m in entry.patient if m.type == "audio"]
        if not said and not voice:
            result.error = "no patient message was recorded for this turn"
            return result, None
        tape = Tape(list(entry.tool_calls))
        turn_id = f"replay-{entry.id or n}"
        try:
            models = self.models(tenant, entry.at)
            scope = Scope(tenant=tenant, store=cast(Store, state),  # read-only, recorded
                          patient_phone=state.phone, conversation_id=conversation_id,
                          turn_id=turn_id, now=entry.at)
            context = ReplayContext(scope=scope, models=models, transcriber=None,
                                    system_prompt=self.system_prompt, tape=tape)
            human_id = f"replay-{n}-in"
            final = await self.graph.ainvoke(
                {"messages": [*history, HumanMessage(content=said, id=human_id)],
                 "audio": [AudioInput(b"", filename="voice.ogg", transcript=m.transcript)
                           for m in voice],
                 "human_synced_at": entry.at.isoformat()},
                {"recursion_limit": 40}, context=context)
        except Exception as exc:  # the report shows it; the other turns still replay
            result.error = f"{type(exc).__name__}: {exc}"
            return result, None
        produced = _after(final["messages"], human_id)
        new_calls = _calls(produced)
        reply = final.get("reply")
        result.new = Side(
            numbered(reply, choices_of(final.get("choices"))) if reply is not None else None,
            new_calls,
            next((m.response_metadata.get("atende_model") for m in reversed(produced)
                  if isinstance(m, AIMessage) and m.response_metadata.get("atende_model")),
                 models.name),
            final.get("prompt_version"),
            *_tokens(produced),
        )
        result.calls = diff_calls(recorded.tool_calls, new_calls)
        result.not_recorded = list(tape.misses)
        last = produced[-1] if produced else None
        metadata = dict(last.response_metadata) if isinstance(last, AIMessage) else None
        return result, metadata


def _after(messages: list[AnyMessage], human_id: str) -> list[AnyMessage]:
    for i, message in enumerate(messages):
        if message.id == human_id:
            return messages[i + 1:]
    return []


def _tokens(produced: list[AnyMessage]) -> tuple[int, int]:
    usage = [m.usage_metadata for m in produced if isinstance(m, AIMessage) and m.usage_metadata]
    return sum(u["input_tokens"] for u in usage), sum(u["output_tokens"] for u in usage)


def _calls(produced: list[AnyMessage]) -> list[dict[str, Any]]:
    results = {m.tool_call_id: m for m in produced if isinstance(m, ToolMessage)}
    calls = []
    for message in produced:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            answer = results.get(call["id"] or "")
            artifact = answer.artifact if answer is not None and isinstance(
                answer.artifact, dict) else {}
            ok = bool(answer is not None and answer.status != "error" and artifact.get("ok"))
            calls.append({"name": call["name"], "args": dict(call["args"]), "ok": ok})
    return calls


def prompt_from_dir(folder: Path) -> PromptRenderer:
    """Render system prompts from the section templates in `folder` instead of `prompts/base`
    (each tenant's own overrides still apply on top, as in production)."""
    from atende.prompts.render import load_prompt
    from atende.prompts.values import turn_values

    def render(tenant: Tenant, patient: Patient, appointments: list[dict[str, Any]],
               now: datetime) -> tuple[str, str]:
        prompt = load_prompt(tenant, base_dir=folder)
        return prompt.render(turn_values(tenant, patient, appointments, now)), prompt.version

    return render

