"""What the shared Store logic needs from any backend besides its SQL: a clock, the backend's
form of an instant, and (`Scripted`) a way to run a `script.Step` list in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .script import Step, is_id


class Backend:
    """The root of both stores; the backend's base class overrides these."""

    def _now(self) -> Any:
        """The store clock's now, in `_instant` form."""
        raise NotImplementedError

    def _instant(self, moment: datetime) -> Any:
        """`moment` as this backend stores it (SQLite: text to the second; Postgres: UTC)."""
        raise NotImplementedError


class Scripted(Backend):
    """A mixin whose SQL is `script.Step`s, written once for both backends (proactive.py,
    calendar.py, external.py); each backend supplies `_script` (memory/<backend>/proactive.py)."""

    async def _rows(self, tenant_id: str, cls: type, step: Step) -> list[Any]:
        return await self._script(tenant_id, [Step(step.sql, step.params, returns=cls)]) or []

    async def _changed(self, tenant_id: str, row_id: str, step: Step) -> bool:
        return is_id(row_id) and await self._script(tenant_id, [step]) is not None

    async def _script(self, tenant_id: str, steps: list[Step]) -> list[Any] | None:
        """Run `steps` in one transaction under `tenant_id`: the rows the last step that
        `returns` yielded ([] when none does), or None when a `require` step changed nothing
        (the transaction is rolled back)."""
        raise NotImplementedError
