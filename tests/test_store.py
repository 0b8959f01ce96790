"""The `Store` contract: every backend in the `store` fixture must pass all of it."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from atende.clock import FrozenClock
from atende.errors import NotFound, SlotUnavailable
from atende.memory import open_store
from atende.memory.records import Appointment, NewAppointment
from atende.memory.sqlite import SQLiteStore, sqlite_path
from atende.memory.sqlite.migrations import BOOTSTRAP, MIGRATIONS
from atende.memory.store import Store

TENANT = "clinica-exemplo"
ANA = "+5511990000001"
BIA = "+5511990000002"
MONDAY_9H = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo


def visit(
    minutes: int = 0,
    length: int = 30,
    *,
    professional: str = "dra-julia",
    tenant: str = TENANT,
    phone: str = ANA,
) -> NewAppointment:
    """A visit starting `minutes` after Monday 09:00 (São Paulo)."""
    start = MONDAY_9H + timedelta(minutes=minutes)
    return NewAppointment(
        tenant_id=tenant,
        professional_id=professional,
        service_id="limpeza",
        patient_phone=phone,
        start=start,
        end=start + timedelta(minutes=length),
    )


# setup


async def test_setup_is_idempotent_and_keeps_data(store: Store) -> None:
    await store.upsert_patient(TENANT, ANA)
    await store.setup()
    again = open_store(store.url)  # another process starting on the same database
    await again.setup()
    assert await again.get_patient(TENANT, ANA) is not None
    await again.close()


def _setup_in_child(url: str, barrier: Barrier) -> None:
    store = open_store(url)
    barrier.wait()
    asyncio.run(store.setup())
    asyncio.run(store.close())


def test_setup_from_many_processes_at_once(tmp_db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    children = [ctx.Process(target=_setup_in_child, args=(tmp_db_url, barrier)) for _ in range(6)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0] * 6
    with closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn:
        versions = [v for (v,) in conn.execute("SELECT v FROM schema_migrations ORDER BY v")]
    assert versions == list(range(len(MIGRATIONS)))


# patients


async def test_first_contact_creates_a_new_lead_once(store: Store) -> None:
    first = await store.upsert_patient(TENANT, ANA, source="instagram")
    again = await store.upsert_patient(TENANT, ANA, source="google")
    assert (first.stage, first.source, first.notes) == ("new", "instagram", "")
    assert again == first
    assert first.created_at is not None and first.created_at.tzinfo is not None


async def test_same_phone_in_another_clinic_is_another_patient(store: Store) -> None:
    await store.update_patient(TENANT, ANA, name="Ana")
    other = await store.upsert_patient("outra-clinica", ANA)
    assert other.name is None


async def test_update_patient_sets_given_fields_and_appends_notes(store: Store) -> None:
    await store.upsert_patient(TENANT, ANA, source="instagram")
    await store.update_patient(TENANT, ANA, name="Ana Souza", stage="engaged", add_note="quer clareamento")
    patient = await store.update_patient(TENANT, ANA, interest="clareamento", add_note="prefere manhã")
    assert patient.name == "Ana Souza"  # untouched by the second call
    assert patient.stage == "engaged"
    assert patient.source == "instagram"
    assert patient.interest == "clareamento"
    assert patient.notes == "quer clareamento\nprefere manhã"
    assert await store.get_patient(TENANT, ANA) == patient


async def test_update_patient_refuses_an_unknown_stage(store: Store) -> None:
    with pytest.raises(ValueError, match="stage"):
        await store.update_patient(TENANT, ANA, stage="vip")


async def test_phone_must_be_e164(store: Store) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        await store.upsert_patient(TENANT, "11 99999-0000")


# conversations and messages


async def test_racing_first_messages_share_one_conversation(store: Store) -> None:
    conversations = await asyncio.gather(
        *(store.get_or_create_conversation(TENANT, ANA, "zapi") for _ in range(20))
    )
    assert len({conversation.id for conversation in conversations}) == 1
    assert await store.get_conversation(conversations[0].id) == conversations[0]


async def test_handoff_to_a_human_and_back(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    human = await store.set_conversation_status(conversation.id, "human", reason="reclamação")
    assert (human.status, human.handoff_reason) == ("human", "reclamação")
    assert human.handoff_at is not None
    back = await store.set_conversation_status(conversation.id, "active")
    assert (back.status, back.handoff_reason, back.handoff_at) == ("active", None, None)
    with pytest.raises(NotFound):
        await store.set_conversation_status("no-such-conversation", "human")


async def test_messages_come_back_oldest_first_newest_kept(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    for n in range(5):
        await store.add_message(conversation.id, direction="in" if n % 2 == 0 else "out", text=f"m{n}")
    assert [m.text for m in await store.list_messages(conversation.id)] == ["m0", "m1", "m2", "m3", "m4"]
    assert [m.text for m in await store.list_messages(conversation.id, limit=2)] == ["m3", "m4"]


async def test_message_fields_round_trip(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "meta")
    sent = await store.add_message(
        conversation.id,
        direction="out",
        text=None,
        kind="audio",
        status="queued",
        turn_id="turn-1",
        meta={"duração": 12, "url": "https://x/y.ogg"},
    )
    [stored] = await store.list_messages(conversation.id)
    assert stored == sent
    assert (stored.tenant_id, stored.kind, stored.meta["duração"]) == (TENANT, "audio", 12)


async def test_inbound_message_marks_last_inbound(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    await store.add_message(conversation.id, direction="out", text="olá")
    before = await store.get_conversation(conversation.id)
    assert before is not None and before.last_inbound_at is None
    received = await store.add_message(conversation.id, direction="in", text="oi")
    updated = await store.get_conversation(conversation.id)
    assert updated is not None and updated.last_inbound_at == received.created_at


async def test_redelivered_provider_message_is_stored_once(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    first = await store.add_message(conversation.id, direction="in", text="oi", provider_message_id="wamid.1")
    again = await store.add_message(conversation.id, direction="in", text="oi", provider_message_id="wamid.1")
    await store.add_message(conversation.id, direction="out", text="a")  # no provider id
    await store.add_message(conversation.id, direction="out", text="b")
    other_clinic = await store.get_or_create_conversation("outra-clinica", ANA, "zapi")
    await store.add_message(other_clinic.id, direction="in", text="oi", provider_message_id="wamid.1")
    assert again == first
    assert [m.text for m in await store.list_messages(conversation.id)] == ["oi", "a", "b"]
    assert len(await store.list_messages(other_clinic.id)) == 1


async def test_message_to_unknown_conversation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.add_message("no-such-conversation", direction="in", text="oi")


# booking


async def test_booking_stores_the_utc_instant(store: Store) -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    start = datetime(2030, 1, 7, 9, 0, tzinfo=sao_paulo)
    booked = await store.book_appointment(
        NewAppointment(TENANT, "dra-julia", "limpeza", ANA, start, start + timedelta(hours=1))
    )
    assert booked.status == "booked" and booked.active
    assert booked.start == MONDAY_9H and booked.start.tzinfo is not None
    assert booked.end - booked.start == timedelta(hours=1)
    assert await store.get_appointment(TENANT, booked.id) == booked


@pytest.mark.parametrize(
    ("minutes", "length"),
    [(0, 30), (15, 30), (-15, 30), (5, 10), (-30, 90)],
    ids=["same", "starts-inside", "ends-inside", "contained", "contains"],
)
async def test_overlapping_booking_is_refused(store: Store, minutes: int, length: int) -> None:
    await store.book_appointment(visit(0, 30))
    with pytest.raises(SlotUnavailable, match="acabou de ser ocupado"):
        await store.book_appointment(visit(minutes, length, phone=BIA))
    assert len(await store.list_appointments(TENANT, statuses=None)) == 1


async def test_bookings_that_do_not_collide(store: Store) -> None:
    first = await store.book_appointment(visit(0, 30))
    await store.book_appointment(visit(30, 30, phone=BIA))  # back to back
    await store.book_appointment(visit(-30, 30, phone=BIA))
    await store.book_appointment(visit(0, 30, professional="dr-paulo", phone=BIA))
    await store.book_appointment(visit(0, 30, tenant="outra-clinica", phone=BIA))
    await store.cancel_appointment(TENANT, first.id, patient_phone=ANA)
    await store.book_appointment(visit(0, 30, phone=BIA))  # a cancelled one frees the slot
    assert len(await store.list_appointments(TENANT)) == 4


async def test_appointment_must_end_after_it_starts(store: Store) -> None:
    with pytest.raises(ValueError, match="end after"):
        await store.book_appointment(visit(0, 0))


# cancel and reschedule


async def test_cancel_own_appointment(store: Store) -> None:
    booked = await store.book_appointment(visit())
    cancelled = await store.cancel_appointment(TENANT, booked.id, patient_phone=ANA, turn_id="turn-9")
    assert (cancelled.id, cancelled.status, cancelled.active) == (booked.id, "cancelled", False)
    with pytest.raises(NotFound, match="já está cancelado"):
        await store.cancel_appointment(TENANT, booked.id, patient_phone=ANA)


async def test_another_patients_appointment_is_invisible(store: Store) -> None:
    booked = await store.book_appointment(visit(phone=ANA))
    assert await store.get_appointment(TENANT, booked.id, patient_phone=BIA) is None
    assert await store.get_appointment("outra-clinica", booked.id) is None
    with pytest.raises(NotFound, match="Não encontrei"):
        await store.cancel_appointment(TENANT, booked.id, patient_phone=BIA)
    with pytest.raises(NotFound):
        await store.reschedule_appointment(
            TENANT,
            booked.id,
            patient_phone=BIA,
            professional_id="dra-julia",
            start=MONDAY_9H + timedelta(hours=2),
            end=MONDAY_9H + timedelta(hours=3),
        )
    with pytest.raises(NotFound):
        await store.cancel_appointment(TENANT, "no-such-id", patient_phone=ANA)
    assert await store.get_appointment(TENANT, booked.id, patient_phone=ANA) == booked


async def test_reschedule_moves_the_same_appointment(store: Store) -> None:
    booked = await store.book_appointment(visit(0, 60))
    moved = await store.reschedule_appointment(
        TENANT,
        booked.id,
        patient_phone=ANA,
        professional_id="dra-julia",
        start=MONDAY_9H + timedelta(minutes=30),
        end=MONDAY_9H + timedelta(minutes=90),
        turn_id="turn-2",
    )  # overlapping its own old slot is fine
    assert (moved.id, moved.status) == (booked.id, "booked")
    assert moved.start == MONDAY_9H + timedelta(minutes=30)
    assert await store.list_appointments(TENANT, statuses=None) == [moved]
    await store.book_appointment(visit(0, 30, phone=BIA))  # the old slot is free again


async def test_reschedule_onto_a_taken_slot_changes_nothing(store: Store) -> None:
    mine = await store.book_appointment(visit(0, 30, phone=ANA))
    await store.book_appointment(visit(60, 30, phone=BIA))
    with pytest.raises(SlotUnavailable):
        await store.reschedule_appointment(
            TENANT,
            mine.id,
            patient_phone=ANA,
            professional_id="dra-julia",
            start=MONDAY_9H + timedelta(minutes=45),
            end=MONDAY_9H + timedelta(minutes=75),
        )
    assert await store.get_appointment(TENANT, mine.id) == mine


async def test_cancelled_appointment_cannot_be_rescheduled(store: Store) -> None:
    booked = await store.book_appointment(visit())
    await store.cancel_appointment(TENANT, booked.id, patient_phone=ANA)
    with pytest.raises(NotFound, match="cancelado"):
        await store.reschedule_appointment(
            TENANT,
            booked.id,
            patient_phone=ANA,
            professional_id="dra-julia",
            start=MONDAY_9H + timedelta(days=1),
            end=MONDAY_9H + timedelta(days=1, hours=1),
        )


async def test_list_appointments_filters(store: Store) -> None:
    a = await store.book_appointment(visit(120, phone=ANA))
    b = await store.book_appointment(visit(0, phone=BIA))
    c = await store.book_appointment(visit(30, professional="dr-paulo", phone=ANA))
    d = await store.book_appointment(visit(24 * 60, phone=ANA))
    await store.cancel_appointment(TENANT, d.id, patient_phone=ANA)
    await store.book_appointment(visit(0, tenant="outra-clinica", phone=ANA))

    def ids(found: list[Appointment]) -> list[str]:
        return [appointment.id for appointment in found]

    assert ids(await store.list_appointments(TENANT)) == [b.id, c.id, a.id]
    assert ids(await store.list_appointments(TENANT, patient_phone=ANA)) == [c.id, a.id]
    assert ids(await store.list_appointments(TENANT, professional_id="dr-paulo")) == [c.id]
    assert ids(
        await store.list_appointments(
            TENANT, start_from=MONDAY_9H + timedelta(hours=1), start_to=MONDAY_9H + timedelta(days=2)
        )
    ) == [a.id]
    assert ids(await store.list_appointments(TENANT, statuses=("cancelled",))) == [d.id]
    assert len(await store.list_appointments(TENANT, statuses=None)) == 4


# turns


async def test_turn_records_model_cost_and_outcome(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    started = await store.start_turn(
        conversation.id, TENANT, model="openai:gpt-4.1-mini", prompt_version="base@3"
    )
    assert started.finished_at is None and started.started_at.tzinfo is not None
    finished = await store.finish_turn(started.id, outcome="booked", tokens_in=900, tokens_out=80)
    assert (finished.id, finished.model, finished.prompt_version) == (
        started.id,
        "openai:gpt-4.1-mini",
        "base@3",
    )
    assert (finished.outcome, finished.tokens_in, finished.tokens_out) == ("booked", 900, 80)
    assert finished.finished_at is not None and finished.finished_at >= finished.started_at


async def test_turn_of_another_clinic_or_unknown_is_not_found(store: Store) -> None:
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    with pytest.raises(NotFound):
        await store.start_turn(conversation.id, "outra-clinica", model="m", prompt_version="p")
    with pytest.raises(NotFound):
        await store.finish_turn("no-such-turn", outcome="x")


# no double booking under concurrency


async def test_fifty_concurrent_bookings_of_one_slot_one_wins(store: Store) -> None:
    phones = [f"+55119900{n:05d}" for n in range(50)]
    results = await asyncio.gather(
        *(store.book_appointment(visit(phone=phone)) for phone in phones), return_exceptions=True
    )
    booked = [r for r in results if isinstance(r, Appointment)]
    refused = [r for r in results if isinstance(r, SlotUnavailable)]
    assert (len(booked), len(refused)) == (1, 49)
    assert await store.list_appointments(TENANT, statuses=None) == booked


def _book_in_child(url: str, phone: str, barrier: Barrier, results: Queue[str]) -> None:
    async def book() -> str:
        store = open_store(url)
        try:
            await store.book_appointment(visit(phone=phone))
            return "booked"
        except SlotUnavailable:
            return "slot_unavailable"
        finally:
            await store.close()

    barrier.wait()  # every process is up before anyone books
    results.put(asyncio.run(book()))


def _book_from_processes(url: str, count: int) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(count), ctx.Queue()
    children = [
        ctx.Process(target=_book_in_child, args=(url, f"+55119910{n:05d}", barrier, results))
        for n in range(count)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    return sorted(outcomes)


@pytest.mark.slow
async def test_concurrent_bookings_from_twelve_processes_one_wins(store: Store) -> None:
    outcomes = await asyncio.to_thread(_book_from_processes, store.url, 12)
    assert outcomes == ["booked"] + ["slot_unavailable"] * 11
    assert len(await store.list_appointments(TENANT, statuses=None)) == 1


# SQLite specifics


async def test_sqlite_relative_url_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/atende.db")
    await store.setup()
    await store.close()
    assert (tmp_path / "data" / "atende.db").is_file()
    assert sqlite_path("sqlite:////var/lib/atende.db") == "/var/lib/atende.db"


async def test_sqlite_creates_the_parent_folder_and_readable_timestamps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deeper/folder/atende.db"
    store = open_store(url)
    await store.setup()
    await store.book_appointment(visit())
    await store.close()
    with closing(sqlite3.connect(sqlite_path(url))) as conn:
        row = conn.execute("SELECT start_utc, end_utc FROM appointments").fetchone()
        mode = conn.execute("PRAGMA journal_mode").fetchone()
    assert row == ("2030-01-07 12:00:00", "2030-01-07 12:30:00")
    assert mode == ("wal",)


async def test_sqlite_trigger_refuses_overlap_from_any_writer(tmp_db_url: str) -> None:
    store = SQLiteStore(tmp_db_url)
    await store.setup()
    await store.book_appointment(visit())
    await store.close()
    with (
        closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn,
        pytest.raises(sqlite3.IntegrityError, match="slot_taken"),
    ):
        conn.execute(
            "INSERT INTO appointments (id, tenant_id, professional_id, service_id, patient_phone,"
            " start_utc, end_utc, status, created_at, updated_at) VALUES ('x', ?, 'dra-julia',"
            " 'limpeza', ?, '2030-01-07 12:10:00', '2030-01-07 12:20:00', 'confirmed',"
            " '2030-01-01 00:00:00', '2030-01-01 00:00:00')",
            (TENANT, BIA),
        )


V0_ROWS = """
INSERT INTO schema_migrations VALUES (0, '2030-01-01 00:00:00');
INSERT INTO patients (tenant_id, phone, name, source, created_at, updated_at)
    VALUES ('clinica-exemplo', '+5511990000001', 'Ana', 'console', '2030-01-01 10:00:00',
            '2030-01-01 10:00:00');
