"""The SQLite store's calendar: booking, listing, cancelling and moving appointments.

No double booking is the overlap trigger's job (`slot_taken` → `SlotUnavailable`); a file
another writer keeps locked past the busy timeout is `contention.take_slot`'s to retry or settle.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime

from atende.errors import NotFound

from ..contention import take_slot
from ..store import ACTIVE_STATUSES, Appointment, AppointmentStatus, NewAppointment
from .base import SQLiteBase
from .rows import (
    APPOINTMENT_NOT_FOUND,
    APPOINTMENT_STATUSES,
    NOT_ACTIVE,
    check_choice,
    check_phone,
    fetch,
    insert,
    select,
    to_db,
    transaction,
)


def check_own_active(
    conn: sqlite3.Connection, tenant_id: str, appointment_id: str, patient_phone: str
) -> None:
    key = {"tenant_id": tenant_id, "id": appointment_id, "patient_phone": patient_phone}
    row = conn.execute(*select("appointments", key)).fetchone()
    if row is None:
        raise NotFound(APPOINTMENT_NOT_FOUND)
    if row["status"] not in ACTIVE_STATUSES:
        raise NotFound(NOT_ACTIVE.get(row["status"], APPOINTMENT_NOT_FOUND))


def slot(start: datetime, end: datetime) -> tuple[str, str]:
    start_db, end_db = to_db(start), to_db(end)
    if end_db <= start_db:
        raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
    return start_db, end_db


class AppointmentsMixin(SQLiteBase):
    async def _slot_taken(self, tenant_id: str, professional_id: str, start: str, end: str,
                          *, other_than: str | None = None) -> bool:
        """Whether an active appointment (other than `other_than`) overlaps the slot."""
        sql = ("SELECT 1 FROM appointments WHERE tenant_id = ? AND professional_id = ?"
               f" AND status IN ({', '.join('?' * len(ACTIVE_STATUSES))})"
               " AND start_utc < ? AND end_utc > ? AND id <> ? LIMIT 1")
        params = (tenant_id, professional_id, *ACTIVE_STATUSES, end, start, other_than or "")
        return await self._run(lambda conn: conn.execute(sql, params).fetchone() is not None)

    async def book_appointment(self, new: NewAppointment) -> Appointment:
        """Insert a `booked` appointment; `SlotUnavailable` if it overlaps an active one."""
        check_phone(new.patient_phone)
        start, end = slot(new.start, new.end)
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
            with transaction(conn):
                insert(conn, "appointments", row)  # the trigger refuses an overlap
                return fetch(Appointment, conn, "appointments", id=row["id"])

        return await take_slot(lambda: self._run(op), lambda: self._slot_taken(
            new.tenant_id, new.professional_id, start, end))

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
            ("start_utc >= ?", to_db(start_from) if start_from else None),
            ("start_utc < ?", to_db(start_to) if start_to else None),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        if statuses is not None:
            for status in statuses:
                check_choice("status", status, APPOINTMENT_STATUSES)
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
            with transaction(conn):
                check_own_active(conn, tenant_id, appointment_id, patient_phone)
                conn.execute(
                    "UPDATE appointments SET status = 'cancelled', updated_by_turn = ?,"
                    " updated_at = ? WHERE id = ?",
                    values,
                )
                return fetch(Appointment, conn, "appointments", id=appointment_id)

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
        start_db, end_db = slot(start, end)
        values = (professional_id, start_db, end_db, turn_id, self._now(), appointment_id)

        def op(conn: sqlite3.Connection) -> Appointment:
            with transaction(conn):
                check_own_active(conn, tenant_id, appointment_id, patient_phone)
                conn.execute(  # in place: the update trigger refuses an overlap
                    "UPDATE appointments SET professional_id = ?, start_utc = ?, end_utc = ?,"
                    " updated_by_turn = ?, updated_at = ? WHERE id = ?",
                    values,
                )
                return fetch(Appointment, conn, "appointments", id=appointment_id)

        return await take_slot(lambda: self._run(op), lambda: self._slot_taken(
            tenant_id, professional_id, start_db, end_db, other_than=appointment_id))
