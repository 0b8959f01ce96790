"""Operations routes: health, Prometheus metrics, and the authenticated admin endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response

from atende.errors import InvalidInput
from atende.phones import normalize_phone
from atende.reminders.outcomes import PAUSED, TEMPLATE_FAILING
from atende.server.admin_auth import is_admin as _is_admin
from atende.server.admin_auth import require_admin as _admin
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError
from atende.server.poison import poison_json

router = APIRouter()


@router.get("/health", tags=["ops"])
async def health(services: ServicesDep,
                 authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Up or down (200 `{"status": "ok"}` / 503 `{"status": "down"}`) for anyone; with the admin
    bearer token, the database, the model and each clinic's channels as connected / configured /
    not configured / failing (clinic ids are not for the public)."""
    database = "connected"
    try:
        await services.atende.store.get_patient("__health__", "+10000000000")
    except Exception as exc:  # the point of a health check is to report, not to raise
        database = f"failing: {type(exc).__name__}"
    code = 200 if database == "connected" else 503
    if not _is_admin(services, authorization):
        return JSONResponse({"status": "ok" if code == 200 else "down"}, status_code=code)
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
        flags = await services.atende.store.clinic_flags(tenant.id) if database == "connected" else {}
        for key, value in sorted(flags.items()):  # templates failing, proactive sends paused
            if key.startswith(TEMPLATE_FAILING):
                states[f"template {key.removeprefix(TEMPLATE_FAILING)}"] = f"failing: {value}"
            elif key.startswith(PAUSED):
                states["proactive"] = f"failing: paused ({value})"
        google = services.google.health(tenant) if services.google and database == "connected" \
            else None
        if google is not None and (shown := await google) is not None:
            states["google"] = shown  # connected, or failing: needs_reconnect / not connected
        tenants[tenant.id] = states
    settings = services.settings
    model = "configured" if settings.has_openai_key else "not configured (offline model)"
    failing = any(s.startswith("failing") for states in tenants.values() for s in states.values())
    status = "down" if code != 200 else "degraded" if failing else "ok"
    return JSONResponse({"status": status, "database": database, "openai": model,
                         "tenants": tenants}, status_code=code)


@router.get("/metrics", tags=["ops"])
async def metrics(services: ServicesDep) -> Response:
    body, content_type = services.metrics.render()
    return Response(content=body, media_type=content_type)


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


@router.get("/admin/poison", tags=["admin"])
async def poison(services: ServicesDep,
                 authorization: Annotated[str | None, Header()] = None,
                 tenant: str | None = None) -> list[dict[str, Any]]:
    """Messages set aside because they could not be stored, newest first, with the reason."""
    _admin(services, authorization)
    rows = await services.atende.store.list_poison(tenant)
    return [poison_json(p) for p in rows]


@router.get("/admin/reminders", tags=["admin"])
async def reminders(services: ServicesDep, tenant: str,
                    authorization: Annotated[str | None, Header()] = None,
                    status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """A clinic's reminders by due time (upcoming first with `status=pending`), with status,
    reason and the provider's message id."""
    from atende.memory.records import REMINDER_STATUSES
    from atende.reminders.cli import reminder_json

    _admin(services, authorization)
    if tenant not in {t.id for t in services.tenants}:
        raise ApiError(404, "unknown_tenant", f"No clinic {tenant!r} here.")
    if status is not None and status not in REMINDER_STATUSES:
        raise ApiError(400, "invalid_status", f"status must be one of {', '.join(REMINDER_STATUSES)}.",
                       hint="e.g. ?status=pending")
    if not 1 <= limit <= 10_000:
        raise ApiError(400, "invalid_limit", "limit must be between 1 and 10000.")
    rows = await services.atende.store.list_reminders(
        tenant, statuses=(status,) if status else None, limit=limit)
    return [reminder_json(r) for r in rows]
