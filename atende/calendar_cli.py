"""`atende blocks add|list|remove` and `atende calendar conflicts|resolve` (mounted in
atende/cli.py): a professional's blocked time, and the clinic's conflicts with its outside
calendars. Times without an offset are the clinic's local time."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from atende.cli_options import clinic, fail, with_store
from atende.errors import InvalidInput, NotFound
from atende.settings import Settings
from atende.tools import blocks

blocks_app = typer.Typer(help="A professional's blocked time (time off): add, list, remove.")
calendar_app = typer.Typer(help="Conflicts between the clinic's outside calendars and bookings.")
T = TypeVar("T")
TenantOpt = Annotated[str, typer.Option(help="tenant id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object per line")]
When = "ISO-8601, e.g. 2026-03-12T13:00 (clinic time) or with an offset"


@contextmanager
def _named(field: str) -> Iterator[None]:
    """A refusal as the command's error, naming the option or argument it is about."""
    try:
        yield
    except InvalidInput as exc:  # "start: ..." → "--start: ..."
        raise fail(f"--{exc}") from None
    except (NotFound, ValueError) as exc:
        raise fail(f"{field}: {exc}") from None


def _run(field: str, settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def guarded(store: Any) -> T:
        with _named(field):
            return await work(store)

    return with_store(settings, guarded)


def _print(rows: list[dict[str, Any]], columns: list[str], as_json: bool, empty: str) -> None:
    out = Console(highlight=False, soft_wrap=True)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    elif not rows:
        out.print(empty, markup=False)
    else:
        table = Table()
        for column in columns:  # ids whole: they are what `remove` / `resolve` take
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[c] or "") for c in columns))
        out.print(table)


_BLOCK_COLUMNS = ["id", "professional_id", "start", "end", "reason"]


@blocks_app.command("add")
def add(tenant: TenantOpt,
        professional: Annotated[str, typer.Option(help="professional id, e.g. ana-souza")],
        start: Annotated[str, typer.Option(help=When)],
        end: Annotated[str, typer.Option(help=When)],
        reason: Annotated[str, typer.Option(help="for staff; patients never read it")] = "",
        as_json: JsonOpt = False) -> None:
    """Block a professional's time: never offered to patients, never bookable."""
    settings = Settings()
    place = clinic(settings, tenant)
    made = _run("--professional", settings, lambda s: blocks.add_block(
        s, place, professional, start=start, end=end, reason=reason, created_by="cli"))
    _print([blocks.block_json(made, place)], _BLOCK_COLUMNS, as_json, "")


@blocks_app.command("list")
def listed(tenant: TenantOpt,
           professional: Annotated[str | None, typer.Option(help="only this professional")] = None,
           since: Annotated[str | None, typer.Option("--from", help=f"{When} (default: now)")] = None,
           until: Annotated[str | None, typer.Option("--to", help=f"{When} (default: 90 days on)")
                            ] = None,
           as_json: JsonOpt = False) -> None:
    """Blocks overlapping --from..--to, earliest first."""
    settings = Settings()
    place = clinic(settings, tenant)
    found = _run("--professional", settings, lambda s: blocks.list_blocks(
        s, place, professional, start=since, end=until, now=datetime.now(UTC)))
    _print([blocks.block_json(b, place) for b in found], _BLOCK_COLUMNS, as_json,
           f"no blocks for {place.id} in that period")


@blocks_app.command("remove")
def remove(block_id: Annotated[str, typer.Argument(metavar="ID", help="the block's id")],
           tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Unblock: the time is offered again."""
    settings = Settings()
    place = clinic(settings, tenant)
    gone = _run("ID", settings, lambda s: s.block_remove(place.id, block_id))
    _print([blocks.block_json(gone, place)], _BLOCK_COLUMNS, as_json, "")


_CONFLICT_COLUMNS = ["id", "source", "professional_id", "start", "summary", "resolved_at"]


@calendar_app.command("conflicts")
def conflicts(tenant: TenantOpt,
              include_resolved: Annotated[bool, typer.Option("--all", help="resolved ones too")
                                          ] = False,
              limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
              as_json: JsonOpt = False) -> None:
    """Outside calendar items overlapping bookings, earliest first (open ones unless --all)."""
    settings = Settings()
    place = clinic(settings, tenant)
    found = _run("--tenant", settings, lambda s: s.conflicts_list(
        place.id, open_only=not include_resolved, limit=limit))
    _print([blocks.conflict_json(c, place) for c in found], _CONFLICT_COLUMNS, as_json,
           f"no {'' if include_resolved else 'open '}conflicts for {place.id}")


@calendar_app.command("resolve")
def resolve(conflict_id: Annotated[str, typer.Argument(metavar="ID", help="the conflict's id")],
            tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Mark a conflict settled (staff fixed the calendar or the booking)."""
    settings = Settings()
    place = clinic(settings, tenant)
    done = _run("ID", settings, lambda s: s.conflict_resolve(place.id, conflict_id))
    _print([blocks.conflict_json(done, place)], _CONFLICT_COLUMNS, as_json, "")
