"""The real app (`create_app`, its lifespan) with the OAuth side's wiring: the Google loops
start with the server (first sync, one channel per calendar), the push route answers on the
app, a staff event reaches availability; and no token (bearer or channel) reaches a log line
at any level."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import yaml
from cryptography.fernet import Fernet
from google_calendar_fake import FakeGoogle, FakeTokens
from google_harness import ASSOCIATIONS, CAL_ANA
from server_harness import ENV, FakeProviders, make_tenants_dir
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.integrations.google.service import GoogleWiring
from atende.logs import configure_logging
from atende.server.app import create_app
from atende.settings import Settings
from helpers import fake_dns


async def _eventually(check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_server_runs_google_and_keeps_tokens_out_of_logs(tmp_path, out):  # noqa: F811
    configure_logging("DEBUG", json=True, stream=out)
    tenants = make_tenants_dir(tmp_path)
    path = tenants / "clinica-exemplo.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["calendar"] = {"backend": "google", "google": {"push_debounce_seconds": 0.05}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'atende.db'}",
                        tenants_dir=tenants, zapi_base_url="http://zapi.test",
                        meta_graph_url="http://graph.test", google_api_url="http://google.test/calendar/v3",
                        google_calendar_webhook_url="https://atende.test/webhooks/google/calendar",
                        # the OAuth side's settings a Google clinic needs at start-up
                        token_key=Fernet.generate_key().decode(), google_client_id="client-id",
                        google_client_secret="client-secret",
                        google_redirect_uri="https://atende.test/api/google/oauth/callback")
    fake = FakeGoogle(lambda: datetime.now(UTC))
    providers = FakeProviders()
    tokens = FakeTokens()
    http = httpx.AsyncClient(mounts={"http://google.test": httpx.MockTransport(fake),
                                     "http://zapi.test": httpx.MockTransport(providers.handle),
                                     "http://graph.test": httpx.MockTransport(providers.handle)})

    async def calendars(tenant_id: str) -> list[tuple[str, str]]:
        return list(ASSOCIATIONS)

    app = create_app(settings, env=ENV, model="offline", http=http, resolve=fake_dns,
                     google_calendar=GoogleWiring(tokens, calendars))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://atende.test") as client:
        services = app.state.services
        assert services.google_calendar is not None

        async def two_channels() -> bool:
            return len(await services.atende.store.calendar_channels("clinica-exemplo")) == 2

        await _eventually(two_channels)  # the loop's first pass, at start-up
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        fake.put(CAL_ANA, {"id": "ferias", "summary": "Férias",
                           "start": {"dateTime": start.isoformat()},
                           "end": {"dateTime": (start + timedelta(hours=3)).isoformat()}})
        channel = next(c for c in fake.channels.values() if c["calendar"] == CAL_ANA)
        headers = {"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": channel["token"],
                   "X-Goog-Resource-ID": channel["resourceId"],
                   "X-Goog-Resource-State": "exists", "X-Goog-Message-Number": "2"}
        wrong = await client.post("/webhooks/google/calendar",
                                  headers={**headers, "X-Goog-Channel-Token": "guess"})
        assert wrong.status_code == 401
        ok = await client.post("/webhooks/google/calendar", headers=headers)
        assert ok.status_code == 200

        async def busy() -> bool:
            return bool(await services.atende.store.calendar_busy(
                "clinica-exemplo", start=start, end=start + timedelta(hours=1)))

        await _eventually(busy)
    await http.aclose()
    text = out.getvalue()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(r.get("event") == "calendar_synced" for r in records)
    assert "ya29" not in text
    assert not [c["token"] for c in fake.channels.values() if c["token"] in text]
