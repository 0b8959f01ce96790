"""Appointments an outside system booked (Calendly): written, found and cancelled by that
system's id for them (`external_ref`, unique per clinic), so a redelivered webhook changes
nothing. The SQL is written once here (`script.Step`s both backends run as written).

Such a booking skips the patient-facing policy (minimum notice, horizon: it already happened
elsewhere) but not the database's refusal to double-book a professional (`SlotUnavailable`)."""

from __future__ import annotations

from typing import Any

from atende.errors import SlotUnavailable

from ..records import (
    ATENDE,
    NO_PHONE,
    SLOT_TAKEN,
    Appointment,
    ExternalWrite,
    NewAppointment,
    check_phone,
)
from .base import Scripted
from .script import Step, new_id

_ACTIVE = "status IN ('booked', 'confirmed')"
_INSERT = (
    "INSERT INTO appointments (id, tenant_id, professional_id, service_id, patient_phone,"
    " start_utc, end_utc, status, cancel_reason, source, external_ref, created_at, updated_at)"
    " VALUES (:id, :tenant_id, :professional_id, :service_id, :patient_phone, :start_utc,"
    " :end_utc, :status, :reason, :source, :external_ref, :now, :now)"
    " ON CONFLICT DO NOTHING RETURNING *"
)
_BY_REF = "SELECT * FROM appointments WHERE tenant_id = :tenant_id AND external_ref = :ref"


def _check(new: NewAppointment) -> None:
    if new.source == ATENDE or not new.external_ref:
        raise ValueError("an outside booking names its source and its external_ref")
    if new.patient_phone != NO_PHONE:
        check_phone(new.patient_phone)


class ExternalBookings(Scripted):
    async def external_appointment(self, tenant_id: str, external_ref: str) -> Appointment | None:
        rows = await self._script(tenant_id, [Step(
            _BY_REF, {"tenant_id": tenant_id, "ref": external_ref}, returns=Appointment)])
        return rows[0] if rows else None

    async def external_book(self, new: NewAppointment, *, replaces: str | None = None,
                            replaced_reason: str = "rescheduled") -> ExternalWrite:
        _check(new)
        found = await self.external_appointment(new.tenant_id, new.external_ref or "")
        if found is not None:
            return ExternalWrite(found, changed=False)
        steps = (self._close_steps(new.tenant_id, replaces, replaced_reason) if replaces else [])
        steps.append(self._insert_step(new, "booked"))
        try:
            rows = await self._script(new.tenant_id, steps)
        except SlotUnavailable:  # SQLite's trigger raises; Postgres inserts nothing (→ None)
            rows = None
        if rows:
            return ExternalWrite(rows[0], changed=True)
        found = await self.external_appointment(new.tenant_id, new.external_ref or "")
        if found is not None:  # a redelivery racing this one wrote it first
            return ExternalWrite(found, changed=False)
        raise SlotUnavailable(SLOT_TAKEN)

    async def external_cancel(self, new: NewAppointment, *, reason: str) -> ExternalWrite:
        _check(new)
        ref = new.external_ref or ""
        cancelled: list[Any] = []
        inserted: list[Any] = []
        steps = self._close_steps(new.tenant_id, ref, reason, into=cancelled)
        # never seen (its booking's webhook is late, or predates the integration): kept
        # cancelled, so that booking arriving later changes nothing
        steps.append(self._insert_step(new, "cancelled", reason, require=False, into=inserted))
        await self._script(new.tenant_id, steps)
        if cancelled or inserted:
            return ExternalWrite((cancelled or inserted)[0], changed=True)
        found = await self.external_appointment(new.tenant_id, ref)
        assert found is not None, "the row exists: the insert conflicted with it"
        return ExternalWrite(found, changed=False)

    def _insert_step(self, new: NewAppointment, status: str, reason: str | None = None, *,
                     require: bool = True, into: list[Any] | None = None) -> Step:
        start, end = self._instant(new.start), self._instant(new.end)
        if end <= start:
            raise ValueError(f"an appointment must end after it starts ({new.start} .. {new.end})")
        return Step(_INSERT, {
            "id": new_id(), "tenant_id": new.tenant_id, "professional_id": new.professional_id,
            "service_id": new.service_id, "patient_phone": new.patient_phone,
            "start_utc": start, "end_utc": end, "status": status, "reason": reason,
            "source": new.source, "external_ref": new.external_ref, "now": self._now(),
        }, require=require, returns=Appointment, into=into)

    def _close_steps(self, tenant_id: str, ref: str, reason: str, *,
                     into: list[Any] | None = None) -> list[Step]:
        """Cancel the active appointment with `ref`, its open reminders with it (those queued
        in the outbox never go out)."""
        params = {"tenant_id": tenant_id, "ref": ref, "why": reason, "now": self._now()}
        mine = ("SELECT id FROM appointments WHERE tenant_id = :tenant_id"
                f" AND external_ref = :ref AND {_ACTIVE}")
        return [
            Step("UPDATE messages SET status = 'failed', error = :why WHERE status = 'queued'"
                 " AND id IN (SELECT message_id FROM reminders WHERE tenant_id = :tenant_id"
                 f" AND status = 'queued' AND appointment_id IN ({mine}))", params),
            Step("UPDATE reminders SET status = 'cancelled', reason = :why, updated_at = :now"
                 " WHERE tenant_id = :tenant_id AND status IN ('pending', 'queued')"
                 f" AND appointment_id IN ({mine})", params),
            Step("UPDATE appointments SET status = 'cancelled', cancel_reason = :why,"
                 " updated_at = :now WHERE tenant_id = :tenant_id AND external_ref = :ref"
                 f" AND {_ACTIVE} RETURNING *", params, returns=Appointment, into=into),
        ]
