"""Issue 11's end to end, through the server's own wiring (`create_app`: `services.google` with
its `GoogleTokens`, `services.google_calendar` wired by `oauth_wiring`) against one loopback
Google answering both OAuth (tests/google_fake.py) and Calendar (tests/google_calendar_fake.py):

    start → callback → calendars list → associate (wakes the sync: first sync, watch) → staff create
    an event → push on atende's channel → that time is not offered at the console (the offline
    model) → the patient books another → events.insert with the derived id, its answer lost and
    the retry's 409 taken as done → staff delete the event → push → the appointment is cancelled
    and the patient is told in pt-BR. On SQLite and on Postgres."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from google_calendar_fake import FakeGoogle as FakeCalendar
from google_fake import ORIGIN, corpus, google_settings
from google_fake import FakeGoogle as FakeOAuth
from server_harness import ENV, make_tenants_dir

from atende.clock import FrozenClock
from atende.integrations.google.events import event_id
from atende.server.app import Services, create_app
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from helpers import ANA, BIA, TUESDAY_NOW, SwitchableModel

CLINIC = "clinica-exemplo"
ADMIN = {"Authorization": "Bearer admin-token"}
WEBHOOK = "https://atende.test/webhooks/google/calendar"
PRIMARY = "MockAccount"  # calendar_list_page2_last_page_primary.json
TV = "averylongtvshowscalendarid@group.calendar.google.com"  # page 1


@dataclass
class LoopbackGoogle:
    """Both fakes behind one transport, routed by path as Google's hosts are: the token and
    revoke endpoints and calendarList to the OAuth fake; every other Calendar call to the
    Calendar fake, which only takes an access token the OAuth fake issued (else 401).
    `lose_next_insert`: the next events.insert lands, but its answer never comes back."""

    oauth: FakeOAuth
    calendar: FakeCalendar
    lose_next_insert: bool = False
    inserts: list[tuple[str, int | None]] = field(default_factory=list)  # (event id, status)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if f"{request.url.scheme}://{request.url.host}" != ORIGIN:
            return httpx.Response(404, json={"error": "no such host here"})
        path = request.url.path
        if path in ("/token", "/revoke") or path.endswith("/users/me/calendarList"):
            return self.oauth.handle(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.oauth.access_tokens:
            return httpx.Response(401, json=corpus("google_calendar/error_401_authError_docs.json"))
        answer = self.calendar(request)
        if request.method == "POST" and path.endswith("/events"):
            self.inserts.append((json.loads(request.content)["id"], answer.status_code))
            if self.lose_next_insert:
                self.lose_next_insert = False
                self.inserts[-1] = (self.inserts[-1][0], None)
                raise httpx.ReadTimeout("the answer was lost on the way back", request=request)
        return answer


@dataclass
class Flow:
    client: httpx.AsyncClient
    services: Services
    google: LoopbackGoogle

    def notice(self, calendar: str, number: int) -> dict[str, str]:
        """What Google sends on the channel atende opened for `calendar` (via events.watch)."""
        channel = [c for c in self.google.calendar.channels.values()
                   if c["calendar"] == calendar][-1]
        return {"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": channel["token"],
                "X-Goog-Channel-Expiration": "Tue, 17 Mar 2026 11:00:00 GMT",
                "X-Goog-Resource-ID": channel["resourceId"],
                "X-Goog-Resource-URI": channel["resourceUri"],
                "X-Goog-Resource-State": "exists", "X-Goog-Message-Number": str(number),
                "Content-Length": "0"}

    async def push(self, calendar: str, number: int) -> str:
        answer = await self.client.post("/webhooks/google/calendar",
                                        headers=self.notice(calendar, number))
        assert answer.status_code == 200, answer.text
        calendars = self.services.google_calendar
        assert calendars is not None
        await calendars.scheduler.idle()  # the debounced sync ran
        outcome: str = answer.json()["outcome"]
        return outcome


@asynccontextmanager
async def google_server(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[Flow]:
    clock = FrozenClock(TUESDAY_NOW)
    google = LoopbackGoogle(FakeOAuth(), FakeCalendar(clock.now))
    folder = make_tenants_dir(tmp_path)
    path = folder / f"{CLINIC}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["calendar"] = {"backend": "google", "google": {"push_debounce_seconds": 0.05}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    database_url = database_url or f"sqlite:///{tmp_path / 'atende.db'}"
    options: dict[str, Any] = {
        "database_url": database_url, "tenants_dir": folder, "admin_token": "admin-token",
        "google_calendar_webhook_url": WEBHOOK, **google_settings(Fernet.generate_key().decode())}
    settings = Settings(_env_file=None, **options)
    async with httpx.AsyncClient(transport=httpx.MockTransport(google.handle)) as http:
        app = create_app(settings, env=ENV, model=SwitchableModel(), clock=clock, http=http)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://atende.test") as client:
            yield Flow(client, app.state.services, google)


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def at(moment: datetime, services: Services) -> str:
    return moment.astimezone(services.tenants.get(CLINIC).tz).strftime("%H:%M")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_connect_associate_push_offer_book_then_staff_delete_tells_the_patient(
        tmp_path, request, backend):
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    async with google_server(tmp_path, url) as flow:
        services, fake = flow.services, flow.google
        calendars, store = services.google_calendar, services.atende.store
        assert calendars is not None and services.google is not None

        # the clinic connects its Google account
        started = await flow.client.post("/api/google/oauth/start", json={"clinicId": CLINIC},
                                         headers=ADMIN)
        assert started.status_code == 200, started.text
        state = parse_qs(urlsplit(started.json()["url"]).query)["state"][0]
        back = await flow.client.get("/api/google/oauth/callback",
                                     params={"code": fake.oauth.new_code(), "state": state})
        assert back.json() == {"clinicId": CLINIC, "connected": True}, back.text
        listed = await flow.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                       headers=ADMIN)
        assert {c["calendarId"] for c in listed.json()["calendars"]} == {PRIMARY, TV}
        linked = await flow.client.post("/api/google/calendars/associate", headers=ADMIN, json={
            "clinicId": CLINIC, "calendars": [{"calendarId": PRIMARY, "professionalId": "ana-souza"},
                                              {"calendarId": TV, "professionalId": "carla-mendes"}]})
        assert linked.status_code == 200, linked.text

        # associating wakes the calendar loop: both calendars are synced and watched now, not at
        # the next backstop tick (minutes away)
        await eventually(lambda: len(fake.calendar.calls("POST", "/watch")) == 2,
                         "a push channel on each newly associated calendar")
        for _ in range(100):
            if len(await store.calendar_sync_states(CLINIC)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(await store.calendar_sync_states(CLINIC)) == 2
        watches = fake.calendar.calls("POST", "/watch")
        assert {json.loads(w.content)["address"] for w in watches} == {WEBHOOK}

        session = ConsoleSession(services.atende, services.tenants.get(CLINIC))
        # the server's own outbox may send a console bubble first: through the same console
        services.senders[(CLINIC, "console")] = session.sender
        before = "\n".join((await session.say(BIA, "Oi, quero marcar uma limpeza amanhã de "
                                                   "manhã")).bubbles)
        assert "08:00" in before, before  # Wednesday 08:00 is free before the staff event

        # the receptionist blocks Dra. Ana's first hour on Wednesday in Google
        fake.calendar.put(PRIMARY, {"id": "bloqueio1", "summary": "Reunião",
                                    "start": {"dateTime": "2026-03-11T08:00:00-03:00"},
                                    "end": {"dateTime": "2026-03-11T09:00:00-03:00"}})
        assert await flow.push(PRIMARY, 10) == "sync_scheduled"
        offer = "\n".join((await session.say(ANA, "Oi, quero marcar uma limpeza amanhã de "
                                                  "manhã")).bubbles)
        assert "08:00" not in offer and "08:30" not in offer, offer
        assert "09:00" in offer, offer
        checks = len(fake.calendar.calls("POST", "/freeBusy"))

        fake.lose_next_insert = True  # Google takes the insert, its answer is lost
        booked = await session.say(ANA, "a primeira")
        assert any("agendad" in b.lower() for b in booked.bubbles), booked.bubbles
        (appt,) = await store.list_appointments(CLINIC)
        assert at(appt.start, services) == "09:00" and appt.professional_id == "ana-souza"
        assert len(fake.calendar.calls("POST", "/freeBusy")) > checks  # live look before writing
        derived = event_id(appt.id)
        await calendars.drain()  # the background loop, woken by the booking, may be first
        await eventually(lambda: len(fake.inserts) == 2, "the insert retried")
        assert fake.inserts == [(derived, None), (derived, 409)]
        event = fake.calendar.live(PRIMARY)[derived]
        assert event["start"]["dateTime"].startswith("2026-03-11T")
        assert "987650001" not in json.dumps(event)  # the last 4 digits at most
        assert (await calendars.drain()).done == 0  # the 409 settled the job: nothing left
        assert len(fake.inserts) == 2
        await session.tick()  # the booking's confirmation, if any is queued

        # staff delete the event in Google
        fake.calendar.remove(PRIMARY, derived)
        assert await flow.push(PRIMARY, 11) == "sync_scheduled"
        gone = await store.get_appointment(CLINIC, appt.id)
        assert gone is not None and gone.status == "cancelled"
        told = [text for phone, text in await session.tick() if phone == ANA]
        for _ in range(40):  # unless the server's outbox worker is mid-send
            if told:
                break
            await asyncio.sleep(0.05)
            told += [text for phone, text in session.sender.take_sent() if phone == ANA]
        assert len(told) == 1 and "cancelou" in told[0] and "09:00" in told[0], told
        assert not fake.calendar.calls("DELETE", derived)  # staff deleted it: atende does not
