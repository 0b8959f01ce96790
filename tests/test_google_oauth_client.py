"""Google's OAuth endpoints as atende's client reads them, over every file of
corpora/google_oauth/ answered verbatim: a code exchange keeps its refresh token, a refresh answer
has none, both `invalid_grant` bodies are a dead grant whatever the description, other OAuth errors
are configuration, 5xx and network failures are retried; the consent URL asks for offline access
and a fresh consent, and no secret rides in a URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google_fake import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, corpus
from tenacity import wait_none

from atende.integrations.google.oauth import (
    GoogleOAuth,
    GoogleUnavailable,
    InvalidGrant,
    OAuthConfig,
    OAuthRefused,
)

CONFIG = OAuthConfig(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "https://accounts.google.test/auth",
                     "http://google.test/token", "http://google.test/revoke",
                     ("https://www.googleapis.com/auth/calendar",))


def client(*answers: httpx.Response | Exception) -> tuple[GoogleOAuth, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return GoogleOAuth(http, CONFIG, attempts=3, wait=wait_none()), seen


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_the_code_exchange_answer_keeps_its_refresh_token() -> None:
    body = corpus("google_oauth/token_response_authorization_code_docs.json")
    oauth, seen = client(httpx.Response(200, json=body))
    grant = await oauth.exchange("4/0A-the-code")
    assert (grant.access_token, grant.refresh_token) == (body["access_token"], body["refresh_token"])
    assert grant.expires_in == 3920 and "calendar.readonly" in grant.scope
    sent = form(seen[0])
    assert sent == {"grant_type": "authorization_code", "code": "4/0A-the-code",
                    "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET}
    assert "secret" not in str(seen[0].url) and "code" not in str(seen[0].url)
    assert body["access_token"] not in repr(grant) and body["refresh_token"] not in repr(grant)


async def test_a_refresh_answer_has_no_refresh_token() -> None:
    body = corpus("google_oauth/token_response_refresh_grant_docs.json")
    oauth, seen = client(httpx.Response(200, json=body))
    grant = await oauth.refresh("1//stored-refresh")
    assert grant.access_token == body["access_token"] and grant.refresh_token is None
    assert form(seen[0])["grant_type"] == "refresh_token"
    assert form(seen[0])["refresh_token"] == "1//stored-refresh"


@pytest.mark.parametrize("file", ["error_invalid_grant_bad_request_compass.json",
                                  "error_invalid_grant_expired_or_revoked_capture.json"])
async def test_both_invalid_grant_bodies_are_a_dead_grant_and_not_retried(file: str) -> None:
    body = corpus(f"google_oauth/{file}")
    oauth, seen = client(httpx.Response(400, json=body), httpx.Response(400, json=body))
    with pytest.raises(InvalidGrant) as caught:
        await oauth.refresh("1//stored-refresh")
    assert caught.value.description == body["error_description"]
    assert len(seen) == 1


async def test_invalid_client_is_configuration_not_a_dead_grant() -> None:
    oauth, _ = client(httpx.Response(401, json={"error": "invalid_client",
                                                "error_description": "Unauthorized"}))
    with pytest.raises(OAuthRefused) as caught:
        await oauth.refresh("1//stored-refresh")
    assert not isinstance(caught.value, InvalidGrant) and caught.value.error == "invalid_client"


async def test_5xx_and_network_failures_are_retried_then_reported_as_unavailable() -> None:
    body = corpus("google_oauth/token_response_refresh_grant_docs.json")
    oauth, seen = client(httpx.Response(503), httpx.ConnectError("refused"),
                         httpx.Response(200, json=body))
    assert (await oauth.refresh("1//r")).access_token == body["access_token"]
    assert len(seen) == 3
    oauth, seen = client(httpx.Response(500), httpx.Response(429), httpx.Response(502))
    with pytest.raises(GoogleUnavailable):
        await oauth.refresh("1//r")
    assert len(seen) == 3


async def test_the_consent_url_asks_for_offline_access_and_a_fresh_consent() -> None:
    oauth, _ = client()
    url = urlsplit(oauth.consent_url("v1.state.sig"))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://accounts.google.test/auth"
    assert query == {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
                     "scope": "https://www.googleapis.com/auth/calendar", "access_type": "offline",
                     "prompt": "consent", "include_granted_scopes": "true",
                     "state": "v1.state.sig"}


async def test_revoke_sends_the_token_in_the_body() -> None:
    oauth, seen = client(httpx.Response(200, json={}),
                         httpx.Response(400, json={"error": "invalid_token"}))
    assert await oauth.revoke("1//refresh") is True
    assert form(seen[0]) == {"token": "1//refresh"} and "refresh" not in str(seen[0].url)
    assert await oauth.revoke("1//refresh") is False
