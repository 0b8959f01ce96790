"""The `Store` contract for the clinic's calendar core, on every backend (SQLite, Postgres, and
Postgres held to row-level security): conflicts with outside calendars are recorded once per
redelivery and settled by the clinic; blocks are stored per clinic and found by overlap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from atende.errors import NotFound
from atende.memory.records import NewAppointment
from atende.memory.store import Store

CLINIC, OTHER_CLINIC = "clinica-exemplo", "outra-clinica"
START = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def _conflict(store: Store, tenant: str = CLINIC, *, appointment_id: str | None = None,
                    external_id: str = "evt-1", summary: str = "Evento 'Dentista' sobrepõe consulta"):
    return await store.conflict_add(
        tenant, source="google", external_id=external_id, professional_id="ana-souza",
        starts_at=START, ends_at=START + HOUR, appointment_id=appointment_id, summary=summary)


async def test_a_conflict_is_recorded_once_however_often_it_is_redelivered(store: Store) -> None:
    appt = await store.book_appointment(NewAppointment(
        CLINIC, "ana-souza", "limpeza", "+5511987650001", START, START + timedelta(minutes=45)))
    results = await asyncio.gather(*(_conflict(store, appointment_id=appt.id) for _ in range(5)))
    assert len({c.id for c in results}) == 1
    (row,) = await store.conflicts_list(CLINIC)
    assert (row.source, row.external_id, row.appointment_id) == ("google", "evt-1", appt.id)
    assert row.starts_at == START and row.ends_at == START + HOUR and row.open
    assert row.summary == "Evento 'Dentista' sobrepõe consulta"
    # the same event against no booking, or another event, are other conflicts
    await _conflict(store)
    await _conflict(store, external_id="evt-2")
    assert len(await store.conflicts_list(CLINIC)) == 3
    assert await store.conflicts_list(OTHER_CLINIC) == []


async def test_a_resolved_conflict_leaves_the_open_list_and_stays_resolved(store: Store) -> None:
    first, second = await _conflict(store), await _conflict(store, external_id="evt-2")
    resolved = await store.conflict_resolve(CLINIC, first.id)
    assert resolved.resolved_at is not None and not resolved.open
    assert [c.id for c in await store.conflicts_list(CLINIC)] == [second.id]
    assert {c.id for c in await store.conflicts_list(CLINIC, open_only=False)} == {first.id, second.id}
    again = await store.conflict_resolve(CLINIC, first.id)
    assert again.resolved_at == resolved.resolved_at
    # a redelivery of the settled event does not reopen it
    assert (await _conflict(store)).resolved_at == resolved.resolved_at
    assert len(await store.conflicts_list(CLINIC, open_only=False, limit=1)) == 1


async def test_resolving_another_clinics_or_an_unknown_conflict_is_not_found(store: Store) -> None:
    theirs = await _conflict(store, OTHER_CLINIC)
    for conflict_id in (theirs.id, "not-an-id", "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(NotFound, match="conflito"):
            await store.conflict_resolve(CLINIC, conflict_id)
    assert (await store.conflicts_list(OTHER_CLINIC))[0].open


async def test_bad_conflicts_are_refused_and_store_nothing(store: Store) -> None:
    bad = [{"source": "outlook"}, {"external_id": ""}, {"summary": "  "},
           {"ends_at": START}, {"starts_at": START.replace(tzinfo=None)},
           {"appointment_id": "42"}]
    for change in bad:
        args = {"source": "google", "external_id": "evt", "professional_id": None, "starts_at": START,
                "ends_at": START + HOUR, "appointment_id": None, "summary": "x"} | change
        with pytest.raises(ValueError):
            await store.conflict_add(CLINIC, **args)  # type: ignore[arg-type]
    assert await store.conflicts_list(CLINIC, open_only=False) == []


async def test_blocks_are_found_by_overlap_per_professional_and_clinic(store: Store) -> None:
    ana = await store.block_add(CLINIC, "ana-souza", starts_at=START, ends_at=START + 4 * HOUR,
                                reason="consulta médica", created_by="cli")
    bruno = await store.block_add(CLINIC, "bruno-lima", starts_at=START + HOUR,
                                  ends_at=START + 2 * HOUR)
    await store.block_add(OTHER_CLINIC, "ana-souza", starts_at=START, ends_at=START + HOUR)
    assert (ana.reason, ana.created_by, ana.starts_at, ana.ends_at) == (
        "consulta médica", "cli", START, START + 4 * HOUR)
    day = (START - 12 * HOUR, START + 12 * HOUR)
    assert [b.id for b in await store.blocks_between(CLINIC, *day)] == [ana.id, bruno.id]
    assert [b.id for b in await store.blocks_between(CLINIC, *day, ["bruno-lima"])] == [bruno.id]
    assert await store.blocks_between(CLINIC, *day, []) == []
    # touching ends do not overlap
    assert await store.blocks_between(CLINIC, START + 4 * HOUR, START + 5 * HOUR) == []
    assert await store.blocks_between(CLINIC, START - HOUR, START) == []
    assert [b.id for b in await store.blocks_between(CLINIC, START + 3 * HOUR, START + 5 * HOUR)
            ] == [ana.id]


async def test_a_block_is_removed_only_by_its_own_clinic(store: Store) -> None:
    block = await store.block_add(CLINIC, "ana-souza", starts_at=START, ends_at=START + HOUR)
    with pytest.raises(NotFound, match="bloqueio"):
        await store.block_remove(OTHER_CLINIC, block.id)
    with pytest.raises(NotFound):
        await store.block_remove(CLINIC, "nope")
    with pytest.raises(NotFound):
        await store.block_remove(CLINIC, block.id, professional_id="bruno-lima")
    assert (await store.block_remove(CLINIC, block.id, professional_id="ana-souza")).id == block.id
    assert await store.blocks_between(CLINIC, START, START + HOUR) == []
    with pytest.raises(NotFound):
        await store.block_remove(CLINIC, block.id)


async def test_bad_blocks_are_refused_and_store_nothing(store: Store) -> None:
    for starts_at, ends_at in [(START, START), (START, START - HOUR),
                               (START, START + timedelta(days=367)),
                               (START.replace(tzinfo=None), START + HOUR)]:
        with pytest.raises(ValueError):
            await store.block_add(CLINIC, "ana-souza", starts_at=starts_at, ends_at=ends_at)
    with pytest.raises(ValueError):
        await store.block_add(CLINIC, " ", starts_at=START, ends_at=START + HOUR)
    assert await store.blocks_between(CLINIC, START - 24 * HOUR, START + timedelta(days=400)) == []


async def test_busy_spans_are_active_appointments_and_blocks_in_one_read(store: Store) -> None:
    def appt(phone: str, start: datetime, pro: str = "ana-souza") -> NewAppointment:
        return NewAppointment(CLINIC, pro, "limpeza", phone, start, start + timedelta(minutes=45))

    kept = await store.book_appointment(appt("+5511987650001", START))
    moving = await store.book_appointment(appt("+5511987650002", START + 2 * HOUR))
    gone = await store.book_appointment(appt("+5511987650003", START + 4 * HOUR))
    await store.cancel_appointment(CLINIC, gone.id, patient_phone="+5511987650003")
    carla = await store.book_appointment(appt("+5511987650004", START, "carla-mendes"))
    await store.book_appointment(NewAppointment(
        OTHER_CLINIC, "ana-souza", "limpeza", "+5511987650001", START + HOUR,
        START + 2 * HOUR))
    # a long block that started the day before still takes this window
    await store.block_add(CLINIC, "ana-souza", starts_at=START - 24 * HOUR,
                          ends_at=START + 6 * HOUR, reason="férias")
    window = (START - HOUR, START + 5 * HOUR)
    spans = await store.busy_spans(CLINIC, *window)
    seen = sorted((s.kind, s.professional_id, s.starts_at) for s in spans)
    assert seen == sorted([("appointment", "ana-souza", kept.start),
                           ("appointment", "ana-souza", moving.start),
                           ("appointment", "carla-mendes", carla.start),
                           ("block", "ana-souza", START - 24 * HOUR)])
    ana = await store.busy_spans(CLINIC, *window, professional_ids=["ana-souza"],
                                 exclude_appointment=moving.id)
    assert sorted((s.kind, s.starts_at) for s in ana) == [
        ("appointment", kept.start), ("block", START - 24 * HOUR)]
    assert all(s.ends_at > s.starts_at for s in spans)
    assert await store.busy_spans(CLINIC, *window, professional_ids=[]) == []
    assert await store.busy_spans(CLINIC, START + 7 * HOUR, START + 8 * HOUR) == []
