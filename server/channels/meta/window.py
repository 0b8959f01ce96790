"""Meta's 24-hour customer-service window: when free-form messages may be sent.

The window opens (or refreshes) with every message the patient sends and lasts 24 hours. It
is measured from the patient's last inbound message only: our own sends never extend it.
Outside it Meta accepts only approved templates and answers free text with 131047. Z-API
(WhatsApp Web) has no such window; callers check it for the Meta channel only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from atende.server.senders import SendError

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether free-form messages may go out: the patient wrote less than 24 h before `now`.

    No inbound message ever (a conversation we would start) means closed. A last inbound
    time slightly after `now` (provider clock skew) counts as just now.
    """
    _aware(now, "now")
    if last_inbound_at is None:
        return False
    return now - _aware(last_inbound_at, "last_inbound_at") < CUSTOMER_SERVICE_WINDOW


class OutsideWindow(SendError):
    """Free text to a Meta patient whose last message is 24 h old (or who never wrote).

    Not retryable: only an approved template, or the patient writing again, opens the window.
    """

    code = "outside_24h_window"

    def __init__(self, last_inbound_at: datetime | None, now: datetime) -> None:
        if last_inbound_at is None:
            since = "the patient has never written"
        else:
            hours = (now - last_inbound_at).total_seconds() / 3600
            since = f"last inbound message {last_inbound_at.isoformat()} ({hours:.1f} h ago)"
        super().__init__(
            f"Meta 24-hour customer-service window is closed ({since}); "
            "free-form messages need an approved template",
            retryable=False,
            code=self.code,
        )
        self.last_inbound_at = last_inbound_at


def ensure_window_open(last_inbound_at: datetime | None, now: datetime) -> None:
    """Raise OutsideWindow unless `window_open(last_inbound_at, now)`."""
    if not window_open(last_inbound_at, now):
        raise OutsideWindow(last_inbound_at, now)
