"""A Google Calendar API v3 client on an injected `httpx.AsyncClient`: the calls atende makes
(events list/insert/patch/delete/watch, channels.stop, freeBusy), each error mapped by its
reason (`errors.py`).

Rate limits (403 rateLimitExceeded/userRateLimitExceeded, 429) and 5xx are retried here with
exponential backoff, honouring `Retry-After`; a 401 gets one fresh token and one more try, then
the clinic must reconnect (`NeedsReconnect`). Nothing else is retried here: a quota exceeded
or a 410 is the caller's decision. The bearer token travels only in the Authorization header;
it is never logged, never put in a URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from atende.integrations.google.base import NeedsReconnect, TokenSource
from atende.integrations.google.errors import (
    CalendarError,
    RateLimited,
    Transient,
    Unauthorized,
    classify,
)

Sleep = Callable[[float], Awaitable[None]]
QUICK_TIMEOUT = 5.0  # seconds a call may take while a patient waits for the reply
API = ""  # the base URL is Calendar v3's own (settings.google_api_url)


def rfc3339(moment: datetime) -> str:
    """An aware instant as RFC 3339 in UTC (`...Z`)."""
    if moment.tzinfo is None:
        raise ValueError("Google Calendar needs aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait(base: float, cap: float) -> Callable[[Any], float]:
    def wait(state: Any) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        backoff = min(cap, base * 2 ** (state.attempt_number - 1))
        return max(backoff, min(hinted, cap)) if hinted is not None else backoff
    return wait


class CalendarClient:
    """The Calendar API for every clinic: each call names the tenant whose token it uses."""

    def __init__(self, http: httpx.AsyncClient, tokens: TokenSource, *,
                 base_url: str = "https://www.googleapis.com/calendar/v3", attempts: int = 4,
                 backoff: float = 1.0, max_wait: float = 60.0, sleep: Sleep = asyncio.sleep
                 ) -> None:
        self.http = http
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep

    # calendars

    async def list_calendars(self, tenant_id: str) -> list[dict[str, Any]]:
        """calendarList.list, every page: the calendars the connected account sees."""
        entries: list[dict[str, Any]] = []
        page: str | None = None
        for _ in range(50):
            params = {"pageToken": page} if page else None
            answer = await self._call(tenant_id, "GET", f"{API}/users/me/calendarList",
                                      params=params)
            entries += [e for e in answer.get("items") or [] if isinstance(e, dict)]
            page = answer.get("nextPageToken")
            if not page:
                break
        return entries

    # events

    async def list_events(self, tenant_id: str, calendar_id: str, *,
                          sync_token: str | None = None, page_token: str | None = None,
                          time_min: datetime | None = None, show_deleted: bool = True
                          ) -> dict[str, Any]:
        """One page of events.list with `singleEvents=true` (recurring events as instances,
        the same choice on every call so a sync token stays valid). `sync_token` cannot be
        combined with a time bound; a full sync may start at `time_min`."""
        params: dict[str, Any] = {"singleEvents": "true", "maxResults": 250}
        if show_deleted or sync_token:
            params["showDeleted"] = "true"
        if sync_token:
            params["syncToken"] = sync_token
        elif time_min is not None:
            params["timeMin"] = rfc3339(time_min)
        if page_token:
            params["pageToken"] = page_token
        return await self._call(tenant_id, "GET", f"{self._events(calendar_id)}", params=params)

    async def get_event(self, tenant_id: str, calendar_id: str, event_id: str) -> dict[str, Any]:
        return await self._call(tenant_id, "GET", self._event(calendar_id, event_id))

    async def insert_event(self, tenant_id: str, calendar_id: str, event: dict[str, Any]
                           ) -> dict[str, Any]:
        """events.insert; with our own `id` in `event`, a retry answers `Duplicate` (409)."""
        return await self._call(tenant_id, "POST", self._events(calendar_id), json=event,
                                params={"sendUpdates": "none"})

    async def patch_event(self, tenant_id: str, calendar_id: str, event_id: str,
                          changes: dict[str, Any], *, etag: str | None = None) -> dict[str, Any]:
        headers = {"If-Match": etag} if etag else None
        return await self._call(tenant_id, "PATCH", self._event(calendar_id, event_id),
                                json=changes, params={"sendUpdates": "none"}, headers=headers)

    async def update_event(self, tenant_id: str, calendar_id: str, event_id: str,
                           event: dict[str, Any]) -> dict[str, Any]:
        return await self._call(tenant_id, "PUT", self._event(calendar_id, event_id), json=event,
                                params={"sendUpdates": "none"})

    async def delete_event(self, tenant_id: str, calendar_id: str, event_id: str) -> None:
        await self._call(tenant_id, "DELETE", self._event(calendar_id, event_id),
                         params={"sendUpdates": "none"})

    # push channels

    async def watch(self, tenant_id: str, calendar_id: str, *, channel_id: str, address: str,
                    token: str, ttl_seconds: int) -> dict[str, Any]:
        """events.watch: a new channel; the answer's `expiration` (ms, often a string) is what
        Google granted, maybe less than asked."""
        body = {"id": channel_id, "type": "web_hook", "address": address, "token": token,
                "params": {"ttl": str(ttl_seconds)}}
        return await self._call(tenant_id, "POST", f"{self._events(calendar_id)}/watch",
                                json=body)

    async def stop_channel(self, tenant_id: str, channel_id: str, resource_id: str) -> None:
        await self._call(tenant_id, "POST", f"{API}/channels/stop",
                         json={"id": channel_id, "resourceId": resource_id})

    # free/busy

    async def freebusy(self, tenant_id: str, calendar_ids: list[str], start: datetime,
                       end: datetime, *, quick: bool = False) -> dict[str, Any]:
        """freeBusy.query; each calendar's `busy` (any offset) or its `errors` (not free).
        `quick` (a patient is waiting): one try, a short timeout, no backoff."""
        body = {"timeMin": rfc3339(start), "timeMax": rfc3339(end),
                "items": [{"id": c} for c in calendar_ids]}
        if quick:
            return await self._authorized(tenant_id, "POST", f"{API}/freeBusy", json=body,
                                          timeout=QUICK_TIMEOUT)
        return await self._call(tenant_id, "POST", f"{API}/freeBusy", json=body)

    # plumbing

    @staticmethod
    def _events(calendar_id: str) -> str:
        return f"{API}/calendars/{quote(calendar_id, safe='')}/events"

    def _event(self, calendar_id: str, event_id: str) -> str:
        return f"{self._events(calendar_id)}/{quote(event_id, safe='')}"

    async def _call(self, tenant_id: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((RateLimited, Transient)),
            stop=stop_after_attempt(self.attempts), wait=_wait(self.backoff, self.max_wait),
            sleep=self.sleep, reraise=True)
        async for attempt in retrying:
            with attempt:
                return await self._authorized(tenant_id, method, path, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _authorized(self, tenant_id: str, method: str, path: str, **kw: Any
                          ) -> dict[str, Any]:
        try:
            return await self._once(tenant_id, method, path, **kw)
        except Unauthorized:
            # the token may have been revoked or expired early: one fresh token, one more try
            await self.tokens.refused(tenant_id)
            try:
                return await self._once(tenant_id, method, path, **kw)
            except Unauthorized as exc:
                raise NeedsReconnect(tenant_id, "Google Calendar answered 401") from exc

    async def _once(self, tenant_id: str, method: str, path: str, *,
                    headers: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        token = await self.tokens.access_token(tenant_id)
        try:
            response = await self.http.request(
                method, self.base_url + path,
                headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kw)
        except httpx.HTTPError as exc:
            raise Transient(0, type(exc).__name__, "no answer from Google") from exc
        if response.is_success:
            return response.json() if response.content else {}
        error: CalendarError = classify(response)
        raise error
