"""Google's OAuth endpoints for a web server app: the consent URL, the code exchange, the refresh,
the revocation; over an injected `httpx.AsyncClient`, every URL from settings.

What Google answers decides what happens next (PROVIDER-FACTS 8.2): `invalid_grant` is a dead
grant (`InvalidGrant`: no retry helps, the clinic reconnects); any other OAuth error is a
configuration bug (`OAuthRefused`: wrong client secret, say); 5xx, 429 and network failures are
passing (retried with backoff, then `GoogleUnavailable`). A refresh answer carries no
`refresh_token`: the stored one stays. Nothing here logs or repeats a token or a code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from atende.errors import InfrastructureError

REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class GoogleUnavailable(InfrastructureError):
    """Google could not be reached or answered 5xx/429, after the retries: try again later."""

    code = "google_unavailable"


class OAuthRefused(InfrastructureError):
    """Google refused the request with an OAuth error other than `invalid_grant` (the client id or
    secret, the redirect URI): a configuration problem, not the clinic's."""

    code = "google_oauth_refused"

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"Google OAuth error {error}: {description}".strip(": "))
        self.error = error
        self.description = description


class InvalidGrant(OAuthRefused):
    """`invalid_grant`: the code or refresh token is dead (revoked, expired, unused for 6 months,
    a 7-day Testing app, too many tokens). Keyed on `error`; the description varies."""

    code = "google_invalid_grant"


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    auth_url: str
    token_url: str
    revoke_url: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """What the token endpoint gave (tokens kept out of `repr`)."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    refresh_token: str | None = field(default=None, repr=False)


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    expires_in: int
    scope: str = ""
    token_type: str = "Bearer"
    refresh_token: str | None = None


class _Transient(Exception):
    pass


class GoogleOAuth:
    def __init__(self, http: httpx.AsyncClient, config: OAuthConfig, *, attempts: int = 4,
                 wait: wait_base | None = None) -> None:
        self.http = http
        self.config = config
        self.attempts = attempts
        self.wait = wait or wait_exponential(multiplier=0.5, max=8)

    def consent_url(self, state: str) -> str:
        """Where the clinic's browser goes to consent: offline access (a refresh token) and
        `prompt=consent` (Google sends a refresh token only on a consent)."""
        query = urlencode({
            "client_id": self.config.client_id, "redirect_uri": self.config.redirect_uri,
            "response_type": "code", "scope": " ".join(self.config.scopes),
            "access_type": "offline", "prompt": "consent", "include_granted_scopes": "true",
            "state": state})
        return f"{self.config.auth_url}?{query}"

    async def exchange(self, code: str) -> Grant:
        """The tokens for an authorization code (once: a code cannot be used twice)."""
        return await self._token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": self.config.redirect_uri})

    async def refresh(self, refresh_token: str) -> Grant:
        """A new access token; `refresh_token` of the answer is None (keep the stored one)."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, token: str) -> bool:
        """Revoke a grant at Google (a refresh token revokes it all): True if Google did, False if
        it no longer knew the token; GoogleUnavailable if it could not be asked."""
        response = await self._post(self.config.revoke_url, {"token": token})
        return response.status_code == 200

    async def _token(self, form: dict[str, str]) -> Grant:
        form = {**form, "client_id": self.config.client_id,
                "client_secret": self.config.client_secret}
        response = await self._post(self.config.token_url, form)
        body = _json(response)
        if response.status_code != 200:
            error = str(body.get("error") or f"http_{response.status_code}")
            description = str(body.get("error_description") or "")[:200]
            raise (InvalidGrant if error == "invalid_grant" else OAuthRefused)(error, description)
        try:
            answer = _TokenAnswer.model_validate(body)
        except ValidationError:
            raise OAuthRefused("invalid_response", "the token endpoint's answer has no "
                               "access_token/expires_in") from None
        return Grant(answer.access_token, answer.expires_in, answer.scope, answer.refresh_token)

    async def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        """POST a form, retrying what may pass; the last answer that is not passing."""
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.attempts),
                                               wait=self.wait, reraise=True,
                                               retry=retry_if_exception_type(_Transient)):
                with attempt:
                    try:
                        response = await self.http.post(url, data=form, timeout=REQUEST_TIMEOUT,
                                                        headers={"Accept": "application/json"})
                    except httpx.TransportError as exc:
                        raise _Transient(type(exc).__name__) from None
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _Transient(f"HTTP {response.status_code}")
                    return response
        except _Transient as exc:
            raise GoogleUnavailable(f"Google's OAuth endpoint failed {self.attempts} times "
                                    f"(last: {exc})") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def scope_list(scopes: str | Sequence[str]) -> list[str]:
    """Google's space-separated scopes as a sorted list."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return sorted(set(items))
