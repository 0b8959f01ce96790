"""Webhook routes: each channel's own (`Channel.routes`, they verify and parse) under /webhooks,
and what they share: reading the body, storing the events, answering 200 at once (the dispatcher
does the rest)."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from typing import Any

from fastapi import APIRouter, Request

from atende.server.app import Services
from atende.server.channels import CHANNELS
from atende.server.http_errors import ApiError
from atende.server.inbound import WebhookEvent
from atende.server.ingest import ingest

MAX_BODY = 8 * 1024 * 1024  # Meta batches can reach a few MB


async def read_body(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", "The webhook body is larger than 8 MiB.")
    if request.headers.get("content-encoding", "").lower() == "gzip":  # Z-API since Nov 2024
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ApiError(400, "invalid_gzip", "The body says gzip but is not.") from None
    return raw


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_payload", "Expected a JSON object.")
    return payload


async def accept(services: Services, channel: str, events: list[WebhookEvent],
                 started: float) -> dict[str, Any]:
    """Store a verified webhook's events; the answer the provider gets."""
    counts = await ingest(services, events)
    services.metrics.webhook_ack.labels(channel=channel).observe(time.perf_counter() - started)
    return {"ok": True, **counts}


def router() -> APIRouter:
    """Every registered channel's webhook routes, under /webhooks."""
    routes = APIRouter(prefix="/webhooks", tags=["webhooks"])
    for channel in CHANNELS.values():
        routes.include_router(channel.routes())
    return routes
