"""Z-API sender: `POST /instances/{id}/token/{token}/send-text`, one attempt per message.

The instance token travels in the URL path, so the URL is a credential: it never appears in
an exception message or a log line (httpx's own request log included, see `_RedactZapiUrls`).
Choices (options the patient picks) go as numbered lines under the text: Z-API's button
endpoints ride on WhatsApp Web features that WhatsApp keeps breaking (Z-API's "Button Status"
page: they need a terms-of-use opt-in, behave differently for Business and regular numbers,
and have been "currently unavailable" at times), and a button that silently fails to render
is worse than a list the patient answers with a number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import httpx

from atende.errors import ConfigError
from atende.server.senders import (
    REQUEST_ERRORS,
    SendError,
    SendResult,
    e164_digits,
    json_body,
    redact,
    request_failed,
    require_text,
    retry_after_seconds,
    transient_status,
)
from atende.tools.choices import Choice, numbered

_TOKEN_IN_PATH = re.compile(r"(/instances/[^/]+/token/)[^/?#]+")


class _RedactZapiUrls(logging.Filter):
    """httpx logs every request URL at INFO; hide the token inside Z-API's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1***", str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactZapiUrls) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactZapiUrls())


class ZapiSender:
    """Sends text through one Z-API instance. `http` is owned by the caller (the app lifespan)."""

    channel = "zapi"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        instance_id: str,
        token: str,
        client_token: str,
    ) -> None:
        for field, value in (("instance_id", instance_id), ("token", token), ("client_token", client_token)):
            if not value.strip():
                raise ConfigError("must not be empty", source="Z-API credentials", field=field)
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._instance_id = instance_id
        self._token = token
        self._client_token = client_token

    def __repr__(self) -> str:
        return f"ZapiSender(base_url={self._base_url!r})"

    async def send_text(self, to_phone: str, text: str, *, choices: Sequence[Choice] = ()) -> SendResult:
        require_text(text)
        body = {"phone": e164_digits(to_phone), "message": numbered(text, choices)}
        response = await self._post("send-text", body)
        data = json_body(response)
        if isinstance(data, dict):
            for key in ("messageId", "id", "zaapId"):
                if isinstance(data.get(key), str) and data[key]:
                    return SendResult(provider_message_id=data[key])
        # Accepted but unidentifiable: it may well go out, so resending could answer twice.
        raise SendError(
            self._describe("send-text", response, "answered without a message id"),
            retryable=False,
            code="no_message_id",
            status=response.status_code,
        )

    async def _post(self, action: str, body: dict[str, str]) -> httpx.Response:
        url = f"{self._base_url}/instances/{self._instance_id}/token/{self._token}/{action}"
        try:
            response = await self._http.post(url, json=body, headers={"Client-Token": self._client_token})
        except REQUEST_ERRORS as exc:
            raise request_failed(exc, action=f"Z-API {action}", secrets=self._secrets) from None
        if not response.is_success:
            raise SendError(
                self._describe(action, response, "failed"),
                retryable=transient_status(response.status_code),
                status=response.status_code,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        return response

    def _describe(self, action: str, response: httpx.Response, what: str) -> str:
        data = json_body(response)
        if isinstance(data, dict):  # {"error": "null not allowed"}, {"error", "message"}
            detail = "; ".join(str(data[k]) for k in ("error", "message") if data.get(k))
        else:
            detail = response.text[:200]
        message = f"Z-API {action} {what}: HTTP {response.status_code}"
        return redact(f"{message}: {detail}" if detail else message, self._secrets)

    @property
    def _secrets(self) -> tuple[str, str]:
        return (self._token, self._client_token)
