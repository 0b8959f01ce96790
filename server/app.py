"""The FastAPI app: its lifespan owns the store, the graph, one HTTP client, the dispatcher, the
outbox worker and the Google token refresh; routes live in `webhooks.py`, `ops.py` and
`integrations/google/routes.py`.

On SQLite, turns run in this process (`Dispatcher`) and so do sends. On Postgres, webhooks queue
a job per conversation (`server/queue.py`) and `atende worker` processes run the turns and the
sends; this process only accepts webhooks, so it can run with no worker at all (jobs wait)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request

from atende import __version__
from atende.agent.runtime import Atende, ModelFactory, open_atende
from atende.agent.transcribe import Transcriber
from atende.clock import Clock, FileClock
from atende.integrations.calendly.keys import calendly_accounts
from atende.integrations.google.connections import open_google
from atende.integrations.google.service import oauth_wiring
from atende.reminders.runner import ReminderLoop, ReminderRunner
from atende.server import http_errors
from atende.server.channels import CHANNELS
from atende.server.credentials import Credentials
from atende.server.dispatcher import Dispatcher, TurnScheduler
from atende.server.media import MediaFetcher
from atende.server.media_hosts import Resolve, resolve_host
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.server.senders import Sender
from atende.server.turns import ConversationTurns, channel_media
from atende.settings import Settings
from atende.tenant import TenantRegistry
from atende.tenant_db import TenantWatcher, load_registry

if TYPE_CHECKING:
    from atende.integrations.google.connections import GoogleConnections
    from atende.integrations.google.service import GoogleCalendars, GoogleWiring


@dataclass
class Services:
    settings: Settings
    tenants: TenantRegistry
    credentials: Credentials
    atende: Atende
    http: httpx.AsyncClient
    metrics: Metrics
    dispatcher: TurnScheduler  # the in-process Dispatcher, or the queue (`TurnQueue`)
    outbox: OutboxWorker
    senders: dict[tuple[str, str], Sender]
    # each clinic's Google connection (None: not configured); `.tokens` is the TokenSource
    google: GoogleConnections | None = None
    google_calendar: GoogleCalendars | None = None  # clinics on Google Calendar


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def channel_senders(settings: Settings, credentials: Credentials, http: httpx.AsyncClient
             ) -> dict[tuple[str, str], Sender]:
    """(tenant id, channel) → sender, for every channel a clinic has credentials for."""
    return {(tenant_id, name): CHANNELS[name].sender(account, settings, http)
            for tenant_id, channels in credentials.by_tenant.items()
            for name, account in channels.accounts.items()}


def queued_turns(database_url: str) -> bool:
    """Turns go through the procrastinate queue on Postgres, run in-process on SQLite."""
    return database_url.split(":", 1)[0].lower() in {"postgres", "postgresql"}


def conversation_turns(settings: Settings, tenants: TenantRegistry, credentials: Credentials,
                       atende: Atende, http: httpx.AsyncClient, metrics: Metrics,
                       on_outbox: Callable[[], None], *, resolve: Resolve | None = None
                       ) -> ConversationTurns:
    """What answers a conversation's inbox, in the server or in a queue worker."""
    media = MediaFetcher(http, graph_url=settings.meta_graph_url,
                         api_version=settings.meta_api_version,
                         meta_hosts=settings.meta_media_hosts,
                         zapi_hosts=settings.zapi_media_hosts,
                         max_bytes=settings.media_max_bytes,
                         max_seconds=settings.media_max_seconds,
                         resolve=resolve or resolve_host)
    return ConversationTurns(atende, tenants, media=channel_media(credentials, media),
                             metrics=metrics, on_outbox=on_outbox)


def google_calendars(settings: Settings, tenants: TenantRegistry, atende: Atende,
                     http: httpx.AsyncClient, google: GoogleWiring | None,
                     on_outbox: Callable[[], None]) -> GoogleCalendars | None:
    """Google Calendar for the clinics on it (None when none is, or nothing is wired); the
    turns' calendar backend is set on `atende`."""
    if google is None or not any(t.calendar.backend == "google" for t in tenants):
        return None
    from atende.integrations.google.service import GoogleCalendars

    calendars = GoogleCalendars(atende.store, tenants, http, google.tokens, google.calendars,
                                atende.clock, settings=settings, on_outbox=on_outbox)
    atende.calendars = calendars.for_tenant
    return calendars


