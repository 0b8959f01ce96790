"""No token, code, client secret or key in any log line, at DEBUG, through a whole Google
connection's life: consent, callback, status, calendars, associations, background refreshes, a
dead grant, disconnect (revocation) and reconnecting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from cryptography.fernet import Fernet
from google_fake import CLIENT_SECRET, ORIGIN, FakeGoogle, corpus, google_settings
from server_harness import running
from test_google_routes import ADMIN, CLINIC, PRIMARY, connect
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.logs import configure_logging


async def until(ready: Callable[[], bool]) -> None:
    for _ in range(200):
        if ready():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the background refresh did not get there in 10 s")


async def test_no_secret_in_any_log_line_at_debug(tmp_path, out) -> None:  # noqa: F811
    configure_logging("DEBUG", json=True, stream=out)
    fake = FakeGoogle(expires_in=60)  # always due: the background loop refreshes again and again
    key = Fernet.generate_key().decode()
    async with running(tmp_path, mounts={ORIGIN: fake.transport()}, settings_overrides={
            **google_settings(key), "google_refresh_every_seconds": 0.05}) as srv:
        await connect(srv, fake)
        client = srv.client
        await client.get("/api/google/session/status", params={"clinicId": CLINIC}, headers=ADMIN)
        await client.get("/api/google/calendars/list", params={"clinicId": CLINIC}, headers=ADMIN)
        await client.post("/api/google/calendars/associate", headers=ADMIN, json={
            "clinicId": CLINIC, "calendars": [{"calendarId": PRIMARY, "professionalId": "ana-souza"}]})
        await until(lambda: fake.grants.count("refresh_token") >= 3)
        fake.refresh_scripted.append(
            (400, corpus("google_oauth/error_invalid_grant_bad_request_compass.json")))
        await until(lambda: "google.needs_reconnect" in out.getvalue())
        await connect(srv, fake)  # reconnecting after a dead grant
        await client.delete("/api/google/oauth/disconnect", params={"clinicId": CLINIC},
                            headers=ADMIN)
        await client.get("/api/google/oauth/callback", params={"code": fake.new_code(),
                                                               "state": "forged"})
    text = out.getvalue()
    events = {json.loads(line).get("event") for line in text.splitlines() if line.strip()}
    assert {"google.connected", "google.token_refreshed", "google.needs_reconnect",
            "google.disconnected"} <= events, events
    assert fake.revoked and len(fake.secrets_seen) >= 8
    assert "google.test/token" in text  # the HTTP client's own lines are in the capture
    leaked = [s for s in (*fake.secrets_seen, CLIENT_SECRET, key) if s in text]
    assert leaked == []
    # nor a recognisable piece of one (a masked prefix would still be a leak)
    assert "fake-access-" not in text and "fake-refresh-" not in text and "fake-code-" not in text


def test_an_access_log_line_of_the_callback_keeps_no_code_and_no_bearer_token() -> None:
    """uvicorn logs the callback's URL, code and all; the log redaction takes the code out (and
    slashed tokens such as Google's "1//0g..." whole)."""
    from atende.logs import mask_phones

    line = ('127.0.0.1:5 - "GET /api/google/oauth/callback?code=4/0AX4XfWh-Ab_c/d&state=v1.e.f '
            'HTTP/1.1" 200 Authorization: Bearer 1/fFAGRNJru1FTz70BzhT3Zg refresh_token=1//0gX-y')
    masked = mask_phones(line)
    assert "4/0AX4XfWh" not in masked and "fFAGRNJru1FTz70BzhT3Zg" not in masked
    assert "0gX-y" not in masked and "state=v1.e.f" in masked
