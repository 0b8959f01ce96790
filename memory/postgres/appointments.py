"""The Postgres store's calendar: booking, listing, cancelling and moving appointments.

No double booking is the `appointments_no_overlap` exclusion constraint's job: however two
bookings race, Postgres lets one commit and refuses the other (`SlotUnavailable`). A booking
inserts with ON CONFLICT DO NOTHING on that constraint: racing inserts then wait for each other
instead of deadlocking (a plain INSERT's exclusion checks can each wait on the other, and
Postgres breaks that only after `deadlock_timeout`, one racer per second). Whatever else a busy
database answers is `contention.take_slot`'s to retry or settle.
"""

from __future__ import annotations

from typing import Any

from atende.errors import SlotUnavailable

from ..records import ACTIVE_STATUSES, SLOT_TAKEN, Appointment, AppointmentStatus, NewAppointment, own_active
from ..shared.appointments import Appointments
from ..shared.rows import filters
from ..shared.script import Step
from .base import PostgresBase
from .proactive import run_steps
from .rows import Conn, as_uuid, fetch_one, must


async def lock_own_active(conn: Conn, tenant_id: str, appointment_id: str, patient_phone: str) -> None:
    """Lock the patient's own active appointment, or `NotFound`."""
    own_active(await fetch_one(
        Appointment, conn,
        "SELECT * FROM appointments WHERE tenant_id = %s AND id = %s AND patient_phone = %s FOR UPDATE",
        (tenant_id, appointment_id, patient_phone),
    ) if as_uuid(appointment_id) else None)


class AppointmentsMixin(Appointments, PostgresBase):
    async def _slot_taken(self, tenant_id: str, professional_id: str, start: Any, end: Any, *,
                          other_than: str | None = None) -> bool:
        sql = ("SELECT 1 FROM appointments WHERE tenant_id = %s AND professional_id = %s"
               " AND status = ANY(%s::text[]) AND tstzrange(start_utc, end_utc) && tstzrange(%s, %s)")
        params: list[Any] = [tenant_id, professional_id, list(ACTIVE_STATUSES), start, end]
        if other_than is not None and as_uuid(other_than) is not None:
            sql += " AND id <> %s"
            params.append(as_uuid(other_than))
        async with self._tx(tenant_id) as conn:
            return await (await conn.execute(sql + " LIMIT 1", params)).fetchone() is not None

    async def _book(self, appointment_id: str, new: NewAppointment, start: Any, end: Any,
                    steps: list[Step]) -> Appointment:
        now = self._now()
        async with self._tx(new.tenant_id) as conn:
            booked = await fetch_one(
                Appointment, conn,
                "INSERT INTO appointments (id, tenant_id, professional_id, service_id,"
                " patient_phone, start_utc, end_utc, status, source, external_ref, created_by_turn,"
                " updated_by_turn, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " 'booked', %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT ON CONSTRAINT appointments_no_overlap DO NOTHING RETURNING *",
                (appointment_id, new.tenant_id, new.professional_id, new.service_id,
                 new.patient_phone, start, end, new.source, new.external_ref,
                 new.created_by_turn, new.created_by_turn, now, now),
            )
            if booked is not None:
                await run_steps(conn, steps)  # its reminders, in the booking's transaction
        if booked is None:
            raise SlotUnavailable(SLOT_TAKEN)
        return booked

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None:
        if as_uuid(appointment_id) is None:
            return None
        return await self._get(
            Appointment, tenant_id,
            "SELECT * FROM appointments WHERE tenant_id = %s AND id = %s"
            " AND (%s::text IS NULL OR patient_phone = %s)",
            (tenant_id, appointment_id, patient_phone, patient_phone))

    async def _appointments(self, tenant_id: str, conditions: list[tuple[str, Any]],
                            statuses: tuple[AppointmentStatus, ...] | None) -> list[Appointment]:
        where, params = filters(conditions, "%s")
        if statuses is not None:
            where += " AND status = ANY(%s::text[])"
            params.append(list(statuses))
        return await self._list(Appointment, tenant_id,
                                f"SELECT * FROM appointments WHERE {where} ORDER BY start_utc, id", params)

    async def _move(self, tenant_id: str, appointment_id: str, patient_phone: str,
                    values: dict[str, Any], steps: list[Step] = ()) -> Appointment:  # type: ignore[assignment]
        changes = {**values, "updated_at": self._now()}
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        async with self._tx(tenant_id) as conn:
            await lock_own_active(conn, tenant_id, appointment_id, patient_phone)
            moved = await must(  # in place: the exclusion constraint refuses an overlap
                Appointment, conn, f"UPDATE appointments SET {sets} WHERE id = %(id)s RETURNING *",
                {**changes, "id": appointment_id})
            await run_steps(conn, steps)  # its reminders, in the same transaction
            return moved
