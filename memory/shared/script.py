"""SQL written once for both backends: a `Step` is a statement with `:name` parameters (each
backend spells them its own way), run in order in one transaction by the backend's `_script`.

Standard SQL that both SQLite and Postgres run as written (INSERT ... ON CONFLICT, RETURNING,
conditional UPDATE) lives beside the logic that uses it; what must differ (types, triggers,
row-level security) stays in each backend's schema. Values a backend stores its own way are
marked: `Json(value)` (SQLite text, Postgres jsonb); instants are already the backend's own
(`Backend._instant`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Json:
    value: Any


@dataclass(frozen=True)
class Step:
    sql: str  # `:name` parameters
    params: dict[str, Any] = field(default_factory=dict)
    require: bool = False  # a step that changes no row rolls the whole script back (→ None)
    returns: type | None = None  # the record class of the rows it yields (RETURNING, SELECT)
    into: list[Any] | None = None  # also collect its rows here (several reads in one script)

    @property
    def reads_only(self) -> bool:
        return self.sql.lstrip()[:6].upper() == "SELECT"


def pyformat(sql: str) -> str:
    """`:name` → `%(name)s` (psycopg); a literal `%` doubled."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def new_id() -> str:
    return str(uuid.uuid4())


def is_id(value: str | None) -> bool:
    """Whether `value` can be an id the store issued (a uuid): others name no row."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def outcome(step: Step, rows: list[Any] | None, rowcount: int,
            to_record: Callable[[type, Any], Any]) -> tuple[list[Any] | None, bool]:
    """What one executed step yields (its records, or None when it returns none) and whether it
    changed (or found) a row; its rows also go `into` their list. `to_record` is the backend's
    row → record mapping."""
    if step.returns is None:
        return None, rowcount > 0
    found = [dict(r) if step.returns is dict else to_record(step.returns, r) for r in rows or ()]
    if step.into is not None:
        step.into.extend(found)
    return found, bool(found)
