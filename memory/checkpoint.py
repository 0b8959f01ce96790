"""The LangGraph checkpointer on the store's database (SQLite file or Postgres), and pruning of
old checkpoints."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from atende.memory.sqlite import BUSY_TIMEOUT_S, sqlite_path

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver


def _is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].lower() in {"postgres", "postgresql"}


def _is_postgres_saver(saver: BaseCheckpointSaver[Any]) -> TypeGuard[AsyncPostgresSaver]:
    # not loaded means not in use: SQLite deployments never import psycopg
    aio = sys.modules.get("langgraph.checkpoint.postgres.aio")
    return aio is not None and isinstance(saver, aio.AsyncPostgresSaver)


@asynccontextmanager
async def open_checkpointer(url: str, *, pool_size: int = 10
                            ) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The checkpointer on the store's database: an `AsyncSqliteSaver` for `sqlite:///...`, the
    official `AsyncPostgresSaver` (on a connection pool) for `postgresql://...`; tables ready."""
    if _is_postgres(url):
        from atende.memory.postgres.checkpoint import open_postgres_checkpointer

        async with open_postgres_checkpointer(url, max_size=pool_size) as pg_saver:
            yield pg_saver
        return
    path = sqlite_path(url)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # the timeout is the busy timeout: wait for another process's write instead of failing
    async with aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S) as conn:
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver


# (thread, the tuple a turn loaded) until the graph of that turn asks for it
_LOADED: ContextVar[list[tuple[str, CheckpointTuple | None]] | None] = ContextVar(
    "atende_checkpoint_loaded", default=None)


async def load_latest(saver: BaseCheckpointSaver[Any], thread_id: str) -> CheckpointTuple | None:
    """The newest checkpoint of a thread, read once: the next `aget_tuple` for it in this
    context (the graph's, in `reusing`) gets the same tuple instead of a second load."""
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return await saver.aget_tuple(config)


@contextmanager
def reusing(thread_id: str, loaded: CheckpointTuple | None) -> Iterator[None]:
    """Within the block, the first read of `thread_id`'s newest checkpoint is answered with
    `loaded` (see `share_loads`). Safe only while nothing else writes the thread: one turn
    of a conversation runs at a time."""
    token = _LOADED.set([(thread_id, loaded)])
    try:
        yield
    finally:
        _LOADED.reset(token)


def share_loads(saver: BaseCheckpointSaver[Any]) -> BaseCheckpointSaver[Any]:
    """`saver`, its `aget_tuple` answering once from what `reusing` holds: deserialising a
    whole conversation twice a turn is a tenth of a turn. The saver's class is unchanged."""
    load = saver.aget_tuple

    async def aget_tuple(config: Any) -> CheckpointTuple | None:
        held = _LOADED.get()
        wanted = config.get("configurable", {})
        if (held and not wanted.get("checkpoint_id") and not wanted.get("checkpoint_ns")
                and held[0][0] == wanted.get("thread_id")):
            return held.pop()[1]
        return await load(config)

    saver.aget_tuple = aget_tuple  # type: ignore[method-assign]
    return saver


