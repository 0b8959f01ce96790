"""The outbox worker: sends queued replies through each clinic's channel, with retries.

Network errors, 429 and 5xx are retried with exponential backoff (honouring Retry-After);
definitive 4xx errors are recorded as failed; after `max_attempts` a message is dead-lettered
(`store.dead_letters`). Right before each send it re-checks that the bot still owns the
conversation, and that its channel lets a reply out now (Meta's 24-hour window); the channel
also decides how the reply is shown (`Channel.send_reply`).

At most `concurrency` sends are in flight per process, and a row is claimed only once a slot
is free: a process killed mid-batch leaves at most that many rows `sending` (failed by
`recover`, never resent, since they may have gone out), not every row it had listed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from atende import loops
from atende.clock import Clock
from atende.memory.records import Message
from atende.memory.store import Store
from atende.reminders import outcomes as proactive
from atende.reminders.notice import Notice
from atende.server.channels import CHANNELS
from atende.server.channels.base import Channel
from atende.server.metrics import Metrics
from atende.server.senders import Sender, SendError
from atende.server.takeover import bot_may_speak
from atende.tools.choices import choices_of

log = structlog.get_logger(__name__)

_EVERYTHING = timedelta(days=3650)  # outbox_due horizon that includes rows waiting to retry
SenderFor = Callable[[str, str], Sender | None]  # (tenant id, channel) → sender
SEND_CONCURRENCY = 16  # sends in flight at once per process (see the module docstring)


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds before retry number `attempt` (1-based): exponential with full jitter."""
    return random.uniform(base, min(cap, base * 2 ** attempt))  # jitter, not crypto


