"""The SQLite store's foundation: the file, its connection pool, migrations and error mapping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from atende.clock import Clock, SystemClock
from atende.errors import AtendeError, ConfigError, InfrastructureError, SlotUnavailable

from ..contention import Contention, retrying
from ..records import SLOT_TAKEN
from ..shared.base import Backend
from ..shared.rows import R
from .group import GroupCommit
from .migrations import BOOTSTRAP, MIGRATIONS
from .rows import insert, record, select, statements, to_db, transaction

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0


def sqlite_path(url: str) -> str:
    """The file in `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        raise ConfigError(f"expected sqlite:///path.db, got {url!r}", field="database_url")
    path = url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        # every operation opens its own connection, and each would see a different empty db
        raise ConfigError("SQLite needs a file path, not :memory:", field="database_url")
    return path


def database_error(exc: sqlite3.Error) -> AtendeError:
    """What a failed call means to its caller; a transaction it began was rolled back."""
    if isinstance(exc, sqlite3.IntegrityError) and "slot_taken" in str(exc):  # the overlap trigger
        return SlotUnavailable(SLOT_TAKEN)
    # "database is locked": another writer held the file past the busy timeout (extended codes
    # such as SQLITE_BUSY_SNAPSHOT keep the primary code in their low byte)
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Contention("database_locked", exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return InfrastructureError(f"database constraint failed: {exc}")
    return InfrastructureError(f"database error: {exc}")


class SQLiteBase(Backend):
    """One SQLite file in WAL mode, safe for many threads and processes at once.

    Each call runs in a worker thread on a pooled connection used by that thread alone; writes
    take the write lock up front (`BEGIN IMMEDIATE`).
    """

    def __init__(self, url: str, *, clock: Clock | None = None, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._clock = clock or SystemClock()
        self._busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._group = GroupCommit(self._connection, database_error)

    async def setup(self) -> None:
        """Create the file and apply pending `MIGRATIONS`; idempotent, safe across processes."""
        await asyncio.to_thread(self._setup)

    def _setup(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            # WAL lets readers run beside the one writer; the mode is stored in the file.
            _wal(conn, self._busy_timeout)
            with transaction(conn):
                conn.execute(BOOTSTRAP)
                (current,) = conn.execute("SELECT max(v) FROM schema_migrations").fetchone()
                current = -1 if current is None else current
                if current >= len(MIGRATIONS):
                    raise InfrastructureError(
                        f"{self.path} has schema v{current}, newer than this code's v{len(MIGRATIONS) - 1}"
                    )
                for version in range(current + 1, len(MIGRATIONS)):
                    for statement in statements(MIGRATIONS[version]):
                        conn.execute(statement)
                    insert(conn, "schema_migrations", {"v": version, "applied_at": self._now()})

    async def close(self) -> None:
        """Close the pooled connections (a later call simply opens new ones)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _now(self) -> str:
        return to_db(self._clock.now())

    def _instant(self, moment: datetime) -> str:
        return to_db(moment)

    @retrying
    async def _get(self, cls: type[R], table: str, **key: str) -> R | None:
        def op(conn: sqlite3.Connection) -> R | None:
            row = conn.execute(*select(table, key)).fetchone()
            return None if row is None else record(cls, row)

        return await self._run(op)

    @retrying
    async def _list(self, cls: type[R], sql: str, params: Any) -> list[R]:
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [record(cls, row) for row in rows]

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, op)

    async def _run_grouped(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """`_run` for a write whose `transaction` may share its commit with concurrent ones
        (`group.py`): it returns once that commit is on disk."""
        result: T = await self._group.run(op)
        return result

    def _call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._connection() as conn:
                return op(conn)
        except sqlite3.Error as exc:
            raise database_error(exc) from exc

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for the calling thread alone, returned to the pool afterwards."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            # isolation_level=None: no implicit BEGINs; `transaction` spells them out
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
        try:
            yield conn
        finally:
            if conn.in_transaction:  # only if a ROLLBACK failed: do not reuse it
                conn.close()
            else:
                with self._idle_lock:
                    self._idle.append(conn)


def _wal(conn: sqlite3.Connection, patience: float) -> None:
    """Put the file in WAL mode. Switching needs the file to itself, and SQLite answers "locked"
    at once (no busy handler) while another process is migrating it: wait for that, within
    the busy timeout; a file already in WAL mode needs nothing."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)

