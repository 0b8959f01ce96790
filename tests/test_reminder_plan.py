"""When reminders are due: offsets before the appointment, quiet hours in the clinic's time,
offsets already passed, and the tenant file's validation of the reminder policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from atende.errors import ConfigError
from atende.reminders.plan import CONFIRMATION, plan, when_to_send
from atende.tenant import load_tenant_file, resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
SP = TENANT.tz


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SP)


def by_kind(planned):  # type: ignore[no-untyped-def]
    return {p.kind: p for p in planned}


def test_a_booking_two_days_ahead_gets_a_confirmation_now_and_both_reminders() -> None:
    booked, start = local(2026, 3, 9, 10, 0), local(2026, 3, 12, 15, 0)
    planned = by_kind(plan(TENANT, start, booked))
    assert planned[CONFIRMATION].due_at == booked and planned[CONFIRMATION].status == "pending"
    assert planned["before_48h"].due_at == start - timedelta(hours=48)
    # 12 h before is 03:00, inside quiet hours: it goes at 08:00, 7 h before
    assert planned["before_12h"].due_at == local(2026, 3, 12, 8, 0)
    assert planned["before_12h"].status == "pending"


def test_a_reminder_due_in_quiet_hours_moves_to_their_end_when_still_early_enough() -> None:
    start = local(2026, 3, 12, 16, 0)  # 12 h before = 04:00, inside 20:00-08:00
    planned = by_kind(plan(TENANT, start, local(2026, 3, 9, 9, 0)))
    moved = planned["before_12h"]
    assert moved.status == "pending"
    assert moved.due_at.astimezone(SP) == local(2026, 3, 12, 8, 0)


def test_a_reminder_that_quiet_hours_would_push_too_close_is_skipped_with_a_reason() -> None:
    start = local(2026, 3, 12, 8, 30)  # 12 h before = 20:30; next allowed minute 08:00 (30 min)
    skipped = by_kind(plan(TENANT, start, local(2026, 3, 9, 9, 0)))["before_12h"]
    assert skipped.status == "skipped"
    assert "quiet hours (20:00-08:00)" in (skipped.reason or "")


def test_a_booking_made_10_hours_ahead_gets_no_48h_or_12h_reminder() -> None:
    booked = local(2026, 3, 10, 8, 0)
    planned = by_kind(plan(TENANT, booked + timedelta(hours=10), booked))
    assert planned["before_48h"].status == planned["before_12h"].status == "skipped"
    assert planned["before_48h"].reason == "booked 10 h ahead, closer than 48 h"
    assert planned[CONFIRMATION].status == "pending"


def test_reschedule_plans_no_second_confirmation() -> None:
    planned = plan(TENANT, local(2026, 3, 20, 10, 0), local(2026, 3, 9, 9, 0), confirmation=False)
    assert CONFIRMATION not in by_kind(planned)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(minutes_ahead=st.integers(min_value=1, max_value=20 * 24 * 60),
       booked_minute=st.integers(min_value=0, max_value=7 * 24 * 60))
def test_no_planned_reminder_falls_in_quiet_hours_or_too_close(minutes_ahead: int,
                                                              booked_minute: int) -> None:
    booked = local(2026, 3, 1, 0, 0) + timedelta(minutes=booked_minute)
    start = booked + timedelta(minutes=minutes_ahead)
    quiet = TENANT.reminders.quiet_hours
    assert quiet is not None
    for p in plan(TENANT, start, booked):
        if p.status != "pending" or p.kind == CONFIRMATION:
            continue
        assert not quiet.covers(p.due_at.astimezone(SP).time())
        assert booked < p.due_at <= start - timedelta(minutes=TENANT.reminders.min_lead_minutes)


def test_when_to_send_outside_quiet_hours_is_now() -> None:
    now = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 11:00 in São Paulo
    assert when_to_send(TENANT.reminders, TENANT, now, now + timedelta(days=1)) == (now, None)


def write(tmp_path: Path, change: dict) -> Path:  # type: ignore[type-arg]
    data = yaml.safe_load((ROOT / "tenants/clinica-exemplo.yaml").read_text(encoding="utf-8"))
    data["reminders"] = change
    path = tmp_path / "clinica-exemplo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"offsets_hours": [48, 48]}, "reminders.offsets_hours", "twice"),
    ({"offsets_hours": [0]}, "reminders.offsets_hours", "between 0 and 336"),
    ({"quiet_hours": "22:00"}, "reminders.quiet_hours", "HH:MM-HH:MM"),
    ({"text": "Olá {nome}!"}, "reminders.text", "unknown placeholder {nome}"),
    ({"meta_template": {"name": "Lembrete Consulta"}}, "reminders.meta_template.name",
     "not a template name"),
    ({"meta_template": {"name": "lembrete", "buttons": ["confirm", "pay"]}},
     "reminders.meta_template.buttons[1]", "confirm"),
])
def test_a_bad_reminder_policy_names_the_file_and_the_field(tmp_path: Path, change: dict,  # type: ignore[type-arg]
                                                            field: str, words: str) -> None:
    path = write(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        load_tenant_file(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
    assert words in str(caught.value)
