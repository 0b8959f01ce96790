"""`atende db`: migrate, check and purge the database named by ATENDE_DATABASE_URL."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from atende.clock import SystemClock
from atende.errors import AtendeError, InvalidInput
from atende.settings import Settings

db_app = typer.Typer(help="The database: migrations, health, retention (LGPD).")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
_SPAN = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")


def _is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].lower() in {"postgres", "postgresql"}


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@db_app.command("migrate")
def migrate() -> None:
    """Apply pending migrations (idempotent; safe with several processes)."""
    settings = Settings()

    async def run() -> list[str]:
        if _is_postgres(settings.database_url):
            from atende.memory.postgres.admin import migrate as pg_migrate

            return await pg_migrate(settings.database_url)
        from atende.memory import open_store

        store = open_store(settings.database_url)
        try:
            await store.setup()
        finally:
            await store.close()
        return []

    try:
        applied = asyncio.run(run())
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    out.print("applied: " + (", ".join(applied) if applied else "nothing pending"))


@db_app.command("check")
def check() -> None:
    """Connectivity, migrations and (on Postgres) row-level security on every tenant table."""
    settings = Settings()
    if not _is_postgres(settings.database_url):
        from atende.memory import open_store

        async def sqlite_check() -> dict[str, Any]:
            store = open_store(settings.database_url)
            try:
                await store.setup()
                await store.get_patient("__check__", "+10000000000")
            finally:
                await store.close()
            return {"ok": True, "backend": "sqlite", "problems": []}

        report = asyncio.run(sqlite_check())
    else:
        from atende.memory.postgres.admin import check as pg_check

        report = asyncio.run(pg_check(settings.database_url))
    out.print_json(json.dumps(report, default=str))
    if report.get("problems"):
        raise typer.Exit(code=1)


def _span(text: str) -> timedelta:
    match = _SPAN.match(text)
    if not match:
        raise _fail(f"--older-than: expected e.g. 180d, 12w or 48h, got {text!r}")
    amount, unit = int(match[1]), match[2]
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount),
            "w": timedelta(weeks=amount)}[unit]


@db_app.command("purge")
def purge(
    older_than: Annotated[str | None, typer.Option(
        help="e.g. 180d; default: each tenant's retention_days")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
) -> None:
    """Blank message texts, transcripts and stored replies past retention; keep appointments.
    Conversation memory (checkpoints) idle since the cutoff is deleted too."""
    settings = Settings()
    span = _span(older_than) if older_than else None

    async def run() -> list[tuple[str, int, int]]:
        from atende.agent.turn import thread_id
        from atende.memory import open_store
        from atende.memory.checkpoint import open_checkpointer
        from atende.tenant_db import load_registry

        now = SystemClock().now()
        store = open_store(settings.database_url)
        await store.setup()
        done = []
        try:
            # each clinic's retention as configured in force (the database's version)
            tenants = [t for t in await load_registry(store, settings.tenants_dir)
                       if tenant is None or t.id == tenant]
            if tenant is not None and not tenants:
                raise InvalidInput(f"unknown tenant {tenant!r}")
            async with open_checkpointer(settings.database_url) as saver:
                for clinic in tenants:
                    keep = span if span is not None else timedelta(days=clinic.retention_days)
                    cutoff = now - keep
                    blanked = await store.purge_bodies(clinic.id, before=cutoff)
                    active = {c.id for c in await store.list_conversations(clinic.id,
                                                                           since=cutoff)}
                    idle = [c for c in await store.list_conversations(clinic.id)
                            if c.id not in active]
                    for conversation in idle:
                        await saver.adelete_thread(thread_id(clinic.id, conversation.phone))
                    done.append((clinic.id, blanked, len(idle)))
        finally:
            await store.close()
        return done

    try:
        purged = asyncio.run(run())
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    for clinic_id, blanked, idle in purged:
        out.print(f"{clinic_id}: {blanked} message bodies blanked, "
                  f"{idle} idle conversation memories deleted")
