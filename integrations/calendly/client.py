"""Calendly's API, as far as atende reads it: an invitee (`GET /scheduled_events/{e}/invitees/
{i}`, to check a webhook's invitee, or find a reschedule's other half), a user's scheduled
events (`GET /scheduled_events`, paginated by `next_page`), and the OAuth token refresh.

Not wired to a flow yet: webhooks carry all a booking needs, and a clinic's Calendly connection
(OAuth app, stored tokens) does not exist. Every call goes through the injected
`httpx.AsyncClient`; only Calendly's own hosts are ever called (a URI from a payload or a
`next_page` elsewhere is refused), and a token never appears in an error or a repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from atende.errors import InfrastructureError

from .parse import Invitee, ScheduledEvent

API = "https://api.calendly.com"
AUTH = "https://auth.calendly.com"
MAX_PAGES = 50


class CalendlyError(InfrastructureError):
    """Calendly answered with an error (its `error`/`title` code kept, never a token)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"Calendly answered {status}: {code}")
        self.status = status
        self.code = code


class CalendlyReconnect(CalendlyError):
    """`invalid_grant`: the refresh token is gone; the clinic must connect Calendly again."""


@dataclass(frozen=True)
class Tokens:
    """A refresh's answer. Calendly rotates refresh tokens: store the new one atomically with
    the access token, or the next refresh fails."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    owner: str | None = None


class CalendlyClient:
    def __init__(self, http: httpx.AsyncClient, *, api: str = API, auth: str = AUTH) -> None:
        self._http = http
        self._api = api.rstrip("/")
        self._auth = auth.rstrip("/")

    async def invitee(self, token: str, uri: str) -> Invitee:
        body = await self._get(token, self._ours(uri), {})
        return Invitee.model_validate(body.get("resource"))

    async def scheduled_events(self, token: str, *, user: str,
                               min_start_time: datetime | None = None) -> list[ScheduledEvent]:
        """Every page of the user's scheduled events (active and canceled)."""
        params: dict[str, str] = {"user": user, "count": "100"}
        if min_start_time is not None:
            params["min_start_time"] = min_start_time.isoformat()
        url: str | None = f"{self._api}/scheduled_events"
        events: list[ScheduledEvent] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return events
            body = await self._get(token, self._ours(url), params)
            events += [ScheduledEvent.model_validate(e) for e in body.get("collection") or []]
            url = (body.get("pagination") or {}).get("next_page")
            params = {}  # next_page carries them
        raise CalendlyError(200, f"more than {MAX_PAGES} pages of scheduled events")

    async def refresh(self, *, client_id: str, client_secret: str, refresh_token: str,
                      now: datetime) -> Tokens:
        answer = await self._http.post(f"{self._auth}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(client_id, client_secret))
        body = _json(answer)
        if answer.status_code >= 400:
            code = str(body.get("error") or body.get("title") or "error")
            kind = CalendlyReconnect if code == "invalid_grant" else CalendlyError
            raise kind(answer.status_code, code)
        try:
            return Tokens(access_token=body["access_token"], refresh_token=body["refresh_token"],
                          expires_at=now + timedelta(seconds=int(body["expires_in"])),
                          owner=body.get("owner"))
        except (KeyError, TypeError, ValueError):
            raise CalendlyError(answer.status_code, "token answer without its fields") from None

    def _ours(self, url: str) -> str:
        if not url.startswith(self._api + "/"):
            raise CalendlyError(0, "not a Calendly API URL")  # never send the token elsewhere
        return url

    async def _get(self, token: str, url: str, params: dict[str, str]) -> dict[str, Any]:
        answer = await self._http.get(url, params=params or None,  # {} would drop next_page's
                                      headers={"Authorization": f"Bearer {token}"})
        body = _json(answer)
        if answer.status_code >= 400:
            raise CalendlyError(answer.status_code, str(body.get("title") or "error"))
        return body


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
