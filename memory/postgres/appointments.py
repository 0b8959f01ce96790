"""The Postgres store's calendar: booking, listing, cancelling and moving appointments.

No double booking is the `appointments_no_overlap` exclusion constraint's job: however two
bookings race, Postgres lets one commit and refuses the other (`SlotUnavailable`). A booking
inserts with ON CONFLICT DO NOTHING on that constraint: racing inserts then wait for each other
instead of deadlocking (a plain INSERT's exclusion checks can each wait on the other, and
Postgres breaks that only after `deadlock_timeout`, one racer per second). Whatever else a busy
database answers is `contention.take_slot`'s to retry or settle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atende.errors import NotFound, SlotUnavailable

from ..contention import take_slot
from ..sqlite.rows import (
    APPOINTMENT_NOT_FOUND,
    APPOINTMENT_STATUSES,
    NOT_ACTIVE,
    SLOT_TAKEN,
    check_choice,
    check_phone,
)
from ..store import ACTIVE_STATUSES, Appointment, AppointmentStatus, NewAppointment
from .base import PostgresBase
from .rows import Conn, as_uuid, fetch_one, must, utc


async def lock_own_active(conn: Conn, tenant_id: str, appointment_id: str, patient_phone: str) -> None:
    """Lock the patient's own active appointment, or `NotFound`."""
    found = await fetch_one(
        Appointment, conn,
        "SELECT * FROM appointments WHERE tenant_id = %s AND id = %s AND patient_phone = %s FOR UPDATE",
        (tenant_id, appointment_id, patient_phone),
    ) if as_uuid(appointment_id) else None
    if found is None:
        raise NotFound(APPOINTMENT_NOT_FOUND)
    if found.status not in ACTIVE_STATUSES:
        raise NotFound(NOT_ACTIVE.get(found.status, APPOINTMENT_NOT_FOUND))


def slot(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
    return start, end


class AppointmentsMixin(PostgresBase):
    async def _slot_taken(self, tenant_id: str, professional_id: str, start: datetime,
                          end: datetime, *, other_than: str | None = None) -> bool:
        """Whether an active appointment (other than `other_than`) overlaps the slot."""
        sql = ("SELECT 1 FROM appointments WHERE tenant_id = %s AND professional_id = %s"
               " AND status = ANY(%s::text[]) AND tstzrange(start_utc, end_utc) && tstzrange(%s, %s)")
        params: list[Any] = [tenant_id, professional_id, list(ACTIVE_STATUSES), start, end]
        if other_than is not None:
            sql += " AND id <> %s"
            params.append(other_than)
        async with self._tx(tenant_id) as conn:
            return await (await conn.execute(sql + " LIMIT 1", params)).fetchone() is not None

    async def book_appointment(self, new: NewAppointment) -> Appointment:
        """Insert a `booked` appointment; `SlotUnavailable` if it overlaps an active one."""
        check_phone(new.patient_phone)
        start, end = slot(new.start, new.end)
        now = self._now()

        async def insert() -> Appointment:
            async with self._tx(new.tenant_id) as conn:
                booked = await fetch_one(
                    Appointment, conn,
                    "INSERT INTO appointments (tenant_id, professional_id, service_id, patient_phone,"
                    " start_utc, end_utc, status, created_by_turn, updated_by_turn, created_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'booked', %s, %s, %s, %s)"
                    " ON CONFLICT ON CONSTRAINT appointments_no_overlap DO NOTHING RETURNING *",
                    (new.tenant_id, new.professional_id, new.service_id, new.patient_phone, start,
                     end, new.created_by_turn, new.created_by_turn, now, now),
                )
            if booked is None:
                raise SlotUnavailable(SLOT_TAKEN)
            return booked

        return await take_slot(
            insert, lambda: self._slot_taken(new.tenant_id, new.professional_id, start, end)
        )

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None:
        """The appointment, or None when unknown or (given `patient_phone`) someone else's."""
        if as_uuid(appointment_id) is None:
            return None
        sql = "SELECT * FROM appointments WHERE tenant_id = %s AND id = %s"
        params = [tenant_id, appointment_id]
        if patient_phone is not None:
            sql += " AND patient_phone = %s"
            params.append(patient_phone)
        return await self._get(Appointment, tenant_id, sql, params)

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
        where: list[str] = ["tenant_id = %s"]
        params: list[Any] = [tenant_id]
        conditions: list[tuple[str, Any]] = [
            ("patient_phone = %s", patient_phone),
            ("professional_id = %s", professional_id),
            ("start_utc >= %s", utc(start_from) if start_from else None),
            ("start_utc < %s", utc(start_to) if start_to else None),
        ]
        for condition, value in conditions:
            if value is not None:
                where.append(condition)
                params.append(value)
        if statuses is not None:
            for status in statuses:
                check_choice("status", status, APPOINTMENT_STATUSES)
            where.append("status = ANY(%s::text[])")
            params.append(list(statuses))
        sql = f"SELECT * FROM appointments WHERE {' AND '.join(where)} ORDER BY start_utc, id"
        return await self._list(Appointment, tenant_id, sql, params)

    async def cancel_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, turn_id: str | None = None
    ) -> Appointment:
        """Cancel the patient's own active appointment; `NotFound` otherwise."""
        async with self._tx(tenant_id) as conn:
            await lock_own_active(conn, tenant_id, appointment_id, patient_phone)
            return await must(
                Appointment, conn,
                "UPDATE appointments SET status = 'cancelled', updated_by_turn = %s, updated_at = %s"
                " WHERE id = %s RETURNING *",
                (turn_id, self._now(), appointment_id),
            )

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
        start, end = slot(start, end)
        values = (professional_id, start, end, turn_id, self._now(), appointment_id)

        async def move() -> Appointment:
            async with self._tx(tenant_id) as conn:
                await lock_own_active(conn, tenant_id, appointment_id, patient_phone)
                return await must(  # in place: the exclusion constraint refuses an overlap
                    Appointment, conn,
                    "UPDATE appointments SET professional_id = %s, start_utc = %s, end_utc = %s,"
                    " updated_by_turn = %s, updated_at = %s WHERE id = %s RETURNING *",
                    values,
                )

        return await take_slot(move, lambda: self._slot_taken(
            tenant_id, professional_id, start, end, other_than=as_uuid(appointment_id)))
