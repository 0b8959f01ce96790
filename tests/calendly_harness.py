"""Calendly for tests: the corpus payloads, a clinic file mapping Calendly's sample event type,
signed POSTs, and the app in-process on a frozen clock (signatures are checked against it)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from atende.clock import FrozenClock
from atende.integrations.calendly.signature import HEADER, calendly_signature
from atende.server.app import Services, create_app
from atende.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpora" / "calendly"
KEY_ENV = "CLINICA_EXEMPLO_CALENDLY_SIGNING_KEY"
KEY = "calendly-signing-key-for-tests"
URL = "/webhooks/calendly/clinica-exemplo"
# Calendly's sample event type (the docs' payloads) is the clinic's cleaning with Dra. Ana
SAMPLE_EVENT_TYPE = "https://api.calendly.com/event_types/GBGBDCAADAEDCRZ2"
CALENDLY = {"signing_key_env": KEY_ENV, "event_types": [
    {"event_type": SAMPLE_EVENT_TYPE, "service": "limpeza", "professional": "ana-souza"},
    {"event_type": "Avaliação com a Dra. Carla", "service": "avaliacao",
     "professional": "carla-mendes"},
]}


def corpus(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name).read_text("utf-8"))


def tenant_data(calendly: dict[str, Any] | None = None) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "tenants" / "clinica-exemplo.yaml").read_text("utf-8"))
    data.setdefault("calendar", {})["calendly"] = copy.deepcopy(calendly or CALENDLY)
    return data


def tenants_dir(tmp_path: Path, calendly: dict[str, Any] | None = None) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir(exist_ok=True)
    (folder / "clinica-exemplo.yaml").write_text(
        yaml.safe_dump(tenant_data(calendly), allow_unicode=True), "utf-8")
    return folder


def webhook(event: str, *, uri: str, start: str, end: str | None = None,
            old_invitee: str | None = None, new_invitee: str | None = None,
            rescheduled: bool = False, **invitee: Any) -> dict[str, Any]:
    """Calendly's documented webhook body (the corpus sample) for another invitee and time."""
    body = corpus("webhook_invitee_canceled_docs.json" if event == "invitee.canceled"
                  else "webhook_invitee_created_docs.json")
    payload = body["payload"]
    payload.update(uri=uri, old_invitee=old_invitee, new_invitee=new_invitee,
                   rescheduled=rescheduled, **invitee)
    payload["scheduled_event"].update(start_time=start, end_time=end or start)
    return body


def signed(payload: dict[str, Any] | bytes, at: datetime, *, key: str = KEY
           ) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {HEADER: calendly_signature(body, key, int(at.timestamp())),
                  "Content-Type": "application/json"}


@dataclass
class App:
    client: httpx.AsyncClient
    services: Services
    clock: FrozenClock

    async def post(self, payload: dict[str, Any], *, at: datetime | None = None,
                   url: str = URL) -> httpx.Response:
        body, headers = signed(payload, at or self.clock.now())
        return await self.client.post(url, content=body, headers=headers)

    @property
    def store(self) -> Any:
        return self.services.atende.store


@asynccontextmanager
async def calendly_app(tmp_path: Path, now: datetime, *, env: dict[str, str] | None = None,
                       calendly: dict[str, Any] | None = None) -> AsyncIterator[App]:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'atende.db'}",
                        tenants_dir=tenants_dir(tmp_path, calendly), admin_token="admin-token")
    clock = FrozenClock(now)
    http = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: httpx.Response(599, json={"error": "no network in tests"})))
    app = create_app(settings, env={KEY_ENV: KEY} if env is None else env, clock=clock, http=http)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://atende.test") as c:
                yield App(c, app.state.services, clock)
    finally:
        await http.aclose()
