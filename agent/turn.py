"""`run_turn`: the one use case every entry point calls (console, webhooks, evals, replay)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from atende.agent.context import TurnContext
from atende.agent.runtime import Atende
from atende.agent.state import AudioInput
from atende.errors import AtendeError
from atende.memory.checkpoint import prune_checkpoints
from atende.phones import normalize_phone
from atende.prompts.render import prompt_version
from atende.tenant import Tenant
from atende.tools.scope import Scope

log = structlog.get_logger(__name__)

APOLOGY = (
    "Desculpe, tive um problema técnico agora e não consegui concluir. "
    "Pode tentar de novo em alguns minutos? Se preferir, peço para alguém da equipe te chamar."
)


@dataclass(frozen=True)
class TurnRequest:
    tenant: Tenant
    phone: str
    text: str | None = None
    audio: Sequence[AudioInput] = ()
    channel: str = "console"
    provider_message_id: str | None = None


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
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0

    def to_json(self, user: str | None) -> dict[str, Any]:
        return {
            "user": user,
            "reply": self.reply,
            "tool_calls": [{"name": c.name, "args": c.args, "ok": c.ok} for c in self.tool_calls],
        }


def thread_id(tenant_id: str, phone: str) -> str:
    return f"{tenant_id}:{phone}"


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


async def run_turn(app: Atende, request: TurnRequest) -> TurnResult:
    """Record the patient's message, run the graph on thread `tenant:phone`, record the reply.

    Turns of one conversation must not run concurrently (the dispatcher serialises them).
    Infrastructure failures end the turn with a polite apology, never a stack trace.
    """
    tenant = request.tenant
    phone = normalize_phone(request.phone)
    store = app.store
    await store.upsert_patient(tenant.id, phone, source=request.channel)
    conversation = await store.get_or_create_conversation(tenant.id, phone, request.channel)
    await store.add_message(
        conversation.id, direction="in", text=request.text,
        kind="audio" if request.audio and not request.text else "text",
        provider_message_id=request.provider_message_id,
    )
    if conversation.status == "human":
        return TurnResult(turn_id=None, reply=None, skipped="human")
    if not (request.text and request.text.strip()) and not request.audio:
        return TurnResult(turn_id=None, reply=None, skipped="empty")

    now = app.clock.now()
    models = app.models(tenant, now)
    turn = await store.start_turn(conversation.id, tenant.id, model=models.name,
                                  prompt_version=prompt_version())
    scope = Scope(tenant=tenant, store=store, patient_phone=phone,
                  conversation_id=conversation.id, turn_id=turn.id, now=now)
    human_id = f"in-{turn.id}"
    human = HumanMessage(content=(request.text or "").strip(), id=human_id)
    config: Any = {"configurable": {"thread_id": thread_id(tenant.id, phone)},
                   "recursion_limit": 40}
    try:
        final = await app.graph.ainvoke(
            {"messages": [human], "audio": list(request.audio)}, config,
            context=TurnContext(scope=scope, models=models, transcriber=app.transcriber),
            durability="exit",
        )
    except (AtendeError, OSError) as exc:
        log.exception("turn_failed", tenant=tenant.id, turn=turn.id)
        await store.add_message(conversation.id, direction="out", text=APOLOGY, status="queued",
                                turn_id=turn.id, meta={"error": getattr(exc, "code", "os_error")})
        await store.finish_turn(turn.id, outcome="error")
        return TurnResult(turn_id=turn.id, reply=APOLOGY, model=models.name,
                          error=getattr(exc, "code", "os_error"))

    produced = _this_turn(final["messages"], human_id)
    records = _tool_records(produced)
    usage = [m.usage_metadata for m in produced if isinstance(m, AIMessage) and m.usage_metadata]
    tokens_in = sum(u["input_tokens"] for u in usage)
    tokens_out = sum(u["output_tokens"] for u in usage)
    used = next((m.response_metadata.get("atende_model") for m in reversed(produced)
                 if isinstance(m, AIMessage) and m.response_metadata.get("atende_model")),
                models.name)
    handoff = any(r.ok and (r.result or {}).get("action") == "handoff" for r in records)
    reply = final.get("reply")
    await store.add_message(conversation.id, direction="out", text=reply, status="queued",
                            turn_id=turn.id, meta={"model": used})
    await store.finish_turn(turn.id, outcome="handoff" if handoff else "replied",
                            tokens_in=tokens_in, tokens_out=tokens_out)
    await prune_checkpoints(app.checkpointer, thread_id(tenant.id, phone))
    return TurnResult(turn_id=turn.id, reply=reply, tool_calls=records, model=used,
                      handoff=handoff, tokens_in=tokens_in, tokens_out=tokens_out)
