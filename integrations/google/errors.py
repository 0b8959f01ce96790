"""What a Calendar API error means for atende, keyed on `error.errors[0].reason` (never on the
status alone, PROVIDER-FACTS 8.1):

    CalendarError (InfrastructureError)
    ├── FullSyncRequired   410 fullSyncRequired / updatedMinTooLongAgo: drop the calendar's
    │                      copy and its token, list again
    ├── Gone               410 deleted (deleting an event already deleted: the delete is done)
    ├── Duplicate          409 duplicate (our client-supplied id exists: the insert landed)
    ├── Precondition       412 conditionNotMet (someone changed it: read it again)
    ├── RateLimited        403 rateLimitExceeded / userRateLimitExceeded, 429: back off
    ├── QuotaExceeded      403 quotaExceeded: account-level, no hot retry (stop until later)
    ├── Unauthorized       401 (after one fresh token): the connection needs the clinic
    ├── Transient          5xx, timeouts, connection errors: retry later
    └── Refused            any other 4xx (a bug of ours, or a calendar we cannot read)
"""

from __future__ import annotations

from typing import Any

import httpx

from atende.errors import InfrastructureError


class CalendarError(InfrastructureError):
    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"Google Calendar {status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason


class FullSyncRequired(CalendarError): ...


class Gone(CalendarError): ...


class Duplicate(CalendarError): ...


class Precondition(CalendarError): ...


class RateLimited(CalendarError):
    def __init__(self, status: int, reason: str, message: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(status, reason, message)
        self.retry_after = retry_after


class QuotaExceeded(CalendarError): ...


class Unauthorized(CalendarError): ...


class Transient(CalendarError): ...


class Refused(CalendarError): ...


_RATE = {"rateLimitExceeded", "userRateLimitExceeded"}
_FULL_SYNC = {"fullSyncRequired", "updatedMinTooLongAgo"}


def reason_of(body: Any) -> tuple[str, str]:
    """(`error.errors[0].reason`, `error.message`) of an error body; ("", "") if it has none."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason") or error.get("status") or ""), str(error.get("message") or "")


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the delta form; a date form is ignored)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def classify(response: httpx.Response) -> CalendarError:
    """The error an unsuccessful response stands for."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason, message = reason_of(body)
    status = response.status_code
    if status == 410:
        return (FullSyncRequired if reason in _FULL_SYNC else Gone)(status, reason or "gone", message)
    if status == 409:
        return Duplicate(status, reason or "duplicate", message)
    if status == 412:
        return Precondition(status, reason or "conditionNotMet", message)
    if status == 429 or (status == 403 and reason in _RATE):
        return RateLimited(status, reason or "rateLimitExceeded", message, retry_after(response))
    if status == 403 and reason == "quotaExceeded":
        return QuotaExceeded(status, reason, message)
    if status == 401:
        return Unauthorized(status, reason or "authError", message)
    if status >= 500:
        return Transient(status, reason or "backendError", message)
    return Refused(status, reason or "refused", message)
