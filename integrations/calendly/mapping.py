"""A verified Calendly invitee event → the clinic's appointments.

- `invitee.created`: an appointment (source `calendly`, `external_ref` the invitee URI) for the
  mapped professional and service at the scheduled event's times; no booking policy (it already
  happened), no reminders (Calendly sends its own), but the database still refuses a double
  booking: then a conflict is recorded for staff (`store.conflict_add`) and nothing is booked.
- `invitee.canceled`: that appointment cancelled. Nothing is sent to the patient either way.
- A reschedule is two webhooks in either order: the old invitee `canceled` with
  `rescheduled: true` (and `new_invitee`), the new one `created` with `old_invitee`. The new
  one's booking cancels the old one in its own transaction (reason `calendly: rescheduled`);
  the old one's cancellation cancels it with the same reason, or finds it already cancelled.
  Either way: old cancelled, new active, never both active, never neither at the end.
- Idempotent on the invitee URI: a redelivery changes nothing.

The patient: the invitee's SMS reminder number, else an answer to a question about a phone
(telefone, celular, WhatsApp, phone), normalised to E.164 (`atende.phones`); found or created
as a patient (source `calendly`, the invitee's name if the patient has none). Without a usable
phone the appointment has no patient (`NO_PHONE`): still busy time for the professional,
nobody's to list or message; the invitee's name and e-mail stay in Calendly (the row keeps the
invitee URI to look them up)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import structlog

from atende.errors import InvalidInput, SlotUnavailable
from atende.memory.records import NO_PHONE, NewAppointment
from atende.memory.store import Store
from atende.phones import normalize_phone
from atende.tenant import Tenant, fold
from atende.tenant_calendar import Calendly, CalendlyEventType

from .parse import CREATED, Invitee, WebhookInvitee

log = structlog.get_logger(__name__)
SOURCE = "calendly"
RESCHEDULED = "calendly: rescheduled"
_PHONE_QUESTION = re.compile(r"telefone|celular|whats|phone|fone|zap")

# duplicate: the invitee's event was applied before (a redelivery, or its pair already did it)
Outcome = Literal["booked", "cancelled", "duplicate", "conflict", "unmapped"]


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    appointment_id: str | None = None


def mapped_event_type(config: Calendly, invitee: WebhookInvitee) -> CalendlyEventType | None:
    """The clinic's mapping for the invitee's event type, by URI, else by name (accents and
    case aside); among those, the one naming one of the event's hosts (user URI or e-mail)
    before one naming no host."""
    event = invitee.scheduled_event
    by_uri = [m for m in config.event_types if m.event_type == event.event_type]
    candidates = by_uri or [m for m in config.event_types
                            if event.name and fold(m.event_type) == fold(event.name)]
    hosts = {fold(h) for m in event.event_memberships for h in (m.user, m.user_email) if h}
    return (next((m for m in candidates if m.host and fold(m.host) in hosts), None)
            or next((m for m in candidates if m.host is None), None))


def invitee_phone(invitee: Invitee) -> str | None:
    """The invitee's phone in E.164, if they gave a usable one."""
    candidates = [invitee.text_reminder_number] + [
        qa.answer for qa in sorted(invitee.questions_and_answers, key=lambda qa: qa.position)
        if _PHONE_QUESTION.search(fold(qa.question))]
    for raw in candidates:
        if raw and raw.strip():
            try:
                return normalize_phone(raw)
            except InvalidInput:
                continue
    return None


def _appointment(tenant: Tenant, mapped: CalendlyEventType, invitee: WebhookInvitee,
                 phone: str | None) -> NewAppointment:
    event = invitee.scheduled_event
    end = event.end_time
    if end <= event.start_time:  # Calendly's own samples carry end == start: the service's length
        end = event.start_time + timedelta(minutes=tenant.service(mapped.service).duration_minutes)
    return NewAppointment(tenant.id, mapped.professional, mapped.service, phone or NO_PHONE,
                          event.start_time, end, source=SOURCE, external_ref=invitee.uri)


async def apply(store: Store, tenant: Tenant, event: str, invitee: WebhookInvitee) -> Applied:
    """What `event` (`invitee.created` / `invitee.canceled`) does to the clinic's appointments."""
    config = tenant.calendar.calendly
    mapped = mapped_event_type(config, invitee) if config is not None else None
    if mapped is None:
        await store.add_poison(tenant.id, channel=SOURCE, provider_message_id=invitee.uri,
                               reason=f"{event}: event type not mapped in calendar.calendly")
        log.warning("calendly_unmapped_event_type", tenant=tenant.id)
        return Applied("unmapped")
    phone = invitee_phone(invitee)
    new = _appointment(tenant, mapped, invitee, phone)
    if event != CREATED:
        who = (invitee.cancellation.canceler_type if invitee.cancellation else None) or "calendly"
        reason = RESCHEDULED if invitee.rescheduled else f"calendly: canceled by {who}"
        write = await store.external_cancel(new, reason=reason)
        return Applied("cancelled" if write.changed else "duplicate", write.appointment.id)
    if phone is not None:
        await _patient(store, tenant.id, phone, invitee.name)
    try:
        write = await store.external_book(new, replaces=invitee.old_invitee,
                                          replaced_reason=RESCHEDULED)
    except SlotUnavailable:
        return Applied("conflict", await _conflict(store, tenant, new, invitee))
    return Applied("booked" if write.changed else "duplicate", write.appointment.id)


async def _patient(store: Store, tenant_id: str, phone: str, name: str | None) -> None:
    patient = await store.upsert_patient(tenant_id, phone, source=SOURCE)
    if name and not patient.name:
        await store.update_patient(tenant_id, phone, name=name.strip()[:120])


async def _conflict(store: Store, tenant: Tenant, new: NewAppointment,
                    invitee: WebhookInvitee) -> str | None:
    """Record that the Calendly booking overlaps an appointment already there; its id."""
    around = await store.list_appointments(tenant.id, professional_id=new.professional_id,
                                           start_from=new.start - timedelta(days=1),
                                           start_to=new.end)
    taken = next((a for a in around if a.end > new.start), None)
    local = new.start.astimezone(tenant.tz)
    summary = (f"Agendamento do Calendly ({invitee.scheduled_event.name or 'evento'}) em "
               f"{local:%d/%m/%Y às %H:%M} com {tenant.professional_name(new.professional_id)} "
               "coincide com um agendamento que já existe; não foi marcado no atende.")
    await store.conflict_add(tenant.id, source=SOURCE, external_id=new.external_ref or "",
                             professional_id=new.professional_id, starts_at=new.start,
                             ends_at=new.end, appointment_id=taken.id if taken else None,
                             summary=summary)
    log.warning("calendly_conflict", tenant=tenant.id, appointment_id=taken.id if taken else None)
    return taken.id if taken else None
