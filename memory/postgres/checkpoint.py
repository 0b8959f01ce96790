"""The LangGraph checkpointer on Postgres (the official `AsyncPostgresSaver`), and its pruning.

The saver's tables (checkpoints, checkpoint_blobs, checkpoint_writes) come with the store's
migrations. A checkpoint row holds the checkpoint's inline values and a version per channel;
each other value is a blob keyed by (thread, namespace, channel, version) that every later
checkpoint keeps referencing until the channel changes. So pruning deletes checkpoints and
their writes, then only the blobs a deleted checkpoint referenced and no kept one does (never
"every unreferenced blob": a run saves its blobs before the checkpoint that refers to them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from .base import connect_kwargs, pg_conninfo

Conn = psycopg.AsyncConnection[DictRow]
Keeper = Callable[[Any, list[str], dict[str, str | None]], Awaitable[set[str]]]


@asynccontextmanager
async def open_postgres_checkpointer(url: str, *, max_size: int = 10) -> AsyncIterator[AsyncPostgresSaver]:
    """An `AsyncPostgresSaver` on a connection pool to `url`, its schema current."""
    conninfo, pooler = pg_conninfo(url)
    # as the saver's own from_conn_string, except no prepared statements behind a pooler
    kwargs = {**connect_kwargs(pooler), "prepare_threshold": None if pooler else 0}
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, kwargs=kwargs, min_size=1, max_size=max_size, open=False, name="atende-checkpoints"
    )
    await pool.open(wait=True)
    try:
        saver = AsyncPostgresSaver(pool)
        await ensure_schema(saver)
        yield saver
    finally:
        await pool.close()


async def ensure_schema(saver: AsyncPostgresSaver) -> None:
    """Run the saver's own `setup()` only if its migrations are ahead of the database (the
    store's migrations create its tables): a role without CREATE can open it."""
    latest = len(saver.MIGRATIONS) - 1
    for attempt in range(3):
        async with _connection(saver) as conn:
            if await _version(conn) >= latest:
                return
        try:
            await saver.setup()
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable,
                psycopg.errors.DuplicateObject):
            if attempt == 2:  # another process is migrating too: look again
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def _version(conn: Conn) -> int:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT to_regclass('checkpoint_migrations') IS NOT NULL AS present")
        found = await cur.fetchone()
        if not found or not found["present"]:
            return -1
        await cur.execute("SELECT coalesce(max(v), -1) AS v FROM checkpoint_migrations")
        row = await cur.fetchone()
        return int(row["v"]) if row else -1


@asynccontextmanager
async def _connection(saver: AsyncPostgresSaver) -> AsyncIterator[Conn]:
    if isinstance(saver.conn, AsyncConnectionPool):
        async with saver.conn.connection() as conn:
            yield conn
    else:  # one shared connection: take turns with the saver
        async with saver.lock:
            yield saver.conn


async def prune(saver: AsyncPostgresSaver, thread_id: str, keep: int, to_keep: Keeper) -> int:
    """Delete all but the newest `keep` checkpoints of each namespace of a thread (plus what
    `to_keep` adds: the ancestors a delta channel is rebuilt from), their writes and the blobs
    only they referenced, in one transaction. Returns how many checkpoints were deleted."""
    deleted = 0
    async with _connection(saver) as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id FROM checkpoints"
            " WHERE thread_id = %s ORDER BY checkpoint_ns, checkpoint_id DESC",
            (thread_id,),
        )
        parents: dict[str, dict[str, str | None]] = {}
        for row in await cur.fetchall():
            parents.setdefault(row["checkpoint_ns"], {})[row["checkpoint_id"]] = row["parent_checkpoint_id"]
        for ns, chain in parents.items():
            kept = await to_keep(_Thread(cur, thread_id, ns), list(chain)[:keep], chain)
            doomed = [checkpoint_id for checkpoint_id in chain if checkpoint_id not in kept]
            if doomed:
                await _delete(cur, thread_id, ns, "checkpoint_id = ANY(%s)", doomed)
                deleted += len(doomed)
    return deleted


