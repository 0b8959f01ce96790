"""The dispatcher: turns the inbox into turns, one at a time per conversation.

A webhook only stores messages and calls `notify`. Per conversation, one asyncio task waits a
debounce window (reset by each new message, capped after the first one of a burst), then runs
one turn over every pending message, in provider-timestamp order. If a message arrives while
the model is thinking and the turn wrote nothing, that reply is dropped and the turn re-runs
over the whole burst. The inbox is the source of truth: on start-up every conversation with
pending messages is picked up again, and `complete_turn` marks messages answered in the same
transaction that queues the reply, so nothing is answered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from atende.agent.nodes import AUDIO_FAILED_REPLY
from atende.agent.runtime import Atende
from atende.agent.state import AudioInput
from atende.agent.turn import TurnRequest, run_turn
from atende.memory.store import Conversation, Message
from atende.server.credentials import Credentials
from atende.server.inbound import ANSWERABLE_KINDS, Channel, MediaRef
from atende.server.media import MediaFetcher, MediaUnavailable
from atende.server.metrics import Metrics
from atende.server.split import split_reply
from atende.tenant import TenantRegistry

log = structlog.get_logger(__name__)

UNSUPPORTED_REPLY = (
    "Recebi sua mensagem, mas por aqui eu só consigo ler textos e áudios. "
    "Pode me escrever o que você precisa?"
)


@dataclass
class _Worker:
    task: asyncio.Task[None]
    wake: asyncio.Event


def _channel(name: str) -> Channel:
    if name not in ("zapi", "meta"):
        raise MediaUnavailable(f"no media download for channel {name!r}", reason="no_source")
    return "zapi" if name == "zapi" else "meta"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(self, app: Atende, tenants: TenantRegistry, credentials: Credentials, *,
                 media: MediaFetcher, metrics: Metrics, on_outbox: Callable[[], None],
                 wallclock: Callable[[], datetime] = _utcnow):
        self.app = app
        self.tenants = tenants
        self.credentials = credentials
        self.media = media
        self.metrics = metrics
        self.on_outbox = on_outbox
        self.wallclock = wallclock  # debounce runs on real time even when turns freeze "now"
        self._workers: dict[str, _Worker] = {}
        # when this process saw each pending burst start and last grow (sub-second precision;
        # after a restart the stored arrival times take over)
        self._burst: dict[str, tuple[datetime, datetime]] = {}
        self._closing = False

    async def start(self) -> int:
        """Pick up every conversation left with pending messages (after a restart or crash)."""
        pending = await self.app.store.conversations_with_pending()
        for conversation in pending:
            self.notify(conversation.id)
        log.info("dispatcher_started", pending_conversations=len(pending))
        return len(pending)

    def notify(self, conversation_id: str) -> None:
        """A message arrived for this conversation: wake its worker, or start one."""
        if self._closing:
            return
        now = self.wallclock()
        first, _ = self._burst.get(conversation_id, (now, now))
        self._burst[conversation_id] = (first, now)
        worker = self._workers.get(conversation_id)
        if worker is not None and not worker.task.done():
            worker.wake.set()
            return
        wake = asyncio.Event()
        task = asyncio.create_task(self._run(conversation_id, wake), name=f"turns:{conversation_id}")
        self._workers[conversation_id] = _Worker(task, wake)

    async def idle(self) -> None:
        """Wait until no conversation has work in progress (tests, graceful shutdown)."""
        while any(not w.task.done() for w in self._workers.values()):
            await asyncio.gather(*(w.task for w in self._workers.values()),
                                 return_exceptions=True)

    async def stop(self) -> None:
        self._closing = True
        for worker in self._workers.values():
            worker.task.cancel()
        for worker in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.task

    async def _run(self, conversation_id: str, wake: asyncio.Event) -> None:
        structlog.contextvars.clear_contextvars()  # a task gets a copy: this clears only ours
        structlog.contextvars.bind_contextvars(conversation_id=conversation_id)
        try:
            while True:
                pending = await self.app.store.inbox_pending(conversation_id)
                if not pending:
                    return
                conversation = await self.app.store.get_conversation(conversation_id)
                if conversation is None:
                    return
                structlog.contextvars.bind_contextvars(tenant=conversation.tenant_id)
                await self._debounce(conversation, wake)
                answering = self._burst.pop(conversation_id, None)
                try:
                    await self._answer(conversation)
                except BaseException:
                    if answering is not None:  # not answered: the burst is still open
                        self._burst.setdefault(conversation_id, answering)
                    raise
        except asyncio.CancelledError:
            raise
        except Exception:
            # the messages stay pending: they are answered on the next notify or restart
            log.exception("dispatch_failed", conversation_id=conversation_id)
        finally:
            current = self._workers.get(conversation_id)
            if current is not None and current.task is asyncio.current_task():
                del self._workers[conversation_id]

    async def _debounce(self, conversation: Conversation, wake: asyncio.Event) -> None:
        """Wait until the burst is quiet for `window` seconds, or `max` after its first message."""
        tenant = self.tenants.get(conversation.tenant_id)
        window = timedelta(seconds=tenant.debounce.window_seconds)
        cap = timedelta(seconds=tenant.debounce.max_seconds)
        while True:
            wake.clear()
            pending = await self.app.store.inbox_pending(conversation.id)
            if not pending:
                return
            first = min(m.created_at for m in pending)
            last = max(m.created_at for m in pending)
            if conversation.id in self._burst:
                seen_first, seen_last = self._burst[conversation.id]
                first, last = max(first, seen_first), max(last, seen_last)
            deadline = min(last + window, first + cap)
            delay = (deadline - self.wallclock()).total_seconds()
            if delay <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _newer_than(self, conversation_id: str, ids: list[str]) -> bool:
        pending = await self.app.store.inbox_pending(conversation_id)
        return any(m.id not in ids for m in pending)

    async def _answer(self, conversation: Conversation) -> None:
        store = self.app.store
        pending = await store.inbox_pending(conversation.id)
        if not pending:
            return
        ids = [m.id for m in pending]
        tenant = self.tenants.get(conversation.tenant_id)
        fresh = await store.get_conversation(conversation.id) or conversation
        if fresh.bot_paused(self.app.clock.now()):
            await store.inbox_ignore(ids, reason="human_takeover")
            self.metrics.turns.labels(tenant=tenant.id, outcome="skipped").inc()
            return
        answerable = [m for m in pending if m.kind in ANSWERABLE_KINDS]
        if not answerable:
            await self._queue(conversation, ids, None, [UNSUPPORTED_REPLY])
            return
        text = "\n".join(m.text.strip() for m in answerable if m.text and m.text.strip())
        audio, failed = await self._voice_notes(conversation, answerable)
        if failed and not text and not audio:
            await self._queue(conversation, ids, None, [AUDIO_FAILED_REPLY])
            return
        request = TurnRequest(tenant=tenant, phone=conversation.phone, text=text or None,
                              audio=audio, channel=conversation.channel, inbox_ids=ids)
        started = self.wallclock()
        result = await run_turn(self.app, request,
                                superseded=lambda: self._newer_than(conversation.id, ids))
        elapsed = (self.wallclock() - started).total_seconds()
        self.metrics.turn_latency.labels(tenant=tenant.id).observe(elapsed)
        if result.superseded:
            self.metrics.turns.labels(tenant=tenant.id, outcome="superseded").inc()
            log.info("turn_superseded", conversation_id=conversation.id, messages=len(ids))
            return  # the loop re-reads the inbox and answers the whole burst
        voice = [m for m in answerable if m.kind == "audio"]
        for message, transcript in zip(voice, result.transcripts, strict=False):
            await store.annotate_message(message.id, {"transcript": transcript})
        if result.skipped == "human" or not result.reply:
            await store.inbox_ignore(ids, reason=result.skipped or "no_reply")
            return
        outcome = "error" if result.error else "handoff" if result.handoff else "replied"
        log.info("turn_done", outcome=outcome, messages=len(ids), turn_id=result.turn_id,
                 model=result.model, tools=[c.name for c in result.tool_calls],
                 seconds=round(elapsed, 3), reply=result.reply)
        self.metrics.turns.labels(tenant=tenant.id, outcome=outcome).inc()
        self.metrics.llm_tokens.labels(tenant=tenant.id, direction="in").inc(result.tokens_in)
        self.metrics.llm_tokens.labels(tenant=tenant.id, direction="out").inc(result.tokens_out)
        bubbles = split_reply(result.reply, own_bubble=[tenant.address])
        # the handoff reply itself still goes out although the turn paused the bot
        meta: dict[str, object] = {"model": result.model or "", "handoff": result.handoff}
        await self._queue(conversation, ids, result.turn_id, bubbles, meta=meta)

    async def _queue(self, conversation: Conversation, ids: list[str], turn_id: str | None,
                     replies: list[str], meta: dict[str, object] | None = None) -> None:
        written = await self.app.store.complete_turn(
            conversation.id, inbox_ids=ids, turn_id=turn_id, replies=replies, meta=meta or {})
        if written:
            self.on_outbox()
        else:
            log.warning("turn_already_answered", conversation_id=conversation.id)

    async def _voice_notes(self, conversation: Conversation, messages: list[Message]
                           ) -> tuple[list[AudioInput], bool]:
        """Download this burst's voice notes (the graph transcribes them)."""
        audio: list[AudioInput] = []
        failed = False
        channels = self.credentials.get(conversation.tenant_id)
        for message in messages:
            if message.kind != "audio":
                continue
            media = MediaRef.model_validate(message.meta.get("media") or {})
            try:
                got = await self.media.fetch(media, channel=_channel(conversation.channel),
                                             access_token=channels.meta.access_token
                                             if channels.meta else None)
            except MediaUnavailable as exc:
                log.warning("media_unavailable", reason=exc.reason, message_id=message.id)
                failed = True
                continue
            audio.append(AudioInput(data=got.data, filename=got.filename,
                                    mime_type=got.mime_type))
        return audio, failed
