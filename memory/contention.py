"""A busy database, backend-neutral: which refusals are worth another try, and how a booking
that keeps being refused still gets a true answer.

When patients race for one slot while other clients load the database, a transaction can be
refused for reasons that say nothing about the slot: a lock or pool wait timed out, a deadlock
or a serialization conflict was broken by aborting it, SQLite said "database is locked". Each
backend's error mapping turns those into `Contention`; such a transaction changed nothing, so
it is run again, a bounded number of times. If the database stays busy, a booking looks at the
slot: taken by another appointment, the patient is told so (true); still free, the error stands
(a patient is never told a free slot was taken).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from atende.errors import InfrastructureError, SlotUnavailable

from .records import SLOT_TAKEN

T = TypeVar("T")
P = ParamSpec("P")
log = structlog.get_logger(__name__)

ATTEMPTS = 8
# Retries stop once this much time has gone by: a wait that already timed out at the pool's 30 s
# (or SQLite's busy timeout) is not worth another one while a patient waits for the answer.
PATIENCE_S = 10.0


class Contention(InfrastructureError):
    """The database refused a transaction because of other writers, and rolled it back."""

    code = "database_busy"

    def __init__(self, reason: str, detail: object) -> None:
        super().__init__(f"database busy ({reason}): {detail}")
        self.reason = reason  # lock_timeout, deadlock, pool_timeout, ... (logs, tests)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info("database_contention_retry", reason=getattr(error, "reason", None),
             attempt=state.attempt_number)


async def retried(op: Callable[[], Awaitable[T]], *, attempts: int = ATTEMPTS,
                  patience: float = PATIENCE_S) -> T:
    """`op` (one whole transaction), run again with jittered backoff while it meets `Contention`."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Contention),
        stop=stop_after_attempt(attempts) | stop_after_delay(patience),
        wait=wait_random_exponential(multiplier=0.02, max=1.0),
        before_sleep=_log_retry,
        reraise=True,  # the last Contention itself, not tenacity's RetryError
    ):
        with attempt:
            return await op()
    raise AssertionError("unreachable: the last attempt returned or raised")


def retrying(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """`method`, whose every call is one transaction, `retried` call by call."""

    @functools.wraps(method)
    async def again(*args: P.args, **kwargs: P.kwargs) -> T:
        return await retried(lambda: method(*args, **kwargs))

    return again


async def take_slot(op: Callable[[], Awaitable[T]], taken: Callable[[], Awaitable[bool]]) -> T:
    """`op`, a transaction writing an appointment into a slot, `retried`; if the database stays
    busy, "slot taken" only when `taken()` (a read) finds another active appointment there."""
    try:
        return await retried(op)
    except Contention as busy:
        # the read is cheap and the patient is owed a true answer: it gets more patience than
        # the write did before the technical error stands
        if await retried(taken, attempts=3 * ATTEMPTS, patience=2 * PATIENCE_S):
            raise SlotUnavailable(SLOT_TAKEN) from busy
        raise
