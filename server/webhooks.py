"""Webhook routes: each channel's own (`Channel.routes`, they verify and parse) and Calendly's
(`integrations/calendly/routes.py`) under /webhooks,
and what they share: storing the events, answering 200 at once (the dispatcher does the rest).
Reading a body within its caps is `server/bodies.py`."""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import APIRouter

from atende.server.app import Services
from atende.server.channels import CHANNELS
from atende.server.inbound import WebhookEvent
from atende.server.ingest import ingest

log = structlog.get_logger(__name__)


async def accept(services: Services, channel: str, events: list[WebhookEvent],
                 started: float) -> dict[str, Any]:
    """Store a verified webhook's events; the answer the provider gets."""
    counts = await ingest(services, events)
    seconds = time.perf_counter() - started
    services.metrics.webhook_ack.labels(channel=channel).observe(seconds)
    # the POST's one line (uvicorn's access line for it is dropped: `logs.AcknowledgedWebhooks`)
    log.info("webhook_received", channel=channel, ms=round(seconds * 1000, 2),
             **{k: v for k, v in counts.items() if v})
    return {"ok": True, **counts}


def router() -> APIRouter:
    """Every registered channel's webhook routes, under /webhooks."""
    from atende.integrations.calendly.routes import router as calendly

    routes = APIRouter(prefix="/webhooks", tags=["webhooks"])
    for channel in CHANNELS.values():
        own = channel.routes()
        if own is not None:
            routes.include_router(own)
    routes.include_router(calendly)  # the clinic's calendars' webhooks, beside the channels'
    return routes
