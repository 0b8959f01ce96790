"""Meta WhatsApp Cloud API sender: text, choices (buttons or a list), read receipts; one attempt each.

`POST {graph}/{version}/{phone_number_id}/messages` with a Bearer token. A 200 only means
"accepted": delivery (or an asynchronous 131047/131026) arrives later as a status webhook.
Synchronous errors come as `{"error": {"code", "message", "error_data": {"details"}}}`;
the code, not the HTTP status or the title, says whether to retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from atende.reminders.notice import TemplateCall

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
    "100",     # invalid parameter (e.g. an empty template parameter)
    "132000",  # template parameter count mismatch
    "132001",  # template does not exist (in that language, on this account)
    "132005",  # translated template text too long
    "132007",  # template format character policy violated
    "132012",  # template parameter format mismatch
    "132015",  # template paused (low quality)
    "132016",  # template disabled
})  # fmt: skip
# What a failed template send means for the clinic (a reminder's reason, /health).
TEMPLATE_PROBLEMS = {
    "100": "template_parameters", "132000": "template_parameters",
    "132012": "template_parameters", "132005": "template_parameters",
    "132007": "template_parameters", "132001": "template_missing",
    "132015": "template_paused", "132016": "template_paused",
    "131047": "outside_window",
}  # fmt: skip

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200


def _fits(values: list[str], limit: int) -> bool:
    return all(0 < len(v.strip()) and len(v) <= limit for v in values) and len(set(values)) == len(values)


def reply_buttons(text: str, choices: Sequence[Choice]) -> dict[str, Any] | None:
    """Choices as reply buttons: at most 3, each a short title alone (a button has no room for
    a detail, and a tap sends back only its title and id); None when they do not fit."""
    titles = [c.title for c in choices]
    if not (1 <= len(choices) <= MAX_BUTTONS and len(text) <= MAX_INTERACTIVE_BODY
            and not any(c.detail for c in choices) and _fits(titles, MAX_BUTTON_TITLE)
            and _fits([c.id for c in choices], MAX_BUTTON_ID)):
        return None
    return {
        "type": "button",
        "body": {"text": text},
        "action": {"buttons": [{"type": "reply", "reply": {"id": c.id, "title": c.title}}
                               for c in choices]},
    }


def choice_list(text: str, choices: Sequence[Choice]) -> dict[str, Any] | None:
    """Choices as a list message: up to 10 rows, each titled with its number (so a tap reads
    like typing it) and the detail below; None when they do not fit."""
    titles = [f"{n}. {c.title}" for n, c in enumerate(choices, start=1)]
    if not (1 <= len(choices) <= MAX_ROWS and len(text) <= MAX_INTERACTIVE_BODY
            and all(c.title.strip() for c in choices) and _fits(titles, MAX_ROW_TITLE)
            and _fits([c.id for c in choices], MAX_ROW_ID)
            and all(len(c.detail) <= MAX_ROW_DESCRIPTION for c in choices)):
        return None
    rows = [{"id": c.id, "title": title, **({"description": c.detail} if c.detail else {})}
            for c, title in zip(choices, titles, strict=True)]
    return {
        "type": "list",
        "body": {"text": text},
        "action": {"button": "Ver opções", "sections": [{"title": "Opções", "rows": rows}]},
    }


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

    async def send_text(self, to_phone: str, text: str, *, choices: Sequence[Choice] = ()) -> SendResult:
        require_text(text)
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": e164_digits(to_phone),
        }
        interactive = (reply_buttons(text, choices) or choice_list(text, choices)) if choices else None
        if interactive is not None:
            message["type"] = "interactive"
            message["interactive"] = interactive
        else:  # no choices, or more (or longer) than Meta's buttons and lists take
            message["type"] = "text"
            message["text"] = {"preview_url": False, "body": numbered(text, choices)}
        return _message_id(await self._post(message, action="send"))

    async def send_template(self, to_phone: str, call: TemplateCall) -> SendResult:
        """An approved template with its body parameters and quick-reply payloads: the only
        message that reaches a patient outside the 24-hour window."""
        components: list[dict[str, Any]] = []
        if call.body:
            components.append({"type": "body", "parameters": [
                {"type": "text", "text": value} for value in call.body]})
        components.extend(
            {"type": "button", "sub_type": "quick_reply", "index": index,
             "parameters": [{"type": "payload", "payload": value}]}
            for index, value in enumerate(call.buttons))
        message = {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": e164_digits(to_phone), "type": "template",
            "template": {"name": call.name, "language": {"code": call.language},
                         "components": components},
        }
        try:
            return _message_id(await self._post(message, action="template send"))
        except SendError as exc:
            exc.problem = TEMPLATE_PROBLEMS.get(exc.code or "")
            raise

    async def mark_read(self, wamid: str) -> None:
        """Mark an inbound message (and the ones before it) as read: the patient sees blue ticks."""
        await self._post(
            {"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
            action="mark_read",
        )

    async def _post(self, body: dict[str, Any], *, action: str) -> Any:
        return await graph_call(self._http, "POST", self._url, self._access_token, action=action,
                                json=body)


async def graph_call(http: httpx.AsyncClient, method: str, url: str, access_token: str, *,
                     action: str, **kwargs: Any) -> Any:
    """One Graph API call with the Bearer token; the JSON answer, or `SendError` with Meta's
    code (the token never appears in it)."""
    secrets = (access_token,)
    try:
        response = await http.request(
            method, url, headers={"Authorization": f"Bearer {access_token}"}, **kwargs)
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


def _message_id(data: Any) -> SendResult:
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
