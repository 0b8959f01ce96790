"""`atende worker`: run conversation turns from the Postgres job queue (mounted in atende/cli.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from atende.errors import AtendeError
from atende.logs import configure_logging
from atende.memory.records import OUTBOX_LEASE
from atende.settings import Settings


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=200,
                                             help="conversations answered at once")] = 4,
    model: Annotated[str | None, typer.Option(help="offline | openai:<model> | scripted:<file>")]
    = None,
    stalled_after: Annotated[float, typer.Option(
        min=1.0, help="seconds without a heartbeat after which a worker is dead and its jobs "
        "run again")] = 30.0,
    send_lease: Annotated[float, typer.Option(
        min=1.0, help="seconds after which a send left half-done by a dead worker is failed "
        "(never resent)")] = OUTBOX_LEASE.total_seconds(),
    reminders_every: Annotated[float | None, typer.Option(
        min=0.1, max=3600.0, help="also hand due reminders to the outbox every so many seconds "
        "in this process (default: only the once-a-minute periodic task)")] = None,
) -> None:
    """Answer conversations from the job queue (ATENDE_DATABASE_URL=postgresql://...) and send
    the replies; run as many worker processes as the load needs."""
    from atende.prompts.render import check_prompts
    from atende.server.worker import WorkerOptions, run_worker
    from atende.tenant import TenantRegistry

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    options = WorkerOptions(concurrency=concurrency, stalled_after=stalled_after,
                            send_lease=timedelta(seconds=send_lease),
                            reminders_every=reminders_every)
    try:
        for clinic in TenantRegistry.from_dir(settings.tenants_dir):
            check_prompts(clinic)  # a broken prompt template stops the worker before it starts
        asyncio.run(run_worker(settings, options, model=model))
    except AtendeError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        pass
