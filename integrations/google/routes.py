"""The Google routes: consent (start, callback), status, calendars, associations, disconnect.

Every route but the callback takes the admin bearer token (`ATENDE_ADMIN_TOKEN`; staff accounts
come later). The callback is where Google sends the clinic's browser: the signed, single-use
`state` authenticates it. It answers a pt-BR page to a browser (Accept: text/html) and the usual
JSON otherwise; its URL carries the code, so responses tell the browser not to pass it on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from atende.server.admin_auth import require_admin
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError, error_response, request_id_of

from .connections import GoogleConnections
from .pages import connected_page, error_page

router = APIRouter(prefix="/api/google", tags=["google"])
ClinicId = Annotated[str, Query(alias="clinicId", min_length=1, max_length=64)]
Authorization = Annotated[str | None, Header()]
_NO_LEAK = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Model):
    clinicId: str = Field(min_length=1, max_length=64)


class Association(_Model):
    calendarId: str = Field(min_length=1, max_length=1024)
    professionalId: str = Field(min_length=1, max_length=64)


class AssociateBody(_Model):
    clinicId: str = Field(min_length=1, max_length=64)
    calendars: list[Association] = Field(max_length=200)


def _google(services: ServicesDep, authorization: str | None) -> GoogleConnections:
    require_admin(services, authorization)
    return _configured(services)


def _configured(services: ServicesDep) -> GoogleConnections:
    google: GoogleConnections | None = getattr(services, "google", None)
    if google is None:
        raise ApiError(404, "google_not_configured", "Google não está configurado neste servidor.",
                       hint="ATENDE_TOKEN_KEY, ATENDE_GOOGLE_CLIENT_ID, "
                            "ATENDE_GOOGLE_CLIENT_SECRET, ATENDE_GOOGLE_REDIRECT_URI")
    return google


@router.post("/oauth/start")
async def start(body: StartBody, services: ServicesDep,
                authorization: Authorization = None) -> dict[str, str]:
    """The consent URL for a clinic (offline access, a signed state valid for minutes, once)."""
    return await _google(services, authorization).start(body.clinicId)


@router.get("/oauth/callback", response_model=None)
async def callback(request: Request, services: ServicesDep, code: str | None = None,
                   state: str | None = None, error: str | None = None) -> Response:
    """Where Google sends the clinic's browser after the consent screen."""
    html = "text/html" in request.headers.get("accept", "")
    try:
        google = _configured(services)
        if error is not None:
            raise ApiError(400, "consent_denied", "A conexão com o Google Agenda foi cancelada "
                           "no Google.")
        if not code or not state or len(code) > 2048 or len(state) > 512:
            raise ApiError(400, "invalid_state", "Faltam o código ou o estado da autorização.")
        tenant = await google.complete(code, state)
    except ApiError as exc:
        if html:
            return HTMLResponse(error_page(exc.message, request_id_of(request)),
                                status_code=exc.status, headers=_NO_LEAK)
        answer = error_response(request, exc.status, exc.code, exc.message, exc.hint)
        answer.headers.update(_NO_LEAK)
        return answer
    if html:
        return HTMLResponse(connected_page(tenant.name), headers=_NO_LEAK)
    return JSONResponse({"clinicId": tenant.id, "connected": True}, headers=_NO_LEAK)


@router.get("/session/status")
async def status(clinic_id: ClinicId, services: ServicesDep,
                 authorization: Authorization = None) -> dict[str, Any]:
    """Connected, valid now, when the access token expires, whether the clinic must reconnect,
    the scopes granted; never a token."""
    return await _google(services, authorization).status(clinic_id)


@router.get("/calendars/list")
async def calendars(clinic_id: ClinicId, services: ServicesDep,
                    authorization: Authorization = None) -> dict[str, Any]:
    """Every calendar the clinic's Google account sees (all pages), with its association."""
    google = _google(services, authorization)
    entries = await google.calendars(clinic_id)
    linked = {link.calendar_id: link.professional_id
              for link in await google.store.google_calendars(clinic_id)}
    return {"clinicId": clinic_id, "calendars": [
        {"calendarId": e.id, "summary": e.summary, "primary": e.primary,
         "accessRole": e.access_role, "timeZone": e.time_zone,
         "professionalId": linked.get(e.id)} for e in entries]}


@router.post("/calendars/associate")
async def associate(body: AssociateBody, services: ServicesDep,
                    authorization: Authorization = None) -> dict[str, Any]:
    """Replace the clinic's calendar ↔ professional associations."""
    links = await _google(services, authorization).associate(
        body.clinicId, [(c.calendarId, c.professionalId) for c in body.calendars])
    return {"clinicId": body.clinicId, "calendars": [
        {"calendarId": link.calendar_id, "professionalId": link.professional_id,
         "summary": link.summary} for link in links]}


@router.delete("/oauth/disconnect")
async def disconnect(clinic_id: ClinicId, services: ServicesDep,
                     authorization: Authorization = None) -> dict[str, Any]:
    """Revoke at Google (best effort), delete the tokens and the associations."""
    return await _google(services, authorization).disconnect(clinic_id)