INSERT INTO conversations (id, tenant_id, phone, channel, status, handoff_reason, handoff_at,
                           last_inbound_at, created_at)
    VALUES ('c1', 'clinica-exemplo', '+5511990000001', 'console', 'human', 'reclamação',
            '2030-01-01 10:05:00', '2030-01-01 10:01:00', '2030-01-01 10:00:00');
INSERT INTO messages (seq, id, conversation_id, tenant_id, direction, kind, text, status,
                      provider_message_id, turn_id, meta, created_at) VALUES
    (7, 'm2', 'c1', 'clinica-exemplo', 'out', 'text', 'Olá, Ana!', 'queued', NULL, 't1',
     '{"model": "offline"}', '2030-01-01 10:01:01'),
    (3, 'm1', 'c1', 'clinica-exemplo', 'in', 'audio', NULL, 'received', 'wamid.1', NULL,
     '{}', '2030-01-01 10:01:00'),
    (9, 'm3', 'c1', 'clinica-exemplo', 'out', 'text', 'Até logo', 'read', 'wamid.2', 't1',
     '{}', '2030-01-01 10:02:00');
INSERT INTO appointments (id, tenant_id, professional_id, service_id, patient_phone, start_utc,
                          end_utc, status, created_at, updated_at)
    VALUES ('a1', 'clinica-exemplo', 'dra-julia', 'limpeza', '+5511990000001',
            '2030-01-07 12:00:00', '2030-01-07 12:30:00', 'booked', '2030-01-01 10:02:00',
            '2030-01-01 10:02:00');
