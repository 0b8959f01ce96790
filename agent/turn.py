"""`run_turn`: the graph over one conversation's stored inbox rows — the turn every entry point
(webhooks, console, evals, replay) reaches through `server/turns.py` `ConversationTurns.answer`."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from atende.agent import nodes
from atende.agent.nodes import AUDIO_MARK
from atende.agent.runtime import Atende
from atende.agent.state import AudioInput
from atende.errors import AtendeError
from atende.memory.checkpoint import (
    discard_checkpoints_after,
    load_latest,
    prune_checkpoints,
    reusing,
)
from atende.memory.records import Conversation
from atende.memory.store import Store
from atende.prompts.render import prompt_version
from atende.tenant import Tenant
from atende.tools.choices import Choice, choices_of, numbered
from atende.tools.scope import Scope
from atende.tools.toolset import WRITE_ACTIONS

log = structlog.get_logger(__name__)

APOLOGY = (
    "Desculpe, tive um problema técnico agora e não consegui concluir. "
    "Pode tentar de novo em alguns minutos? Se preferir, peço para alguém da equipe te chamar."
)


@dataclass(frozen=True)
class TurnRequest:
    """One turn over inbox rows already stored (`store.inbox_add`) by whichever channel took
    them: the webhooks, the console, an eval or a replay. `text` and `audio` are what those rows
    say; the caller queues the reply with `store.complete_turn`."""

    tenant: Tenant
    conversation: Conversation
    inbox_ids: Sequence[str]
    text: str | None = None
    audio: Sequence[AudioInput] = ()
    config_version: int | None = None  # the clinic configuration version `tenant` is


@dataclass(frozen=True)
class ToolCallRecord:
    name: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class TurnResult:
    turn_id: str | None
    reply: str | None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    model: str | None = None
    handoff: bool = False
    skipped: str | None = None  # "human": a person has the conversation; nothing was generated
    superseded: bool = False  # newer messages arrived mid-turn: reply dropped, turn undone
    transcripts: list[str] = field(default_factory=list)  # this turn's voice notes, in order
    recovered: bool = False  # the reply was already generated before a crash; not re-run
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    # the options the reply offers, as data: each channel shows them its own way
    choices: list[Choice] = field(default_factory=list)

    def as_text(self) -> str | None:
        """The reply as a channel without tappable options shows it (the console, Z-API):
        the text, then its choices numbered."""
        return numbered(self.reply, self.choices) if self.reply is not None else None

    def to_json(self, user: str | None) -> dict[str, Any]:
        return {
            "user": user,
            "reply": self.as_text(),
            "tool_calls": [{"name": c.name, "args": c.args, "ok": c.ok} for c in self.tool_calls],
        }


Superseded = Callable[[], Awaitable[bool]]
_KEEP_ACTIONS = WRITE_ACTIONS | {"handoff"}
TEAM_MARK = "[equipe da clínica]"


def thread_id(tenant_id: str, phone: str) -> str:
    return f"{tenant_id}:{phone}"


def _human_id(inbox_ids: Sequence[str]) -> str:
    # the same inbox rows always make the same message: a turn re-run after a crash finds it
    return "in-" + hashlib.sha1(",".join(inbox_ids).encode()).hexdigest()[:20]


def _reply_after(messages: list[AnyMessage], human_id: str) -> str | None:
    produced = _this_turn(messages, human_id)
    last = produced[-1] if produced else None
    if isinstance(last, AIMessage) and not last.tool_calls and isinstance(last.content, str):
        return last.content
    return None


async def _team_messages(store: Store, conversation: Conversation, since: str | None
                         ) -> list[AIMessage]:
    """What people at the clinic typed since the last turn, so the bot knows what was said."""
    said = await store.human_messages_since(
        conversation.id, datetime.fromisoformat(since) if since else None)
    return [AIMessage(content=f"{TEAM_MARK} {m.text}", name="equipe", id=f"team-{m.id}")
            for m in said if m.text]


def _this_turn(messages: list[AnyMessage], human_id: str) -> list[AnyMessage]:
    for i, message in enumerate(messages):
        if message.id == human_id:
            return messages[i + 1:]
    return []


def _tool_records(messages: list[AnyMessage]) -> list[ToolCallRecord]:
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    records = []
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            result = results.get(call["id"] or "")
            artifact = result.artifact if result is not None and isinstance(
                result.artifact, dict) else None
            ok = bool(result is not None and result.status != "error" and artifact
                      and artifact.get("ok"))
            records.append(ToolCallRecord(call["name"], dict(call["args"]), ok, artifact))
    return records


async def run_turn(app: Atende, request: TurnRequest, *,
                   superseded: Superseded | None = None) -> TurnResult:
    """Run the graph for one patient turn on thread `tenant:phone` and return the reply.

    The caller stored the patient's messages (`request.inbox_ids`), made sure the bot may speak
    and there is something to answer (`server/turns.py`), and queues the reply. A turn re-run
    over the same inbox rows after a crash returns the reply already generated (`recovered`).
    If `superseded()` says newer messages arrived while the model ran, and the turn wrote
    nothing, the turn is undone (checkpoint restored) and reported `superseded`.
    Turns of one conversation must not run concurrently (the dispatcher serialises them).
    Infrastructure failures end the turn with a polite apology, never a stack trace.
    """
    tenant, conversation = request.tenant, request.conversation
    phone = conversation.phone
    store = app.store
    now = app.clock.now()
    thread = thread_id(tenant.id, phone)
    config: Any = {"configurable": {"thread_id": thread}, "recursion_limit": 40}
    models = app.models(tenant, now)
    loaded, turn = await asyncio.gather(
        load_latest(app.checkpointer, thread),  # once: the graph reuses it
        store.start_turn(conversation.id, tenant.id, model=models.name,
                         prompt_version=prompt_version(tenant),
                         config_version=request.config_version))
    state: dict[str, Any] = loaded.checkpoint["channel_values"] if loaded else {}
    human_id = _human_id(request.inbox_ids)
    done_before = _reply_after(state.get("messages", []), human_id)
    if done_before is not None:
        await store.finish_turn(turn.id, outcome="recovered")
        return TurnResult(turn_id=turn.id, reply=done_before, model=models.name, recovered=True,
                          choices=choices_of(state.get("choices")))

    scope = Scope(tenant=tenant, store=store, patient_phone=phone,
                  conversation_id=conversation.id, turn_id=turn.id, now=now,
                  calendar=app.calendars(tenant))
    human = HumanMessage(content=(request.text or "").strip(), id=human_id)
    context = app.context(scope=scope, models=models, transcriber=app.transcriber)
    # both reads at once; a failure of the first is the caller's, of the second the turn's
    team, opening = await asyncio.gather(
        _team_messages(store, conversation, state.get("human_synced_at")),
        nodes.context(context), return_exceptions=True)
    if isinstance(team, BaseException):
        raise team
    try:
        if isinstance(opening, BaseException):
            raise opening
        with reusing(thread, loaded):
            final: dict[str, Any] = await app.graph.ainvoke(  # type: ignore[call-overload]
                {**opening, "messages": [*team, human], "audio": list(request.audio),
                 "human_synced_at": now.isoformat()},
                config, context=context, durability="exit",
            )
    except (AtendeError, OSError) as exc:
        log.exception("turn_failed", tenant=tenant.id, turn=turn.id)
        await store.finish_turn(turn.id, outcome="error")
        return TurnResult(turn_id=turn.id, reply=APOLOGY, model=models.name,
                          error=getattr(exc, "code", "os_error"))

    produced = _this_turn(final["messages"], human_id)
    records = _tool_records(produced)
    # a handoff pauses the conversation in the store: undoing the turn would leave the patient
    # muted with no reply, so it counts as a write like a booking does
    wrote = any(r.ok and (r.result or {}).get("action") in _KEEP_ACTIONS for r in records)
    if superseded is not None and not wrote and await superseded():
        base = loaded.config["configurable"].get("checkpoint_id") if loaded else None
        await discard_checkpoints_after(app.checkpointer, thread, base)
        await store.finish_turn(turn.id, outcome="superseded")
        return TurnResult(turn_id=turn.id, reply=None, tool_calls=records, superseded=True)

    usage = [m.usage_metadata for m in produced if isinstance(m, AIMessage) and m.usage_metadata]
    tokens_in = sum(u["input_tokens"] for u in usage)
    tokens_out = sum(u["output_tokens"] for u in usage)
    used = next((m.response_metadata.get("atende_model") for m in reversed(produced)
                 if isinstance(m, AIMessage) and m.response_metadata.get("atende_model")),
                models.name)
    handoff = any(r.ok and (r.result or {}).get("action") == "handoff" for r in records)
    said = next((m for m in final["messages"] if m.id == human_id), None)
    transcripts = [line.removeprefix(AUDIO_MARK).strip()
                   for line in (str(said.content).splitlines() if said else [])
                   if line.startswith(AUDIO_MARK)]
    result = TurnResult(turn_id=turn.id, reply=final.get("reply"), tool_calls=records, model=used,
                        handoff=handoff, tokens_in=tokens_in, tokens_out=tokens_out,
                        transcripts=transcripts, choices=choices_of(final.get("choices")))
    # the turn log keeps the reply as text: its choices numbered under it
    await store.finish_turn(turn.id, outcome="handoff" if handoff else "replied",
                            tokens_in=tokens_in, tokens_out=tokens_out, reply=result.as_text(),
                            tool_calls=[{"name": r.name, "args": r.args, "ok": r.ok,
                                         "result": r.result} for r in records])
    await _prune(app, thread)
    return result


PRUNE_EVERY = 8  # turns: each adds one checkpoint, so a thread keeps at most this many
_TRACKED_THREADS = 10_000


async def _prune(app: Atende, thread: str) -> None:
    """Prune a thread's old checkpoints every `PRUNE_EVERY` turns it has in this process rather
    than after each one: the same bound on what a conversation stores (a constant number of
    checkpoints, not one per turn), for an eighth of the write transactions."""
    count = app.unpruned.pop(thread, 0) + 1
    if count < PRUNE_EVERY:
        if len(app.unpruned) >= _TRACKED_THREADS:
            app.unpruned.clear()  # forgetting counts only delays some prunes
        app.unpruned[thread] = count
        return
    await prune_checkpoints(app.checkpointer, thread)
