"""A loopback Google for tests (an `httpx.MockTransport` handler): the token endpoint, the revoke
endpoint and calendarList, answering with the corpora's shapes (tests/corpora/google_oauth/,
google_calendar/calendar_list_*). Tokens it issues are fresh and distinctive per answer, so a
test can grep logs and rows for them; it records every request and every token it revoked."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

CORPORA = Path(__file__).resolve().parent / "corpora"
ORIGIN = "http://google.test"
CLIENT_ID = "1234567890-atende.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-client-secret-never-logged"
REDIRECT_URI = "https://atende.test/api/google/oauth/callback"


def corpus(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPORA / path).read_text("utf-8"))
    return data


def google_settings(token_key: str) -> dict[str, Any]:
    """The settings that point atende at this fake."""
    return {"token_key": token_key, "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET, "google_redirect_uri": REDIRECT_URI,
            "google_auth_url": "https://accounts.google.test/o/oauth2/v2/auth",
            "google_token_url": f"{ORIGIN}/token", "google_revoke_url": f"{ORIGIN}/revoke",
            "google_api_url": f"{ORIGIN}/calendar/v3"}


@dataclass
class FakeGoogle:
    expires_in: int = 3920  # as the corpus; a test makes it short to see a refresh
    scripted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # next token answers
    refresh_scripted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # refreshes
    codes: dict[str, str] = field(default_factory=dict)  # code → "fresh" | "used"
    refresh_tokens: set[str] = field(default_factory=set)  # valid refresh tokens
    access_tokens: set[str] = field(default_factory=set)  # valid access tokens
    revoked: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)  # grant_type of each token request
    secrets_seen: set[str] = field(default_factory=set)  # every token and code it handled

    def new_code(self) -> str:
        code = f"4/0Afake-code-{uuid.uuid4().hex}"
        self.codes[code] = "fresh"
        self.secrets_seen.add(code)
        return code

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/token":
            return self._token(parse_qs(request.content.decode()))
        if path == "/revoke":
            token = parse_qs(request.content.decode())["token"][0]
            self.revoked.append(token)
            known = token in self.refresh_tokens or token in self.access_tokens
            self.refresh_tokens.discard(token)
            self.access_tokens.discard(token)
            return httpx.Response(200 if known else 400, json={} if known else {
                "error": "invalid_token", "error_description": "Token expired or revoked"})
        if path == "/calendar/v3/users/me/calendarList":
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                return httpx.Response(401, json=corpus("google_calendar/error_401_authError_docs.json"))
            page = ("calendar_list_page2_last_page_primary.json"
                    if request.url.params.get("pageToken") else
                    "calendar_list_page1_with_nextPageToken.json")
            return httpx.Response(200, json=corpus(f"google_calendar/{page}"))
        return httpx.Response(404, json={"error": "not_found"})

    def _token(self, form: dict[str, list[str]]) -> httpx.Response:
        one = {k: v[0] for k, v in form.items()}
        self.grants.append(one.get("grant_type", ""))
        if (one.get("client_id"), one.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return httpx.Response(401, json={"error": "invalid_client",
                                             "error_description": "Unauthorized"})
        if self.scripted:
            status, body = self.scripted.pop(0)
            return httpx.Response(status, json=body)
        dead = corpus("google_oauth/error_invalid_grant_expired_or_revoked_capture.json")
        if one["grant_type"] == "authorization_code":
            if self.codes.get(one.get("code", "")) != "fresh" or one.get("redirect_uri") != REDIRECT_URI:
                return httpx.Response(400, json=corpus(
                    "google_oauth/error_invalid_grant_bad_request_compass.json"))
            self.codes[one["code"]] = "used"
            return httpx.Response(200, json=self.issue("token_response_authorization_code_docs.json"))
        if one["grant_type"] == "refresh_token":
            if self.refresh_scripted:
                status, body = self.refresh_scripted.pop(0)
                return httpx.Response(status, json=body)
            if one.get("refresh_token") not in self.refresh_tokens:
                return httpx.Response(400, json=dead)
            return httpx.Response(200, json=self.issue("token_response_refresh_grant_docs.json"))
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def issue(self, file: str) -> dict[str, Any]:
        """The corpus answer with fresh tokens (a refresh answer has no refresh token, as the
        corpus)."""
        body = copy.deepcopy(corpus(f"google_oauth/{file}"))
        body["access_token"] = f"ya29.fake-access-{uuid.uuid4().hex}"
        body["expires_in"] = self.expires_in
        self.access_tokens.add(body["access_token"])
        self.secrets_seen.add(body["access_token"])
        if "refresh_token" in body:
            body["refresh_token"] = f"1//0fake-refresh-{uuid.uuid4().hex}"
            self.refresh_tokens.add(body["refresh_token"])
            self.secrets_seen.add(body["refresh_token"])
        return body
