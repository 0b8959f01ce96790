"""What every `atende` subcommand shares: a clear error (exit 2, on stderr) and `--now`."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape

_err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit (code 2)."""
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


def parse_now(value: str | None) -> datetime | None:
    """`--now` as an aware datetime (None when not given); a clear error otherwise."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--now: not an ISO-8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise fail("--now: give an offset, e.g. 2026-03-10T09:00-03:00")
    return parsed
