"""Replay exported transcripts through a new model or prompt, one recorded agent turn at a time.

Each turn takes the path a WhatsApp message takes (`ConsoleSession.say`: inbox,
`ConversationTurns.answer` → `run_turn` → `complete_turn`, outbox) on a throwaway SQLite store,
on the history the agent had when it was recorded, at the time it was recorded. Two seams
differ: the tools node (`replay_tools`: recorded results, never a real tool) and what the turn
reads of the patient (`RecordedState`: the record and appointments the recorded tool results
left). So a turn's diff is about that turn alone: the history of the next turn is the recorded
one again, whatever the new model said. Staff messages are in the history
as the live turn showed them; unanswered patient messages and fixed replies are not (the agent
never saw them). One thing does carry over from the new model: the metadata of its own reply
(the offline policy keeps its conversation state there) rides on the recorded reply.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, AnyMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from atende.agent.context import ModelChain, PromptRenderer
from atende.agent.graph import build_graph
from atende.agent.runtime import Atende, open_atende
from atende.agent.state import AudioInput
from atende.agent.turn import thread_id
from atende.clock import FrozenClock
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
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from atende.tenant import Tenant

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

    async def conversation(self, transcript: Transcript, tenant: Tenant, *, line: int = 0
                           ) -> ConversationReplay:
        """Replay one conversation's agent turns on a store that exists only meanwhile."""
        with tempfile.TemporaryDirectory(prefix="atende-replay-") as folder:
            settings = Settings(database_url=f"sqlite:///{folder}/replay.db",
                                _env_file=None)  # type: ignore[call-arg]
            clock = FrozenClock(transcript.turns[0].at if transcript.turns else datetime.now(UTC))
            async with open_atende(settings, model=self.models, clock=clock) as opened:
                state = RecordedState(tenant, fake_e164(transcript.phone), opened.store)
                app = dataclasses.replace(
                    opened, store=cast(Store, state), transcriber=None,
                    graph=build_graph(opened.checkpointer, tools=replay_tools))
                return await self._conversation(app, clock, state, transcript, tenant, line)

    async def _conversation(self, app: Atende, clock: FrozenClock, state: RecordedState,
                            transcript: Transcript, tenant: Tenant, line: int
                            ) -> ConversationReplay:
        session = ConsoleSession(app, tenant)
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
            clock.at = entry.at
            turn, metadata = await self.turn(session, entry, n, state, history)
            done.turns.append(turn)
            history = bounded([*history, *recorded_turn(entry, n, reply_metadata=metadata)],
                              tenant.model.max_stored_messages)
            state.learn(entry.tool_calls)
        return done

    async def turn(self, session: ConsoleSession, entry: AgentTurn, n: int,
                   state: RecordedState, history: list[AnyMessage]
                   ) -> tuple[TurnReplay, dict[str, Any] | None]:
        """Re-generate recorded turn `n` from `history`; also the new reply's metadata, for the
        next turn."""
        recorded = Side(entry.reply, [c.model_dump(include={"name", "args", "ok"})
                                      for c in entry.tool_calls],
                        entry.model, entry.prompt_version, entry.tokens_in, entry.tokens_out)
        result = TurnReplay(n, entry.at, patient_said(entry), recorded, Side(None, []))
        voice = [m for m in entry.patient if m.type == "audio"]
        if not entry.text and not voice:
            result.error = "no patient message was recorded for this turn"
            return result, None
        app = session.app
        tape = Tape(list(entry.tool_calls))
        app.context = functools.partial(ReplayContext, system_prompt=self.system_prompt,
                                        tape=tape)
        config: Any = {"configurable": {"thread_id": thread_id(state.tenant.id, state.phone)}}
        try:
            # the checkpoint holds what the agent had when the turn was recorded
            await app.graph.aupdate_state(
                config, {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *history],
                         "human_synced_at": entry.at.isoformat()}, as_node="reply")
            answer = await session.say(
                state.phone, entry.text,
                [AudioInput(b"", filename="voice.ogg", transcript=m.transcript) for m in voice])
        except Exception as exc:  # the report shows it; the other turns still replay
            await _set_aside(session)
            result.error = f"{type(exc).__name__}: {exc}"
            return result, None
        new = answer.result
        if new is None or new.error:
            result.error = f"turn failed: {new.error if new else 'nothing answered'}"
            return result, None
        values = (await app.graph.aget_state(config)).values or {}
        last = (values.get("messages") or [None])[-1]
        result.new = Side(new.as_text(),
                          [{"name": c.name, "args": dict(c.args), "ok": c.ok}
                           for c in new.tool_calls],
                          new.model, values.get("prompt_version"), new.tokens_in, new.tokens_out)
        result.calls = diff_calls(recorded.tool_calls, result.new.tool_calls)
        result.not_recorded = list(tape.misses)
        metadata = dict(last.response_metadata) if isinstance(last, AIMessage) else None
        return result, metadata


async def _set_aside(session: ConsoleSession) -> None:
    """A turn that raised leaves its messages pending; the next turn must not answer them."""
    store = session.app.store
    for conversation in await store.conversations_with_pending():
        pending = await store.inbox_pending(conversation.id)
        await store.inbox_ignore([m.id for m in pending], reason="replay_error")


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

