"""`POST /webhooks/google/calendar`: push notifications (all in headers, the body empty).

    channel id ─► its clinic (the id carries it) ─► the stored channel ─► resource id and
    token (constant time) ─► `sync`: acknowledged, nothing to do │ `exists`: one incremental
    sync of that calendar, a burst debounced into one │ `not_exists`: the channel is forgotten

Unknown channel → 404, wrong resource or token → 401, missing headers → 400; nothing is done
for any of them. The answer goes back at once: the sync runs after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request

from atende.server.http_errors import ApiError

log = structlog.get_logger(__name__)
Key = tuple[str, str]  # (tenant id, calendar id)


class SyncScheduler:
    """Debounce: the first notification for a calendar schedules one sync `delay(tenant)`
    seconds later; notifications meanwhile add nothing (that sync reads every change). One
    arriving while the sync runs schedules exactly one more after it."""

    def __init__(self, run: Callable[[str, str], Awaitable[object]],
                 delay: Callable[[str], float]) -> None:
        self.run = run
        self.delay = delay
        self._waiting: dict[Key, asyncio.Task[None]] = {}
        self._running: set[Key] = set()
        self._again: set[Key] = set()

    def notify(self, tenant_id: str, calendar_id: str) -> bool:
        """Whether this notification scheduled a sync (False: one is already coming)."""
        key = (tenant_id, calendar_id)
        if key in self._waiting:
            return False
        if key in self._running:
            if key in self._again:
                return False
            self._again.add(key)
            return True
        self._waiting[key] = asyncio.create_task(self._later(key), name=f"calendar-sync-{key[0]}")
        return True

    async def _later(self, key: Key) -> None:
        try:
            await asyncio.sleep(self.delay(key[0]))
        finally:
            self._waiting.pop(key, None)
        self._running.add(key)
        try:
            await self.run(*key)
        except Exception:
            log.exception("calendar_push_sync_failed", tenant=key[0])
        finally:
            self._running.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.notify(*key)

    async def idle(self) -> None:
        """Wait until nothing is scheduled or running (tests, shutdown)."""
        while self._waiting or self._running:
            await asyncio.gather(*self._waiting.values(), return_exceptions=True)
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in list(self._waiting.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def routes() -> APIRouter:
    router = APIRouter(prefix="/webhooks/google", tags=["google"])

    @router.post("/calendar")
    async def calendar_notification(request: Request) -> dict[str, Any]:
        google = getattr(request.app.state.services, "google_calendar", None)
        if google is None:
            raise ApiError(404, "google_calendar_off", "Google Calendar is not set up here.")
        outcome = await google.notified(request.headers)
        return {"ok": True, "outcome": outcome}

    return router
