"""SQLite's group commit of webhook rows (`memory/sqlite/group.py`): concurrent `inbox_add`s share
a transaction, and none is acknowledged before the commit that holds it is on disk."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

from atende.errors import InfrastructureError
from atende.memory import open_store
from atende.memory.sqlite import sqlite_path
from atende.memory.sqlite.rows import to_db, transaction

TENANT = "clinica-exemplo"
WHEN = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def on_disk(url: str, provider_id: str) -> int:
    """Rows with that provider id, as another process reading the file sees them."""
    with closing(sqlite3.connect(sqlite_path(url))) as conn:
        (n,) = conn.execute("SELECT count(*) FROM messages WHERE provider_message_id = ?",
                            (provider_id,)).fetchone()
    return int(n)


async def test_each_acknowledged_row_is_already_visible_to_another_process(tmp_db_url: str) -> None:
    store = open_store(tmp_db_url)
    await store.setup()
    seen: dict[str, int] = {}

    async def webhook(n: int) -> bool:
        provider_id = f"wamid.{n % 40}"  # 60 deliveries of 40 messages: some are redeliveries
        _, created = await store.inbox_add(
            TENANT, f"+55119876500{n % 7:02d}", channel="meta", provider_message_id=provider_id,
            provider_ts=WHEN, kind="text", text=f"mensagem {n % 40}")
        seen[f"{n}"] = on_disk(tmp_db_url, provider_id)  # what the 200 would promise
        return created

    created = await asyncio.gather(*(webhook(n) for n in range(60)))
    await store.close()
    assert sum(created) == 40  # each message stored once, whichever delivery came first
    assert set(seen.values()) == {1}  # no answer came before its row was on disk
    with closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn:
        (pending,) = conn.execute("SELECT count(*) FROM messages WHERE state = 'pending'").fetchone()
    assert pending == 40


async def test_a_write_that_fails_fails_alone_and_leaves_nothing(tmp_db_url: str) -> None:
    store = open_store(tmp_db_url)
    await store.setup()

    def broken(conn: sqlite3.Connection) -> None:
        with transaction(conn):
            conn.execute("INSERT INTO poison_messages (id, tenant_id, channel, reason, received_at)"
                         " VALUES ('p1', ?, 'meta', 'half a write', ?)", (TENANT, to_db(WHEN)))
            conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def message(n: int) -> bool:
        _, created = await store.inbox_add(
            TENANT, "+5511987650001", channel="meta", provider_message_id=f"wamid.{n}",
            provider_ts=WHEN, kind="text", text="oi")
        return created

    results = await asyncio.gather(*(message(n) for n in range(10)),
                                   store._run_grouped(broken),  # type: ignore[attr-defined]
                                   *(message(n) for n in range(10, 20)), return_exceptions=True)
    await store.close()
    assert isinstance(results[10], InfrastructureError)
    assert results[:10] + results[11:] == [True] * 20
    assert all(on_disk(tmp_db_url, f"wamid.{n}") == 1 for n in range(20))
    assert await _poison_rows(tmp_db_url) == 0  # the failed write's first half was undone


async def _poison_rows(url: str) -> int:
    with closing(sqlite3.connect(sqlite_path(url))) as conn:
        (n,) = conn.execute("SELECT count(*) FROM poison_messages").fetchone()
    return int(n)


async def test_when_the_commit_fails_every_write_of_the_group_fails(tmp_db_url: str) -> None:
    store = open_store(tmp_db_url)
    await store.setup()
    # another connection holds the write lock past the busy timeout: nothing can commit
    blocker = sqlite3.connect(sqlite_path(tmp_db_url), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    store._busy_timeout = 0.2  # type: ignore[attr-defined]
    await store.close()  # pooled connections reopen with the short timeout
    try:
        results = await asyncio.gather(*(store.inbox_add(
            TENANT, "+5511987650001", channel="meta", provider_message_id=f"wamid.{n}",
            provider_ts=WHEN, kind="text", text="oi") for n in range(5)), return_exceptions=True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(r, Exception) for r in results)
    assert all(on_disk(tmp_db_url, f"wamid.{n}") == 0 for n in range(5))
    _, created = await store.inbox_add(  # the lock is gone: the provider's retry succeeds
        TENANT, "+5511987650001", channel="meta", provider_message_id="wamid.0",
        provider_ts=WHEN, kind="text", text="oi")
    await store.close()
    assert created and on_disk(tmp_db_url, "wamid.0") == 1
