"""The Postgres store's foundation: the URL, the connection pool, tenant-scoped transactions,
migrations and error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from atende.clock import Clock, SystemClock
from atende.errors import AtendeError, ConfigError, InfrastructureError, SlotUnavailable

from ..contention import Contention, retrying
from ..records import SLOT_TAKEN, utc
from ..shared.base import Backend
from ..shared.rows import R
from .migrations import migrate
from .rows import Conn, as_uuid, fetch_all, fetch_one

POOLER_PORT = 6543  # Supabase's transaction pooler (Supavisor); 5432 is direct or session mode
_TRUE = {"1", "true", "yes", "on"}


def pg_conninfo(url: str) -> tuple[str, bool]:
    """The libpq URL to connect with, and whether it goes through a transaction pooler.

    A transaction pooler hands each transaction to any server connection, so statements
    prepared on one are unknown on the next: port 6543 or `?pgbouncer=true` (the flag
    Prisma users already have in their URLs; libpq does not know it, so it is removed) turn
    prepared statements off.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"postgres", "postgresql"}:
        raise ConfigError(f"expected postgresql://..., got {parts.scheme}://", field="database_url")
    query = parse_qsl(parts.query, keep_blank_values=True)
    flagged = any(key == "pgbouncer" and value.lower() in _TRUE for key, value in query)
    try:
        port = parts.port
    except ValueError:  # several hosts (h1:5432,h2:5432): libpq's business, not a pooler
        port = None
    rest = urlencode([(key, value) for key, value in query if key != "pgbouncer"])
    return urlunsplit(parts._replace(scheme="postgresql", query=rest)), flagged or port == POOLER_PORT


def connect_kwargs(pooler: bool) -> dict[str, Any]:
    """psycopg connection options; prepared statements off behind a transaction pooler."""
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
    if pooler:
        kwargs["prepare_threshold"] = None
    return kwargs


def masked(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("uuid", TextLoader)  # ids are str in every record


Owner = Literal["conversation", "message", "turn"]


_CONTENTION: dict[type[psycopg.Error], str] = {
    psycopg.errors.DeadlockDetected: "deadlock",  # 40P01
    psycopg.errors.SerializationFailure: "serialization_failure",  # 40001
    psycopg.errors.LockNotAvailable: "lock_timeout",  # 55P03
    psycopg.errors.QueryCanceled: "statement_timeout",  # 57014
    PoolTimeout: "pool_timeout",  # no connection free in time: nothing was sent
}


def database_error(exc: psycopg.Error) -> AtendeError:
    """What a failed transaction means to its caller; Postgres rolled it back in every case."""
    if isinstance(exc, psycopg.errors.ExclusionViolation):  # 23P01: appointments_no_overlap
        return SlotUnavailable(SLOT_TAKEN)
    for kind, reason in _CONTENTION.items():
        if isinstance(exc, kind):
            return Contention(reason, exc)
    if isinstance(exc, psycopg.errors.IntegrityError):
        return InfrastructureError(f"database constraint failed: {exc}")
    return InfrastructureError(f"database error: {exc}")


class PostgresBase(Backend):
    """A pool of connections to one Postgres database; every call is one transaction that
    first names its tenant (`app.tenant_id`), the key the row-level security policies check."""

    def __init__(
        self, url: str, *, clock: Clock | None = None, min_size: int = 1, max_size: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.conninfo, self.pooler = pg_conninfo(url)
        self._clock = clock or SystemClock()
        self._sizes = (min_size, max_size)
        self._pool_timeout = pool_timeout  # seconds a transaction waits for a free connection
        self._pool: AsyncConnectionPool[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def setup(self) -> None:
        """Apply pending migrations (supabase/migrations/*.sql); idempotent, safe across
        processes (an advisory lock), and DDL-free when nothing is pending."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, **connect_kwargs(self.pooler))
        except psycopg.Error as exc:
            raise InfrastructureError(f"cannot connect to {masked(self.url)}: {exc}") from exc
        async with conn:
            await migrate(conn)

    async def close(self) -> None:
        """Close the pool (a later call simply opens a new one)."""
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()

    def _now(self) -> datetime:
        return utc(self._clock.now())

    def _instant(self, moment: datetime) -> datetime:
        return utc(moment)

    async def _connections(self) -> AsyncConnectionPool[Any]:
        """The pool, opened on first use in this event loop (a pool belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._pool = asyncio.Lock(), loop, None
        async with self._opening:
            if self._pool is None:
                pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                    self.conninfo,
                    kwargs=connect_kwargs(self.pooler),
                    min_size=self._sizes[0],
                    max_size=self._sizes[1],
                    timeout=self._pool_timeout,
                    open=False,
                    configure=_configure,
                    name="atende-store",
                )
                try:
                    await pool.open(wait=True)
                except psycopg.Error as exc:
                    await pool.close()
                    raise InfrastructureError(f"cannot connect to {masked(self.url)}: {exc}") from exc
                self._pool = pool
        return self._pool

    @asynccontextmanager
    async def _tx(self, tenant: str | None = None) -> AsyncIterator[Conn]:
        """One transaction; `tenant` names whose rows it may see and write (RLS)."""
        pool = await self._connections()
        try:
            async with pool.connection() as conn, conn.transaction():
                if tenant is not None:
                    await conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
                yield conn
        except psycopg.Error as exc:
            raise database_error(exc) from exc

    @staticmethod
    async def _enter(conn: Conn, owner: Owner, row_id: str) -> str | None:
        """Name, for this transaction, the tenant whose `owner` row has id `row_id`; that
        tenant, or None (no tenant named) when there is no such row.

        The lookup is one of the SECURITY DEFINER functions of the RLS migration: all it tells
        is which tenant a known uuid belongs to; the real query then runs under the policy.
        """
        if as_uuid(row_id) is None:
            return None
        row = await (
            await conn.execute(
                "SELECT set_config('app.tenant_id', tenant, true) AS tenant"
                f" FROM (SELECT public.atende_{owner}_tenant(%s::uuid) AS tenant) AS owner"
                " WHERE tenant IS NOT NULL",
                (row_id,),
            )
        ).fetchone()
        return None if row is None else str(row["tenant"])

    @retrying
    async def _get(self, cls: type[R], tenant: str, sql: str, params: Any) -> R | None:
        async with self._tx(tenant) as conn:
            return await fetch_one(cls, conn, sql, params)

    @retrying
    async def _list(self, cls: type[R], tenant: str | None, sql: str, params: Any) -> list[R]:
        async with self._tx(tenant) as conn:
            return await fetch_all(cls, conn, sql, params)

    @retrying
    async def _list_of(self, cls: type[R], owner: Owner, row_id: str, sql: str, params: Any
                       ) -> list[R]:
        """Rows read in the tenant of the `owner` row `row_id` ([] when there is none)."""
        async with self._tx() as conn:
            if await self._enter(conn, owner, row_id) is None:
                return []
            return await fetch_all(cls, conn, sql, params)
