"""The two things the shared Store logic needs from any backend besides its SQL: a clock and
the backend's form of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Backend:
    """The root of both stores; the backend's base class overrides these."""

    def _now(self) -> Any:
        """The store clock's now, in `_instant` form."""
        raise NotImplementedError

    def _instant(self, moment: datetime) -> Any:
        """`moment` as this backend stores it (SQLite: text to the second; Postgres: UTC)."""
        raise NotImplementedError
