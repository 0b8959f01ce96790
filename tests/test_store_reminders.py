"""The `Store` contract for what atende writes first, on every backend (SQLite, Postgres, and
Postgres held to row-level security): reminders written with their booking, moved with it,
closed with it; handed to the outbox exactly once; the waitlist; clinic flags; opt-out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from atende.memory.records import INTERRUPTED, NewAppointment
from atende.memory.store import Store
from atende.reminders.plan import plan
from atende.tenant import resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
PHONE, OTHER = "+5511987650001", "+5511987650002"
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
START = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)  # Thursday 10:00


async def book(store: Store, start: datetime = START, phone: str = PHONE):  # type: ignore[no-untyped-def]
    return await store.book_appointment(NewAppointment(
        TENANT.id, "ana-souza", "limpeza", phone, start, start + timedelta(minutes=45)),
        reminders=plan(TENANT, start, NOW))


async def test_a_booking_writes_its_reminders_in_the_same_transaction(store: Store) -> None:
    appt = await book(store)
    rows = {r.kind: r for r in await store.list_reminders(TENANT.id, appointment_id=appt.id)}
    assert set(rows) == {"confirmation", "before_48h", "before_12h"}
    assert rows["before_48h"].due_at == START - timedelta(hours=48)
    assert all(r.status == "pending" for r in rows.values())
    # a booking the database refuses writes no reminder either
    try:
        await book(store, START + timedelta(minutes=15), OTHER)
    except Exception:
        pass
    assert len(await store.list_reminders(TENANT.id)) == 3


async def test_each_reminder_reaches_the_outbox_once_however_many_ticks_race(store: Store) -> None:
    appt = await book(store)
    conversation = await store.get_or_create_conversation(TENANT.id, PHONE, "zapi")
    due = await store.reminders_due(TENANT.id, START - timedelta(hours=47))
    assert [r.kind for r in due] == ["confirmation", "before_48h"]
    reminder = due[1]
    results = await asyncio.gather(*(store.reminder_enqueue(
        TENANT.id, reminder.id, conversation.id, text="Lembrete", meta={"reminder_id": reminder.id})
        for _ in range(8)))
    queued = [m for m in results if m is not None]
    assert len(queued) == 1 and queued[0].status == "queued" and queued[0].text == "Lembrete"
    assert [m.id for m in await store.outbox_due(NOW + timedelta(days=30))] == [queued[0].id]
    (row,) = await store.list_reminders(TENANT.id, statuses=("queued",))
    assert row.message_id == queued[0].id and row.sent_at is not None
    latest = await store.latest_reminder(TENANT.id, PHONE, since=row.sent_at - timedelta(hours=1))
    assert latest is not None and latest.appointment_id == appt.id
    assert await store.proactive_sent_since(TENANT.id, row.sent_at - timedelta(minutes=1)) == 1
    assert await store.reminder_settle(TENANT.id, row.id, "sent", provider_message_id="wamid.1",
                                       from_statuses=("queued",))
    assert not await store.reminder_settle(TENANT.id, row.id, "failed", from_statuses=("queued",))


async def test_cancel_cancels_the_reminders_and_drops_the_queued_one(store: Store) -> None:
    appt = await book(store)
    conversation = await store.get_or_create_conversation(TENANT.id, PHONE, "zapi")
    (confirmation, *_) = await store.reminders_due(TENANT.id, NOW)
    message = await store.reminder_enqueue(TENANT.id, confirmation.id, conversation.id,
                                           text="Consulta marcada", meta={})
    assert message is not None
    done = await store.cancel_appointment(TENANT.id, appt.id, patient_phone=PHONE,
                                          reason="late: answered a reminder")
    assert done.status == "cancelled" and done.cancel_reason == "late: answered a reminder"
    statuses = {r.kind: r.status for r in await store.list_reminders(TENANT.id)}
    assert statuses == {"confirmation": "cancelled", "before_48h": "cancelled",
                        "before_12h": "cancelled"}
    assert await store.outbox_due(NOW + timedelta(days=30)) == []  # it never goes out


async def test_reschedule_moves_the_pending_reminders(store: Store) -> None:
    appt = await book(store)
    later = START + timedelta(days=2)
    await store.reschedule_appointment(
        TENANT.id, appt.id, patient_phone=PHONE, professional_id="ana-souza", start=later,
        end=later + timedelta(minutes=45), reminders=plan(TENANT, later, NOW, confirmation=False))
    rows = {r.kind: r for r in await store.list_reminders(TENANT.id)}
    assert rows["before_48h"].due_at == later - timedelta(hours=48)
    # 12 h before is 22:00, in quiet hours: it goes at 08:00 that morning
    assert rows["before_12h"].due_at == datetime(2026, 3, 14, 11, 0, tzinfo=UTC)
    assert rows["confirmation"].due_at == NOW  # the booking confirmation is kept as it was


async def test_confirm_is_the_patients_own_and_records_when(store: Store) -> None:
    appt = await book(store)
    confirmed = await store.confirm_appointment(TENANT.id, appt.id, patient_phone=PHONE)
    assert confirmed.status == "confirmed" and confirmed.confirmed_at is not None
    try:
        await store.confirm_appointment(TENANT.id, appt.id, patient_phone=OTHER)
    except Exception as exc:
        assert type(exc).__name__ == "NotFound"
    else:
        raise AssertionError("another patient confirmed it")


async def test_the_waitlist_offers_one_patient_at_a_time(store: Store) -> None:
    first = await store.waitlist_add(TENANT.id, PHONE, service_id="limpeza", period="tarde")
    again = await store.waitlist_add(TENANT.id, PHONE, service_id="limpeza")  # one open entry
    second = await store.waitlist_add(TENANT.id, OTHER, service_id="limpeza")
    assert again.id == first.id and again.period is None
    assert [w.patient_phone for w in await store.waitlist_list(TENANT.id)] == [PHONE, OTHER]
    conversation = await store.get_or_create_conversation(TENANT.id, PHONE, "zapi")
    offers = await asyncio.gather(*(store.waitlist_offer(
        TENANT.id, first.id, offer_id=f"o{i}", start=START, professional_id="ana-souza",
        expires_at=NOW + timedelta(minutes=30), conversation_id=conversation.id, text="Vagou",
        meta={"waitlist_id": first.id}) for i in range(4)))
    assert len([o for o in offers if o is not None]) == 1
    held = await store.waitlist_offered(TENANT.id, PHONE, NOW)
    assert held is not None and held.offer_start_at == START
    assert await store.waitlist_offered(TENANT.id, PHONE, NOW + timedelta(minutes=31)) is None
    assert await store.waitlist_settle(TENANT.id, first.id, "expired", from_status="offered")
    assert [w.id for w in await store.waitlist_list(TENANT.id, statuses=("waiting",))] == [second.id]


async def test_clinic_flags_and_opt_out(store: Store) -> None:
    await store.set_clinic_flag(TENANT.id, "template_failing:lembrete_consulta", "132001")
    await store.set_clinic_flag(TENANT.id, "template_failing:lembrete_consulta", "132000")
    assert await store.clinic_flags(TENANT.id) == {"template_failing:lembrete_consulta": "132000"}
    assert await store.clinic_flags("outra-clinica") == {}
    await store.set_clinic_flag(TENANT.id, "template_failing:lembrete_consulta", None)
    assert await store.clinic_flags(TENANT.id) == {}
    patient = await store.update_patient(TENANT.id, PHONE, proactive_opt_out=True)
    assert patient.proactive_opt_out is True
    renamed = await store.update_patient(TENANT.id, PHONE, name="Maria")
    assert renamed.proactive_opt_out is True  # None leaves it as it is


async def test_ids_never_issued_name_no_row(store: Store) -> None:
    assert await store.list_reminders(TENANT.id, appointment_id="nope") == []
    assert not await store.reminder_settle(TENANT.id, "nope", "sent")
    assert await store.reminder_enqueue(TENANT.id, "nope", "nope", text="x", meta={}) is None


async def test_a_reminder_whose_sender_died_takes_its_messages_outcome(store: Store) -> None:
    await book(store)
    conversation = await store.get_or_create_conversation(TENANT.id, PHONE, "zapi")
    went, cut, waiting = await store.reminders_due(TENANT.id, START - timedelta(hours=1))
    messages = [await store.reminder_enqueue(TENANT.id, r.id, conversation.id, text=r.kind,
                                             meta={"reminder_id": r.id})
                for r in (went, cut, waiting)]
    assert all(m is not None for m in messages)
    for message in messages[:2]:
        assert message is not None and await store.outbox_claim(message.id) is not None
    # one went out and its sender died before settling the reminder; one was cut mid-send
    assert messages[0] is not None
    await store.outbox_result(messages[0].id, status="sent", provider_message_id="3EB0SENT")
    assert await store.outbox_recover() == 1
    assert await store.reminders_catch_up(TENANT.id) == 2
    rows = {r.id: r for r in await store.list_reminders(TENANT.id)}
    assert (rows[went.id].status, rows[went.id].provider_message_id) == ("sent", "3EB0SENT")
    assert (rows[cut.id].status, rows[cut.id].reason) == ("failed", INTERRUPTED)  # never resent
    assert rows[waiting.id].status == "queued"  # its message still waits in the outbox
    assert await store.reminders_catch_up(TENANT.id) == 0
    assert await store.reminders_catch_up("outra-clinica") == 0


async def test_an_interrupted_reminder_is_still_what_an_answer_is_about(store: Store) -> None:
    from atende.memory.records import INTERRUPTED

    appt = await book(store)
    conversation = await store.get_or_create_conversation(TENANT.id, PHONE, "zapi")
    reminder = (await store.reminders_due(TENANT.id, START - timedelta(hours=47)))[1]
    await store.reminder_enqueue(TENANT.id, reminder.id, conversation.id, text="x", meta={})
    assert await store.reminder_settle(TENANT.id, reminder.id, "failed", reason=INTERRUPTED,
                                       from_statuses=("queued",))
    latest = await store.latest_reminder(TENANT.id, PHONE, since=NOW - timedelta(days=365))
    assert latest is not None and latest.appointment_id == appt.id  # it may well have arrived
    await store.reminder_settle(TENANT.id, reminder.id, "failed", reason="131047: window",
                                from_statuses=("failed",))
    assert await store.latest_reminder(TENANT.id, PHONE, since=NOW - timedelta(days=365)) is None
