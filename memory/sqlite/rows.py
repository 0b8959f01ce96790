"""SQLite plumbing shared by the store's parts: transactions, row ↔ record mapping, validation."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from atende.errors import NotFound

from ..store import Appointment, Conversation, Message, Patient, Turn

R = TypeVar("R", Patient, Conversation, Message, Appointment, Turn)

SLOT_TAKEN = "Esse horário acabou de ser ocupado. Vou buscar outras opções."
APPOINTMENT_NOT_FOUND = "Não encontrei esse agendamento entre os seus."
NOT_ACTIVE = {
    "cancelled": "Esse agendamento já está cancelado.",
    "completed": "Esse agendamento já aconteceu, então não dá para alterá-lo.",
    "no_show": "Esse agendamento já passou, então não dá para alterá-lo.",
}
CONVERSATION_NOT_FOUND = "Não encontrei essa conversa."
MESSAGE_NOT_FOUND = "Não encontrei essa mensagem."
TURN_NOT_FOUND = "Não encontrei esse turno."

APPOINTMENT_STATUSES = ("booked", "confirmed", "cancelled", "completed", "no_show")
MESSAGE_STATUSES = ("received", "queued", "sending", "sent", "delivered", "read", "played", "failed", "dead")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Hold the write lock from the first statement, so read-then-write cannot deadlock."""
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


def conversation_row(conn: sqlite3.Connection, conversation_id: str) -> sqlite3.Row:
    """The conversation's row, or `NotFound`."""
    row = conn.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return row  # type: ignore[no-any-return]


def check_phone(phone: str) -> None:
    if not _E164.fullmatch(phone):
        raise ValueError(f"phone must be E.164 like +5511999998888, got {phone!r}")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def to_db(moment: datetime) -> str:
    """Fixed-width UTC text to the second: sorts and compares like the instant it names."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}; atende stores timezone-aware instants")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def to_json(meta: dict[str, Any] | None) -> str:
    return json.dumps(meta or {}, ensure_ascii=False)


def to_json_list(items: list[Any] | None) -> str:
    return json.dumps(items or [], ensure_ascii=False, default=str)


_FIELDS = {cls: {f.name for f in fields(cls)} for cls in (Patient, Conversation, Message, Appointment, Turn)}
_RENAMED = {"start_utc": "start", "end_utc": "end"}
_INSTANTS = ("_at", "_utc", "_ts", "_until")  # column suffixes of timestamps


def record(cls: type[R], row: sqlite3.Row) -> R:
    """The record for a row: timestamp text becomes aware UTC datetimes, `meta` a dict."""
    values: dict[str, Any] = {}
    for column in row.keys():
        name = _RENAMED.get(column, column)
        if name not in _FIELDS[cls]:
            continue  # storage-only columns: seq, updated_by_turn
        value = row[column]
        if value is not None and column.endswith(_INSTANTS):
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        elif column in ("meta", "tool_calls"):
            value = json.loads(value)
        values[name] = value
    return cls(**values)