async def prune_checkpoints(saver: BaseCheckpointSaver[Any], thread_id: str, keep: int = 1) -> int:
    """Delete all but the newest `keep` checkpoints of a thread (per namespace), and their writes.

    Every checkpoint holds the whole state, so an unpruned conversation grows the database by
    O(turns²). The newest checkpoint (the one `aget_tuple` loads) is always kept. A
    `DeltaChannel` stores no value in most checkpoints and is rebuilt from the writes of
    ancestors back to its last snapshot, so those ancestors are kept too (the walk
    `aget_delta_channel_history` does). Returns how many checkpoints were deleted.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the newest checkpoint is the conversation")
    if isinstance(saver, InMemorySaver):
        return 0  # lives and dies with the process (tests, the console)
    if _is_postgres_saver(saver):
        from atende.memory.postgres.checkpoint import prune

        return await prune(saver, thread_id, keep, _to_keep)
    if not isinstance(saver, AsyncSqliteSaver):
        raise NotImplementedError(f"pruning a {type(saver).__name__} is not implemented")
    await saver.setup()
    conn = saver.conn
    async with saver.lock:
        # one write transaction: no other process adds or reads rows while they are pruned
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(
                "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id FROM checkpoints"
                " WHERE thread_id = ? ORDER BY checkpoint_ns, checkpoint_id DESC",
                (thread_id,),
            ) as cursor:
                rows = await cursor.fetchall()
            parents: dict[str, dict[str, str | None]] = {}
            for ns, checkpoint_id, parent_id in rows:
                parents.setdefault(ns, {})[checkpoint_id] = parent_id
            deleted = 0
            for ns, chain in parents.items():
                kept = await _to_keep(_Thread(saver, thread_id, ns), list(chain)[:keep], chain)
                doomed = [
                    (thread_id, ns, checkpoint_id) for checkpoint_id in chain if checkpoint_id not in kept
                ]
                for table in ("writes", "checkpoints"):
                    await conn.executemany(
                        f"DELETE FROM {table}"
                        " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                        doomed,
                    )
                deleted += len(doomed)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
    return deleted


class ThreadReader(Protocol):
    """One namespace of one thread, as stored by a saver."""

    async def metadata(self, checkpoint_id: str) -> dict[str, Any]: ...

    async def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """At least `channel_versions`, and in `channel_values` each channel stored there."""


async def _to_keep(thread: ThreadReader, newest: list[str], parents: dict[str, str | None]) -> set[str]:
    """`newest`, plus the ancestors from which their delta channels are rebuilt."""
    kept = set(newest)
    for checkpoint_id in newest:
        # LangGraph lists in the metadata every delta channel not snapshotted in this checkpoint
        behind = (await thread.metadata(checkpoint_id)).get("counters_since_delta_snapshot")
        if not behind:
            continue  # the common case: plain channels, each checkpoint stands alone
        checkpoint = await thread.checkpoint(checkpoint_id)
        needed = {
            channel
            for channel in behind
            if channel in checkpoint["channel_versions"] and channel not in checkpoint["channel_values"]
        }
        ancestor, walked = parents.get(checkpoint_id), {checkpoint_id}
        while needed and ancestor is not None and ancestor in parents and ancestor not in walked:
            walked.add(ancestor)
            kept.add(ancestor)
            # any stored value ends the walk for that channel, as in the saver's own walk
            needed -= set((await thread.checkpoint(ancestor))["channel_values"])
            ancestor = parents[ancestor]
    return kept


@dataclass
class _Thread:
    """Reads one namespace of one thread on the saver's connection (inside its lock)."""

    saver: AsyncSqliteSaver
    thread_id: str
    ns: str

    async def metadata(self, checkpoint_id: str) -> dict[str, Any]:
        (metadata,) = await self._row("metadata", checkpoint_id)
        return json.loads(metadata) if metadata else {}

    async def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        type_, blob = await self._row("type, checkpoint", checkpoint_id)
        checkpoint: Checkpoint = self.saver.serde.loads_typed((type_, blob))
        return checkpoint

    async def _row(self, columns: str, checkpoint_id: str) -> Any:
        async with self.saver.conn.execute(
            f"SELECT {columns} FROM checkpoints"
            " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
            (self.thread_id, self.ns, checkpoint_id),
        ) as cursor:
            return await cursor.fetchone()  # present: we hold the write lock


async def discard_checkpoints_after(saver: BaseCheckpointSaver[Any], thread_id: str,
                                    checkpoint_id: str | None) -> int:
    """Drop a thread's checkpoints newer than `checkpoint_id` (all of them when None), so the
    conversation resumes from it: how a turn whose reply was superseded is undone."""
    if isinstance(saver, InMemorySaver):
        raise NotImplementedError("discarding from an InMemorySaver is not implemented")
    if _is_postgres_saver(saver):
        from atende.memory.postgres.checkpoint import discard_after

        return await discard_after(saver, thread_id, checkpoint_id)
    if not isinstance(saver, AsyncSqliteSaver):
        raise NotImplementedError(f"discarding from a {type(saver).__name__} is not implemented")
    await saver.setup()
    conn = saver.conn
    newer = "thread_id = ? AND checkpoint_id > ?" if checkpoint_id else "thread_id = ?"
    args = (thread_id, checkpoint_id) if checkpoint_id else (thread_id,)
    async with saver.lock:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = await conn.execute(f"DELETE FROM checkpoints WHERE {newer}", args)
            deleted = cursor.rowcount
            await conn.execute(f"DELETE FROM writes WHERE {newer}", args)
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
    return deleted
