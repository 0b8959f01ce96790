"""Calendly's webhook route: `POST /webhooks/calendly/{tenant}`, one URL per clinic.

Authentication first: the signature header's shape before a byte is read, then the HMAC of the
raw body (read within its cap) with the clinic's signing key and a fresh timestamp. Anything
else is 401 with nothing stored, and an unknown clinic is answered exactly like a wrong
signature after the same work (clinic ids cannot be enumerated). A verified invitee event is
applied (`mapping.apply`) and acknowledged with 200, whatever it did: a conflict or an unmapped
event type is recorded for the clinic, never answered as an error Calendly would retry."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from atende.server.app import ServicesDep
from atende.server.bodies import json_object, read_capped
from atende.server.http_errors import ApiError
from atende.server.payloads import ID_MAX_CHARS
from atende.server.poison import excerpt, safe_reason

from .keys import CalendlyAccount
from .mapping import SOURCE, apply
from .parse import invitee_of, parse_webhook
from .signature import HEADER, signature_parts, verified

router = APIRouter()
# Verified against when a URL names no Calendly clinic, so that costs what a wrong key does.
_NO_KEY = "-" * 48
_DEFAULT_TOLERANCE = 180


def accounts_of(request: Request) -> dict[str, CalendlyAccount]:
    """The clinics' Calendly accounts, read at start-up (`app.state.calendly`)."""
    return getattr(request.app.state, "calendly", {})


@router.post("/calendly/{tenant}", summary="Calendly invitee webhooks (signed)")
async def calendly_webhook(tenant: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    started = time.perf_counter()
    header = request.headers.get(HEADER)
    if signature_parts(header) is None:  # unsigned: refused before a byte of the body is read
        raise _unsigned(services)
    account = accounts_of(request).get(tenant)
    raw = await read_capped(request, services.settings.calendly_webhook_max_bytes)
    config = account.tenant.calendar.calendly if account else None
    if not verified(raw, header, account.signing_key if account else _NO_KEY,
                    now=services.atende.clock.now(),
                    tolerance_seconds=config.tolerance_seconds if config else _DEFAULT_TOLERANCE
                    ) or account is None:
        raise _unsigned(services)
    body = json_object(raw)
    try:
        hook = parse_webhook(body)
    except ValidationError:
        raise ApiError(400, "invalid_payload", "Not a Calendly webhook body.",
                       hint="expected {event, created_at, created_by, payload}") from None
    outcome: str = "ignored"
    if hook.about_invitee:
        try:
            invitee = invitee_of(hook)
        except ValidationError as exc:
            outcome = await _poison(services, tenant, hook.payload, exc)
        else:
            applied = await apply(services.atende.store, account.tenant, hook.event, invitee)
            outcome = applied.outcome
    metric = {"ignored": "ignored", "poison": "poison", "unmapped": "poison",
              "duplicate": "duplicate"}
    services.metrics.webhooks.labels(channel=SOURCE, outcome=metric.get(outcome, "accepted")).inc()
    services.metrics.webhook_ack.labels(channel=SOURCE).observe(time.perf_counter() - started)
    return {"ok": True, "event": hook.event, "outcome": outcome}


async def _poison(services: ServicesDep, tenant: str, payload: dict[str, Any],
                  error: ValidationError) -> str:
    """A signed invitee event that is not one a booking can come from: kept for ops."""
    fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(payload)" for e in error.errors())
    uri = payload.get("uri")
    usable = isinstance(uri, str) and 0 < len(uri) <= ID_MAX_CHARS and uri.isprintable()
    await services.atende.store.add_poison(
        tenant, channel=SOURCE, reason=safe_reason(f"invalid invitee payload: {fields}"),
        provider_message_id=uri if usable else None, excerpt=excerpt(payload))
    services.metrics.poison.labels(channel=SOURCE).inc()
    return "poison"


def _unsigned(services: ServicesDep) -> ApiError:
    services.metrics.webhooks.labels(channel=SOURCE, outcome="rejected").inc()
    return ApiError(401, "invalid_signature",
                    "Calendly-Webhook-Signature is missing, wrong or too old.")
