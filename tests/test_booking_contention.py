"""Fifty patients race for one slot while another client loads the same database: exactly one
books it, and every other patient reads that the slot was taken, never a technical apology.

The other client is not atende: its own connections book and cancel the same professional's
other slots and touch patients, and hold the appointments table locked in long transactions.
Each condition is a reason a database refuses a racer that says nothing about the slot: a
`lock_timeout`, every transaction SERIALIZABLE, a pool far smaller than the crowd with a short
pool timeout, SQLite's "database is locked". Each also checks that its refusal really happened
(the store logs every retry with its reason), so a quiet run cannot pass for a contended one.

Rounds: each condition races `ATENDE_CONTENTION_ROUNDS` times (default 2, what CI runs), each
round for a fresh slot on the same loaded database. The 10-in-a-row proof is
`ATENDE_CONTENTION_ROUNDS=10 ./scripts/test tests/test_booking_contention.py`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time as clock
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from atende.errors import DomainError, InfrastructureError, SlotUnavailable
from atende.memory.postgres import PostgresStore
from atende.memory.records import SLOT_TAKEN, NewAppointment
from atende.memory.sqlite import SQLiteStore, sqlite_path
from atende.memory.store import Store
from atende.tenant import Tenant
from atende.tools import booking
from atende.tools.scheduling import Busy, check_bookable, parse_slot_id
from atende.tools.scope import Scope
from helpers import ANA, BIA, TUESDAY_NOW, example_tenant

ROUNDS = int(os.environ.get("ATENDE_CONTENTION_ROUNDS", "2"))
RACERS = 50
TENANT = "clinica-exemplo"
PRO = "ana-souza"  # works Wednesday and Thursday 08:00-12:00 and 13:00-17:00
FIRST_DAY = date(2026, 3, 11)  # the Wednesday after TUESDAY_NOW
MORNING_SLOTS = 8  # 08:00 .. 11:30, the racers'; the other client writes the afternoons
LOCK_WAIT = 0.05  # how long a racer waits for a lock (Postgres lock_timeout, SQLite busy timeout)


def race_slot(round_: int) -> str:
    """A fresh morning slot per round (30-minute evaluations): Wednesday's eight, then Thursday's."""
    assert round_ < 2 * MORNING_SLOTS, "more rounds than free mornings"
    day = FIRST_DAY + timedelta(days=round_ // MORNING_SLOTS)
    start = datetime.combine(day, time(8)) + timedelta(minutes=30 * (round_ % MORNING_SLOTS))
    return f"{PRO}|avaliacao|{start:%Y-%m-%dT%H:%M}"


def racer_phone(round_: int, n: int) -> str:
    return f"+55119{round_:02d}{n:05d}"


def scope(store: Store, phone: str, turn: str) -> Scope:
    return Scope(tenant=example_tenant(), store=store, patient_phone=phone,
                 conversation_id=f"conversation-{turn}", turn_id=f"turn-{turn}", now=TUESDAY_NOW)


def taken_messages(tenant: Tenant, slot_id: str) -> set[str]:
    """What a patient reads when the slot is taken: the store's sentence (lost at the database)
    or the rules' (saw the winner's booking before trying)."""
    slot = parse_slot_id(slot_id, tenant)
    with pytest.raises(SlotUnavailable) as seen:
        check_bookable(tenant, slot, now=TUESDAY_NOW,
                       busy=[Busy(slot.professional_id, slot.start, slot.end)])
    return {SLOT_TAKEN, str(seen.value)}


def outcome(result: Any) -> str:
    if isinstance(result, dict):
        return "booked"
    cause = result.__cause__ or result.__context__
    return f"{type(result).__name__}({type(cause).__name__ if cause else ''}): {result}"[:160]


async def race(store: Store, round_: int) -> None:
    """RACERS patients book one slot at once through the booking tool's use case."""
    tenant, slot_id = example_tenant(), race_slot(round_)
    results = await asyncio.gather(
        *(booking.book(scope(store, racer_phone(round_, n), f"{round_}-{n}"), slot_id)
          for n in range(RACERS)),
        return_exceptions=True,
    )
    seen = Counter(outcome(r) for r in results)
    winners = [n for n, r in enumerate(results) if isinstance(r, dict)]
    messages = taken_messages(tenant, slot_id)
    losers = [r for r in results if not isinstance(r, dict)]
    assert len(winners) == 1, f"round {round_}: {seen}"
    assert all(isinstance(r, SlotUnavailable) and str(r) in messages for r in losers), (
        f"round {round_}: {seen}")
    slot = parse_slot_id(slot_id, tenant)
    active = await store.list_appointments(TENANT, start_from=slot.start, start_to=slot.end)
    assert [a.patient_phone for a in active] == [racer_phone(round_, winners[0])]


