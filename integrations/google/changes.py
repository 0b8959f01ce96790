"""What a synced page of a clinic's calendar changes in atende:

- staff's events become busy rows (cancelled or transparent ones drop theirs); one that
  overlaps an active atende booking is recorded as a conflict (`store.conflict_add`), never
  silently dropped;
- an event atende created (its id derived from an appointment) is that appointment: deleted in
  the calendar → the appointment is cancelled; moved → the appointment is moved (or, when the
  new time is taken, a conflict); either way the patient is told through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from atende.errors import DomainError
from atende.integrations.google.events import Item
from atende.memory.records import Appointment, CalendarBusy
from atende.memory.store import Store
from atende.reminders.plan import plan
from atende.tenant import Tenant
from atende.tools.scheduling import local_label

log = structlog.get_logger(__name__)
SOURCE = "google"
CANCELLED_REASON = "cancelado na agenda da clínica (Google Agenda)"


@dataclass
class Applied:
    """What one page did (for logs and tests)."""

    busy: list[CalendarBusy] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)  # appointment ids
    moved: list[str] = field(default_factory=list)
    conflicts: int = 0


class Changes:
    def __init__(self, store: Store, *, on_outbox: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.on_outbox = on_outbox

    async def page(self, tenant: Tenant, calendar_id: str, professional_id: str,
                   items: Sequence[Item], now: datetime) -> Applied:
        """Read one page's items into busy rows to store, and act on atende's own events."""
        done = Applied()
        for item in items:
            if item.kind == "busy" and item.start and item.end:
                done.busy.append(CalendarBusy(tenant.id, professional_id, calendar_id,
                                              item.event_id, item.start, item.end, item.summary))
            elif item.kind == "free":
                done.removed.append(item.event_id)
            elif item.kind == "ours":
                await self._ours(tenant, item, now, done)
        done.conflicts = await self._conflicts(tenant, professional_id, done.busy)
        return done

    async def _conflicts(self, tenant: Tenant, professional_id: str,
                         busy: Sequence[CalendarBusy]) -> int:
        if not busy:
            return 0
        appts = await self.store.list_appointments(
            tenant.id, professional_id=professional_id,
            start_from=min(b.starts_at for b in busy) - timedelta(hours=12),
            start_to=max(b.ends_at for b in busy))
        found = 0
        for row in busy:
            for appt in appts:
                if appt.start < row.ends_at and appt.end > row.starts_at:
                    title = f"“{row.summary}”" if row.summary else "sem título"
                    await self._conflict(tenant, row.event_id, professional_id, row.starts_at,
                                         row.ends_at, appt.id, (
                        f"Evento {title} na agenda Google de "
                        f"{tenant.professional_name(professional_id)} "
                        f"({local_label(row.starts_at, tenant)}) sobrepõe a consulta de "
                        f"{tenant.service_name(appt.service_id)} de "
                        f"{local_label(appt.start, tenant)} marcada pelo atende."))
                    found += 1
        return found

    async def _conflict(self, tenant: Tenant, event_id: str, professional_id: str,
                        start: datetime, end: datetime, appointment_id: str, summary: str
                        ) -> None:
        log.warning("calendar_conflict", tenant=tenant.id, appointment=appointment_id)
        await self.store.conflict_add(
            tenant.id, source=SOURCE, external_id=event_id, professional_id=professional_id,
            starts_at=start, ends_at=end, appointment_id=appointment_id, summary=summary)

    async def _ours(self, tenant: Tenant, item: Item, now: datetime, done: Applied) -> None:
        assert item.appointment_id is not None
        appt = await self.store.get_appointment(tenant.id, item.appointment_id)
        if appt is None or not appt.active:
            return  # already cancelled here (our own delete coming back), or never ours
        if item.cancelled:
            await self._cancel(tenant, appt, now)
            done.cancelled.append(appt.id)
        elif item.start and item.end and (item.start != appt.start or item.end != appt.end):
            if await self._move(tenant, appt, item.start, item.end, item.event_id, now):
                done.moved.append(appt.id)

    async def _cancel(self, tenant: Tenant, appt: Appointment, now: datetime) -> None:
        from atende.reminders import waitlist

        done = await self.store.cancel_appointment(
            tenant.id, appt.id, patient_phone=appt.patient_phone, reason=CANCELLED_REASON)
        log.info("calendar_cancelled_appointment", tenant=tenant.id, appointment=appt.id)
        await self._tell(tenant, appt.patient_phone, (
            f"Olá! A clínica cancelou a sua consulta de {tenant.service_name(appt.service_id)} "
            f"em {local_label(appt.start, tenant)} com "
            f"{tenant.professional_name(appt.professional_id)}. "
            "Se quiser, posso procurar outro horário para você."))
        await waitlist.slot_freed(self.store, tenant, done, now)

    async def _move(self, tenant: Tenant, appt: Appointment, start: datetime, end: datetime,
                    event_id: str, now: datetime) -> bool:
        try:
            moved = await self.store.reschedule_appointment(
                tenant.id, appt.id, patient_phone=appt.patient_phone,
                professional_id=appt.professional_id, start=start, end=end,
                reminders=plan(tenant, start, now, confirmation=False))
        except DomainError:
            # moved in the calendar onto another booking: the clinic must decide
            await self._conflict(tenant, event_id, appt.professional_id, start, end, appt.id, (
                f"A consulta de {tenant.service_name(appt.service_id)} de "
                f"{local_label(appt.start, tenant)} foi movida na agenda Google para "
                f"{local_label(start, tenant)}, que já está ocupado; no atende ela continua "
                "no horário original."))
            return False
        log.info("calendar_moved_appointment", tenant=tenant.id, appointment=appt.id)
        await self._tell(tenant, appt.patient_phone, (
            f"Olá! A clínica remarcou a sua consulta de {tenant.service_name(moved.service_id)} "
            f"com {tenant.professional_name(moved.professional_id)}: era em "
            f"{local_label(appt.start, tenant)} e agora é em {local_label(moved.start, tenant)}. "
            "Se esse horário não for bom para você, é só me dizer que eu procuro outro."))
        return True

    async def _tell(self, tenant: Tenant, phone: str, text: str) -> None:
        """A proactive message to the patient, through the outbox (as the reminders go)."""
        conversation = await self.store.find_conversation(tenant.id, phone)
        if conversation is None:
            log.warning("calendar_change_untold", tenant=tenant.id, why="no conversation")
            return
        await self.store.complete_turn(conversation.id, inbox_ids=[], turn_id=None,
                                       replies=[text], meta={"calendar_change": True})
        self.on_outbox()
