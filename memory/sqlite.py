"""The embedded default `Store`: one SQLite file, stdlib sqlite3 run in worker threads."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from atende.clock import Clock, SystemClock
from atende.errors import ConfigError, InfrastructureError, NotFound, SlotUnavailable
from atende.memory.migrations_sqlite import BOOTSTRAP, MIGRATIONS
from atende.memory.store import (
    ACTIVE_STATUSES,
    LEAD_STAGES,
    Appointment,
    AppointmentStatus,
    Conversation,
    ConversationStatus,
    Direction,
    LeadStage,
    Message,
    MessageStatus,
    NewAppointment,
    Patient,
    Turn,
)

T = TypeVar("T")
R = TypeVar("R", Patient, Conversation, Message, Appointment, Turn)

BUSY_TIMEOUT_S = 30.0
SLOT_TAKEN = "Esse horário acabou de ser ocupado. Vou buscar outras opções."
APPOINTMENT_NOT_FOUND = "Não encontrei esse agendamento entre os seus."
NOT_ACTIVE = {
    "cancelled": "Esse agendamento já está cancelado.",
    "completed": "Esse agendamento já aconteceu, então não dá para alterá-lo.",
    "no_show": "Esse agendamento já passou, então não dá para alterá-lo.",
}
CONVERSATION_NOT_FOUND = "Não encontrei essa conversa."
TURN_NOT_FOUND = "Não encontrei esse turno."

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_APPOINTMENT_STATUSES = ("booked", "confirmed", "cancelled", "completed", "no_show")
_MESSAGE_STATUSES = ("received", "queued", "sent", "delivered", "read", "failed")


def sqlite_path(url: str) -> str:
    """The file in `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        raise ConfigError(f"expected sqlite:///path.db, got {url!r}", field="database_url")
    path = url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        # every operation opens its own connection, and each would see a different empty db
        raise ConfigError("SQLite needs a file path, not :memory:", field="database_url")
    return path


class SQLiteStore:
    """`Store` on one SQLite file in WAL mode, safe for many threads and processes at once.

    Each call runs in a worker thread on a pooled connection used by that thread alone; writes
    take the write lock up front (`BEGIN IMMEDIATE`); no double booking is a trigger's job.
    """

    def __init__(self, url: str, *, clock: Clock | None = None, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._clock = clock or SystemClock()
        self._busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()

    async def setup(self) -> None:
        """Create the file and apply pending `MIGRATIONS`; idempotent, safe across processes."""
        await asyncio.to_thread(self._setup)

    def _setup(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            # WAL lets readers run beside the one writer; the mode is stored in the file.
            conn.execute("PRAGMA journal_mode = WAL")
            with _transaction(conn):
                conn.execute(BOOTSTRAP)
                (current,) = conn.execute("SELECT max(v) FROM schema_migrations").fetchone()
                current = -1 if current is None else current
                if current >= len(MIGRATIONS):
                    raise InfrastructureError(
                        f"{self.path} has schema v{current}, newer than this code's v{len(MIGRATIONS) - 1}"
                    )
                for version in range(current + 1, len(MIGRATIONS)):
                    for statement in _statements(MIGRATIONS[version]):
                        conn.execute(statement)
                    _insert(conn, "schema_migrations", {"v": version, "applied_at": self._now()})

    async def close(self) -> None:
        """Close the pooled connections (a later call simply opens new ones)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # patients / leads

    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return await self._get(Patient, "patients", tenant_id=tenant_id, phone=phone)

    async def upsert_patient(self, tenant_id: str, phone: str, *, source: str | None = None) -> Patient:
        """Return the patient, creating a `new` lead on first contact; fills a missing source."""
        _check_phone(phone)
        now = self._now()
        row = {"tenant_id": tenant_id, "phone": phone, "source": source}

        def op(conn: sqlite3.Connection) -> Patient:
            with _transaction(conn):
                _insert(
                    conn,
                    "patients",
                    {**row, "created_at": now, "updated_at": now},
                    "ON CONFLICT (tenant_id, phone) DO UPDATE SET source = excluded.source,"
                    " updated_at = excluded.updated_at"
                    " WHERE patients.source IS NULL AND excluded.source IS NOT NULL",
                )
                return _fetch(Patient, conn, "patients", tenant_id=tenant_id, phone=phone)

        return await self._run(op)

    async def update_patient(
        self,
        tenant_id: str,
        phone: str,
        *,
        name: str | None = None,
        stage: LeadStage | None = None,
        interest: str | None = None,
        source: str | None = None,
        add_note: str | None = None,
    ) -> Patient:
        """Set the given fields (None leaves a field as it is); notes are appended, one a line."""
        _check_phone(phone)
        if stage is not None:
            _check_choice("stage", stage, LEAD_STAGES)
        now = self._now()
        key = {"tenant_id": tenant_id, "phone": phone}
        changes = {"name": name, "stage": stage, "interest": interest, "source": source}
        note = (add_note or "").strip() or None

        def op(conn: sqlite3.Connection) -> Patient:
            with _transaction(conn):
                _insert(
                    conn,
                    "patients",
                    {**key, "created_at": now, "updated_at": now},
                    "ON CONFLICT (tenant_id, phone) DO NOTHING",
                )
                conn.execute(
                    "UPDATE patients SET name = coalesce(:name, name),"
                    " stage = coalesce(:stage, stage), interest = coalesce(:interest, interest),"
                    " source = coalesce(:source, source), updated_at = :now,"
                    " notes = CASE WHEN :note IS NULL THEN notes WHEN notes = '' THEN :note"
                    "   ELSE notes || char(10) || :note END"
                    " WHERE tenant_id = :tenant_id AND phone = :phone",
                    {**key, **changes, "note": note, "now": now},
                )
                return _fetch(Patient, conn, "patients", **key)

        return await self._run(op)

    # conversations and messages

    async def get_or_create_conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        _check_phone(phone)
        key = {"tenant_id": tenant_id, "phone": phone}
        row = {"id": str(uuid.uuid4()), **key, "channel": channel, "created_at": self._now()}

        def op(conn: sqlite3.Connection) -> Conversation:
            # insert-or-nothing then read: two racing first messages share one conversation
            with _transaction(conn):
                _insert(conn, "conversations", row, "ON CONFLICT (tenant_id, phone) DO NOTHING")
                return _fetch(Conversation, conn, "conversations", **key)

        return await self._run(op)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._get(Conversation, "conversations", id=conversation_id)

    async def set_conversation_status(
        self, conversation_id: str, status: ConversationStatus, *, reason: str | None = None
    ) -> Conversation:
        """`human` records the handoff reason and time; back to `active` clears them."""
        _check_choice("status", status, ("active", "human"))
        human = status == "human"
        values = (status, reason if human else None, self._now() if human else None)

        def op(conn: sqlite3.Connection) -> Conversation:
            with _transaction(conn):
                if not conn.execute(
                    "UPDATE conversations SET status = ?, handoff_reason = ?, handoff_at = ? WHERE id = ?",
                    (*values, conversation_id),
                ).rowcount:
                    raise NotFound(CONVERSATION_NOT_FOUND)
                return _fetch(Conversation, conn, "conversations", id=conversation_id)

        return await self._run(op)

    async def add_message(
        self,
        conversation_id: str,
        *,
        direction: Direction,
        text: str | None,
        kind: str = "text",
        status: MessageStatus = "received",
        provider_message_id: str | None = None,
        turn_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        """Append a message; a redelivered `provider_message_id` returns the one stored first."""
        _check_choice("direction", direction, ("in", "out"))
        _check_choice("status", status, _MESSAGE_STATUSES)
        now = self._now()
        row = {
            "id": str(uuid.uuid4()),
            "conversation_id": conversation_id,
            "direction": direction,
            "kind": kind,
            "text": text,
            "status": status,
            "provider_message_id": provider_message_id,
            "turn_id": turn_id,
            "meta": json.dumps(meta or {}, ensure_ascii=False),
            "created_at": now,
        }

        def op(conn: sqlite3.Connection) -> Message:
            with _transaction(conn):
                tenant_id = _conversation_tenant(conn, conversation_id)
                inserted = _insert(
                    conn,
                    "messages",
                    {**row, "tenant_id": tenant_id},
                    "ON CONFLICT (tenant_id, provider_message_id)"
                    " WHERE provider_message_id IS NOT NULL DO NOTHING",
                ).rowcount
                if not inserted:
                    return _fetch(
                        Message,
                        conn,
                        "messages",
                        tenant_id=tenant_id,
                        provider_message_id=provider_message_id,
                    )
                if direction == "in":
                    conn.execute(
                        "UPDATE conversations SET last_inbound_at = ? WHERE id = ?",
                        (now, conversation_id),
                    )
                return _fetch(Message, conn, "messages", id=row["id"])

        return await self._run(op)

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        """The newest `limit` messages, oldest first."""
        return await self._list(
            Message,
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (conversation_id, max(limit, 0)),
        )

    # appointments

    async def book_appointment(self, new: NewAppointment) -> Appointment:
        """Insert a `booked` appointment; `SlotUnavailable` if it overlaps an active one."""
        _check_phone(new.patient_phone)
        start, end = _slot(new.start, new.end)
        now = self._now()
        row = {
            "id": str(uuid.uuid4()),
            "tenant_id": new.tenant_id,
            "professional_id": new.professional_id,
            "service_id": new.service_id,
            "patient_phone": new.patient_phone,
            "start_utc": start,
            "end_utc": end,
            "status": "booked",
            "created_by_turn": new.created_by_turn,
            "updated_by_turn": new.created_by_turn,
            "created_at": now,
            "updated_at": now,
        }

        def op(conn: sqlite3.Connection) -> Appointment:
            with _transaction(conn):
                _insert(conn, "appointments", row)  # the trigger refuses an overlap
                return _fetch(Appointment, conn, "appointments", id=row["id"])

        return await self._run(op)

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None:
        """The appointment, or None when unknown or (given `patient_phone`) someone else's."""
        key = {"tenant_id": tenant_id, "id": appointment_id}
        if patient_phone is not None:
            key["patient_phone"] = patient_phone
        return await self._get(Appointment, "appointments", **key)

    async def list_appointments(
        self,
        tenant_id: str,
        *,
        patient_phone: str | None = None,
        professional_id: str | None = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        statuses: tuple[AppointmentStatus, ...] | None = ACTIVE_STATUSES,
    ) -> list[Appointment]:
        """Ordered by start; `start_from <= start < start_to`; `statuses=None` for all."""
        where, params = ["tenant_id = ?"], [tenant_id]
        for condition, value in (
            ("patient_phone = ?", patient_phone),
            ("professional_id = ?", professional_id),
            ("start_utc >= ?", _to_db(start_from) if start_from else None),
            ("start_utc < ?", _to_db(start_to) if start_to else None),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        if statuses is not None:
            for status in statuses:
                _check_choice("status", status, _APPOINTMENT_STATUSES)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        sql = f"SELECT * FROM appointments WHERE {' AND '.join(where)} ORDER BY start_utc, id"
        return await self._list(Appointment, sql, params)

    async def cancel_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, turn_id: str | None = None
    ) -> Appointment:
        """Cancel the patient's own active appointment; `NotFound` otherwise."""
        values = (turn_id, self._now(), appointment_id)

        def op(conn: sqlite3.Connection) -> Appointment:
            with _transaction(conn):
                _check_own_active(conn, tenant_id, appointment_id, patient_phone)
                conn.execute(
                    "UPDATE appointments SET status = 'cancelled', updated_by_turn = ?,"
                    " updated_at = ? WHERE id = ?",
                    values,
                )
                return _fetch(Appointment, conn, "appointments", id=appointment_id)

        return await self._run(op)

    async def reschedule_appointment(
        self,
        tenant_id: str,
        appointment_id: str,
        *,
        patient_phone: str,
        professional_id: str,
        start: datetime,
        end: datetime,
        turn_id: str | None = None,
    ) -> Appointment:
        """Move the patient's own active appointment atomically (`SlotUnavailable` on overlap)."""
        values = (professional_id, *_slot(start, end), turn_id, self._now(), appointment_id)

        def op(conn: sqlite3.Connection) -> Appointment:
            with _transaction(conn):
                _check_own_active(conn, tenant_id, appointment_id, patient_phone)
                conn.execute(  # in place: the update trigger refuses an overlap
                    "UPDATE appointments SET professional_id = ?, start_utc = ?, end_utc = ?,"
                    " updated_by_turn = ?, updated_at = ? WHERE id = ?",
                    values,
                )
                return _fetch(Appointment, conn, "appointments", id=appointment_id)

        return await self._run(op)

    # turns

    async def start_turn(
        self, conversation_id: str, tenant_id: str, *, model: str, prompt_version: str
    ) -> Turn:
        row = {
            "id": str(uuid.uuid4()),
            "conversation_id": conversation_id,
            "tenant_id": tenant_id,
            "started_at": self._now(),
            "model": model,
            "prompt_version": prompt_version,
        }

        def op(conn: sqlite3.Connection) -> Turn:
            with _transaction(conn):
                if _conversation_tenant(conn, conversation_id) != tenant_id:
                    raise NotFound(CONVERSATION_NOT_FOUND)
                _insert(conn, "turns", row)
                return _fetch(Turn, conn, "turns", id=row["id"])

        return await self._run(op)

    async def finish_turn(
        self, turn_id: str, *, outcome: str, tokens_in: int = 0, tokens_out: int = 0
    ) -> Turn:
        values = (self._now(), outcome, tokens_in, tokens_out, turn_id)

        def op(conn: sqlite3.Connection) -> Turn:
            with _transaction(conn):
                if not conn.execute(
                    "UPDATE turns SET finished_at = max(?, started_at), outcome = ?,"
                    " tokens_in = ?, tokens_out = ? WHERE id = ?",
                    values,
                ).rowcount:
                    raise NotFound(TURN_NOT_FOUND)
                return _fetch(Turn, conn, "turns", id=turn_id)

        return await self._run(op)

    # plumbing

    def _now(self) -> str:
        return _to_db(self._clock.now())

    async def _get(self, cls: type[R], table: str, **key: str) -> R | None:
        def op(conn: sqlite3.Connection) -> R | None:
            row = conn.execute(*_select(table, key)).fetchone()
            return None if row is None else _record(cls, row)

        return await self._run(op)

    async def _list(self, cls: type[R], sql: str, params: Any) -> list[R]:
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [_record(cls, row) for row in rows]

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, op)

    def _call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._connection() as conn:
                return op(conn)
        except sqlite3.IntegrityError as exc:
            if "slot_taken" in str(exc):
                raise SlotUnavailable(SLOT_TAKEN) from exc
            raise InfrastructureError(f"database constraint failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise InfrastructureError(f"database error: {exc}") from exc

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for the calling thread alone, returned to the pool afterwards."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            # isolation_level=None: no implicit BEGINs; `_transaction` spells them out
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
        try:
            yield conn
        finally:
            if conn.in_transaction:  # only if a ROLLBACK failed: do not reuse it
                conn.close()
            else:
                with self._idle_lock:
                    self._idle.append(conn)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Hold the write lock from the first statement, so read-then-write cannot deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (trigger bodies keep their inner semicolons)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buffer.strip()[:80]}")


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], conflict: str = "") -> sqlite3.Cursor:
    columns = ", ".join(row)
    marks = ", ".join(f":{column}" for column in row)
    return conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", row)


def _select(table: str, key: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    where = " AND ".join(f"{column} = :{column}" for column in key)
    return f"SELECT * FROM {table} WHERE {where}", key


def _fetch(cls: type[R], conn: sqlite3.Connection, table: str, **key: Any) -> R:
    """The one row that must exist (it was just written in this transaction)."""
    return _record(cls, conn.execute(*_select(table, key)).fetchone())


def _check_own_active(
    conn: sqlite3.Connection, tenant_id: str, appointment_id: str, patient_phone: str
) -> None:
    key = {"tenant_id": tenant_id, "id": appointment_id, "patient_phone": patient_phone}
    row = conn.execute(*_select("appointments", key)).fetchone()
    if row is None:
        raise NotFound(APPOINTMENT_NOT_FOUND)
    if row["status"] not in ACTIVE_STATUSES:
        raise NotFound(NOT_ACTIVE.get(row["status"], APPOINTMENT_NOT_FOUND))


def _conversation_tenant(conn: sqlite3.Connection, conversation_id: str) -> str:
    row = conn.execute("SELECT tenant_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return str(row["tenant_id"])


def _check_phone(phone: str) -> None:
    if not _E164.fullmatch(phone):
        raise ValueError(f"phone must be E.164 like +5511999998888, got {phone!r}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _slot(start: datetime, end: datetime) -> tuple[str, str]:
    start_db, end_db = _to_db(start), _to_db(end)
    if end_db <= start_db:
        raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
    return start_db, end_db


def _to_db(moment: datetime) -> str:
    """Fixed-width UTC text to the second: sorts and compares like the instant it names."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}; atende stores timezone-aware instants")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_FIELDS = {cls: {f.name for f in fields(cls)} for cls in (Patient, Conversation, Message, Appointment, Turn)}
_RENAMED = {"start_utc": "start", "end_utc": "end"}


def _record(cls: type[R], row: sqlite3.Row) -> R:
    """The record for a row: `*_at`/`*_utc` text becomes aware UTC datetimes, `meta` a dict."""
    values: dict[str, Any] = {}
    for column in row.keys():
        name = _RENAMED.get(column, column)
        if name not in _FIELDS[cls]:
            continue  # storage-only columns: seq, updated_by_turn
        value = row[column]
        if value is not None and column.endswith(("_at", "_utc")):
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        elif column == "meta":
            value = json.loads(value)
        values[name] = value
    return cls(**values)
