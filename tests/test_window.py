"""Meta's 24-hour customer-service window, counted from the patient's last message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from atende.server.channels.meta.window import OutsideWindow, ensure_window_open, window_open
from atende.server.senders import SendError

SAO_PAULO = timezone(timedelta(hours=-3))
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=SAO_PAULO)


@pytest.mark.parametrize(
    ("ago", "is_open"),
    [
        (timedelta(minutes=1), True),
        (timedelta(hours=23, minutes=59, seconds=59), True),
        (timedelta(hours=24), False),  # at exactly 24 h the window has closed
        (timedelta(hours=24, seconds=1), False),
        (timedelta(days=3), False),
        (timedelta(minutes=-2), True),  # provider clock a little ahead of ours
    ],
)
def test_window_is_open_for_24_hours_after_the_patients_last_message(ago: timedelta, is_open: bool) -> None:
    assert window_open(NOW - ago, NOW) is is_open


def test_no_message_from_the_patient_means_the_window_is_closed() -> None:
    assert window_open(None, NOW) is False


def test_time_zones_do_not_shift_the_window() -> None:
    last = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
    assert window_open(last, datetime(2026, 3, 10, 8, 59, tzinfo=SAO_PAULO)) is True
    assert window_open(last, datetime(2026, 3, 10, 9, 0, tzinfo=SAO_PAULO)) is False


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 10, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        window_open(naive, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        window_open(NOW, naive)


def test_outside_window_is_a_permanent_send_error_for_ops() -> None:
    last = NOW - timedelta(hours=30)

    with pytest.raises(OutsideWindow) as caught:
        ensure_window_open(last, NOW)

    error = caught.value
    assert isinstance(error, SendError)  # the outbox handles it like any failed send
    assert (error.retryable, error.code, error.status, error.retry_after) == (
        False, "outside_24h_window", None, None,
    )  # fmt: skip
    assert "30.0 h ago" in str(error) and "template" in str(error)
    assert error.last_inbound_at == last


def test_outside_window_for_a_patient_who_never_wrote() -> None:
    with pytest.raises(OutsideWindow, match="never written"):
        ensure_window_open(None, NOW)


def test_ensure_window_open_passes_inside_the_window() -> None:
    ensure_window_open(NOW - timedelta(hours=1), NOW)