INSERT INTO turns (id, conversation_id, tenant_id, started_at, finished_at, model, outcome)
    VALUES ('t1', 'c1', 'clinica-exemplo', '2030-01-01 10:01:00', '2030-01-01 10:01:01', 'offline',
            'replied');
"""


async def test_sqlite_v0_database_upgrades_with_its_rows_intact(tmp_db_url: str) -> None:
    with closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn:
        conn.executescript(";".join([BOOTSTRAP, *MIGRATIONS[:1], V0_ROWS]))  # as v0 left it
    store = SQLiteStore(tmp_db_url)
    await store.setup()
    try:
        messages = await store.list_messages("c1")
        assert [(m.id, m.direction, m.author, m.status, m.text) for m in messages] == [
            ("m1", "in", "patient", "received", None),
            ("m2", "out", "bot", "queued", "Olá, Ana!"),
            ("m3", "out", "bot", "read", "Até logo"),
        ]  # the order they were stored in, authors told apart by direction
        assert {(m.channel, m.state, m.attempts, m.error) for m in messages} == {("console", None, 0, None)}
        assert (messages[0].kind, messages[0].provider_message_id) == ("audio", "wamid.1")
        assert (messages[1].meta, messages[1].turn_id) == ({"model": "offline"}, "t1")
        assert messages[0].created_at == datetime(2030, 1, 1, 10, 1, tzinfo=UTC)
        conversation = await store.get_conversation("c1")
        assert conversation is not None
        assert (conversation.status, conversation.handoff_reason, conversation.paused_until) == (
            "human",
            "reclamação",
            None,
        )
        assert conversation.bot_paused(datetime(2031, 1, 1, tzinfo=UTC))  # paused until resumed
        patient = await store.get_patient(TENANT, ANA)
        assert patient is not None and patient.name == "Ana"
        appointment = await store.get_appointment(TENANT, "a1")
        assert appointment is not None and appointment.start == MONDAY_9H
        with pytest.raises(SlotUnavailable):  # the triggers survived
            await store.book_appointment(visit(10, phone=BIA))
        # the unique provider id and the new statuses work on the rebuilt table
        again = await store.add_message("c1", direction="in", text="oi", provider_message_id="wamid.1")
        assert again == messages[0]
        assert await store.apply_status(TENANT, "wamid.2", "played")
        assert await store.outbox_claim("m2") is not None
    finally:
        await store.close()
    with closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn:
        versions = [v for (v,) in conn.execute("SELECT v FROM schema_migrations ORDER BY v")]
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
                " AND sql IS NOT NULL"
            )
        }
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert versions == list(range(len(MIGRATIONS)))
    assert indexes == {
        "messages_by_conversation",
        "messages_provider_id",
        "messages_inbox_pending",
        "messages_outbox_due",
    }


async def test_sqlite_extending_a_pause_keeps_when_the_handoff_began(tmp_db_url: str) -> None:
    clock = FrozenClock(MONDAY_9H)
    store = SQLiteStore(tmp_db_url, clock=clock)
    await store.setup()
    conversation = await store.get_or_create_conversation(TENANT, ANA, "zapi")
    first = await store.pause_conversation(
        conversation.id, until=MONDAY_9H + timedelta(hours=12), reason="mensagem enviada pela equipe"
    )
    clock.advance(hours=1)
    extended = await store.pause_conversation(
        conversation.id, until=MONDAY_9H + timedelta(hours=13), reason="mensagem enviada pela equipe"
    )
    assert extended.handoff_at == first.handoff_at == MONDAY_9H
    clock.advance(hours=20)  # the pause ran out: the next one is a new handoff
    renewed = await store.pause_conversation(conversation.id, until=None, reason="reclamação")
    assert renewed.handoff_at == MONDAY_9H + timedelta(hours=21)
    await store.close()


async def test_turns_keep_their_tool_calls_and_reply_in_order(store: Store) -> None:
    conversation = await store.get_or_create_conversation("clinica-a", "+5511987654321", "console")
    first = await store.start_turn(conversation.id, "clinica-a", model="offline",
                                   prompt_version="abc")
    calls = [{"name": "list_services", "args": {"query": "limpeza"}, "ok": True,
              "result": {"ok": True, "services": [{"price_text": "R$ 180,00"}]}}]
    await store.finish_turn(first.id, outcome="replied", tool_calls=calls,
                            reply="A limpeza custa R$ 180,00.")
    second = await store.start_turn(conversation.id, "clinica-a", model="offline",
                                    prompt_version="abc")
    turns = await store.list_turns(conversation.id)
    assert [t.id for t in turns] == [first.id, second.id]
    assert turns[0].tool_calls == calls and turns[0].reply == "A limpeza custa R$ 180,00."
    assert turns[1].tool_calls == [] and turns[1].reply is None


async def test_list_conversations_by_tenant_phone_and_activity(store: Store) -> None:
    a = await store.get_or_create_conversation("clinica-a", "+5511987654321", "console")
    b = await store.get_or_create_conversation("clinica-a", "+5511987654322", "console")
    await store.get_or_create_conversation("clinica-b", "+5511987654321", "console")
    await store.add_message(a.id, direction="in", text="oi")
    assert [c.id for c in await store.list_conversations("clinica-a")] == [a.id, b.id]
    assert [c.id for c in await store.list_conversations(
        "clinica-a", phone="+5511987654322")] == [b.id]
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert [c.id for c in await store.list_conversations("clinica-a", since=since)] == [a.id]


async def test_annotate_message_merges_meta(store: Store) -> None:
    conversation = await store.get_or_create_conversation("clinica-a", "+5511987654321", "zapi")
    message = await store.add_message(conversation.id, direction="in", text=None, kind="audio",
                                      meta={"media": {"url": "https://x"}})
    updated = await store.annotate_message(message.id, {"transcript": "quero marcar"})
    assert updated.meta == {"media": {"url": "https://x"}, "transcript": "quero marcar"}


async def test_purge_blanks_old_bodies_and_keeps_appointments(store: Store) -> None:
    conversation = await store.get_or_create_conversation("clinica-a", "+5511987654321", "zapi")
    old = await store.add_message(conversation.id, direction="in", text="meu CPF é 123",
                                  kind="audio", meta={"transcript": "meu CPF é 123", "k": 1})
    other = await store.get_or_create_conversation("clinica-b", "+5511987654321", "zapi")
    kept_elsewhere = await store.add_message(other.id, direction="in", text="oi")
    start = datetime(2030, 1, 7, 12, tzinfo=UTC)
    booked = await store.book_appointment(NewAppointment(
        tenant_id="clinica-a", professional_id="ana", service_id="limpeza",
        patient_phone="+5511987654321", start=start, end=start + timedelta(minutes=30)))
    cutoff = datetime.now(UTC) + timedelta(minutes=1)
    assert await store.purge_bodies("clinica-a", before=cutoff) == 1
    assert await store.purge_bodies("clinica-a", before=cutoff) == 0  # idempotent
    (blank,) = await store.list_messages(conversation.id)
    assert blank.id == old.id and blank.text is None and blank.meta == {"k": 1}
    (untouched,) = await store.list_messages(other.id)
    assert untouched.text == kept_elsewhere.text == "oi"
    assert [a.id for a in await store.list_appointments("clinica-a")] == [booked.id]
