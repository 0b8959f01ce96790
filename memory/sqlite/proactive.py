"""The SQLite store runs the proactive part's scripts (`shared/proactive.py`): reminders, the
waitlist, clinic flags; and each `Step` inside a booking's own transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..contention import retrying
from ..shared.proactive import Proactive
from ..shared.script import Json, Step, outcome
from .base import SQLiteBase
from .rows import record, to_json, transaction


class _Unchanged(Exception):
    """A `require` step changed no row: the script's transaction is rolled back."""


def _value(value: Any) -> Any:
    return to_json(value.value) if isinstance(value, Json) else value


def run_steps(conn: sqlite3.Connection, steps: Sequence[Step]) -> list[Any]:
    """`steps` in the caller's transaction; raises `_Unchanged` for a `require` step."""
    result: list[Any] = []
    for step in steps:
        cursor = conn.execute(step.sql, {k: _value(v) for k, v in step.params.items()})
        rows = cursor.fetchall() if step.returns is not None else None
        found, changed = outcome(step, rows, cursor.rowcount, record)
        result = result if found is None else found
        if step.require and not changed:
            raise _Unchanged
    return result


class ProactiveMixin(Proactive, SQLiteBase):
    @retrying
    async def _script(self, tenant_id: str, steps: list[Step]) -> list[Any] | None:
        def op(conn: sqlite3.Connection) -> list[Any] | None:
            if all(step.reads_only for step in steps):  # no write lock for reads (WAL)
                return run_steps(conn, steps)
            try:
                with transaction(conn):
                    return run_steps(conn, steps)
            except _Unchanged:
                return None

        return await self._run(op)
