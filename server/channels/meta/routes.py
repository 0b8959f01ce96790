"""Meta's webhook routes: one URL for every clinic, the GET verification handshake, and POSTs
signed with the app secret (the signature says which clinics may own the events)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from atende.server.app import ServicesDep
from atende.server.bodies import inflate_capped, is_gzip, json_object, read_capped
from atende.server.channels.meta.channel import MetaCredentials
from atende.server.channels.meta.parse import parse_meta
from atende.server.channels.meta.signature import meta_signature_shape, verified_meta_tenants
from atende.server.http_errors import ApiError
from atende.server.signature import same_secret
from atende.server.webhooks import accept

router = APIRouter()


def numbers(accounts: dict[str, MetaCredentials]) -> dict[str, str]:
    """phone_number_id, and display number digits → the clinic that owns the number."""
    owners: dict[str, str] = {}
    for tenant_id, account in accounts.items():
        owners[account.phone_number_id] = tenant_id
        if account.display_phone_number:
            digits = "".join(ch for ch in account.display_phone_number if ch.isdigit())
            owners.setdefault(digits, tenant_id)
    return owners


def owner(numbers: dict[str, str], phone_number_id: str | None, display_phone: str | None
          ) -> str | None:
    """The clinic that owns a Meta number (by phone_number_id, else the display number)."""
    if phone_number_id and phone_number_id in numbers:
        return numbers[phone_number_id]
    digits = "".join(ch for ch in (display_phone or "") if ch.isdigit())
    return numbers.get(digits) if digits else None


@router.get("/meta", response_class=PlainTextResponse, summary="Meta verification handshake")
async def meta_verify(request: Request, services: ServicesDep) -> PlainTextResponse:
    params = request.query_params  # literal dotted names: hub.mode, hub.verify_token
    mode, token = params.get("hub.mode"), params.get("hub.verify_token")
    challenge = params.get("hub.challenge", "")
    accounts = services.credentials.accounts("meta", MetaCredentials)
    if mode == "subscribe" and any(same_secret(token, a.verify_token) for a in accounts.values()):
        return PlainTextResponse(challenge)
    raise ApiError(403, "verification_failed", "hub.mode or hub.verify_token does not match.")


@router.post("/meta", summary="Meta WhatsApp Cloud API notifications")
async def meta_webhook(request: Request, services: ServicesDep) -> dict[str, Any]:
    started = time.perf_counter()
    header = request.headers.get("x-hub-signature-256")
    if not meta_signature_shape(header):  # unsigned: refused before a byte of the body is read
        raise _unsigned(services)
    cap = services.settings.meta_webhook_max_bytes
    accounts = services.credentials.accounts("meta", MetaCredentials)
    secrets = {t: a.app_secret for t, a in accounts.items()}
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

    owners = numbers(accounts)

    def resolve(phone_number_id: str | None, display: str | None) -> str | None:
        tenant = owner(owners, phone_number_id, display)
        return tenant if tenant in signed_by else None  # each clinic's own app signs its events

    def resolve_account(waba_id: str | None) -> str | None:
        """The clinic whose WhatsApp Business Account it is: named in its file, or the only
        clinic whose app signed this POST."""
        named = [t.id for t in services.tenants
                 if t.channels.meta is not None and t.channels.meta.waba_id == waba_id]
        mine = [t for t in named if t in signed_by]
        if mine:
            return mine[0]
        return next(iter(signed_by)) if len(signed_by) == 1 and not named else None

    events = parse_meta(json_object(raw), resolve, resolve_account)
    return await accept(services, "meta", events, started)


def _unsigned(services: ServicesDep) -> ApiError:
    services.metrics.webhooks.labels(channel="meta", outcome="rejected").inc()
    return ApiError(401, "invalid_signature", "X-Hub-Signature-256 is missing or wrong.")
