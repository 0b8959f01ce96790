"""The calendars a clinic's connected Google account can see (`calendarList.list`), every page:
`nextPageToken` is followed until the last page (the one without it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from .base import TokenSource
from .oauth import REQUEST_TIMEOUT, GoogleUnavailable

MAX_PAGES = 40  # 250 a page: 10,000 calendars is more than any clinic sees


@runtime_checkable
class Refusable(Protocol):
    """A token source that can be told Google refused its token (`GoogleTokens.refused`)."""

    async def refused(self, tenant_id: str) -> None: ...


@dataclass(frozen=True)
class CalendarEntry:
    id: str
    summary: str
    primary: bool
    access_role: str
    time_zone: str | None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    summary: str = ""
    summaryOverride: str | None = None
    primary: bool = False
    accessRole: str = ""
    timeZone: str | None = None


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: list[_Entry] = []
    nextPageToken: str | None = None


async def list_calendars(http: httpx.AsyncClient, api_url: str, tokens: TokenSource,
                         tenant_id: str) -> list[CalendarEntry]:
    """Every calendar of the clinic's account, primary first, then by name. NeedsReconnect from
    `tokens`; GoogleUnavailable when Google does not answer a page."""
    entries: list[CalendarEntry] = []
    page_token: str | None = None
    retried = False
    for _ in range(MAX_PAGES):
        params = {"maxResults": "250", **({"pageToken": page_token} if page_token else {})}
        response = await _get(http, f"{api_url.rstrip('/')}/users/me/calendarList", params,
                              await tokens.access_token(tenant_id))
        if response.status_code == 401 and not retried and isinstance(tokens, Refusable):
            retried = True  # a token Google stopped taking: refresh once and ask again
            await tokens.refused(tenant_id)
            response = await _get(http, f"{api_url.rstrip('/')}/users/me/calendarList", params,
                                  await tokens.access_token(tenant_id))
        if response.status_code != 200:
            raise GoogleUnavailable(f"calendarList answered HTTP {response.status_code}")
        try:
            page = _Page.model_validate(response.json())
        except (ValueError, ValidationError):
            raise GoogleUnavailable("calendarList answered something that is not a page") from None
        entries += [CalendarEntry(e.id, e.summaryOverride or e.summary, e.primary, e.accessRole,
                                  e.timeZone) for e in page.items]
        page_token = page.nextPageToken
        if not page_token:
            break
    else:
        raise GoogleUnavailable(f"calendarList did not end within {MAX_PAGES} pages")
    return sorted(entries, key=lambda e: (not e.primary, e.summary.casefold(), e.id))


async def _get(http: httpx.AsyncClient, url: str, params: dict[str, str], token: str
               ) -> httpx.Response:
    try:
        return await http.get(url, params=params, timeout=REQUEST_TIMEOUT,
                              headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError as exc:
        raise GoogleUnavailable(f"calendarList: {type(exc).__name__}") from None
