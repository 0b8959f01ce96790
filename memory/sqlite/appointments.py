"""The SQLite store's calendar: booking, listing, cancelling and moving appointments.

No double booking is the overlap trigger's job (`slot_taken` → `SlotUnavailable`); a file
another writer keeps locked past the busy timeout is `contention.take_slot`'s to retry or settle.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..records import ACTIVE_STATUSES, Appointment, AppointmentStatus, NewAppointment, own_active
from ..shared.appointments import Appointments
from ..shared.rows import filters
from ..shared.script import Step
from .base import SQLiteBase
from .proactive import run_steps
from .rows import fetch, insert, record, select, transaction


def lock_own_active(conn: sqlite3.Connection, tenant_id: str, appointment_id: str, phone: str) -> None:
    key = {"tenant_id": tenant_id, "id": appointment_id, "patient_phone": phone}
    row = conn.execute(*select("appointments", key)).fetchone()  # BEGIN IMMEDIATE holds the lock
    own_active(None if row is None else record(Appointment, row))


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" * len(values))


class AppointmentsMixin(Appointments, SQLiteBase):
    async def _slot_taken(self, tenant_id: str, professional_id: str, start: Any, end: Any, *,
                          other_than: str | None = None) -> bool:
        sql = ("SELECT 1 FROM appointments WHERE tenant_id = ? AND professional_id = ?"
               f" AND status IN ({_marks(ACTIVE_STATUSES)})"
               " AND start_utc < ? AND end_utc > ? AND id <> ? LIMIT 1")
        params = (tenant_id, professional_id, *ACTIVE_STATUSES, end, start, other_than or "")
        return await self._run(lambda conn: conn.execute(sql, params).fetchone() is not None)

    async def _book(self, appointment_id: str, new: NewAppointment, start: Any, end: Any,
                    steps: list[Step]) -> Appointment:
        now = self._now()
        row = {"id": appointment_id, "tenant_id": new.tenant_id,
               "professional_id": new.professional_id, "service_id": new.service_id,
               "patient_phone": new.patient_phone, "start_utc": start, "end_utc": end,
               "status": "booked", "source": new.source, "external_ref": new.external_ref,
               "created_by_turn": new.created_by_turn,
               "updated_by_turn": new.created_by_turn, "created_at": now, "updated_at": now}

        def op(conn: sqlite3.Connection) -> Appointment:
            with transaction(conn):
                insert(conn, "appointments", row)  # the trigger refuses an overlap
                run_steps(conn, steps)
                return fetch(Appointment, conn, "appointments", id=row["id"])

        return await self._run(op)

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None:
        key = {"tenant_id": tenant_id, "id": appointment_id}
        if patient_phone is not None:
            key["patient_phone"] = patient_phone
        return await self._get(Appointment, "appointments", **key)

    async def _appointments(self, tenant_id: str, conditions: list[tuple[str, Any]],
                            statuses: tuple[AppointmentStatus, ...] | None) -> list[Appointment]:
        where, params = filters(conditions, "?")
        if statuses is not None:
            where += f" AND status IN ({_marks(statuses)})"
            params.extend(statuses)
        return await self._list(
            Appointment, f"SELECT * FROM appointments WHERE {where} ORDER BY start_utc, id", params)

    async def _move(self, tenant_id: str, appointment_id: str, patient_phone: str,
                    values: dict[str, Any], steps: list[Step] = ()) -> Appointment:  # type: ignore[assignment]
        changes = {**values, "updated_at": self._now()}
        sets = ", ".join(f"{column} = :{column}" for column in changes)

        def op(conn: sqlite3.Connection) -> Appointment:
            with transaction(conn):
                lock_own_active(conn, tenant_id, appointment_id, patient_phone)
                conn.execute(  # in place: the update trigger refuses an overlap
                    f"UPDATE appointments SET {sets} WHERE id = :id", {**changes, "id": appointment_id})
                run_steps(conn, steps)
                return fetch(Appointment, conn, "appointments", id=appointment_id)

        return await self._run(op)
