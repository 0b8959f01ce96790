"""The outbound seam: the `Sender` protocol, `SendResult`, and `SendError` with its retry hints.

A sender makes exactly ONE attempt per call. The outbox worker owns retries: it reads
`SendError.retryable` (back off and try again) and `retry_after` (the provider's own wait),
and dead-letters the rest. Transient means: network errors and timeouts, HTTP 408/429/5xx,
and the provider codes a sender knows to be transient (Meta 130429 throughput, 131056 pair
rate limit, ...). Everything else (other 4xx: bad token, closed 24-hour window, not a
WhatsApp user) is permanent: resending the same request gives the same answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from atende.errors import InfrastructureError
from atende.tools.choices import Choice


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str  # Meta wamid / Z-API messageId: what status webhooks carry


class Sender(Protocol):
    channel: str  # "zapi" | "meta"

    async def send_text(self, to_phone: str, text: str, *, choices: Sequence[Choice] = ()
                        ) -> SendResult:
        """Send one WhatsApp message to `to_phone` (E.164, `+55...`), in one attempt.

        `choices` are options the patient picks, shown the channel's way: reply buttons or a
        list to tap where the channel has them, else numbered lines under the text
        (`numbered`). Raises only `SendError`.
        """
        ...


class SendError(InfrastructureError):
    """One send attempt failed.

    `code` is the provider's error code when it gave one ("131047", "130429"), else what
    went wrong on our side of the wire ("http_401", "timeout", "network", "invalid_recipient").
    `retry_after` is the provider's Retry-After in seconds, when it sent one. The message is
    English for ops and never holds a credential (the Z-API URL is one).
    """

    code = "send_failed"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem  # what it means for the clinic ("template_paused"), when known
        self.retryable = retryable
        self.code = code or (f"http_{status}" if status is not None else type(self).code)
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self)!r}, code={self.code!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r})"
        )


def transient_status(status: int) -> bool:
    """HTTP statuses worth retrying as they are: request timeout, too many requests, 5xx."""
    return status in (408, 429) or status >= 500


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now, >= 0."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def e164_digits(phone: str) -> str:
    """`+5511987654321` → `5511987654321`, what both providers want; else a permanent SendError."""
    digits = phone.strip().removeprefix("+")
    if not re.fullmatch(r"[1-9]\d{7,14}", digits):
        # The number itself is not logged here on purpose: it is a patient's phone.
        raise SendError("recipient is not an E.164 phone number", retryable=False, code="invalid_recipient")
    return digits


def require_text(text: str) -> None:
    if not text.strip():
        raise SendError("refusing to send an empty message", retryable=False, code="empty_message")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def request_failed(exc: Exception, *, action: str, secrets: Iterable[str]) -> SendError:
    """A SendError for a request that got no HTTP response (timeout, refused, reset...)."""
    if isinstance(exc, httpx.TimeoutException):
        code, retryable = "timeout", True
    elif isinstance(exc, httpx.NetworkError | httpx.ProtocolError | httpx.ProxyError):
        code, retryable = "network", True
    else:  # UnsupportedProtocol, InvalidURL, TooManyRedirects...: configuration, not weather
        code, retryable = "request_error", False
    detail = redact(f"{type(exc).__name__}: {exc}", secrets)
    return SendError(f"{action}: {detail}", retryable=retryable, code=code)


# What httpx raises for a request that never got a response. InvalidURL is not a
# RequestError, and its message quotes the URL, so it is caught (and redacted) too.
REQUEST_ERRORS: tuple[type[Exception], ...] = (httpx.RequestError, httpx.InvalidURL)


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON (an HTML page from a proxy)."""
    try:
        return response.json()
    except ValueError:
        return None
