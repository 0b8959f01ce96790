"""A clinic connects its Google Calendar through the real app against a loopback Google: the
consent URL, the callback (tokens stored encrypted; forged, expired and reused states refused with
nothing stored), the status (never a token), the calendar list (every page), associations
(validated, replaced), disconnect (revoked at Google, everything deleted, hooks first), and a dead
grant shown on /health and in the metrics; a clinic on Google with no key does not start."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet
from google_fake import CLIENT_SECRET, ORIGIN, REDIRECT_URI, FakeGoogle, corpus, google_settings
from server_harness import Running, make_tenants_dir, running

from atende.errors import ConfigError
from atende.integrations.google.cipher import TokenCipher
from atende.integrations.google.state import StateSigner
from atende.server.app import create_app
from atende.settings import Settings

CLINIC = "clinica-exemplo"
ADMIN = {"Authorization": "Bearer admin-token"}
BROWSER = {"Accept": "text/html,application/xhtml+xml"}
PAGE1 = "averylongtvshowscalendarid@group.calendar.google.com"
PRIMARY = "MockAccount"


@asynccontextmanager
async def google_app(tmp_path: Path, fake: FakeGoogle, **overrides: Any) -> AsyncIterator[Running]:
    key = Fernet.generate_key().decode()
    async with running(tmp_path, mounts={ORIGIN: fake.transport()},
                       settings_overrides={**google_settings(key), **overrides}) as srv:
        srv.key = key  # type: ignore[attr-defined]
        yield srv


async def start(srv: Running) -> str:
    answer = await srv.client.post("/api/google/oauth/start", json={"clinicId": CLINIC},
                                   headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return parse_qs(urlsplit(answer.json()["url"]).query)["state"][0]


async def connect(srv: Running, fake: FakeGoogle) -> None:
    state = await start(srv)
    answer = await srv.client.get("/api/google/oauth/callback",
                                  params={"code": fake.new_code(), "state": state}, headers=BROWSER)
    assert answer.status_code == 200 and "Google Agenda conectada" in answer.text, answer.text


def rows(tmp_path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "atende.db") as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


async def test_start_answers_a_consent_url_for_offline_access_to_admins_only(tmp_path) -> None:
    async with google_app(tmp_path, FakeGoogle()) as srv:
        bare = await srv.client.post("/api/google/oauth/start", json={"clinicId": CLINIC})
        unknown = await srv.client.post("/api/google/oauth/start", json={"clinicId": "nao-existe"},
                                        headers=ADMIN)
        empty = await srv.client.post("/api/google/oauth/start", json={}, headers=ADMIN)
        answer = await srv.client.post("/api/google/oauth/start", json={"clinicId": CLINIC},
                                       headers=ADMIN)
    assert (bare.status_code, bare.json()["code"]) == (401, "unauthorized")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_tenant")
    assert (empty.status_code, empty.json()["code"]) == (422, "invalid_request")
    url = urlsplit(answer.json()["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "accounts.google.test"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["scope"] == "https://www.googleapis.com/auth/calendar"
    assert query["redirect_uri"] == REDIRECT_URI and query["response_type"] == "code"
    assert query["state"].startswith("v1.") and CLIENT_SECRET not in answer.text
    expires = datetime.fromisoformat(answer.json()["expiresAt"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)


async def test_the_callback_stores_the_tokens_encrypted(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        await connect(srv, fake)
        status = await srv.client.get("/api/google/session/status", params={"clinicId": CLINIC},
                                      headers=ADMIN)
    (row,) = rows(tmp_path, "google_connections")
    stored = " ".join(str(v) for v in row)
    assert fake.secrets_seen and not any(s in stored for s in fake.secrets_seen)
    assert status.status_code == 200
    body = status.json()
    assert body["connected"] is True and body["valid"] is True and body["needsReconnect"] is False
    assert body["scopes"] == ["https://www.googleapis.com/auth/calendar.readonly",
                              "https://www.googleapis.com/auth/drive.metadata.readonly"]
    assert datetime.fromisoformat(body["expiresAt"]) > datetime.now(UTC) + timedelta(minutes=60)
    assert not any(s in status.text for s in fake.secrets_seen)
    assert not any(s in status.text for s in (CLIENT_SECRET, srv.key))  # type: ignore[attr-defined]


async def test_forged_expired_and_reused_states_are_refused_and_nothing_is_stored(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        own = StateSigner(TokenCipher(srv.key).state_key, timedelta(minutes=10))  # type: ignore[attr-defined]
        other = StateSigner(TokenCipher(Fernet.generate_key().decode()).state_key, timedelta(minutes=10))
        good = await start(srv)
        forged = other.issue(CLINIC, datetime.now(UTC)).text
        tampered = good.replace("v1.", "v1.x", 1)
        expired = own.issue(CLINIC, datetime.now(UTC) - timedelta(hours=1)).text
        refused = {}
        for name, state in [("forged", forged), ("tampered", tampered), ("expired", expired),
                            ("garbage", "not-a-state"), ("missing", "")]:
            refused[name] = await srv.client.get("/api/google/oauth/callback",
                                                 params={"code": fake.new_code(), "state": state})
        assert fake.grants == [] and rows(tmp_path, "google_connections") == []
        first = await srv.client.get("/api/google/oauth/callback",
                                     params={"code": fake.new_code(), "state": good})
        reused = await srv.client.get("/api/google/oauth/callback",
                                      params={"code": fake.new_code(), "state": good})
        page = await srv.client.get("/api/google/oauth/callback",
                                    params={"code": fake.new_code(), "state": good}, headers=BROWSER)
        denied = await srv.client.get("/api/google/oauth/callback",
                                      params={"error": "access_denied", "state": good})
    codes = {name: (a.status_code, a.json()["code"]) for name, a in refused.items()}
    assert codes == {"forged": (400, "invalid_state"), "tampered": (400, "invalid_state"),
                     "expired": (400, "expired_state"), "garbage": (400, "invalid_state"),
                     "missing": (400, "invalid_state")}
    assert all(set(a.json()) == {"request_id", "code", "message"} for a in refused.values())
    assert first.status_code == 200 and fake.grants == ["authorization_code"]
    assert (reused.status_code, reused.json()["code"]) == (400, "used_state")
    assert page.status_code == 400 and "já foi usado" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert (denied.status_code, denied.json()["code"]) == (400, "consent_denied")
    assert len(rows(tmp_path, "google_connections")) == 1


async def test_a_code_google_refuses_stores_nothing(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        state = await start(srv)
        answer = await srv.client.get("/api/google/oauth/callback",
                                      params={"code": "4/0A-never-issued", "state": state})
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_code")
    assert rows(tmp_path, "google_connections") == []


async def test_calendars_list_follows_every_page(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        before = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                      headers=ADMIN)
        await connect(srv, fake)
        answer = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                      headers=ADMIN)
    assert (before.status_code, before.json()["code"]) == (409, "not_connected")
    assert answer.status_code == 200
    listed = answer.json()["calendars"]
    assert [(c["calendarId"], c["primary"], c["accessRole"]) for c in listed] == [
        (PRIMARY, True, "owner"), (PAGE1, False, "reader")]
    pages = [r for r in fake.requests if r.url.path.endswith("/calendarList")]
    assert [r.url.params.get("pageToken") for r in pages] == [
        None, corpus("google_calendar/calendar_list_page1_with_nextPageToken.json")["nextPageToken"]]


async def test_associate_validates_everything_before_writing_and_replaces(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        await connect(srv, fake)

        async def associate(*pairs: tuple[str, str], clinic: str = CLINIC) -> Any:
            return await srv.client.post("/api/google/calendars/associate", headers=ADMIN, json={
                "clinicId": clinic,
                "calendars": [{"calendarId": c, "professionalId": p} for c, p in pairs]})

        good = await associate((PRIMARY, "ana-souza"), (PAGE1, "bruno-lima"))
        bad = {
            "professional": await associate((PRIMARY, "dr-ninguem")),
            "calendar": await associate(("someone-else@gmail.com", "ana-souza")),
            "duplicate": await associate((PRIMARY, "ana-souza"), (PRIMARY, "bruno-lima")),
            "clinic": await associate((PRIMARY, "ana-souza"), clinic="nao-existe"),
        }
        shape = await srv.client.post("/api/google/calendars/associate", headers=ADMIN,
                                      json={"clinicId": CLINIC, "calendars": [{"calendarId": ""}]})
        stored_after_bad = rows(tmp_path, "google_calendars")
        replaced = await associate((PAGE1, "ana-souza"))
        listed = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                      headers=ADMIN)
    assert good.status_code == 200, good.text
    assert {(c["calendarId"], c["professionalId"], c["summary"]) for c in good.json()["calendars"]} == {
        (PRIMARY, "ana-souza", "MockAccount"), (PAGE1, "bruno-lima", "TV Shows Calendar")}
    assert {k: (a.status_code, a.json()["code"]) for k, a in bad.items()} == {
        "professional": (422, "unknown_professional"), "calendar": (422, "unknown_calendar"),
        "duplicate": (422, "duplicate_calendar"), "clinic": (404, "unknown_tenant")}
    assert (shape.status_code, shape.json()["code"]) == (422, "invalid_request")
    assert {(r[1], r[2]) for r in stored_after_bad} == {(PAGE1, "bruno-lima"),
                                                         (PRIMARY, "ana-souza")}
    assert [(c["calendarId"], c["professionalId"]) for c in replaced.json()["calendars"]] == [
        (PAGE1, "ana-souza")]
    assert {c["calendarId"]: c["professionalId"] for c in listed.json()["calendars"]} == {
        PRIMARY: None, PAGE1: "ana-souza"}


async def test_disconnect_runs_the_hooks_revokes_and_deletes(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        await connect(srv, fake)
        refresh_token = next(iter(fake.refresh_tokens))
        await srv.client.post("/api/google/calendars/associate", headers=ADMIN, json={
            "clinicId": CLINIC, "calendars": [{"calendarId": PRIMARY, "professionalId": "ana-souza"}]})
        google = srv.services.google
        assert google is not None
        seen: list[str] = []

        async def stop_channels(tenant_id: str) -> None:  # as the Calendar side will
            seen.append(await google.tokens.access_token(tenant_id))

        async def broken(tenant_id: str) -> None:
            raise RuntimeError("a hook that fails does not stop the disconnect")

        google.on_disconnect += [broken, stop_channels]
        gone = await srv.client.delete("/api/google/oauth/disconnect", params={"clinicId": CLINIC},
                                       headers=ADMIN)
        again = await srv.client.delete("/api/google/oauth/disconnect", params={"clinicId": CLINIC},
                                        headers=ADMIN)
        status = await srv.client.get("/api/google/session/status", params={"clinicId": CLINIC},
                                      headers=ADMIN)
    assert gone.json() == {"clinicId": CLINIC, "disconnected": True, "revoked": True}
    assert again.json() == {"clinicId": CLINIC, "disconnected": False, "revoked": False}
    assert fake.revoked == [refresh_token] and seen and seen[0] in fake.access_tokens
    assert rows(tmp_path, "google_connections") == [] and rows(tmp_path, "google_calendars") == []
    assert status.json()["connected"] is False and status.json()["scopes"] == []


async def test_a_dead_grant_shows_on_health_and_in_the_metrics(tmp_path) -> None:
    fake = FakeGoogle(expires_in=60)  # due at once: the background loop refreshes it
    fake.refresh_scripted.append(
        (400, corpus("google_oauth/error_invalid_grant_expired_or_revoked_capture.json")))
    async with google_app(tmp_path, fake, google_refresh_every_seconds=0.05) as srv:
        healthy = await srv.client.get("/health", headers=ADMIN)
        await connect(srv, fake)
        for _ in range(100):
            status = (await srv.client.get("/api/google/session/status",
                                           params={"clinicId": CLINIC}, headers=ADMIN)).json()
            if status["needsReconnect"]:
                break
            await asyncio.sleep(0.05)
        health = await srv.client.get("/health", headers=ADMIN)
        listed = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                      headers=ADMIN)
        metrics = (await srv.client.get("/metrics")).text
        fake.expires_in = 3920
        await connect(srv, fake)  # connecting again is the fix
        back = await srv.client.get("/health", headers=ADMIN)
        metrics_back = (await srv.client.get("/metrics")).text
    assert back.json()["tenants"][CLINIC]["google"] == "connected"
    assert f'google_connection_status{{status="connected",tenant="{CLINIC}"}} 1.0' in metrics_back
    assert "google" not in healthy.json()["tenants"][CLINIC]  # a local clinic never connected
    assert status["needsReconnect"] is True and status["connected"] is False
    assert health.json()["tenants"][CLINIC]["google"] == (
        "failing: needs_reconnect (invalid_grant: Token has been expired or revoked.)")
    assert health.json()["status"] == "degraded"
    assert (listed.status_code, listed.json()["code"]) == (409, "needs_reconnect")
    assert f'google_connection_status{{status="needs_reconnect",tenant="{CLINIC}"}} 1.0' in metrics
    assert f'google_connection_status{{status="connected",tenant="{CLINIC}"}} 0.0' in metrics
    assert f'google_invalid_grant_total{{tenant="{CLINIC}"}} 1.0' in metrics


async def test_google_routes_say_when_google_is_not_configured(tmp_path) -> None:
    async with running(tmp_path) as srv:
        answer = await srv.client.post("/api/google/oauth/start", json={"clinicId": CLINIC},
                                       headers=ADMIN)
        health = await srv.client.get("/health", headers=ADMIN)
    assert (answer.status_code, answer.json()["code"]) == (404, "google_not_configured")
    assert "google" not in health.json()["tenants"][CLINIC]


async def test_a_clinic_on_google_without_a_token_key_does_not_start(tmp_path) -> None:
    folder = make_tenants_dir(tmp_path)
    path = folder / f"{CLINIC}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["calendar"] = {"backend": "google"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    options: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                               "tenants_dir": folder, "google_client_id": "id",
                               "google_client_secret": "s", "google_redirect_uri": REDIRECT_URI}
    app = create_app(Settings(_env_file=None, **options), env={})
    with pytest.raises(ConfigError, match=f"{CLINIC}.*ATENDE_TOKEN_KEY"):
        async with app.router.lifespan_context(app):
            pass
    bad_key = create_app(Settings(_env_file=None, token_key="not-a-key", **options), env={})
    with pytest.raises(ConfigError, match="not a Fernet key") as caught:
        async with bad_key.router.lifespan_context(bad_key):
            pass
    assert "not-a-key" not in str(caught.value)


async def test_a_token_google_stopped_taking_is_refreshed_once_and_the_list_answers(tmp_path) -> None:
    fake = FakeGoogle()
    async with google_app(tmp_path, fake) as srv:
        await connect(srv, fake)
        fake.access_tokens.clear()  # revoked or expired early at Google's side
        answer = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                      headers=ADMIN)
        fake.access_tokens.clear()
        fake.refresh_tokens.clear()  # and now the grant itself is gone
        dead = await srv.client.get("/api/google/calendars/list", params={"clinicId": CLINIC},
                                    headers=ADMIN)
    assert answer.status_code == 200 and len(answer.json()["calendars"]) == 2
    assert fake.grants == ["authorization_code", "refresh_token", "refresh_token"]
    assert (dead.status_code, dead.json()["code"]) == (409, "needs_reconnect")
