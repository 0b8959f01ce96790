"""The waitlist: a freed slot is offered to waiting patients in order, one at a time, each with
a hold; the first "sim" books it (the database still referees), an expired hold or a "não"
moves the offer to the next patient. Nobody is offered a slot they could not book."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from atende.errors import DomainError
from atende.reminders import notice as notices
from atende.tools.busy import busy_between
from atende.tools.dates import PERIOD_BOUNDS
from atende.tools.scheduling import Slot, check_bookable, local_label

if TYPE_CHECKING:
    from atende.memory.records import Appointment, WaitlistEntry
    from atende.memory.store import Store
    from atende.tenant import Tenant

log = structlog.get_logger(__name__)


def _fits(entry: WaitlistEntry, tenant: Tenant, professional_id: str, start: datetime) -> Slot | None:
    """The slot `entry` would book at `start` with that professional, if it matches what they
    asked for (service the professional does, professional, period)."""
    if entry.professional_id is not None and entry.professional_id != professional_id:
        return None
    try:
        pro, service = tenant.professional(professional_id), tenant.service(entry.service_id)
    except KeyError:
        return None
    if service.id not in pro.services:
        return None
    local = start.astimezone(tenant.tz)
    if entry.period is not None:
        low, high = PERIOD_BOUNDS[entry.period]
        if not low <= local.time() < high:
            return None
    end = (start + timedelta(minutes=service.duration_minutes)).astimezone(tenant.tz)
    return Slot(pro.id, service.id, local, end)


async def _bookable(store: Store, tenant: Tenant, slot: Slot, now: datetime, phone: str) -> bool:
    mine = await store.list_appointments(tenant.id, patient_phone=phone,
                                         start_from=slot.start - timedelta(hours=12),
                                         start_to=slot.end)
    if any(a.start < slot.end and a.end > slot.start for a in mine):
        return False  # they already have something then
    busy = await busy_between(store, tenant.id, slot.start, slot.end,
                              professional_ids=[slot.professional_id],
                              outside=tenant.calendar.backend != "local")
    try:
        check_bookable(tenant, slot, now=now, busy=busy)
    except DomainError:
        return False
    return True


async def offer_slot(store: Store, tenant: Tenant, professional_id: str, start: datetime,
                     now: datetime, *, skip_phone: str | None = None) -> WaitlistEntry | None:
    """Offer the slot at `start` with `professional_id` to the first waiting patient who asked
    for it and could book it now; queues the offer message. None when nobody fits."""
    policy = tenant.reminders.waitlist
    if not (policy.enabled and tenant.reminders.enabled):
        return None
    if start - now > timedelta(days=policy.horizon_days) or start <= now:
        return None
    for entry in await store.waitlist_list(tenant.id, statuses=("waiting",)):
        if entry.patient_phone == skip_phone:
            continue
        slot = _fits(entry, tenant, professional_id, start)
        if slot is None or not await _bookable(store, tenant, slot, now, entry.patient_phone):
            continue
        patient = await store.get_patient(tenant.id, entry.patient_phone)
        if patient is not None and patient.proactive_opt_out:
            continue
        conversation = await store.find_conversation(tenant.id, entry.patient_phone)
        if conversation is None:
            continue  # nobody to write to
        offer_id = uuid.uuid4().hex[:12]
        shown = _as_appointment(tenant, entry, slot, offer_id)
        notice = notices.waitlist_offer(tenant, shown, patient.name if patient else None,
                                        offer_id=offer_id)
        offered = await store.waitlist_offer(
            tenant.id, entry.id, offer_id=offer_id, start=slot.start, professional_id=slot.professional_id,
            expires_at=now + timedelta(minutes=policy.hold_minutes), conversation_id=conversation.id,
            text=notice.text, meta={"notice": notice.to_dict(), "waitlist_id": entry.id})
        if offered is not None:
            log.info("waitlist_offered", tenant=tenant.id, entry=entry.id,
                     start=slot.start.isoformat())
            return offered
    return None


def _as_appointment(tenant: Tenant, entry: WaitlistEntry, slot: Slot, offer_id: str) -> Appointment:
    from atende.memory.records import Appointment

    return Appointment(id=offer_id, tenant_id=tenant.id, professional_id=slot.professional_id,
                       service_id=slot.service_id, patient_phone=entry.patient_phone,
                       start=slot.start, end=slot.end, status="booked")


async def slot_freed(store: Store, tenant: Tenant, appointment: Appointment, now: datetime
                     ) -> WaitlistEntry | None:
    """An appointment was cancelled or moved away: offer its slot to the waitlist."""
    return await offer_slot(store, tenant, appointment.professional_id, appointment.start, now,
                            skip_phone=appointment.patient_phone)


async def expire_holds(store: Store, tenant: Tenant, now: datetime) -> tuple[int, int]:
    """Offers whose hold ran out become `expired` and the slot goes to the next patient.
    Returns (offers made, holds expired)."""
    offered = expired = 0
    for entry in await store.waitlist_list(tenant.id, statuses=("offered",)):
        if entry.offer_expires_at is None or entry.offer_expires_at > now:
            continue
        if not await store.waitlist_settle(tenant.id, entry.id, "expired", from_status="offered"):
            continue
        expired += 1
        assert entry.offer_start_at is not None and entry.offer_professional_id is not None
        if await offer_slot(store, tenant, entry.offer_professional_id, entry.offer_start_at, now,
                            skip_phone=entry.patient_phone):
            offered += 1
    return offered, expired


def offer_view(entry: WaitlistEntry, tenant: Tenant) -> dict[str, Any]:
    """What the turn's context says about a pending offer."""
    assert entry.offer_start_at is not None
    return {"offer_id": entry.offer_id, "service": tenant.service_name(entry.service_id),
            "professional": tenant.professional_name(entry.offer_professional_id or ""),
            "label": local_label(entry.offer_start_at, tenant),
            "expires": f"{entry.offer_expires_at.astimezone(tenant.tz):%H:%M}"
            if entry.offer_expires_at else ""}
