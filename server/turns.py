"""`ConversationTurns`: answer one conversation's pending inbox — wait out the debounce, then
one turn over the whole burst, re-run when newer messages supersede it.

Whoever runs it must make sure one conversation is answered by one caller at a time: the
in-process dispatcher keeps one asyncio task per conversation; the procrastinate task
(`server/queue.py`) runs under a lock named after the conversation. The inbox stays the source
of truth either way: `complete_turn` marks messages answered in the same transaction that
queues the reply, so a re-run after a crash never answers twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from atende.agent.nodes import AUDIO_FAILED_REPLY
from atende.agent.runtime import Atende
from atende.agent.state import AudioInput
from atende.agent.turn import TurnRequest, TurnResult, run_turn
from atende.memory.records import Conversation, Message
from atende.reminders.outcomes import answered
from atende.server.channels import CHANNELS
from atende.server.credentials import Credentials
from atende.server.inbound import ANSWERABLE_KINDS, MediaRef
from atende.server.media import DownloadedMedia, MediaFetcher, MediaUnavailable
from atende.server.metrics import Metrics
from atende.server.split import split_reply
from atende.server.takeover import bot_may_speak
from atende.tenant import TenantRegistry

log = structlog.get_logger(__name__)

UNSUPPORTED_REPLY = (
    "Recebi sua mensagem, mas por aqui eu só consigo ler textos e áudios. "
    "Pode me escrever o que você precisa?"
)


# a received message's media, downloaded the way its conversation's channel serves it
MediaSource = Callable[[Conversation, MediaRef], Awaitable[DownloadedMedia]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def channel_media(credentials: Credentials, fetcher: MediaFetcher) -> MediaSource:
    """Media through the conversation's channel (`Channel.fetch_media`) and the clinic's
    credentials on it."""

    async def fetch(conversation: Conversation, media: MediaRef) -> DownloadedMedia:
        channel = CHANNELS.get(conversation.channel)
        if channel is None:
            raise MediaUnavailable(f"no media download for channel {conversation.channel!r}",
                                   reason="no_source")
        account = credentials.get(conversation.tenant_id).accounts.get(channel.name)
        return await channel.fetch_media(fetcher, media, account)

    return fetch


class Bursts:
    """When this process saw each conversation's pending burst start and last grow, and the
    newest stored arrival time among the messages it was told about.

    Stored arrival times may be whole seconds (SQLite); a process that receives the webhooks
    itself knows better, and its sub-second times take over. Knowing the newest stored time too,
    its debounce never re-reads the inbox when a message arrives. A worker in another process
    has only the stored times (Postgres keeps microseconds).
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[datetime, datetime]] = {}
        self._stored: dict[str, datetime] = {}

    def grew(self, conversation_id: str, now: datetime, stored_at: datetime | None = None) -> None:
        first, _ = self._seen.get(conversation_id, (now, now))
        self._seen[conversation_id] = (first, now)
        if stored_at is not None:
            newest = self._stored.get(conversation_id)
            self._stored[conversation_id] = stored_at if newest is None else max(newest, stored_at)

    def seen(self, conversation_id: str) -> tuple[datetime, datetime] | None:
        return self._seen.get(conversation_id)

    def stored(self, conversation_id: str) -> datetime | None:
        """The newest stored arrival time this process was told about in the open burst."""
        return self._stored.get(conversation_id)

    def take(self, conversation_id: str) -> Taken:
        """The burst about to be answered: later messages start a new one."""
        return (self._seen.pop(conversation_id, None), self._stored.pop(conversation_id, None))

    def restore(self, conversation_id: str, taken: Taken) -> None:
        """The answer failed: the burst is still open."""
        seen, stored = taken
        if seen is not None:
            self._seen.setdefault(conversation_id, seen)
        if stored is not None:
            self._stored.setdefault(conversation_id, stored)


Taken = tuple[tuple[datetime, datetime] | None, datetime | None]


