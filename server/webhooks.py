"""Webhook routes: verify, parse, store, answer 200 at once (the dispatcher does the rest)."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from atende.server.app import ServicesDep
from atende.server.channels.meta.parse import parse_meta
from atende.server.channels.zapi.parse import parse_zapi
from atende.server.http_errors import ApiError
from atende.server.ingest import ingest
from atende.server.signature import same_secret, verified_meta_tenants

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_BODY = 8 * 1024 * 1024  # Meta batches can reach a few MB


async def _body(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", "The webhook body is larger than 8 MiB.")
    if request.headers.get("content-encoding", "").lower() == "gzip":  # Z-API since Nov 2024
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ApiError(400, "invalid_gzip", "The body says gzip but is not.") from None
    return raw


def _json(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_payload", "Expected a JSON object.")
    return payload


@router.post("/zapi/{tenant}", summary="Z-API callbacks (secret in ?token=)")
@router.post("/zapi/{tenant}/{secret}", summary="Z-API callbacks (secret in the path)")
async def zapi_webhook(tenant: str, request: Request, services: ServicesDep,
                       secret: str | None = None,
                       token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    started = time.perf_counter()
    channels = services.credentials.get(tenant)
    if channels.zapi is None:
        raise ApiError(404, "unknown_webhook", "No Z-API channel is configured at this URL.")
    if not same_secret(secret or token, channels.zapi.webhook_secret):
        raise ApiError(401, "invalid_token", "Wrong or missing webhook secret.")
    events = parse_zapi(_json(await _body(request)), tenant,
                        instance_id=channels.zapi.instance_id)
    counts = await ingest(services, events)
    services.metrics.webhook_ack.labels(channel="zapi").observe(time.perf_counter() - started)
    return {"ok": True, **counts}


@router.get("/meta", response_class=PlainTextResponse, summary="Meta verification handshake")
async def meta_verify(request: Request, services: ServicesDep) -> PlainTextResponse:
    params = request.query_params  # literal dotted names: hub.mode, hub.verify_token
    mode, token = params.get("hub.mode"), params.get("hub.verify_token")
    challenge = params.get("hub.challenge", "")
    if mode == "subscribe" and any(same_secret(token, t)
                                   for t in services.credentials.meta_verify_tokens()):
        return PlainTextResponse(challenge)
    raise ApiError(403, "verification_failed", "hub.mode or hub.verify_token does not match.")


@router.post("/meta", summary="Meta WhatsApp Cloud API notifications")
async def meta_webhook(request: Request, services: ServicesDep) -> dict[str, Any]:
    started = time.perf_counter()
    raw = await _body(request)
    signed_by = verified_meta_tenants(raw, request.headers.get("x-hub-signature-256"),
                                      services.credentials.meta_app_secrets())
    if not signed_by:
        services.metrics.webhooks.labels(channel="meta", outcome="rejected").inc()
        raise ApiError(401, "invalid_signature", "X-Hub-Signature-256 is missing or wrong.")

    def resolve(phone_number_id: str | None, display: str | None) -> str | None:
        tenant = services.credentials.meta_tenant(phone_number_id, display)
        return tenant if tenant in signed_by else None  # each clinic's own app signs its events

    counts = await ingest(services, parse_meta(_json(raw), resolve))
    services.metrics.webhook_ack.labels(channel="meta").observe(time.perf_counter() - started)
    return {"ok": True, **counts}
