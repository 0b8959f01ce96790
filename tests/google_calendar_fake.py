"""A fake of the Google Calendar API v3 (`httpx.MockTransport` handler) answering with the
shapes of ../shared/corpora/google_calendar/: events list with pages and sync tokens (410
fullSyncRequired for a token it no longer knows), insert with client ids (409 duplicate),
patch, delete (410 deleted), watch, channels.stop, freeBusy (busy in +02:00, `errors` for a
calendar it cannot read). Staff edits go through `put`/`move`/`remove`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from atende.integrations.google.base import NeedsReconnect

CORPUS = Path(__file__).resolve().parent / "corpora" / "google_calendar"
PLUS2 = timezone(timedelta(hours=2))


def corpus(name: str) -> Any:
    return json.loads((CORPUS / name).read_text())


class FakeTokens:
    """A `TokenSource`: a new token after each `refused`; `gone` → NeedsReconnect."""

    def __init__(self) -> None:
        self.issued = 0
        self.gone = False

    async def access_token(self, tenant_id: str) -> str:
        if self.gone:
            raise NeedsReconnect(tenant_id, "invalid_grant")
        return f"ya29.fake-{self.issued}"

    async def refused(self, tenant_id: str) -> None:
        self.issued += 1


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class FakeGoogle:
    def __init__(self, now: Callable[[], datetime], *, page_size: int = 2) -> None:
        self.now = now
        self.page_size = page_size
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        self.seq = 0
        self.changed: dict[tuple[str, str], int] = {}
        self.forgotten_before = 0  # sync tokens older than this answer 410
        self.unreadable: set[str] = set()
        self.forced: list[httpx.Response] = []  # answered first, whatever was asked
        self.requests: list[httpx.Request] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []

    # staff's edits

    def put(self, calendar: str, event: dict[str, Any]) -> None:
        self.seq += 1
        self.events.setdefault(calendar, {})[event["id"]] = {
            "kind": "calendar#event", "status": "confirmed", **event}
        self.changed[(calendar, event["id"])] = self.seq

    def move(self, calendar: str, event_id: str, start: datetime, end: datetime) -> None:
        event = dict(self.events[calendar][event_id])
        event["start"] = {"dateTime": start.isoformat(), "timeZone": "America/Sao_Paulo"}
        event["end"] = {"dateTime": end.isoformat(), "timeZone": "America/Sao_Paulo"}
        self.put(calendar, event)

    def remove(self, calendar: str, event_id: str) -> None:
        self.seq += 1
        # a deleted event comes back in a list as id/etag/status only (corpus: cancelled items)
        self.events[calendar][event_id] = {"kind": "calendar#event", "id": event_id,
                                           "etag": f'"{self.seq}"', "status": "cancelled"}
        self.changed[(calendar, event_id)] = self.seq

    def live(self, calendar: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.events.get(calendar, {}).items()
                if v.get("status") != "cancelled"}

    def calls(self, method: str, fragment: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and fragment in r.url.path]

    # the API

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["Authorization"].startswith("Bearer ya29.")
        if self.forced:
            return self.forced.pop(0)
        path = unquote(request.url.path).removeprefix("/calendar/v3")  # base URL as in settings
        body = json.loads(request.content) if request.content else {}
        if path == "/freeBusy":
            return self._freebusy(body)
        if path == "/channels/stop":
            self.stopped.append(body["id"])
            return httpx.Response(204)
        parts = path.split("/")  # ['', 'calendars', id, 'events', ...]
        calendar = parts[2]
        rest = parts[4:]
        if rest == ["watch"]:
            return self._watch(calendar, body)
        if not rest:
            if request.method == "GET":
                return self._list(calendar, request.url.params)
            return self._insert(calendar, body)
        event_id = rest[0]
        existing = self.events.get(calendar, {}).get(event_id)
        if request.method == "DELETE":
            if existing is None:
                return _json(404, {"error": {"errors": [{"reason": "notFound"}], "code": 404}})
            if existing.get("status") == "cancelled":
                return _json(410, corpus("error_410_deleted_docs.json"))
            self.remove(calendar, event_id)
            return httpx.Response(204)
        if existing is None or existing.get("status") == "cancelled":
            return _json(404, {"error": {"errors": [{"reason": "notFound"}], "code": 404}})
        if request.method == "PATCH":
            self.put(calendar, {**existing, **body})
        return _json(200, self.events[calendar][event_id])

    def _insert(self, calendar: str, body: dict[str, Any]) -> httpx.Response:
        if body.get("id") in self.events.get(calendar, {}):
            return _json(409, corpus("error_409_duplicate_event_id_docs.json"))
        self.put(calendar, {**body, "etag": f'"{self.seq + 1}"'})
        answer = dict(corpus("event_insert_response.json"))
        answer.update(id=body["id"], start=body["start"], end=body["end"],
                      summary=body.get("summary"))
        return _json(200, answer)

    def _list(self, calendar: str, params: httpx.QueryParams) -> httpx.Response:
        token, page = params.get("syncToken"), params.get("pageToken")
        if token is not None:
            since = int(token.removeprefix("s"))
            if since < self.forgotten_before:
                return _json(410, corpus("error_410_fullSyncRequired_docs.json"))
            ids = [e for (c, e), seq in sorted(self.changed.items(), key=lambda kv: kv[1])
                   if c == calendar and seq > since]
            items = [self.events[calendar][e] for e in ids]
        else:
            items = list(self.live(calendar).values())
        offset = int(page or 0)
        chunk = items[offset:offset + self.page_size]
        answer: dict[str, Any] = {"kind": "calendar#events", "timeZone": "America/Sao_Paulo",
                                  "items": chunk}
        if offset + self.page_size < len(items):
            answer["nextPageToken"] = str(offset + self.page_size)
        else:
            answer["nextSyncToken"] = f"s{self.seq}"
        return _json(200, answer)

    def _watch(self, calendar: str, body: dict[str, Any]) -> httpx.Response:
        ttl = int(body.get("params", {}).get("ttl", 3600))
        expires = self.now() + timedelta(seconds=ttl)
        channel = {**corpus("events_watch_response.json"), "id": body["id"],
                   "resourceId": f"res-{body['id'][-8:]}", "token": body.get("token"),
                   # the real API answers int64 as a string of milliseconds
                   "expiration": str(int(expires.timestamp() * 1000))}
        self.channels[body["id"]] = {**channel, "calendar": calendar}
        return _json(200, channel)

    def _freebusy(self, body: dict[str, Any]) -> httpx.Response:
        start = datetime.fromisoformat(body["timeMin"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(body["timeMax"].replace("Z", "+00:00"))
        calendars: dict[str, Any] = {}
        for item in body["items"]:
            calendar = item["id"]
            if calendar in self.unreadable:
                calendars[calendar] = {"errors": [{"domain": "global", "reason": "notFound"}],
                                       "busy": []}
                continue
            busy = []
            for event in self.live(calendar).values():
                if event.get("transparency") == "transparent" or "dateTime" not in event["start"]:
                    continue
                s = datetime.fromisoformat(event["start"]["dateTime"])
                e = datetime.fromisoformat(event["end"]["dateTime"])
                if s < end and e > start:
                    busy.append({"start": s.astimezone(PLUS2).isoformat(),
                                 "end": e.astimezone(PLUS2).isoformat()})
            calendars[calendar] = {"busy": busy}
        return _json(200, {"kind": "calendar#freeBusy",
                           "timeMin": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                           "timeMax": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                           "calendars": calendars})
