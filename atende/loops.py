"""A background loop: do the work, then sleep until woken or `every` seconds pass, forever; a
failed pass is logged and the next one runs (the outbox, the reminder tick)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def every(seconds: float, wake: asyncio.Event, work: Callable[[], Awaitable[object]], *,
                failed: str) -> None:
    """Run `work` now and again after each wake-up or `seconds`; `failed` names a failed pass
    in the log. Returns only by cancellation."""
    while True:
        wake.clear()
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(failed)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()
