"""`atende reminders list|due|run`, `atende report` and `atende templates check` (mounted in
atende/cli.py): what atende will send first, sending it by hand, and how it went."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from atende.cli_options import clinic as _tenant
from atende.cli_options import fail, parse_now
from atende.cli_options import with_store as _with_store
from atende.errors import AtendeError
from atende.settings import Settings

if TYPE_CHECKING:
    from atende.memory.store import Store

reminders_app = typer.Typer(help="Reminders and booking confirmations: list, due, run.")
templates_app = typer.Typer(help="Meta message templates the clinic's reminders use.")
TenantOpt = Annotated[str, typer.Option(help="tenant id")]
NowOpt = Annotated[str | None, typer.Option(help="the clock, ISO-8601 with offset (default: now)")]


_fail = fail


def _now(value: str | None) -> datetime:
    at = parse_now(value)
    return datetime.now(UTC) if at is None else at.astimezone(UTC)


def reminder_json(reminder: Any) -> dict[str, Any]:
    return {"id": reminder.id, "appointment_id": reminder.appointment_id, "kind": reminder.kind,
            "due_at": reminder.due_at.isoformat(), "status": reminder.status,
            "reason": reminder.reason, "provider_message_id": reminder.provider_message_id,
            "sent_at": reminder.sent_at.isoformat() if reminder.sent_at else None}


def _print(reminders: list[Any], tz: Any, as_json: bool, empty: str) -> None:
    out = Console(highlight=False, soft_wrap=True)
    if as_json:
        for reminder in reminders:
            typer.echo(json.dumps(reminder_json(reminder), ensure_ascii=False))
        return
    if not reminders:
        out.print(empty, markup=False)
        return
    table = Table("due (local)", "kind", "status", "appointment", "reason")
    for r in reminders:
        table.add_row(f"{r.due_at.astimezone(tz):%Y-%m-%d %H:%M}", r.kind, r.status,
                      r.appointment_id[:8], r.reason or "")
    out.print(table)


@reminders_app.command("list")
def list_reminders(
    tenant: TenantOpt,
    status: Annotated[str | None, typer.Option(help="pending, queued, sent, skipped, failed, "
                                                    "cancelled")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """A clinic's reminders, by due time."""
    from atende.memory.records import REMINDER_STATUSES

    settings = Settings()
    clinic = _tenant(settings, tenant)
    if status is not None and status not in REMINDER_STATUSES:
        raise _fail(f"--status: {status!r} is not one of {', '.join(REMINDER_STATUSES)}")
    statuses = (status,) if status else None
    found = _with_store(settings, lambda s: s.list_reminders(clinic.id, statuses=statuses,
                                                             limit=limit))
    _print(found, clinic.tz, as_json, f"no reminders for {clinic.id}")


@reminders_app.command("due")
def due(tenant: TenantOpt, now: NowOpt = None,
        as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Pending reminders due at `--now` (what the next tick would decide)."""
    settings = Settings()
    clinic = _tenant(settings, tenant)
    at = _now(now)
    found = _with_store(settings, lambda s: s.reminders_due(clinic.id, at, limit=10_000))
    _print(found, clinic.tz, as_json, f"nothing due for {clinic.id} at {at.isoformat()}")


@reminders_app.command("run")
def run(tenant: TenantOpt, now: NowOpt = None,
        as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One tick now: hand every due reminder to the outbox (sent by `atende serve` or
    `atende worker`), skip or cancel the rest with a reason."""
    from atende.clock import FrozenClock
    from atende.reminders.runner import ReminderRunner
    from atende.tenant import TenantRegistry

    settings = Settings()
    clinic = _tenant(settings, tenant)
    clock = FrozenClock(_now(now))

    async def tick(store: Store) -> Any:
        return await ReminderRunner(store, TenantRegistry([clinic]), clock=clock).tick(clinic.id)

    report = _with_store(settings, tick)
    out = Console(highlight=False)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        out.print(", ".join(f"{k} {v}" for k, v in report.as_dict().items()), markup=False)


def _since(value: str) -> timedelta:
    unit = value[-1:]
    try:
        amount = float(value[:-1])
    except ValueError:
        amount = -1
    if unit not in ("d", "h") or amount <= 0:
        raise _fail(f"--since: expected e.g. 30d or 12h, got {value!r}")
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


def report(tenant: TenantOpt,
           since: Annotated[str, typer.Option(help="how far back: 30d, 12h")] = "30d",
           now: NowOpt = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How reminders went: confirmation rate, late cancellations, freed slots rebooked."""
    from atende.reminders.report import build

    settings = Settings()
    clinic = _tenant(settings, tenant)
    at = _now(now)
    figures = _with_store(settings, lambda s: build(s, clinic, at - _since(since), at))
    out = Console(highlight=False)
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    for line in figures["lines"]:
        out.print(line, markup=False)


@templates_app.command("check")
def templates_check(tenant: TenantOpt) -> None:
    """Compare the clinic's configured templates with the ones Meta has approved."""
    import httpx

    from atende.reminders.templates import check, configured

    settings = Settings()
    clinic = _tenant(settings, tenant)
    if clinic.channels.meta is None:
        raise _fail(f"{clinic.id} has no Meta channel: templates are Meta's")

    async def go() -> list[dict[str, str]]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
            return await check(clinic, settings, http)

    try:
        rows = asyncio.run(go())
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    table = Table("template", "language", "used for", "status at Meta")
    bad = False
    for row in rows:
        bad = bad or row["status"] != "APPROVED"
        table.add_row(row["name"], row["language"], row["use"], row["status"])
    Console(highlight=False).print(table)
    if not configured(clinic):
        Console(highlight=False).print("no templates configured")
    if bad:
        raise typer.Exit(code=1)


@reminders_app.command("resume")
def resume(tenant: TenantOpt) -> None:
    """Let a clinic write first again after Meta paused it (account or quality warnings): clears
    its `proactive_paused:*` flags; template flags clear when a template goes out again."""
    from atende.reminders.outcomes import PAUSED

    settings = Settings()
    clinic = _tenant(settings, tenant)

    async def clear(store: Store) -> list[str]:
        paused = [key for key in await store.clinic_flags(clinic.id) if key.startswith(PAUSED)]
        for key in paused:
            await store.set_clinic_flag(clinic.id, key, None)
        return paused

    cleared = _with_store(settings, clear)
    Console(highlight=False).print(
        f"{clinic.id}: proactive sends resumed ({', '.join(cleared)} cleared)" if cleared
        else f"{clinic.id}: proactive sends were not paused", markup=False)