class ConversationTurns:
    """Turns the pending inbox of a conversation into turns and queued replies."""

    def __init__(self, app: Atende, tenants: TenantRegistry, *, media: MediaSource,
                 metrics: Metrics, on_outbox: Callable[[], None],
                 wallclock: Callable[[], datetime] = utcnow):
        self.app = app
        self.tenants = tenants
        self.media = media
        self.metrics = metrics
        self.on_outbox = on_outbox
        self.wallclock = wallclock  # debounce runs on real time even when turns freeze "now"

    async def answer_pending(self, conversation_id: str, *, wake: asyncio.Event | None = None,
                             bursts: Bursts | None = None) -> int:
        """Answer every pending message of the conversation, burst by burst, until none is
        left; returns how many bursts were answered.

        `wake` is set when a message arrives (in-process); without it the debounce re-reads
        the inbox when its deadline comes. `bursts` are this process's own arrival times.
        """
        store = self.app.store
        answered = 0
        while True:
            pending = await store.inbox_pending(conversation_id)
            if not pending:
                return answered
            conversation = await store.get_conversation(conversation_id)
            if conversation is None:
                return answered
            structlog.contextvars.bind_contextvars(tenant=conversation.tenant_id)
            await self.debounce(conversation, wake=wake, bursts=bursts)
            taken = bursts.take(conversation_id) if bursts is not None else (None, None)
            try:
                result = await self.answer(conversation)
                if result is not None and not result.superseded:
                    answered += 1
            except BaseException:
                if bursts is not None:
                    bursts.restore(conversation_id, taken)
                raise

    async def debounce(self, conversation: Conversation, *, wake: asyncio.Event | None = None,
                       bursts: Bursts | None = None) -> None:
        """Wait until the burst is quiet for `window` seconds, or `max` after its first message.

        In-process (`wake` and `bursts` given) the inbox is read once: each later message
        wakes the wait with its times already in `bursts`. Otherwise the inbox is re-read when
        the deadline comes (a newer message moves it)."""
        tenant = self.tenants.get(conversation.tenant_id)
        window = timedelta(seconds=tenant.debounce.window_seconds)
        cap = timedelta(seconds=tenant.debounce.max_seconds)
        in_memory = wake is not None and bursts is not None
        pending: list[Message] = []
        while True:
            if wake is not None:
                wake.clear()
            if not in_memory or not pending:
                pending = await self.app.store.inbox_pending(conversation.id)
                if not pending:
                    return
            first = min(m.created_at for m in pending)
            last = max(m.created_at for m in pending)
            seen = bursts.seen(conversation.id) if bursts is not None else None
            if seen is not None:
                first, last = max(first, seen[0]), max(last, seen[1])
            stored = bursts.stored(conversation.id) if bursts is not None else None
            if stored is not None:
                last = max(last, stored)
            deadline = min(last + window, first + cap)
            delay = (deadline - self.wallclock()).total_seconds()
            if delay <= 0:
                return
            if wake is None:
                await asyncio.sleep(delay)  # then re-read: a newer message moves the deadline
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _newer_than(self, conversation_id: str, ids: list[str]) -> bool:
        pending = await self.app.store.inbox_pending(conversation_id)
        return any(m.id not in ids for m in pending)

    async def answer(self, conversation: Conversation) -> TurnResult | None:
        """One turn over every pending message, its reply queued in the outbox (or the messages
        marked handled without one); None when nothing was pending. A `superseded` result
        answered nothing: the caller re-reads the inbox and answers the whole burst."""
        store = self.app.store
        pending, stored = await asyncio.gather(store.inbox_pending(conversation.id),
                                               store.get_conversation(conversation.id))
        if not pending:
            return None
        ids = [m.id for m in pending]
        tenant = self.tenants.get(conversation.tenant_id)
        fresh = stored or conversation
        if not bot_may_speak(fresh, self.app.clock.now()):
            await store.inbox_ignore(ids, reason="human_takeover")
            self.metrics.turns.labels(tenant=tenant.id, outcome="skipped").inc()
            return TurnResult(turn_id=None, reply=None, skipped="human")
        answerable = [m for m in pending if m.kind in ANSWERABLE_KINDS]
        # a photo or document with a caption still says something: the caption is read
        captioned = [m for m in pending if m.kind not in ANSWERABLE_KINDS
                     and m.text and m.text.strip()]
        if not answerable and not captioned:
            return await self._fixed(fresh, ids, UNSUPPORTED_REPLY)
        text = "\n".join(m.text.strip() for m in pending
                         if m in answerable + captioned and m.text and m.text.strip())
        audio, failed = await self._voice_notes(fresh, answerable)
        if not text and not audio:
            if failed:
                return await self._fixed(fresh, ids, AUDIO_FAILED_REPLY)
            await store.inbox_ignore(ids, reason="empty")
            return TurnResult(turn_id=None, reply=None, skipped="empty")
        request = TurnRequest(tenant=tenant, conversation=fresh, inbox_ids=ids,
                              text=text or None, audio=audio)
        started = self.wallclock()
        result = await run_turn(self.app, request,
                                superseded=lambda: self._newer_than(conversation.id, ids))
        elapsed = (self.wallclock() - started).total_seconds()
        self.metrics.turn_latency.labels(tenant=tenant.id).observe(elapsed)
        if result.superseded:
            self.metrics.turns.labels(tenant=tenant.id, outcome="superseded").inc()
            log.info("turn_superseded", conversation_id=conversation.id, messages=len(ids))
            return result
        voice = [m for m in answerable if m.kind == "audio"]
        for message, transcript in zip(voice, result.transcripts, strict=False):
            await store.annotate_message(message.id, {"transcript": transcript})
        if not result.reply:
            await store.inbox_ignore(ids, reason="no_reply")
            return result
        outcome = "error" if result.error else "handoff" if result.handoff else "replied"
        log.info("turn_done", outcome=outcome, messages=len(ids), turn_id=result.turn_id,
                 model=result.model, tools=[c.name for c in result.tool_calls],
                 seconds=round(elapsed, 3), reply=result.reply)
        self.metrics.turns.labels(tenant=tenant.id, outcome=outcome).inc()
        self.metrics.llm_tokens.labels(tenant=tenant.id, direction="in").inc(result.tokens_in)
        self.metrics.llm_tokens.labels(tenant=tenant.id, direction="out").inc(result.tokens_out)
        for event in answered(result):  # what patients did with what the clinic wrote first
            self.metrics.proactive.labels(tenant=tenant.id, event=event).inc()
        bubbles = split_reply(result.reply, own_bubble=[tenant.address])
        # the handoff reply itself still goes out although the turn paused the bot
        meta: dict[str, object] = {"model": result.model or "", "handoff": result.handoff}
        # the options go out with the last bubble, as data the channel renders
        offer: dict[str, object] | None = (
            {"choices": [c.to_dict() for c in result.choices]} if result.choices else None)
        await self._queue(conversation, ids, result.turn_id, bubbles, meta=meta, last_meta=offer)
        return result

    async def _fixed(self, conversation: Conversation, ids: list[str], reply: str
                     ) -> TurnResult:
        """A reply that needs no model (a sticker, a voice note that could not be fetched)."""
        await self._queue(conversation, ids, None, [reply])
        return TurnResult(turn_id=None, reply=reply)

    async def _queue(self, conversation: Conversation, ids: list[str], turn_id: str | None,
                     replies: list[str], meta: dict[str, object] | None = None,
                     last_meta: dict[str, object] | None = None) -> None:
        written = await self.app.store.complete_turn(
            conversation.id, inbox_ids=ids, turn_id=turn_id, replies=replies, meta=meta or {},
            last_meta=last_meta)
        if written:
            self.on_outbox()
        else:
            log.warning("turn_already_answered", conversation_id=conversation.id)

    async def _voice_notes(self, conversation: Conversation, messages: list[Message]
                           ) -> tuple[list[AudioInput], bool]:
        """This burst's voice notes (the graph transcribes them): downloaded, or as the
        transcript already stored with the message (a replay, an eval fixture, a re-run)."""
        audio: list[AudioInput] = []
        failed = False
        for message in messages:
            if message.kind != "audio":
                continue
            media = MediaRef.model_validate(message.meta.get("media") or {})
            known = message.meta.get("transcript")
            if isinstance(known, str):
                audio.append(AudioInput(b"", filename=media.filename or "audio.ogg",
                                        transcript=known))
                continue
            try:
                got = await self.media(conversation, media)
            except MediaUnavailable as exc:
                log.warning("media_unavailable", reason=exc.reason, host=exc.host,
                            message_id=message.id)
                failed = True
                continue
            audio.append(AudioInput(data=got.data, filename=got.filename,
                                    mime_type=got.mime_type))
        return audio, failed
