"""The one clock: every "now" in atende comes from a `Clock` (tests and evals freeze it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock stopped at `at`; `advance` moves it (for tests and eval scenarios)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self.at = self.at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.at = self.at + timedelta(**delta)


class FileClock:
    """The instant written (ISO-8601 with an offset) in a file, read again whenever the file
    changes: how an end-to-end test freezes and advances the clock of a real `atende serve`
    (`ATENDE_CLOCK_FILE`). Never for production."""

    def __init__(self, path: str) -> None:
        from pathlib import Path

        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._at = datetime.now(UTC)
        self.now()  # a missing or unreadable file fails at start, not mid-turn

    def now(self) -> datetime:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            at = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
            if at.tzinfo is None:
                raise ValueError(f"{self.path}: the instant needs an offset")
            self._at, self._stamp = at.astimezone(UTC), stamp
        return self._at