def retry_reasons(logs: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["reason"] for e in logs if e.get("event") == "database_contention_retry")


def afternoon(n: int) -> datetime:
    """The other client's appointments: the racers' professional, their days, the afternoons."""
    day = FIRST_DAY + timedelta(days=n % 2)
    local = datetime.combine(day, time(13), tzinfo=example_tenant().tz)
    return (local + timedelta(minutes=30 * (n % 8))).astimezone(UTC)


# Postgres: the other client


async def _pg_other_writes(url: str, stop: asyncio.Event) -> None:
    """Book and cancel afternoon appointments and touch patients, in small transactions."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        n = 0
        while not stop.is_set():
            n += 1
            start, phone = afternoon(n), f"+5521900{n % 1000:05d}"
            try:
                async with conn.transaction():
                    cursor = await conn.execute(
                        "INSERT INTO appointments (tenant_id, professional_id, service_id,"
                        " patient_phone, start_utc, end_utc) VALUES (%s, %s, 'avaliacao', %s, %s, %s)"
                        " ON CONFLICT DO NOTHING RETURNING id",
                        (TENANT, PRO, phone, start, start + timedelta(minutes=30)),
                    )
                    booked = await cursor.fetchone()
                    await conn.execute(
                        "INSERT INTO patients (tenant_id, phone, notes) VALUES (%s, %s, %s)"
                        " ON CONFLICT (tenant_id, phone) DO UPDATE SET notes = excluded.notes",
                        (TENANT, phone, f"load {n}"),
                    )
                if booked is not None:
                    await conn.execute(
                        "UPDATE appointments SET status = 'cancelled' WHERE id = %s", booked)
            except psycopg.errors.OperationalError:
                pass  # the other client meets the same timeouts and conflicts; it goes on
            await asyncio.sleep(0.005)


async def _pg_lock_holder(url: str, stop: asyncio.Event, hold: float) -> None:
    """Long transactions holding a lock on the appointments table that every insert and update
    waits for (reads do not)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE appointments IN SHARE ROW EXCLUSIVE MODE")
                    await asyncio.sleep(hold)
            except psycopg.errors.OperationalError:
                pass
            await asyncio.sleep(0.03)


@asynccontextmanager
async def pg_other_client(url: str, *, lock_hold: float) -> AsyncIterator[None]:
    stop = asyncio.Event()
    loads = [_pg_other_writes(url, stop), _pg_other_writes(url, stop),
             _pg_lock_holder(url, stop, lock_hold)]
    tasks = [asyncio.create_task(load) for load in loads]
    await asyncio.sleep(0.2)  # the load is running before the crowd arrives
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def pg_database(url: str, *settings: str) -> None:
    """Migrate a fresh database and configure it as a DBA would (`ALTER DATABASE ... SET`)."""
    owner = PostgresStore(url)
    await owner.setup()
    await owner.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for setting in settings:
            await conn.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET {setting}')


@dataclass(frozen=True)
class Condition:
    reason: str  # what the database refuses racers with, as the store's retry log names it
    database: tuple[str, ...] = ()
    pool: dict[str, Any] = field(default_factory=dict)
    lock_hold: float = 0.1