async def discard_after(saver: AsyncPostgresSaver, thread_id: str, checkpoint_id: str | None) -> int:
    """Delete a thread's checkpoints newer than `checkpoint_id` (all when None), their writes
    and the blobs only they referenced. Returns how many checkpoints were deleted."""
    async with _connection(saver) as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if checkpoint_id is None:
            for table in ("checkpoint_writes", "checkpoint_blobs"):
                await cur.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
            await cur.execute("DELETE FROM checkpoints WHERE thread_id = %s", (thread_id,))
            return cur.rowcount
        await cur.execute("SELECT DISTINCT checkpoint_ns FROM checkpoints WHERE thread_id = %s",
                          (thread_id,))
        deleted = 0
        for row in await cur.fetchall():
            deleted += await _delete(cur, thread_id, row["checkpoint_ns"], "checkpoint_id > %s",
                                     checkpoint_id)
        return deleted


async def _delete(cur: psycopg.AsyncCursor[DictRow], thread_id: str, ns: str, which: str,
                  arg: Any) -> int:
    """Delete the checkpoints of one namespace matching `which`, their writes, the blobs no
    remaining checkpoint references, and the parent links that now point nowhere."""
    key = "thread_id = %s AND checkpoint_ns = %s"
    await cur.execute(f"DELETE FROM checkpoint_writes WHERE {key} AND {which}", (thread_id, ns, arg))
    await cur.execute(
        "WITH gone AS ("
        f"  DELETE FROM checkpoints WHERE {key} AND {which}"
        "   RETURNING checkpoint_id, checkpoint -> 'channel_versions' AS versions)"
        " SELECT (SELECT array_agg(checkpoint_id) FROM gone) AS ids,"
        "   (SELECT array_agg(DISTINCT array[v.key, v.value])"
        "    FROM gone CROSS JOIN LATERAL jsonb_each_text(gone.versions) AS v) AS freed",
        (thread_id, ns, arg),
    )
    row = await cur.fetchone()
    ids: list[str] = (row or {}).get("ids") or []
    freed: list[list[str]] = (row or {}).get("freed") or []
    if not ids:
        return 0
    await cur.execute(
        "SELECT DISTINCT v.key AS channel, v.value AS version FROM checkpoints AS c"
        " CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') AS v"
        " WHERE c.thread_id = %s AND c.checkpoint_ns = %s",
        (thread_id, ns),
    )
    referenced = {(r["channel"], r["version"]) for r in await cur.fetchall()}
    garbage = [pair for pair in map(tuple, freed) if pair not in referenced]
    if garbage:
        await cur.execute(
            f"DELETE FROM checkpoint_blobs WHERE {key} AND (channel, version) IN"
            " (SELECT * FROM unnest(%s::text[], %s::text[]))",
            (thread_id, ns, [c for c, _ in garbage], [v for _, v in garbage]),
        )
    await cur.execute(
        f"UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE {key}"
        " AND parent_checkpoint_id = ANY(%s)",
        (thread_id, ns, ids),
    )
    return len(ids)


@dataclass
class _Thread:
    """Reads one namespace of one thread, inside the pruning transaction."""

    cur: psycopg.AsyncCursor[DictRow]
    thread_id: str
    ns: str

    async def metadata(self, checkpoint_id: str) -> dict[str, Any]:
        await self.cur.execute(
            "SELECT metadata FROM checkpoints"
            " WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = %s",
            (self.thread_id, self.ns, checkpoint_id),
        )
        row = await self.cur.fetchone()
        return dict(row["metadata"] or {}) if row else {}

    async def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint's channel versions, and in `channel_values` every channel it stores a
        value for (inline or as a blob; the values themselves are not needed)."""
        await self.cur.execute(
            "SELECT c.checkpoint -> 'channel_versions' AS versions,"
            " array(SELECT jsonb_object_keys(c.checkpoint -> 'channel_values')) AS inline,"
            " array(SELECT b.channel FROM checkpoint_blobs AS b"
            "   WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns"
            "   AND b.version = c.checkpoint -> 'channel_versions' ->> b.channel"
            "   AND b.type <> 'empty') AS blobs"
            " FROM checkpoints AS c"
            " WHERE c.thread_id = %s AND c.checkpoint_ns = %s AND c.checkpoint_id = %s",
            (self.thread_id, self.ns, checkpoint_id),
        )
        row = await self.cur.fetchone()
        assert row is not None  # listed in this transaction
        stored = dict.fromkeys([*(row["inline"] or []), *(row["blobs"] or [])])
        return {"channel_versions": row["versions"] or {}, "channel_values": stored}  # type: ignore[typeddict-item]
