"""Meta WhatsApp Cloud API sender: text, reply buttons and read receipts, one attempt each.

`POST {graph}/{version}/{phone_number_id}/messages` with a Bearer token. A 200 only means
"accepted": delivery (or an asynchronous 131047/131026) arrives later as a status webhook.
Synchronous errors come as `{"error": {"code", "message", "error_data": {"details"}}}`;
the code, not the HTTP status or the title, says whether to retry.
"""

from __future__ import annotations

from typing import Any

import httpx

from atende.errors import ConfigError
from atende.server.channels.meta.choices import Choice
from atende.server.senders import (
    REQUEST_ERRORS,
    Button,
    SendError,
    SendResult,
    e164_digits,
    json_body,
    redact,
    request_failed,
    require_text,
    retry_after_seconds,
    transient_status,
    with_numbered_options,
)

# Meta error codes worth retrying with backoff, whatever the HTTP status.
RETRYABLE_CODES = frozenset({
    "2",       # API service: temporary downtime or overload
    "4",       # API too many calls (app-level rate limit)
    "80007",   # WhatsApp Business Account rate limit
    "130429",  # throughput limit (80 mps by default)
    "131000",  # generic "something went wrong"
    "131016",  # service unavailable
    "131056",  # (business, consumer) pair rate limit: ~1 message / 6 s to the same user
    "133004",  # server temporarily unavailable
})  # fmt: skip
# Codes that are permanent even if they come with a 5xx: resending cannot fix them.
PERMANENT_CODES = frozenset({
    "190",     # access token expired or invalid
    "131026",  # undeliverable: not on WhatsApp, old app, opted out...
    "131030",  # recipient not in the allowed list (test numbers)
    "131047",  # re-engagement: more than 24 h since the patient's last message
    "131048",  # spam rate limit (number quality), not a burst
    "131049",  # per-user marketing limit
    "131051",  # unsupported message type
    "132001",  # template does not exist
})  # fmt: skip

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024


def buttons_fit(text: str, buttons: list[Button]) -> bool:
    """Whether Meta will take these as an interactive `button` message (else: plain text)."""
    ids = [button_id for button_id, _ in buttons]
    titles = [title for _, title in buttons]
    return (
        1 <= len(buttons) <= MAX_BUTTONS
        and len(text) <= MAX_INTERACTIVE_BODY
        and all(0 < len(i.strip()) and len(i) <= MAX_BUTTON_ID for i in ids)
        and all(0 < len(t.strip()) and len(t) <= MAX_BUTTON_TITLE for t in titles)
        and len(set(ids)) == len(ids)
        and len(set(titles)) == len(titles)
    )


def classify(status: int, code: str | None) -> bool:
    """Whether a Meta error response is worth retrying."""
    if code in RETRYABLE_CODES:
        return True
    if code in PERMANENT_CODES:
        return False
    return transient_status(status)


class MetaSender:
    """Sends through one business phone number. `http` is owned by the caller."""

    channel = "meta"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        graph_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: str,
    ) -> None:
        for field, value in (("phone_number_id", phone_number_id), ("access_token", access_token)):
            if not value.strip():
                raise ConfigError("must not be empty", source="Meta credentials", field=field)
        self._http = http
        self._url = f"{graph_url.rstrip('/')}/{api_version.strip('/')}/{phone_number_id}/messages"
        self._access_token = access_token

    def __repr__(self) -> str:
        return f"MetaSender(url={self._url!r})"

    async def send_text(self, to_phone: str, text: str, *, buttons: list[Button] | None = None,
                        choices: list[Choice] | None = None) -> SendResult:
        require_text(text)
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": e164_digits(to_phone),
        }
        if choices and len(text) <= MAX_INTERACTIVE_BODY:
            message["type"] = "interactive"
            message["interactive"] = {
                "type": "list",
                "body": {"text": text},
                "action": {"button": "Ver opções", "sections": [{"title": "Opções", "rows": [
                    {"id": c.id, "title": c.title, **({"description": c.description}
                                                      if c.description else {})}
                    for c in choices
                ]}]},
            }  # fmt: skip
        elif choices:
            message["type"] = "text"
            lines = [f"{c.title} {c.description}".strip() for c in choices]
            message["text"] = {"preview_url": False, "body": "\n".join([text, *lines])}
        elif buttons and buttons_fit(text, buttons):
            message["type"] = "interactive"
            message["interactive"] = {
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": button_id, "title": title}}
                    for button_id, title in buttons
                ]},
            }  # fmt: skip
        else:
            body = with_numbered_options(text, buttons) if buttons else text
            message["type"] = "text"
            message["text"] = {"preview_url": False, "body": body}
        data = await self._post(message, action="send")
        messages = data.get("messages") if isinstance(data, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if not isinstance(wamid, str) or not wamid:
            # Accepted but unidentifiable: resending could deliver it twice.
            raise SendError(
                "Meta accepted the message but returned no message id",
                retryable=False,
                code="no_message_id",
                status=200,
            )
        return SendResult(provider_message_id=wamid)

    async def mark_read(self, wamid: str) -> None:
        """Mark an inbound message (and the ones before it) as read: the patient sees blue ticks."""
        await self._post(
            {"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
            action="mark_read",
        )

    async def _post(self, body: dict[str, Any], *, action: str) -> Any:
        secrets = (self._access_token,)
        try:
            response = await self._http.post(
                self._url, json=body, headers={"Authorization": f"Bearer {self._access_token}"}
            )
        except REQUEST_ERRORS as exc:
            raise request_failed(exc, action=f"Meta {action}", secrets=secrets) from None
        data = json_body(response)
        if response.is_success:
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):  # an HTML page from a proxy or load balancer
            raise SendError(
                f"Meta {action} failed: HTTP {response.status_code}",
                retryable=transient_status(response.status_code),
                status=response.status_code,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        code = str(error["code"]) if error.get("code") is not None else None
        details = (
            error.get("error_data", {}).get("details") if isinstance(error.get("error_data"), dict) else None
        )
        parts = [
            f"Meta {action} failed: HTTP {response.status_code}, code {code}",
            str(error.get("message") or ""),
            str(details or ""),
            f"fbtrace_id {error['fbtrace_id']}" if error.get("fbtrace_id") else "",
        ]
        raise SendError(
            redact(" — ".join(part for part in parts if part), secrets),
            retryable=classify(response.status_code, code),
            code=code,
            status=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