POSTGRES_CONDITIONS = [
    Condition("lock_timeout", database=(f"lock_timeout = '{LOCK_WAIT * 1000:.0f}ms'",),
              pool={"max_size": 5}, lock_hold=0.1),
    Condition("serialization_failure", database=("default_transaction_isolation = 'serializable'",),
              pool={"max_size": 5}, lock_hold=0.05),
    # the lock outlasts the pool wait, so racers queued for a connection time out on any machine
    Condition("pool_timeout", pool={"max_size": 3, "pool_timeout": 0.3}, lock_hold=0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize("condition", POSTGRES_CONDITIONS, ids=lambda c: c.reason)
async def test_postgres_fifty_racers_under_load_one_wins_the_rest_read_slot_taken(
    postgres_url: str, condition: Condition
) -> None:
    await pg_database(postgres_url, *condition.database)
    store = PostgresStore(postgres_url, **condition.pool)
    try:
        with capture_logs() as logs:
            async with pg_other_client(postgres_url, lock_hold=condition.lock_hold):
                for round_ in range(ROUNDS):
                    await race(store, round_)
    finally:
        await store.close()
    assert retry_reasons(logs)[condition.reason] > 0, retry_reasons(logs)


# SQLite: the other client


def _sqlite_other_client(path: str, stop: threading.Event, hold: float) -> None:
    """Write transactions holding the file's write lock for `hold` seconds each: book an
    afternoon appointment (cancelled the next time round) and touch a patient."""
    with closing(sqlite3.connect(path, timeout=5, isolation_level=None)) as conn:
        n, previous = 0, None
        while not stop.is_set():
            n += 1
            start, phone = afternoon(n), f"+5521900{n % 1000:05d}"
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            try:
                conn.execute("BEGIN IMMEDIATE")
                if previous is not None:
                    conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = ?",
                                 (previous,))
                previous = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO appointments (id, tenant_id, professional_id, service_id,"
                    " patient_phone, start_utc, end_utc, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'avaliacao', ?, ?, ?, ?, ?)",
                    (previous, TENANT, PRO, phone, f"{start:%Y-%m-%d %H:%M:%S}",
                     f"{start + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}", now, now),
                )
                conn.execute(
                    "INSERT INTO patients (tenant_id, phone, notes, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, phone)"
                    " DO UPDATE SET notes = excluded.notes",
                    (TENANT, phone, f"load {n}", now, now),
                )
                clock.sleep(hold)
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            clock.sleep(0.02)


@asynccontextmanager
async def sqlite_other_client(url: str, *, hold: float) -> AsyncIterator[None]:
    stop = threading.Event()
    worker = threading.Thread(target=_sqlite_other_client, args=(sqlite_path(url), stop, hold))
    worker.start()
    await asyncio.sleep(0.2)
    try:
        yield
    finally:
        stop.set()
        await asyncio.to_thread(worker.join)


async def test_sqlite_fifty_racers_under_load_one_wins_the_rest_read_slot_taken(
    tmp_db_url: str,
) -> None:
    store = SQLiteStore(tmp_db_url, busy_timeout=LOCK_WAIT)
    await store.setup()
    try:
        with capture_logs() as logs:
            async with sqlite_other_client(tmp_db_url, hold=0.1):
                for round_ in range(ROUNDS):
                    await race(store, round_)
    finally:
        await store.close()
    assert retry_reasons(logs)["database_locked"] > 0, retry_reasons(logs)


# a database that stays busy: the answer is still the truth


@asynccontextmanager
async def write_lock_held(backend: str, url: str) -> AsyncIterator[None]:
    """Another client holds the appointments' write lock until the block ends (reads go on)."""
    if backend.startswith("sqlite"):
        stop, locked = threading.Event(), threading.Event()

        def hold() -> None:
            with closing(sqlite3.connect(sqlite_path(url), isolation_level=None)) as conn:
                conn.execute("BEGIN IMMEDIATE")
                locked.set()
                stop.wait()
                conn.execute("ROLLBACK")

        worker = threading.Thread(target=hold)
        worker.start()
        await asyncio.to_thread(locked.wait)
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(worker.join)
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute("LOCK TABLE appointments IN SHARE ROW EXCLUSIVE MODE")
            yield


BUSY_BACKENDS = ["sqlite", "postgres-lock_timeout", "postgres-statement_timeout"]


@pytest.fixture(params=BUSY_BACKENDS)
async def busy(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Store]]:
    """A backend, and a store whose database refuses a write after waiting `LOCK_WAIT` for a lock."""
    backend: str = request.param
    store: Store
    if backend == "sqlite":
        store = SQLiteStore(request.getfixturevalue("tmp_db_url"), busy_timeout=LOCK_WAIT)
        await store.setup()
    else:
        url = request.getfixturevalue("postgres_url")
        await pg_database(url, f"{backend.split('-')[1]} = '{LOCK_WAIT * 1000:.0f}ms'")
        store = PostgresStore(url)
    yield backend, store
    await store.close()


