"""Operations routes: health, Prometheus metrics, and the authenticated admin endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response

from atende.errors import InvalidInput
from atende.phones import normalize_phone
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError
from atende.server.signature import same_secret

router = APIRouter()


@router.get("/health", tags=["ops"])
async def health(services: ServicesDep) -> dict[str, Any]:
    """Each integration as connected / configured / not configured / failing."""
    database = "connected"
    try:
        await services.atende.store.get_patient("__health__", "+10000000000")
    except Exception as exc:  # the point of a health check is to report, not to raise
        database = f"failing: {type(exc).__name__}"
    tenants: dict[str, dict[str, str]] = {}
    for tenant in services.tenants:
        channels = services.credentials.get(tenant.id)
        states: dict[str, str] = {}
        for channel, status in channels.status.items():
            if status.startswith("missing"):
                states[channel] = f"failing: {status}"
                continue
            last = services.outbox.last_outcome.get((tenant.id, channel))
            if status == "configured" and last is not None:
                states[channel] = "connected" if last == "sent" else f"failing: {last}"
            else:
                states[channel] = status
        tenants[tenant.id] = states
    settings = services.settings
    model = "configured" if settings.has_openai_key else "not configured (offline model)"
    ok = database == "connected" and not any(
        s.startswith("failing") for states in tenants.values() for s in states.values())
    return {"status": "ok" if ok else "degraded", "database": database, "openai": model,
            "tenants": tenants}


@router.get("/metrics", tags=["ops"])
async def metrics(services: ServicesDep) -> Response:
    body, content_type = services.metrics.render()
    return Response(content=body, media_type=content_type)


def _admin(services: ServicesDep, authorization: str | None) -> None:
    expected = services.settings.admin_token
    if expected is None:
        raise ApiError(404, "admin_disabled", "Set ATENDE_ADMIN_TOKEN to enable /admin.")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not same_secret(given, expected.get_secret_value()):
        raise ApiError(401, "unauthorized", "Missing or wrong admin bearer token.")


@router.post("/admin/conversations/{tenant}/{phone}/resume", tags=["admin"])
async def resume(tenant: str, phone: str, services: ServicesDep,
                 authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Give a conversation back to the bot after a human took it over."""
    _admin(services, authorization)
    if tenant not in {t.id for t in services.tenants}:
        raise ApiError(404, "unknown_tenant", f"No clinic {tenant!r}.")
    try:
        e164 = normalize_phone(phone)
    except InvalidInput as exc:
        raise ApiError(422, "invalid_phone", str(exc)) from None
    conversation = await services.atende.store.find_conversation(tenant, e164)
    if conversation is None:
        raise ApiError(404, "unknown_conversation", "No conversation with that phone.")
    resumed = await services.atende.store.resume_conversation(conversation.id)
    await services.dispatcher.notify(resumed.id)
    return {"conversation_id": resumed.id, "status": resumed.status}


@router.get("/admin/dead-letters", tags=["admin"])
async def dead_letters(services: ServicesDep,
                       authorization: Annotated[str | None, Header()] = None,
                       tenant: str | None = None) -> list[dict[str, Any]]:
    """Replies that could not be delivered, newest first (with the provider's error)."""
    _admin(services, authorization)
    rows = await services.atende.store.dead_letters(tenant)
    return [{"id": m.id, "conversation_id": m.conversation_id, "status": m.status,
             "attempts": m.attempts, "error": m.error, "created_at": m.created_at.isoformat()}
            for m in rows]