def create_app(
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    model: str | ModelFactory | None = None,
    clock: Clock | None = None,
    transcriber: Transcriber | None = None,
    http: httpx.AsyncClient | None = None,
    resolve: Resolve | None = None,
    google_calendar: GoogleWiring | None = None,
) -> FastAPI:
    """The webhook server. Tests inject a model, a clock, a transcriber, an HTTP client and the
    host-name resolver media downloads are checked with; `google_calendar` (the OAuth side's tokens
    and calendar associations) turns on Google Calendar for clinics whose backend is google."""
    settings = settings or Settings()
    environ = env if env is not None else os.environ
    if clock is None and settings.clock_file:
        clock = FileClock(settings.clock_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = Metrics()
        client = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        async with AsyncExitStack() as stack:
            if http is None:
                stack.push_async_callback(client.aclose)
            atende = await stack.enter_async_context(open_atende(
                settings, model=model, clock=clock, transcriber=transcriber))
            # the clinics as the database has them (tenants_dir imported first: tenant_db.py),
            # kept on the version in force by the watcher
            tenants = await load_registry(atende.store, settings.tenants_dir)
            watcher = asyncio.create_task(TenantWatcher(
                atende.store, tenants, every=settings.config_poll_seconds).run(), name="tenants")
            stack.push_async_callback(_cancelled, watcher)
            credentials = Credentials(tenants, environ)
            app.state.calendly = calendly_accounts(tenants, environ)  # a missing key stops start-up
            senders = channel_senders(settings, credentials, client)
            outbox = OutboxWorker(atende.store, lambda t, c: senders.get((t, c)),
                                  clock=atende.clock, metrics=metrics,
                                  max_attempts=settings.send_max_attempts)
            dispatcher: TurnScheduler
            if queued_turns(settings.database_url):
                from atende.server.queue import TurnQueue, ensure_schema, queue_app

                await ensure_schema(settings.database_url)
                queue = await stack.enter_async_context(
                    queue_app(settings.database_url,
                              pool_size=settings.postgres_queue_pool_size).open_async())
                # the turns and the sends run in `atende worker` processes
                dispatcher = TurnQueue(queue, atende.store, tenants)
            else:
                dispatcher = Dispatcher(conversation_turns(
                    settings, tenants, credentials, atende, client, metrics, outbox.wake,
                    resolve=resolve))
                outbox_task = asyncio.create_task(outbox.run(), name="outbox")
                stack.push_async_callback(_cancelled, outbox_task)
                # SQLite: the reminder tick runs here, beside the outbox it feeds
                reminders = ReminderLoop(ReminderRunner(
                    atende.store, tenants, clock=atende.clock, metrics=metrics,
                    on_outbox=outbox.wake), every=settings.reminders_tick_seconds)
                reminders_task = asyncio.create_task(reminders.run(), name="reminders")
                stack.push_async_callback(_cancelled, reminders_task)
            google = open_google(settings, tenants, atende.store, client, atende.clock, metrics)
            if google is not None:  # any process may refresh: the refresh lease is in the row
                refresh_task = asyncio.create_task(google.refresh_loop().run(),
                                                   name="google-refresh")
                stack.push_async_callback(_cancelled, refresh_task)
            calendars = google_calendars(settings, tenants, atende, client,
                                         google_calendar or oauth_wiring(google, atende.store),
                                         outbox.wake)
            if calendars is not None:
                if google is not None:  # disconnecting stops the channels while tokens work
                    google.on_disconnect.append(calendars.disconnect)
                    # newly associated calendars are synced and watched now, not at the next tick
                    google.on_associate.append(lambda _tenant: calendars.sync_wake.set())
                # the Google loops (backstop sync, channel renewal, calendar jobs) run in this
                # process on both backends: it is the one receiving the push notifications
                calendars_task = asyncio.create_task(calendars.run(), name="google-calendar")
                stack.push_async_callback(_cancelled, calendars_task)
            app.state.services = Services(settings, tenants, credentials, atende, client,
                                          metrics, dispatcher, outbox, senders, google, calendars)
            await dispatcher.start()
            stack.push_async_callback(dispatcher.stop)
            # what start-up built lives as long as the process: out of the collector's sight,
            # so full collections stay short (p99 latency) while webhooks come in
            gc.collect()
            gc.freeze()
            yield

    app = FastAPI(title="atende", version=__version__, lifespan=lifespan,
                  description="WhatsApp webhooks (Z-API, Meta Cloud API) for the atende agent.")
    http_errors.install(app)
    from atende.integrations.google import routes as google_routes
    from atende.server import api, ops, webhooks
    from atende.server.api import config as config_api
    from atende.server.api import session as session_api

    app.include_router(webhooks.router())
    from atende.integrations.google import push

    app.include_router(push.routes())
    app.include_router(ops.router)
    app.include_router(api.router)
    app.include_router(google_routes.router)
    app.include_router(session_api.router)  # staff identities (server/api/auth.py)
    app.include_router(config_api.router)
    return app


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def app_factory() -> Any:
    """`uvicorn --factory atende.server.app:app_factory`: settings from the environment."""
    from atende.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)
