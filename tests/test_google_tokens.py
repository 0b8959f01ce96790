"""The Calendar side's `TokenSource` on every backend: tokens at rest are ciphertext; a token about
to expire is refreshed once however many callers (in one process or two) ask at the same time;
a refresh keeps the stored refresh token; `invalid_grant` (both corpus bodies) makes the clinic
`needs_reconnect` and stops calling Google; a passing failure is retried and leaves the clinic
connected; the background pass refreshes only what is due."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cryptography.fernet import Fernet
from google_fake import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, FakeGoogle, corpus
from tenacity import wait_none

from atende.clock import SystemClock
from atende.integrations.google.base import NeedsReconnect, TokenSource
from atende.integrations.google.cipher import TokenCipher
from atende.integrations.google.oauth import GoogleOAuth, GoogleUnavailable, OAuthConfig
from atende.integrations.google.tokens import GoogleTokens
from atende.memory.store import Store

CLINIC = "clinica-exemplo"
CIPHER = TokenCipher(Fernet.generate_key().decode())


def tokens_on(store: Store, fake: FakeGoogle, *, delay: float = 0.0,
              events: list[tuple[str, str]] | None = None) -> GoogleTokens:
    async def handle(request: httpx.Request) -> httpx.Response:
        if delay:
            await asyncio.sleep(delay)
        return fake.handle(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    oauth = GoogleOAuth(http, OAuthConfig(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "x",
                                          "http://google.test/token", "http://google.test/revoke",
                                          ("calendar",)), attempts=3, wait=wait_none())
    seen = events if events is not None else []
    return GoogleTokens(store, oauth, CIPHER, SystemClock(),
                        on_status=lambda t, s: seen.append((t, s)),
                        on_invalid_grant=lambda t: seen.append((t, "invalid_grant")))


async def connected(store: Store, fake: FakeGoogle, expires_in: int) -> tuple[GoogleTokens, str, str]:
    """A clinic connected through a code exchange whose access token lasts `expires_in` s."""
    tokens = tokens_on(store, fake)
    fake.expires_in = expires_in
    grant = await tokens.oauth.exchange(fake.new_code())
    assert grant.refresh_token is not None
    await tokens.save_grant(CLINIC, grant)
    fake.expires_in = 3920
    return tokens, grant.access_token, grant.refresh_token


async def test_tokens_rest_encrypted_and_a_fresh_one_is_served_without_google(store: Store) -> None:
    fake = FakeGoogle()
    tokens, access, refresh = await connected(store, fake, 3920)
    source: TokenSource = tokens
    row = await store.google_connection(CLINIC)
    assert row is not None
    assert access not in repr(row) and refresh not in repr(row)
    assert CIPHER.decrypt(row.refresh_token_enc) == refresh
    assert await source.access_token(CLINIC) == access
    assert fake.grants == ["authorization_code"]


async def test_a_refresh_keeps_the_refresh_token_and_runs_once_for_many_callers(store: Store) -> None:
    fake = FakeGoogle()
    tokens, old_access, refresh = await connected(store, fake, 120)  # inside the 5 minutes ahead
    got = await asyncio.gather(*(tokens.access_token(CLINIC) for _ in range(10)))
    assert fake.grants == ["authorization_code", "refresh_token"]
    assert len(set(got)) == 1 and got[0] != old_access and got[0] in fake.access_tokens
    row = await store.google_connection(CLINIC)
    assert row is not None and CIPHER.decrypt(row.refresh_token_enc) == refresh
    assert row.lease_until is None
    assert await tokens.access_token(CLINIC) == got[0]  # fresh now: no new refresh
    assert fake.grants.count("refresh_token") == 1


async def test_two_processes_refresh_once_between_them(store: Store) -> None:
    fake = FakeGoogle()
    await connected(store, fake, 0)  # already expired: nobody may use the old token
    first, second = tokens_on(store, fake, delay=0.3), tokens_on(store, fake, delay=0.3)
    a, b = await asyncio.gather(first.access_token(CLINIC), second.access_token(CLINIC))
    assert a == b and fake.grants.count("refresh_token") == 1


@pytest.mark.parametrize("file", ["error_invalid_grant_bad_request_compass.json",
                                  "error_invalid_grant_expired_or_revoked_capture.json"])
async def test_invalid_grant_means_reconnect_and_no_more_calls(store: Store, file: str) -> None:
    fake = FakeGoogle()
    await connected(store, fake, 60)
    events: list[tuple[str, str]] = []
    tokens = tokens_on(store, fake, events=events)
    body = corpus(f"google_oauth/{file}")
    fake.scripted.append((400, body))
    with pytest.raises(NeedsReconnect):
        await tokens.access_token(CLINIC)
    row = await store.google_connection(CLINIC)
    assert row is not None and row.status == "needs_reconnect" and row.access_token_enc is None
    assert row.reason == f"invalid_grant: {body['error_description']}"
    assert (CLINIC, "invalid_grant") in events and (CLINIC, "needs_reconnect") in events
    calls = len(fake.requests)
    with pytest.raises(NeedsReconnect):
        await tokens.access_token(CLINIC)
    assert len(fake.requests) == calls  # Google is not asked again
    assert (await tokens.refresh_due([CLINIC])) == {CLINIC: "needs_reconnect"}


async def test_a_passing_failure_is_retried_and_the_clinic_stays_connected(store: Store) -> None:
    fake = FakeGoogle()
    tokens, _, _ = await connected(store, fake, 60)
    fake.scripted += [(503, {}), (502, {})]
    token = await tokens.access_token(CLINIC)
    assert token in fake.access_tokens and fake.grants.count("refresh_token") == 3
    tokens_due, _, _ = await connected(store, fake, 60)
    fake.scripted += [(503, {})] * 3
    with pytest.raises(GoogleUnavailable):
        await tokens_due.access_token(CLINIC)
    row = await store.google_connection(CLINIC)
    assert row is not None and row.status == "connected" and row.lease_until is None
    assert await tokens_due.refresh_due([CLINIC]) == {CLINIC: "connected"}  # the next pass works
    row = await store.google_connection(CLINIC)
    assert row is not None and CIPHER.decrypt(row.access_token_enc or "") in fake.access_tokens


async def test_not_connected_is_needs_reconnect(store: Store) -> None:
    tokens = tokens_on(store, FakeGoogle())
    with pytest.raises(NeedsReconnect) as caught:
        await tokens.access_token(CLINIC)
    assert caught.value.reason == "not connected"
    assert await tokens.refresh_due([CLINIC]) == {CLINIC: "not_connected"}


async def test_the_background_pass_refreshes_only_what_is_due(store: Store) -> None:
    fake = FakeGoogle()
    tokens, _, _ = await connected(store, fake, 3920)
    assert await tokens.refresh_due([CLINIC]) == {CLINIC: "connected"}
    assert fake.grants.count("refresh_token") == 0
    await connected(store, fake, 200)
    await tokens.refresh_due([CLINIC])
    assert fake.grants.count("refresh_token") == 1
