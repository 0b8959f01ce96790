"""The Postgres store runs the proactive part's scripts (`shared/proactive.py`): reminders, the
waitlist, clinic flags, under the tenant's row-level security; and each `Step` inside a
booking's own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..contention import retrying
from ..shared.proactive import Proactive
from ..shared.script import Json, Step, outcome, pyformat
from .base import PostgresBase
from .rows import Conn, jsonb, record


def _value(value: Any) -> Any:
    return jsonb(value.value) if isinstance(value, Json) else value


async def run_steps(conn: Conn, steps: Sequence[Step]) -> list[Any] | None:
    """`steps` in the caller's transaction; None when a `require` step changed nothing (the
    caller rolls back)."""
    result: list[Any] = []
    for step in steps:
        cursor = await conn.execute(pyformat(step.sql), {k: _value(v) for k, v in step.params.items()})
        found, changed = outcome(step, await cursor.fetchall() if step.returns is not None else None,
                                 cursor.rowcount, record)
        result = result if found is None else found
        if step.require and not changed:
            return None
    return result


class ProactiveMixin(Proactive, PostgresBase):
    @retrying
    async def _script(self, tenant_id: str, steps: list[Step]) -> list[Any] | None:
        async with self._tx(tenant_id) as conn:
            result = await run_steps(conn, steps)
            if result is None:
                raise psycopg.Rollback()
            return result
        return None
