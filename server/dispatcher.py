"""The in-process dispatcher: turns the inbox into turns, one at a time per conversation.

A webhook only stores messages and calls `notify`. Per conversation, one asyncio task runs
`ConversationTurns.answer_pending`: it waits a debounce window (reset by each new message,
capped after the first one of a burst), then runs one turn over every pending message, in
provider-timestamp order. If a message arrives while the model is thinking and the turn wrote
nothing, that reply is dropped and the turn re-runs over the whole burst. The inbox is the
source of truth: on start-up every conversation with pending messages is picked up again, and
`complete_turn` marks messages answered in the same transaction that queues the reply, so
nothing is answered twice. With Postgres, `server/queue.py` does the same across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from atende.server.turns import UNSUPPORTED_REPLY, Bursts, ConversationTurns

__all__ = ["UNSUPPORTED_REPLY", "Dispatcher", "TurnScheduler"]

log = structlog.get_logger(__name__)


class TurnScheduler(Protocol):
    """What the webhooks hand new messages to: this in-process dispatcher (SQLite), or the
    procrastinate queue (`server/queue.py`, Postgres)."""

    async def start(self) -> int:
        """Pick up every conversation left with pending messages; returns how many."""

    async def notify(self, conversation_id: str, stored_at: datetime | None = None) -> None:
        """A message arrived for this conversation (stored at `stored_at`), or it needs
        answering again."""

    async def idle(self) -> None:
        """Wait until no turn is in progress here (tests, graceful shutdown)."""

    async def stop(self) -> None: ...


@dataclass
class _Worker:
    task: asyncio.Task[None]
    wake: asyncio.Event


class Dispatcher:
    """One asyncio task per conversation with work, in this process."""

    def __init__(self, turns: ConversationTurns):
        self.turns = turns
        self.app = turns.app
        self._workers: dict[str, _Worker] = {}
        self._bursts = Bursts()
        self._closing = False

    async def start(self) -> int:
        """Pick up every conversation left with pending messages (after a restart or crash)."""
        pending = await self.app.store.conversations_with_pending()
        for conversation in pending:
            self.wake(conversation.id)
        log.info("dispatcher_started", pending_conversations=len(pending))
        return len(pending)

    async def notify(self, conversation_id: str, stored_at: datetime | None = None) -> None:
        self.wake(conversation_id, stored_at)

    def wake(self, conversation_id: str, stored_at: datetime | None = None) -> None:
        """A message arrived for this conversation: wake its worker, or start one."""
        if self._closing:
            return
        self._bursts.grew(conversation_id, self.turns.wallclock(), stored_at)
        worker = self._workers.get(conversation_id)
        if worker is not None and not worker.task.done():
            worker.wake.set()
            return
        self._spawn(conversation_id)

    def _spawn(self, conversation_id: str) -> None:
        running = self._workers.get(conversation_id)
        if self._closing or (running is not None and not running.task.done()):
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
        for worker in list(self._workers.values()):  # a cancelled worker removes itself
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.task

    async def _run(self, conversation_id: str, wake: asyncio.Event) -> None:
        structlog.contextvars.clear_contextvars()  # a task gets a copy: this clears only ours
        structlog.contextvars.bind_contextvars(conversation_id=conversation_id)
        try:
            await self.turns.answer_pending(conversation_id, wake=wake, bursts=self._bursts)
        except asyncio.CancelledError:
            raise
        except Exception:
            # the messages stay pending: they are answered on the next notify or restart
            log.exception("dispatch_failed", conversation_id=conversation_id)
        finally:
            current = self._workers.get(conversation_id)
            if current is not None and current.task is asyncio.current_task():
                del self._workers[conversation_id]
                if wake.is_set() and not self._closing:
                    # a message arrived after the last inbox read: start again, never drop it
                    asyncio.get_running_loop().call_soon(self._spawn, conversation_id)
