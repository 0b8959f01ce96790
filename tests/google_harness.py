"""The example clinic on Google Calendar against the fake API: atende opened on a temp SQLite
file with a frozen clock, `GoogleCalendars` wired to a `FakeTokens` and fixed associations
(Dra. Ana's and Dra. Carla's calendars), and the push route mounted on a small app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from google_calendar_fake import FakeGoogle, FakeTokens

from atende.agent.runtime import Atende, open_atende
from atende.clock import FrozenClock
from atende.integrations.google import push
from atende.integrations.google.service import GoogleCalendars
from atende.server import http_errors
from atende.tenant import Tenant, TenantRegistry
from atende.tenant_calendar import Calendar, GoogleCalendar
from atende.tools.scope import Scope
from helpers import ANA, TUESDAY_NOW, SwitchableModel, example_tenant, settings_for

CAL_ANA = "dra.ana@clinica.test"
CAL_CARLA = "carla-agenda@group.calendar.google.com"
ASSOCIATIONS = [(CAL_ANA, "ana-souza"), (CAL_CARLA, "carla-mendes")]
WEBHOOK = "https://atende.test/webhooks/google/calendar"


def google_tenant(**google: Any) -> Tenant:
    options = {"push_debounce_seconds": 0.05, **google}
    return example_tenant().model_copy(update={
        "calendar": Calendar(backend="google", google=GoogleCalendar(**options))})


@dataclass
class Harness:
    app: Atende
    google: GoogleCalendars
    fake: FakeGoogle
    tokens: FakeTokens
    clock: FrozenClock
    tenant: Tenant
    web: httpx.AsyncClient  # the push route

    def scope(self, phone: str = ANA) -> Scope:
        return Scope(tenant=self.tenant, store=self.app.store, patient_phone=phone,
                     conversation_id="", turn_id="t-test", now=self.clock.now(),
                     calendar=self.google.for_tenant(self.tenant))

    def notice(self, calendar: str, *, state: str = "exists", number: int = 10,
               token: str | None = None) -> dict[str, str]:
        """The headers Google sends on the channel watching `calendar` (its latest)."""
        channel = [c for c in self.fake.channels.values() if c["calendar"] == calendar][-1]
        return {"X-Goog-Channel-ID": channel["id"],
                "X-Goog-Channel-Token": token if token is not None else channel["token"],
                "X-Goog-Channel-Expiration": "Tue, 17 Mar 2026 11:00:00 GMT",
                "X-Goog-Resource-ID": channel["resourceId"],
                "X-Goog-Resource-URI": channel["resourceUri"],
                "X-Goog-Resource-State": state, "X-Goog-Message-Number": str(number),
                "Content-Length": "0"}

    async def push(self, headers: dict[str, str]) -> httpx.Response:
        return await self.web.post("/webhooks/google/calendar", headers=headers)


async def no_sleep(seconds: float) -> None:
    return None


@asynccontextmanager
async def google_on(tmp_path: Path, *, now: datetime = TUESDAY_NOW, page_size: int = 2,
                    tenant: Tenant | None = None, model: Any = None,
                    database_url: str | None = None) -> AsyncIterator[Harness]:
    clock = FrozenClock(now)
    fake = FakeGoogle(clock.now, page_size=page_size)
    tokens = FakeTokens()
    tenant = tenant or google_tenant()
    settings = settings_for(tmp_path, google_api_url="https://google.fake/calendar/v3",
                            google_calendar_webhook_url=WEBHOOK)
    if database_url:  # the same flows on Postgres
        settings = settings.model_copy(update={"database_url": database_url})

    async def calendars(tenant_id: str) -> list[tuple[str, str]]:
        return list(ASSOCIATIONS) if tenant_id == tenant.id else []

    async with open_atende(settings, model=model or SwitchableModel(), clock=clock) as app, \
            httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        google = GoogleCalendars(app.store, TenantRegistry([tenant]), http, tokens, calendars,
                                 clock, settings=settings, sleep=no_sleep)
        app.calendars = google.for_tenant
        web_app = FastAPI()
        http_errors.install(web_app)
        web_app.include_router(push.routes())
        web_app.state.services = SimpleNamespace(google_calendar=google)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app),
                                     base_url="http://atende.test") as web:
            try:
                yield Harness(app, google, fake, tokens, clock, tenant, web)
            finally:
                await google.scheduler.close()
