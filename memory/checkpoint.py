"""The LangGraph checkpointer on the store's SQLite file, and pruning of old checkpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from atende.memory.sqlite import BUSY_TIMEOUT_S, sqlite_path
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


@asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[AsyncSqliteSaver]:
    """An `AsyncSqliteSaver` on the database at `url` (`sqlite:///...`), tables created."""
    path = sqlite_path(url)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # the timeout is the busy timeout: wait for another process's write instead of failing
    async with aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S) as conn:
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver


async def prune_checkpoints(saver: AsyncSqliteSaver, thread_id: str, keep: int = 1) -> int:
    """Delete all but the newest `keep` checkpoints of a thread (per namespace), and their writes.

    Every checkpoint holds the whole state, so an unpruned conversation grows the file by
    O(turns²). The newest checkpoint (the one `aget_tuple` loads) is always kept. A
    `DeltaChannel` stores no value in most checkpoints and is rebuilt from the writes of
    ancestors back to its last snapshot, so those ancestors are kept too (the walk
    `aget_delta_channel_history` does). Returns how many checkpoints were deleted.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the newest checkpoint is the conversation")
    await saver.setup()
    conn = saver.conn
    async with saver.lock:
        # one write transaction: another process cannot add or read half-pruned rows meanwhile
        await conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = 0
            async with conn.execute(
                "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id FROM checkpoints"
                " WHERE thread_id = ? ORDER BY checkpoint_ns, checkpoint_id DESC",
                (thread_id,),
            ) as cursor:
                rows = list(await cursor.fetchall())
            parents: dict[str, dict[str, str | None]] = {}
            for ns, checkpoint_id, parent_id in rows:
                parents.setdefault(ns, {})[checkpoint_id] = parent_id
            for ns, chain in parents.items():
                kept = await _to_keep(saver, thread_id, ns, list(chain)[:keep], chain)
                doomed = [checkpoint_id for checkpoint_id in chain if checkpoint_id not in kept]
                for table in ("writes", "checkpoints"):
                    await conn.executemany(
                        f"DELETE FROM {table}"
                        " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
                        [(thread_id, ns, checkpoint_id) for checkpoint_id in doomed],
                    )
                deleted += len(doomed)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
    return deleted


async def _to_keep(
    saver: AsyncSqliteSaver,
    thread_id: str,
    ns: str,
    newest: list[str],
    parents: dict[str, str | None],
) -> set[str]:
    """`newest`, plus the ancestors their delta channels need to be rebuilt."""
    kept = set(newest)
    for checkpoint_id in newest:
        checkpoint, metadata = await _load(saver, thread_id, ns, checkpoint_id)
        # LangGraph lists every delta channel not snapshotted in this very checkpoint
        behind = metadata.get("counters_since_delta_snapshot") or {}
        needed = {
            channel
            for channel in behind
            if channel in checkpoint["channel_versions"]
            and channel not in checkpoint["channel_values"]
        }
        ancestor = parents.get(checkpoint_id)
        seen = {checkpoint_id}
        while needed and ancestor is not None and ancestor in parents and ancestor not in seen:
            seen.add(ancestor)
            kept.add(ancestor)
            checkpoint, _ = await _load(saver, thread_id, ns, ancestor)
            # any stored value ends the walk for that channel, as in the saver's own walk
            needed -= set(checkpoint["channel_values"])
            ancestor = parents[ancestor]
    return kept


async def _load(
    saver: AsyncSqliteSaver, thread_id: str, ns: str, checkpoint_id: str
) -> tuple[Any, dict[str, Any]]:
    async with saver.conn.execute(
        "SELECT type, checkpoint, metadata FROM checkpoints"
        " WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
        (thread_id, ns, checkpoint_id),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise LookupError(f"checkpoint {checkpoint_id} vanished inside a write transaction")
    type_, blob, metadata = row
    return saver.serde.loads_typed((type_, blob)), json.loads(metadata) if metadata else {}
