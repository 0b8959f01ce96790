"""Webhook routes: verify, parse, store, answer 200 at once (the dispatcher does the rest)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from atende.server.app import ServicesDep
from atende.server.bodies import inflate_capped, is_gzip, json_object, read_capped
from atende.server.http_errors import ApiError
from atende.server.ingest import ingest
from atende.server.parse_meta import parse_meta
from atende.server.parse_zapi import parse_zapi
from atende.server.signature import meta_signature_shape, same_secret, verified_meta_tenants

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
# Compared when a URL names no Z-API clinic, so an unknown clinic costs what a wrong secret does.
_NO_SECRET = "-" * 48


@router.post("/zapi/{tenant}", summary="Z-API callbacks (secret in ?token=)")
@router.post("/zapi/{tenant}/{secret}", summary="Z-API callbacks (secret in the path)")
async def zapi_webhook(tenant: str, request: Request, services: ServicesDep,
                       secret: str | None = None,
                       token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    started = time.perf_counter()
    zapi = services.credentials.get(tenant).zapi
    # An unknown clinic and a wrong secret get the same answer after the same work: clinic ids
    # cannot be enumerated through this URL.
    if not same_secret(secret or token, zapi.webhook_secret if zapi else _NO_SECRET) or zapi is None:
        raise ApiError(401, "invalid_token", "Wrong or missing webhook secret.")
    cap = services.settings.zapi_webhook_max_bytes
    raw = await read_capped(request, cap)
    if is_gzip(request):  # Z-API since Nov 2024
        raw = inflate_capped(raw, cap)
    events = parse_zapi(json_object(raw), tenant, instance_id=zapi.instance_id)
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
    header = request.headers.get("x-hub-signature-256")
    if not meta_signature_shape(header):  # unsigned: refused before a byte of the body is read
        raise _unsigned(services)
    cap = services.settings.meta_webhook_max_bytes
    secrets = services.credentials.meta_app_secrets()
    raw = await read_capped(request, cap)
    signed_by = verified_meta_tenants(raw, header, secrets)
    if is_gzip(request):
        # Meta signs the payload it sends; were a body ever compressed on the way (by Meta or a
        # proxy), the signature would cover the JSON, not the gzip bytes. So a gzip body whose
        # wire bytes do not verify is inflated, within the same cap, and verified again: this
        # costs an unauthenticated caller no more than sending `cap` plain bytes would.
        raw = inflate_capped(raw, cap)
        signed_by = signed_by or verified_meta_tenants(raw, header, secrets)
    if not signed_by:
        raise _unsigned(services)

    def resolve(phone_number_id: str | None, display: str | None) -> str | None:
        tenant = services.credentials.meta_tenant(phone_number_id, display)
        return tenant if tenant in signed_by else None  # each clinic's own app signs its events

    counts = await ingest(services, parse_meta(json_object(raw), resolve))
    services.metrics.webhook_ack.labels(channel="meta").observe(time.perf_counter() - started)
    return {"ok": True, **counts}


def _unsigned(services: ServicesDep) -> ApiError:
    services.metrics.webhooks.labels(channel="meta", outcome="rejected").inc()
    return ApiError(401, "invalid_signature", "X-Hub-Signature-256 is missing or wrong.")
