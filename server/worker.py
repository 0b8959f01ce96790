"""A turn worker process (`atende worker`): the Atende runtime opened once, procrastinate
running `answer_conversation` jobs on it, and the outbox sending what they queue.

Several such processes share one Postgres: each conversation's turns run one at a time (the
job lock), sends are claimed row by row (compare-and-set), and a row is taken for interrupted
only after its claim's lease (`Store.outbox_recover`), so no process fails another's send.

Reminders: procrastinate defers the reminder tick once a minute whatever the number of workers;
`reminders_every` also runs it in each process every that many seconds (a minute is too coarse
for a small deployment or a test). Ticks may overlap freely: each reminder is handed to the
outbox once (`Store.reminder_enqueue`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import structlog

from atende.agent.runtime import ModelFactory, open_atende
from atende.clock import FileClock
from atende.errors import ConfigError
from atende.integrations.google.connections import open_google
from atende.integrations.google.service import oauth_wiring
from atende.memory.records import OUTBOX_LEASE
from atende.reminders.runner import ReminderLoop, ReminderRunner
from atende.server.app import channel_senders, conversation_turns, google_calendars, queued_turns
from atende.server.credentials import Credentials
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.server.queue import ensure_schema, queue_app, requeue_conversations, retry_stalled_forever
from atende.settings import Settings
from atende.tenant_db import TenantWatcher, load_registry

if TYPE_CHECKING:
    from atende.integrations.google.service import GoogleWiring

log = structlog.get_logger(__name__)

# procrastinate's own connections (`Settings.postgres_queue_pool_size`): fetching, finishing,
# heartbeats, the periodic deferrer (the LISTEN connection comes on top). Jobs do their work on
# the store's and checkpointer's pools.


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 4  # jobs (conversations) at once in this process
    stalled_after: float = 30.0  # a worker silent this long is dead; its jobs run again
    send_lease: timedelta = OUTBOX_LEASE
    reminders_every: float | None = None  # also tick the reminders every so many seconds
    name: str = field(default_factory=lambda: f"atende-{os.getpid()}")


async def run_worker(settings: Settings, options: WorkerOptions, *,
                     model: str | ModelFactory | None = None,
                     env: Mapping[str, str] | None = None,
                     google_calendar: GoogleWiring | None = None) -> None:
    """Run until SIGINT/SIGTERM (then finish the jobs in hand) or cancellation. `google_calendar`:
    the turns here see Google Calendar (its loops run in `atende serve`, which gets the pushes)."""
    if not queued_turns(settings.database_url):
        raise ConfigError("atende worker needs a postgresql:// database (SQLite turns run in "
                          "`atende serve` itself)", field="ATENDE_DATABASE_URL")
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)))
        clock = FileClock(settings.clock_file) if settings.clock_file else None
        atende = await stack.enter_async_context(open_atende(settings, model=model, clock=clock))
        tenants = await load_registry(atende.store, settings.tenants_dir)
        credentials = Credentials(tenants, os.environ if env is None else env)
        await ensure_schema(settings.database_url)
        senders = channel_senders(settings, credentials, client)
        outbox = OutboxWorker(atende.store, lambda t, c: senders.get((t, c)), clock=atende.clock,
                              metrics=metrics, max_attempts=settings.send_max_attempts,
                              lease=options.send_lease)
        turns = conversation_turns(settings, tenants, credentials, atende, client, metrics,
                                   outbox.wake)
        connections = open_google(settings, tenants, atende.store, client, atende.clock, metrics)
        google_calendars(settings, tenants, atende, client,
                         google_calendar or oauth_wiring(connections, atende.store), outbox.wake)
        queue = await stack.enter_async_context(
            queue_app(settings.database_url,
                      pool_size=settings.postgres_queue_pool_size).open_async())
        reminders = ReminderRunner(atende.store, tenants, clock=atende.clock, metrics=metrics,
                                   on_outbox=outbox.wake)
        side = [asyncio.create_task(outbox.run(), name="outbox"),
                asyncio.create_task(TenantWatcher(atende.store, tenants,
                                                  every=settings.config_poll_seconds).run(),
                                    name="tenants"),
                asyncio.create_task(retry_stalled_forever(queue, stalled_after=options.stalled_after),
                                    name="stalled-jobs")]
        if options.reminders_every is not None:
            side.append(asyncio.create_task(
                ReminderLoop(reminders, every=options.reminders_every).run(), name="reminders"))
        stack.push_async_callback(_cancel, side)
        queued = await requeue_conversations(queue, atende.store)
        log.info("worker_started", worker=options.name, concurrency=options.concurrency,
                 queued_pending=queued)
        await queue.run_worker_async(
            name=options.name, concurrency=options.concurrency,
            additional_context={"turns": turns, "reminders": reminders},
            update_heartbeat_interval=max(options.stalled_after / 3, 0.2),
            stalled_worker_timeout=options.stalled_after,
        )
        log.info("worker_stopped", worker=options.name)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
