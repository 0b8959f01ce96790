"""The `Store` contract for appointments an outside system (Calendly) booked, on every backend:
found by their external id, idempotent on it, busy like any booking (the database still
refuses a double booking), a reschedule cancelling the old one in the new one's transaction,
and a cancellation that arrives before its booking kept so the booking changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from atende.errors import SlotUnavailable
from atende.memory.records import NO_PHONE, NewAppointment
from atende.memory.store import Store

TENANT = "clinica-exemplo"
PHONE = "+5511987650001"
START = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
OLD = "https://api.calendly.com/scheduled_events/E1/invitees/I1"
NEW = "https://api.calendly.com/scheduled_events/E2/invitees/I2"


def outside(ref: str, start: datetime = START, phone: str = NO_PHONE,
            professional: str = "ana-souza") -> NewAppointment:
    return NewAppointment(TENANT, professional, "limpeza", phone, start,
                          start + timedelta(minutes=45), source="calendly", external_ref=ref)


async def test_an_outside_booking_is_stored_once_and_found_by_its_ref(store: Store) -> None:
    first = await store.external_book(outside(OLD))
    again = await store.external_book(outside(OLD))
    assert first.changed and not again.changed
    assert again.appointment.id == first.appointment.id
    (row,) = await store.list_appointments(TENANT, professional_id="ana-souza")
    assert (row.source, row.external_ref, row.patient_phone, row.status) == (
        "calendly", OLD, NO_PHONE, "booked")
    assert (await store.external_appointment(TENANT, OLD)).id == row.id
    assert await store.external_appointment("outra-clinica", OLD) is None
    # a patient known by phone is listed as theirs
    known = await store.external_book(outside(NEW, START + timedelta(days=1), phone=PHONE))
    assert [a.id for a in await store.list_appointments(TENANT, patient_phone=PHONE)] == [
        known.appointment.id]


async def test_an_outside_booking_is_busy_for_agent_bookings_and_cannot_double_book(
        store: Store) -> None:
    await store.external_book(outside(OLD))
    with pytest.raises(SlotUnavailable):  # the agent cannot book over it
        await store.book_appointment(NewAppointment(
            TENANT, "ana-souza", "limpeza", PHONE, START + timedelta(minutes=15),
            START + timedelta(minutes=60)))
    with pytest.raises(SlotUnavailable):  # nor can another outside booking
        await store.external_book(outside(NEW, START + timedelta(minutes=30)))
    assert await store.external_appointment(TENANT, NEW) is None
    # another professional is free then
    other = await store.external_book(outside(NEW, professional="carla-mendes"))
    assert other.changed


async def test_the_agents_own_bookings_have_source_atende(store: Store) -> None:
    booked = await store.book_appointment(NewAppointment(
        TENANT, "ana-souza", "limpeza", PHONE, START, START + timedelta(minutes=45)))
    assert (booked.source, booked.external_ref) == ("atende", None)
    with pytest.raises(ValueError):  # an outside booking without its own id is refused
        await store.external_book(NewAppointment(
            TENANT, "ana-souza", "limpeza", PHONE, START, START + timedelta(minutes=45)))


async def test_a_reschedule_cancels_the_old_in_the_same_transaction(store: Store) -> None:
    await store.external_book(outside(OLD))
    # moved by 15 minutes: overlaps only the appointment it replaces
    moved = await store.external_book(outside(NEW, START + timedelta(minutes=15)), replaces=OLD)
    old = await store.external_appointment(TENANT, OLD)
    assert moved.changed and moved.appointment.status == "booked"
    assert (old.status, old.cancel_reason) == ("cancelled", "rescheduled")
    active = await store.list_appointments(TENANT)
    assert [a.external_ref for a in active] == [NEW]


async def test_a_refused_reschedule_leaves_the_old_one_as_it_was(store: Store) -> None:
    await store.external_book(outside(OLD))
    await store.book_appointment(NewAppointment(
        TENANT, "ana-souza", "limpeza", PHONE, START + timedelta(days=1),
        START + timedelta(days=1, minutes=45)))
    with pytest.raises(SlotUnavailable):
        await store.external_book(outside(NEW, START + timedelta(days=1)), replaces=OLD)
    assert (await store.external_appointment(TENANT, OLD)).status == "booked"


async def test_cancel_is_idempotent_and_a_cancel_before_its_booking_wins(store: Store) -> None:
    await store.external_book(outside(OLD))
    first = await store.external_cancel(outside(OLD), reason="calendly: canceled by invitee")
    again = await store.external_cancel(outside(OLD), reason="calendly: canceled by invitee")
    assert first.changed and not again.changed
    assert again.appointment.cancel_reason == "calendly: canceled by invitee"
    # the cancellation of an invitee never seen arrives first: kept, cancelled
    early = await store.external_cancel(outside(NEW), reason="calendly: canceled by host")
    late_booking = await store.external_book(outside(NEW))
    assert early.changed and early.appointment.status == "cancelled"
    assert not late_booking.changed and late_booking.appointment.status == "cancelled"
    assert await store.list_appointments(TENANT) == []
    # the freed time can be booked again
    assert await store.book_appointment(NewAppointment(
        TENANT, "ana-souza", "limpeza", PHONE, START, START + timedelta(minutes=45)))
