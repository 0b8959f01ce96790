"""The FastAPI app: its lifespan owns the store, the graph, one HTTP client, the dispatcher and
the outbox worker; routes live in `webhooks.py` and `ops.py`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request

from atende import __version__
from atende.agent.runtime import Atende, ModelFactory, open_atende
from atende.agent.transcribe import Transcriber
from atende.clock import Clock
from atende.server import http_errors
from atende.server.credentials import Credentials
from atende.server.dispatcher import Dispatcher
from atende.server.media import MediaFetcher
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.server.send_meta import MetaSender
from atende.server.send_zapi import ZapiSender
from atende.server.senders import Sender
from atende.settings import Settings
from atende.tenant import TenantRegistry


@dataclass
class Services:
    settings: Settings
    tenants: TenantRegistry
    credentials: Credentials
    atende: Atende
    http: httpx.AsyncClient
    metrics: Metrics
    dispatcher: Dispatcher
    outbox: OutboxWorker
    senders: dict[tuple[str, str], Sender]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _senders(settings: Settings, credentials: Credentials, http: httpx.AsyncClient
             ) -> dict[tuple[str, str], Sender]:
    senders: dict[tuple[str, str], Sender] = {}
    for tenant_id, channels in credentials.by_tenant.items():
        if channels.zapi:
            senders[(tenant_id, "zapi")] = ZapiSender(
                http, base_url=settings.zapi_base_url, instance_id=channels.zapi.instance_id,
                token=channels.zapi.token, client_token=channels.zapi.client_token)
        if channels.meta:
            senders[(tenant_id, "meta")] = MetaSender(
                http, graph_url=settings.meta_graph_url, api_version=settings.meta_api_version,
                phone_number_id=channels.meta.phone_number_id,
                access_token=channels.meta.access_token)
    return senders


def create_app(
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    model: str | ModelFactory | None = None,
    clock: Clock | None = None,
    transcriber: Transcriber | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    """The webhook server. Tests inject a model, a clock, a transcriber and an HTTP client."""
    settings = settings or Settings()
    environ = env if env is not None else os.environ

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tenants = TenantRegistry.from_dir(settings.tenants_dir)
        credentials = Credentials(tenants, environ)
        metrics = Metrics()
        client = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        async with open_atende(settings, model=model, clock=clock,
                               transcriber=transcriber) as atende:
            senders = _senders(settings, credentials, client)
            outbox = OutboxWorker(atende.store, lambda t, c: senders.get((t, c)),
                                  clock=atende.clock, metrics=metrics,
                                  max_attempts=settings.send_max_attempts)
            media = MediaFetcher(client, graph_url=settings.meta_graph_url,
                                 api_version=settings.meta_api_version,
                                 max_bytes=settings.media_max_bytes,
                                 max_seconds=settings.media_max_seconds)
            dispatcher = Dispatcher(atende, tenants, credentials, media=media, metrics=metrics,
                                    on_outbox=outbox.wake)
            app.state.services = Services(settings, tenants, credentials, atende, client,
                                          metrics, dispatcher, outbox, senders)
            outbox_task = asyncio.create_task(outbox.run(), name="outbox")
            await dispatcher.start()
            try:
                yield
            finally:
                await dispatcher.stop()
                outbox_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await outbox_task
                if http is None:
                    await client.aclose()

    app = FastAPI(title="atende", version=__version__, lifespan=lifespan,
                  description="WhatsApp webhooks (Z-API, Meta Cloud API) for the atende agent.")
    http_errors.install(app)
    from atende.server import ops, webhooks

    app.include_router(webhooks.router)
    app.include_router(ops.router)
    return app


def app_factory() -> Any:
    """`uvicorn --factory atende.server.app:app_factory`: settings from the environment."""
    from atende.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(settings)