class OutboxWorker:
    def __init__(self, store: Store, sender_for: SenderFor, *, clock: Clock, metrics: Metrics,
                 max_attempts: int = 6, poll_seconds: float = 1.0,
                 lease: timedelta | None = None, concurrency: int = SEND_CONCURRENCY,
                 channels: Mapping[str, Channel[Any, Any]] = CHANNELS):
        """`lease=None`: this is the only sender, so every row left `sending` at start-up was
        interrupted. With several sender processes, `lease`: a row is interrupted only when
        its claim is older than that, checked at start and every quarter lease after."""
        self.store = store
        self.sender_for = sender_for
        self.clock = clock
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.channels = channels
        self._slots = asyncio.Semaphore(max(concurrency, 1))
        self._wake = asyncio.Event()
        # (tenant, channel) → "sent" or the last error code: what /health reports
        self.last_outcome: dict[tuple[str, str], str] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        every = None if self.lease is None else max(self.lease.total_seconds() / 4, 0.5)
        due: float | None = time.monotonic()  # recover first (again if it fails)

        async def once() -> None:
            nonlocal due
            if due is not None and time.monotonic() >= due:
                await self.recover()
                due = None if every is None else time.monotonic() + every
            await self.drain()

        await loops.every(self.poll_seconds, self._wake, once, failed="outbox_pass_failed")

    async def recover(self) -> int:
        """Fail the rows whose sender died mid-send (never resent: they may have gone out)."""
        recovered = await self.store.outbox_recover(lease=self.lease)
        if recovered:
            log.warning("outbox_recovered_interrupted_sends", count=recovered)
        return recovered

    async def drain(self, *, conversation_id: str | None = None) -> int:
        """Send everything due now (of one conversation, when given: the console sends only
        its own), each conversation's bubbles strictly in order; returns how many sends were
        attempted."""
        attempted = 0
        while True:
            now = self.clock.now()
            queued = await self.store.outbox_due(now + _EVERYTHING, limit=500)
            heads: dict[str, Message] = {}
            for message in queued:  # oldest first: the head is the next bubble to go out
                if conversation_id is None or message.conversation_id == conversation_id:
                    heads.setdefault(message.conversation_id, message)
            ready = [m for m in heads.values()
                     if m.next_attempt_at is None or m.next_attempt_at <= now]
            if not ready:
                return attempted
            attempted += len(ready)
            await asyncio.gather(*(self._send(m) for m in ready))

    async def _send(self, queued: Message) -> None:
        async with self._slots:  # claimed only when it can go out at once
            await self._send_claimed(queued)

    async def _send_claimed(self, queued: Message) -> None:
        message = await self.store.outbox_claim(queued.id)
        if message is None:
            return
        conversation = await self.store.get_conversation(message.conversation_id)
        now = self.clock.now()
        channel = (conversation.channel if conversation else None) or message.channel or ""
        if conversation is None:
            await self.store.outbox_result(message.id, status="failed", error="no conversation")
            return
        notice = message.meta.get("notice")
        if not bot_may_speak(conversation, now, message.meta):
            await self._fail(message, channel, "human_takeover: a person has the conversation")
            return
        sender = self.sender_for(conversation.tenant_id, channel)
        kind = self.channels.get(channel)
        if sender is None or kind is None:
            await self._fail(message, channel, f"no {channel or 'channel'} credentials configured")
            return
        refusal = kind.refusal(conversation.last_inbound_at, now)  # e.g. Meta's 24-hour window
        if refusal is not None and not notice:
            self.metrics.sends.labels(channel=channel, outcome=refusal.outcome).inc()
            await self.store.outbox_result(message.id, status="failed", error=refusal.error)
            await proactive.settled(self.store, message, "failed", refusal.error,
                                    metrics=self.metrics)
            return
        try:
            if notice:  # outside the window Meta gets the template, inside the buttons
                result = await kind.send_notice(sender, conversation.phone,
                                                Notice.from_dict(notice),
                                                window_open=refusal is None)
            else:
                # the options this bubble offers travel as data; the channel shows them its way
                result = await kind.send_reply(sender, conversation.phone, message.text or "",
                                               choices_of(message.meta.get("choices")))
        except SendError as exc:
            await self._retry_or_fail(message, channel, exc, now)
            return
        await self.store.outbox_result(message.id, status="sent",
                                       provider_message_id=result.provider_message_id)
        await proactive.settled(self.store, message, "sent", None,
                                provider_message_id=result.provider_message_id,
                                template_used=bool(notice) and refusal is not None,
                                metrics=self.metrics)
        self.last_outcome[(conversation.tenant_id, channel)] = "sent"
        self.metrics.sends.labels(channel=channel, outcome="sent").inc()

    async def _fail(self, message: Message, channel: str, error: str) -> None:
        await self.store.outbox_result(message.id, status="failed", error=error)
        self.metrics.sends.labels(channel=channel or "none", outcome="failed").inc()
        log.warning("send_refused", message_id=message.id, error=error)

    async def _retry_or_fail(self, message: Message, channel: str, exc: SendError,
                             now: datetime) -> None:
        error = f"{exc.code or 'error'}: {exc}"
        conversation = await self.store.get_conversation(message.conversation_id)
        if conversation is not None:
            self.last_outcome[(conversation.tenant_id, channel)] = exc.code or "error"
        if not exc.retryable:
            await self._fail(message, channel, error)
            await proactive.settled(self.store, message, "failed", error, problem=exc.problem,
                                    metrics=self.metrics)
            return
        if message.attempts >= self.max_attempts:
            await self.store.outbox_result(message.id, status="dead", error=error)
            await proactive.settled(self.store, message, "failed", error, metrics=self.metrics)
            self.metrics.sends.labels(channel=channel, outcome="dead").inc()
            log.error("send_dead_lettered", message_id=message.id, attempts=message.attempts,
                      error=error)
            return
        delay = exc.retry_after if exc.retry_after is not None else backoff(message.attempts)
        await self.store.outbox_result(message.id, status="queued", error=error,
                                       next_attempt_at=now + timedelta(seconds=delay))
        self.metrics.sends.labels(channel=channel, outcome="retry").inc()
        log.warning("send_retry", message_id=message.id, attempt=message.attempts, delay=delay)
