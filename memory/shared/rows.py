"""Row → record, for every backend: columns named like the record's fields (`start_utc` and
`end_utc` excepted) fill it; storage-only columns (seq, updated_by_turn, ...) are left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

R = TypeVar("R")  # any record of `records.py`: a frozen dataclass
_RENAMED = {"start_utc": "start", "end_utc": "end"}


def record(cls: type[R], columns: Iterable[tuple[str, Any]], load: Callable[[str, Any], Any]) -> R:
    """The `cls` record of a row's (column, value) pairs; `load` turns a stored value into the
    record's (the backend's instants and JSON)."""
    values, names = {}, _names(cls)
    for column, value in columns:
        name = _RENAMED.get(column, column)
        if name in names:
            values[name] = None if value is None else load(column, value)
    return cls(**values)


def filters(conditions: list[tuple[str, Any]], mark: str) -> tuple[str, list[Any]]:
    """`column op` conditions whose value is not None, joined with AND, with the backend's
    placeholder `mark`; and their values in order."""
    given = [(condition, value) for condition, value in conditions if value is not None]
    return " AND ".join(f"{condition} {mark}" for condition, _ in given), [v for _, v in given]


@cache
def _names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))
