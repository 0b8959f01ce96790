"""Group commit: writes from concurrent callers committed in one SQLite transaction.

Each commit of a WAL file waits for its own fsync; a webhook burst of N messages paid N of
them. Here the writes that arrive while a commit is on disk wait for it, then go together: one
`BEGIN IMMEDIATE`, each write in its own savepoint (`rows.transaction`: one that fails is rolled
back alone and fails alone), one `COMMIT`. Nothing is acknowledged early: a caller's await
returns only after the COMMIT containing its write returned, so every answer given after it
(a webhook's 200) is about a row already on disk; if the COMMIT fails, every write of the group
fails with it and none is on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .rows import _WRITER

Op = Callable[[sqlite3.Connection], Any]
Outcome = tuple[bool, Any]  # (succeeded, result or exception)

MAX_GROUP = 128  # writes per transaction: bounds how long one commit holds the write lock


class GroupCommit:
    """Runs `op(conn)` calls in groups on a connection from `connection()`, off the event loop."""

    def __init__(self, connection: Callable[[], AbstractContextManager[sqlite3.Connection]],
                 error: Callable[[sqlite3.Error], Exception]) -> None:
        self._connection = connection
        self._error = error  # what a failed call means to its caller
        self._waiting: list[tuple[Op, asyncio.Future[Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._committing: asyncio.Task[None] | None = None

    async def run(self, op: Op) -> Any:
        """`op`'s result once the transaction holding it is committed (or its error)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a store used from a new event loop (tests): start afresh
            self._loop, self._waiting, self._committing = loop, [], None
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((op, future))
        if self._committing is None or self._committing.done():
            self._committing = loop.create_task(self._commit_all(), name="sqlite-group-commit")
        return await future

    async def _commit_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            try:
                outcomes = await asyncio.to_thread(self._commit, [op for op, _ in group])
            except Exception as exc:  # the group is not on disk: each caller learns why
                failure = self._error(exc) if isinstance(exc, sqlite3.Error) else exc
                for _, future in group:
                    if not future.done():
                        future.set_exception(failure)
                continue
            except BaseException:  # the loop is shutting down: nobody waits for an answer
                for _, future in [*group, *self._waiting]:
                    future.cancel()
                raise
            for (_, future), (ok, value) in zip(group, outcomes, strict=True):
                if future.done():  # the caller gave up waiting; its write stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, ops: list[Op]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._connection() as conn, _WRITER:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for op in ops:
                    try:
                        outcomes.append((True, op(conn)))
                    except sqlite3.Error as exc:
                        outcomes.append((False, self._error(exc)))
                    except Exception as exc:  # the caller's error, not the group's
                        outcomes.append((False, exc))
                    if not conn.in_transaction:  # an op ended the transaction: start the rest anew
                        conn.execute("BEGIN IMMEDIATE")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return outcomes
