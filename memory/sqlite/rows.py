"""SQLite plumbing shared by the store's parts: transactions, statements, instants and JSON as
text, and rows → records (through `shared.rows.record`)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from ..records import utc
from ..shared import rows
from ..shared.rows import R

_INSTANTS = ("_at", "_utc", "_ts", "_until")  # column suffixes of timestamps
_JSON = ("meta", "tool_calls")
_BOOL = ("proactive_opt_out",)
# This process's write transactions take turns here rather than in SQLite's busy handler, which
# sleeps in steps of up to 100 ms before trying again: a webhook's commit queued behind a turn's
# waits for that commit, not for the next poll. Other processes still meet the busy timeout.
_WRITER = threading.Lock()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Hold the write lock from the first statement, so read-then-write cannot deadlock.

    Inside a transaction already open (a group commit, `memory/sqlite/group.py`) it is a
    savepoint: its statements stand or fall together, and the group commits them."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT atende_op")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO atende_op")
            conn.execute("RELEASE atende_op")
            raise
        conn.execute("RELEASE atende_op")
        return
    with _WRITER:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def statements(script: str) -> Iterator[str]:
    """Split a migration into statements (trigger bodies keep their inner semicolons)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buffer.strip()[:80]}")


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], conflict: str = "") -> sqlite3.Cursor:
    columns = ", ".join(row)
    marks = ", ".join(f":{column}" for column in row)
    return conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", row)


def select(table: str, key: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    where = " AND ".join(f"{column} = :{column}" for column in key)
    return f"SELECT * FROM {table} WHERE {where}", key


def fetch(cls: type[R], conn: sqlite3.Connection, table: str, **key: Any) -> R:
    """The one row that must exist (it was just written in this transaction)."""
    return record(cls, conn.execute(*select(table, key)).fetchone())


def fetch_all(cls: type[R], conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[R]:
    return [record(cls, row) for row in conn.execute(sql, params).fetchall()]


def to_db(moment: datetime) -> str:
    """Fixed-width UTC text to the second: sorts and compares like the instant it names."""
    return utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def to_json(value: Any) -> str:
    """`value` (None: an empty object) as JSON text."""
    return json.dumps({} if value is None else value, ensure_ascii=False, default=str)


@cache
def _kind(column: str) -> str:
    """How a column's stored value is read back: an instant, a bool, JSON, or as it is."""
    if column.endswith(_INSTANTS):
        return "instant"
    return "bool" if column in _BOOL else "json" if column in _JSON else ""


def _instant(value: str) -> datetime:
    try:  # the stored form (`to_db`): ten times faster than parsing, then setting the zone
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _load(column: str, value: Any) -> Any:
    kind = _kind(column)
    if kind == "instant":
        return _instant(value)
    if kind == "bool":
        return bool(value)
    return json.loads(value) if kind == "json" else value


def record(cls: type[R], row: sqlite3.Row) -> R:
    """The record for a row: timestamp text becomes aware UTC datetimes, JSON text a value."""
    return rows.record(cls, zip(row.keys(), row, strict=True), _load)
