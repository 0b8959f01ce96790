"""What every `atende` subcommand shares: a clear error (exit 2, on stderr), `--now`, the clinic
named by `--tenant`, and a store opened for one command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from atende.errors import AtendeError, ConfigError

if TYPE_CHECKING:
    from atende.memory.store import Store
    from atende.settings import Settings
    from atende.tenant import Tenant

T = TypeVar("T")

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


def clinic(settings: Settings, tenant_id: str) -> Tenant:
    """The clinic `--tenant` names (its file in the tenants folder); a clear error otherwise."""
    from atende.tenant import resolve_tenant

    try:
        return resolve_tenant(tenant_id, settings.tenants_dir)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` on the configured store (set up, then closed); an `AtendeError` becomes the
    command's error (exit 2). Logs go to stderr: stdout is the command's."""
    from atende.logs import configure_logging
    from atende.memory import open_store

    configure_logging(settings.log_level, json=settings.log_json)

    async def run() -> T:
        store = open_store(settings.database_url)
        await store.setup()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except AtendeError as exc:
        raise fail(str(exc)) from None