async def raised(pending: Awaitable[Any]) -> Exception | None:
    """What `pending` raised, or None."""
    try:
        await pending
    except Exception as exc:
        return exc
    return None


def appointment(slot_id: str, phone: str) -> NewAppointment:
    slot = parse_slot_id(slot_id, example_tenant())
    return NewAppointment(tenant_id=TENANT, professional_id=slot.professional_id,
                          service_id=slot.service_id, patient_phone=phone, start=slot.start,
                          end=slot.end)


async def test_a_free_slot_is_never_reported_taken_however_long_the_database_stays_busy(
    busy: tuple[str, Store],
) -> None:
    backend, store = busy
    async with write_lock_held(backend, store.url):
        with capture_logs() as logs:
            error = await raised(booking.book(scope(store, ANA, "1"), race_slot(0)))
    assert isinstance(error, InfrastructureError), error  # a technical apology, and true
    assert not isinstance(error, DomainError)
    assert retry_reasons(logs)  # it was tried again before giving up
    assert await store.list_appointments(TENANT) == []
    booked = await booking.book(scope(store, ANA, "2"), race_slot(0))  # the lock is gone
    assert booked["ok"] and booked["action"] == "booked"


async def test_a_taken_slot_is_reported_taken_however_long_the_database_stays_busy(
    busy: tuple[str, Store],
) -> None:
    backend, store = busy
    await booking.book(scope(store, BIA, "1"), race_slot(0))
    async with write_lock_held(backend, store.url):
        error = await raised(store.book_appointment(appointment(race_slot(0), ANA)))
    assert isinstance(error, SlotUnavailable) and str(error) == SLOT_TAKEN, error
    assert [a.patient_phone for a in await store.list_appointments(TENANT)] == [BIA]


async def until_waiting_for_a_transaction(url: str) -> None:
    # its own connection, outside the writer's transaction, which would keep one stats snapshot
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(1000):
            cursor = await conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            )
            if await cursor.fetchone():
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the booking never waited for the other writer")


@pytest.mark.parametrize("other_writer", ["commits", "rolls back"])
async def test_a_booking_aborted_to_break_a_deadlock_is_retried_to_the_true_answer(
    postgres_url: str, other_writer: str
) -> None:
    """Another client inserts into the slot (uncommitted), the patient's booking waits for it, then
    the client waits for the patient's table lock: Postgres aborts the patient's transaction
    (it detects first), the booking runs again and answers with what the client then did."""
    await pg_database(postgres_url, "deadlock_timeout = '100ms'")
    store = PostgresStore(postgres_url)
    wanted, taken_by_other = appointment(race_slot(0), ANA), appointment(race_slot(0), BIA)
    try:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as other:
            await other.execute("BEGIN")
            await other.execute("SET LOCAL deadlock_timeout = '10s'")  # the patient detects first
            await other.execute(
                "INSERT INTO appointments (tenant_id, professional_id, service_id, patient_phone,"
                " start_utc, end_utc) VALUES (%s, %s, %s, %s, %s, %s)",
                (TENANT, taken_by_other.professional_id, taken_by_other.service_id, BIA,
                 taken_by_other.start, taken_by_other.end),
            )
            with capture_logs() as logs:
                booking_ = asyncio.create_task(raised(store.book_appointment(wanted)))
                await until_waiting_for_a_transaction(postgres_url)  # the patient waits for the client
                await other.execute("LOCK TABLE appointments IN SHARE MODE")  # the cycle
                await other.execute("COMMIT" if other_writer == "commits" else "ROLLBACK")
                error = await booking_
        assert retry_reasons(logs)["deadlock"] >= 1, retry_reasons(logs)
        phones = [a.patient_phone for a in await store.list_appointments(TENANT)]
    finally:
        await store.close()
    if other_writer == "commits":
        assert isinstance(error, SlotUnavailable) and str(error) == SLOT_TAKEN, error
        assert phones == [BIA]
    else:
        assert error is None
        assert phones == [ANA]
