"""The `Store` contract for the clinic's calendars, on every backend (SQLite, Postgres, and
Postgres held to row-level security): busy time mirrored page by page with its sync token, a
reset (410) dropping a calendar's rows, push channels, and calendar jobs taken once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from atende.memory.records import CalendarBusy, NewAppointment
from atende.memory.store import Store

T, OTHER_T = "clinica-exemplo", "outra-clinica"
CAL = "dra.ana@example.test"
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def busy(event_id: str, hour: int, minutes: int = 60) -> CalendarBusy:
    start = datetime(2026, 3, 12, hour, 0, tzinfo=UTC)
    return CalendarBusy(T, "ana-souza", CAL, event_id, start, start + timedelta(minutes=minutes),
                        summary="Dentista")


async def test_pages_upsert_delete_and_the_token_lands_with_the_last_page(store: Store) -> None:
    await store.calendar_apply(T, CAL, professional_id="ana-souza",
                               busy=[busy("e1", 13), busy("e2", 15)])
    assert await store.calendar_sync_states(T) == []  # no token before the last page
    await store.calendar_apply(T, CAL, professional_id="ana-souza", busy=[busy("e1", 14)],
                               removed=["e2", "never-seen"], sync_token="tok-1")
    rows = await store.calendar_busy(T, start=NOW, end=NOW + timedelta(days=7))
    assert [(r.event_id, r.starts_at.hour, r.professional_id) for r in rows] == [
        ("e1", 14, "ana-souza")]
    (state,) = await store.calendar_sync_states(T)
    assert state.sync_token == "tok-1" and state.synced_at is not None
    # the range is half-open and filtered by professional
    day = datetime(2026, 3, 12, tzinfo=UTC)
    assert await store.calendar_busy(T, start=day.replace(hour=15), end=day.replace(hour=16)) == []
    assert await store.calendar_busy(T, start=NOW, end=NOW + timedelta(days=7),
                                     professional_ids=["bruno"]) == []
    # another clinic sees none of it
    assert await store.calendar_busy(OTHER_T, start=NOW, end=NOW + timedelta(days=7)) == []


async def test_a_reset_drops_the_calendars_rows_and_its_token(store: Store) -> None:
    await store.calendar_apply(T, CAL, professional_id="ana-souza", busy=[busy("e1", 13)],
                               sync_token="tok-1")
    await store.calendar_apply(T, "other-cal", professional_id="bruno", busy=[busy("x", 13)],
                               sync_token="tok-x")
    await store.calendar_apply(T, CAL, professional_id="ana-souza", reset=True,
                               busy=[busy("e9", 16)])
    rows = await store.calendar_busy(T, start=NOW, end=NOW + timedelta(days=7))
    assert sorted(r.event_id for r in rows) == ["e9", "x"]
    tokens = {s.calendar_id: s.sync_token for s in await store.calendar_sync_states(T)}
    assert tokens == {"other-cal": "tok-x"}  # the reset calendar's copy is not whole


async def test_channels_are_kept_per_clinic_and_found_by_expiry(store: Store) -> None:
    soon, later = NOW + timedelta(hours=2), NOW + timedelta(days=6)
    await store.calendar_channel_add(T, channel_id="c1", calendar_id=CAL, resource_id="r1",
                                     token_hash="h1", expires_at=soon)
    await store.calendar_channel_add(T, channel_id="c2", calendar_id=CAL, resource_id="r2",
                                     token_hash="h2", expires_at=later)
    assert [c.channel_id for c in await store.calendar_channels(
        T, expiring_before=NOW + timedelta(days=1))] == ["c1"]
    (one,) = await store.calendar_channels(T, channel_id="c2")
    assert one.resource_id == "r2" and one.expires_at == later
    assert await store.calendar_channels(OTHER_T, channel_id="c2") == []
    assert await store.calendar_channel_remove(T, "c1") is True
    assert await store.calendar_channel_remove(T, "c1") is False
    assert [c.channel_id for c in await store.calendar_channels(T)] == ["c2"]


async def test_a_job_is_queued_once_taken_once_and_retried_until_done(store: Store) -> None:
    start = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    appt = await store.book_appointment(NewAppointment(
        T, "ana-souza", "limpeza", "+5511987650001", start, start + timedelta(minutes=45)))
    job = await store.calendar_job_add(T, appt.id, "create", version="1", due_at=NOW)
    assert job is not None and job.attempts == 0
    assert await store.calendar_job_add(T, appt.id, "create", version="1", due_at=NOW) is None
    assert await store.calendar_job_add(OTHER_T, appt.id, "delete", version="1", due_at=NOW) is None
    lease = NOW + timedelta(minutes=2)
    taken = await asyncio.gather(*(store.calendar_jobs_claim(T, NOW, lease_until=lease)
                                   for _ in range(4)))
    assert sorted(len(t) for t in taken) == [0, 0, 0, 1]
    assert await store.calendar_job_settle(T, job.id, retry_at=NOW + timedelta(seconds=30),
                                           error="google 500")
    assert await store.calendar_jobs_claim(T, NOW, lease_until=lease) == []
    (again,) = await store.calendar_jobs_claim(T, NOW + timedelta(seconds=30), lease_until=lease)
    assert again.attempts == 2 and again.last_error == "google 500"
    assert await store.calendar_job_settle(T, job.id)
    assert await store.calendar_job_settle(T, job.id) is False
    (done,) = await store.calendar_jobs(T, appointment_id=appt.id)
    assert done.done_at is not None
    assert await store.calendar_jobs_claim(T, NOW + timedelta(days=1), lease_until=lease) == []
