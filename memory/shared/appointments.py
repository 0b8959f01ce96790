"""Booking, listing, cancelling and moving appointments: the checks of those `Store` methods and
how a busy database is settled (`contention.take_slot`), once; the SQL is each backend's
`appointments.py`, and no double booking is each schema's constraint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..contention import take_slot
from ..records import (
    ACTIVE_STATUSES,
    APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    NewAppointment,
    check_choice,
    check_phone,
)
from .base import Backend


class Appointments(Backend):
    def _slot(self, start: datetime, end: datetime) -> tuple[Any, Any]:
        start_at, end_at = self._instant(start), self._instant(end)
        if end_at <= start_at:
            raise ValueError(f"an appointment must end after it starts ({start} .. {end})")
        return start_at, end_at

    async def book_appointment(self, new: NewAppointment) -> Appointment:
        check_phone(new.patient_phone)
        start, end = self._slot(new.start, new.end)
        return await take_slot(lambda: self._book(new, start, end), lambda: self._slot_taken(
            new.tenant_id, new.professional_id, start, end))

    async def list_appointments(
        self, tenant_id: str, *, patient_phone: str | None = None, professional_id: str | None = None,
        start_from: datetime | None = None, start_to: datetime | None = None,
        statuses: tuple[AppointmentStatus, ...] | None = ACTIVE_STATUSES,
    ) -> list[Appointment]:
        # `start_from <= start < start_to`, ordered by start (then id)
        for status in statuses or ():
            check_choice("status", status, APPOINTMENT_STATUSES)
        conditions = [("tenant_id =", tenant_id), ("patient_phone =", patient_phone),
                      ("professional_id =", professional_id),
                      ("start_utc >=", None if start_from is None else self._instant(start_from)),
                      ("start_utc <", None if start_to is None else self._instant(start_to))]
        return await self._appointments(tenant_id, conditions, statuses)

    async def reschedule_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, professional_id: str,
        start: datetime, end: datetime, turn_id: str | None = None,
    ) -> Appointment:
        start_at, end_at = self._slot(start, end)
        values = {"professional_id": professional_id, "start_utc": start_at, "end_utc": end_at,
                  "updated_by_turn": turn_id}
        return await take_slot(
            lambda: self._move(tenant_id, appointment_id, patient_phone, values),
            lambda: self._slot_taken(tenant_id, professional_id, start_at, end_at,
                                     other_than=appointment_id))

    async def cancel_appointment(self, tenant_id: str, appointment_id: str, *, patient_phone: str,
                                 turn_id: str | None = None) -> Appointment:
        return await self._move(tenant_id, appointment_id, patient_phone,
                                {"status": "cancelled", "updated_by_turn": turn_id})

    # what the backend supplies

    async def _book(self, new: NewAppointment, start: Any, end: Any) -> Appointment:
        """Insert it `booked` in one transaction; the schema refuses an overlap (`SlotUnavailable`)."""
        raise NotImplementedError

    async def _slot_taken(self, tenant_id: str, professional_id: str, start: Any, end: Any, *,
                          other_than: str | None = None) -> bool:
        """Whether an active appointment (other than `other_than`) overlaps the slot (a read)."""
        raise NotImplementedError

    async def _appointments(self, tenant_id: str, conditions: list[tuple[str, Any]],
                            statuses: tuple[AppointmentStatus, ...] | None) -> list[Appointment]:
        """Those matching `filters(conditions, mark)` and `statuses` (None: any)."""
        raise NotImplementedError

    async def _move(self, tenant_id: str, appointment_id: str, patient_phone: str,
                    values: dict[str, Any]) -> Appointment:
        """Set `values` on the patient's own active appointment (`records.own_active`) in place."""
        raise NotImplementedError

