"""Postgres plumbing shared by the store's parts: rows → records (through `shared.rows.record`),
ids, JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from ..shared import rows
from ..shared.rows import R

Conn = AsyncConnection[DictRow]

_dumps = partial(json.dumps, ensure_ascii=False, default=str)


def _load(column: str, value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def record(cls: type[R], row: DictRow) -> R:
    """The record for a row: instants in UTC (Postgres keeps microseconds; SQLite keeps seconds)."""
    return rows.record(cls, row.items(), _load)


def as_uuid(value: str | None) -> str | None:
    """`value` in canonical form if it is a uuid, else None (an id we never issued)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def uuids(values: list[str]) -> list[str]:
    """The ids among `values` that can exist, once each, in order."""
    return list(dict.fromkeys(u for u in map(as_uuid, values) if u is not None))


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch, as SQLite's `json_patch` (nested objects merge, null deletes)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


async def fetch_one(cls: type[R], conn: Conn, sql: str, params: Any = ()) -> R | None:
    row = await (await conn.execute(sql, params)).fetchone()
    return None if row is None else record(cls, row)


async def fetch_all(cls: type[R], conn: Conn, sql: str, params: Any = ()) -> list[R]:
    return [record(cls, row) for row in await (await conn.execute(sql, params)).fetchall()]


async def must(cls: type[R], conn: Conn, sql: str, params: Any = ()) -> R:
    """The one row that must exist (it was just written in this transaction)."""
    found = await fetch_one(cls, conn, sql, params)
    if found is None:
        raise LookupError(f"expected a row from {sql!r}")
    return found
