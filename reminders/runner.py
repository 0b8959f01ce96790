"""The reminder tick: every due reminder is decided once (sent, deferred, skipped, cancelled) and
the ones that go are handed to the outbox in the same transaction that marks them queued, so any
number of ticks (threads, processes, machines) hand each reminder over exactly once.

`atende serve` on SQLite runs `ReminderLoop` beside the outbox; on Postgres a procrastinate
periodic task runs `ReminderRunner.tick` (`server/queue.py`); `atende reminders run` runs one
tick by hand. The outbox then sends it like any reply (retries, dead letters, Meta's window:
a template outside it), and settles the reminder (`outcomes.settled`). A sender killed between
its send and that settling leaves the reminder `queued`: each tick first gives such reminders
their message's outcome (`Store.reminders_catch_up`); a send interrupted mid-flight ends
`failed` with `INTERRUPTED` as the reason: it may have gone out, so it is never resent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from atende import loops
from atende.clock import Clock
from atende.reminders import notice as notices
from atende.reminders import waitlist
from atende.reminders.outcomes import PAUSED
from atende.reminders.plan import CONFIRMATION, when_to_send

if TYPE_CHECKING:
    from atende.memory.records import Reminder
    from atende.memory.store import Store
    from atende.tenant import Tenant, TenantRegistry

log = structlog.get_logger(__name__)



@dataclass
class TickReport:
    queued: int = 0
    skipped: int = 0
    cancelled: int = 0
    deferred: int = 0
    held: int = 0  # left pending: the clinic is paused or over its sending limits
    offers: int = 0
    expired: int = 0
    caught_up: int = 0  # queued reminders settled from their message (a sender died mid-way)
    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def channel_for(tenant: Tenant) -> str:
    """The channel a clinic writes first on when the patient has no conversation yet."""
    if tenant.channels.meta is not None:
        return "meta"
    if tenant.channels.zapi is not None:
        return "zapi"
    return "console"


class ReminderRunner:
    def __init__(self, store: Store, tenants: TenantRegistry, *, clock: Clock,
                 metrics: Any = None, on_outbox: Callable[[], None] | None = None,
                 batch: int = 500, channel: Callable[[Tenant], str] = channel_for) -> None:
        self.store = store
        self.tenants = tenants
        self.clock = clock
        self.metrics = metrics
        self.on_outbox = on_outbox
        self.batch = batch
        self.channel_for = channel  # where to write a patient who has no conversation yet

    async def tick(self, tenant_id: str | None = None) -> TickReport:
        """Decide every reminder due now (of one clinic, or all), then the waitlist's holds."""
        now = self.clock.now()
        report = TickReport()
        for tenant in self._tenants(tenant_id):
            budget: dict[str, int] = {}
            report.caught_up += await self.store.reminders_catch_up(tenant.id)
            while True:
                due = await self.store.reminders_due(tenant.id, now, limit=self.batch)
                held = report.held
                for reminder in due:
                    await self._one(tenant, reminder, now, report, budget)
                if len(due) < self.batch or report.held - held == len(due):
                    break  # all done, or the rest waits for the clinic's sending limits
            offered, expired = await waitlist.expire_holds(self.store, tenant, now)
            report.offers += offered
            report.expired += expired
            if offered and self.metrics is not None:
                self.metrics.proactive.labels(tenant=tenant.id, event="waitlist_offered").inc(offered)
        if (report.queued or report.offers) and self.on_outbox is not None:
            self.on_outbox()
        if any((report.queued, report.skipped, report.cancelled, report.offers, report.expired,
                report.caught_up)):
            log.info("reminders_tick", **report.as_dict())
        return report

    def _tenants(self, tenant_id: str | None) -> list[Tenant]:
        if tenant_id is not None:
            return [self.tenants.get(tenant_id)]
        return list(self.tenants)

    async def _one(self, tenant: Tenant, reminder: Reminder, now: datetime, report: TickReport,
                   budgets: dict[str, int]) -> None:
        store = self.store
        appointment = await store.get_appointment(tenant.id, reminder.appointment_id)
        if appointment is None or not appointment.active:
            status = appointment.status if appointment else "gone"
            await self._settle(reminder, "cancelled", f"appointment {status}", report)
            return
        if reminder.kind != CONFIRMATION:
            if appointment.start <= now:
                await self._settle(reminder, "skipped", "the appointment already started", report)
                return
            send_at, reason = when_to_send(tenant.reminders, tenant, now, appointment.start)
            if send_at is None:
                await self._settle(reminder, "skipped", reason, report)
                return
            if send_at > now:  # a late tick landed in quiet hours
                await store.reminder_defer(tenant.id, reminder.id, send_at)
                report.deferred += 1
                return
        patient = await store.get_patient(tenant.id, appointment.patient_phone)
        if patient is not None and patient.proactive_opt_out:
            await self._settle(reminder, "skipped", "the patient asked for no more messages",
                               report)
            return
        if not await self._may_send(tenant, now, budgets):
            report.held += 1
            return
        conversation = await store.find_conversation(tenant.id, appointment.patient_phone)
        if conversation is None:
            conversation = await store.get_or_create_conversation(
                tenant.id, appointment.patient_phone, self.channel_for(tenant))
        name = patient.name if patient else None
        notice = (notices.confirmation(tenant, appointment, name) if reminder.kind == CONFIRMATION
                  else notices.reminder(tenant, appointment, name))
        message = await store.reminder_enqueue(
            tenant.id, reminder.id, conversation.id, text=notice.text,
            meta={"notice": notice.to_dict(), "reminder_id": reminder.id,
                  "reminder_kind": reminder.kind})
        if message is None:  # another tick took it first
            return
        budgets[tenant.id] -= 1
        report.queued += 1
        if self.metrics is not None:
            self.metrics.proactive.labels(tenant=tenant.id, event="queued").inc()

    async def _may_send(self, tenant: Tenant, now: datetime, budgets: dict[str, int]) -> bool:
        """Not paused, and within the clinic's per-minute and per-hour caps (counted once a
        tick from the store, then spent locally)."""
        if tenant.id not in budgets:
            flags = await self.store.clinic_flags(tenant.id)
            if any(key.startswith(PAUSED) for key in flags):
                budgets[tenant.id] = 0
            else:
                limits = tenant.reminders.limits
                minute = await self.store.proactive_sent_since(tenant.id, now - timedelta(minutes=1))
                hour = await self.store.proactive_sent_since(tenant.id, now - timedelta(hours=1))
                budgets[tenant.id] = max(0, min(limits.per_minute - minute, limits.per_hour - hour))
        return budgets[tenant.id] > 0

    async def _settle(self, reminder: Reminder, status: str, reason: str | None,
                      report: TickReport) -> None:
        if await self.store.reminder_settle(reminder.tenant_id, reminder.id, status,  # type: ignore[arg-type]
                                            reason=reason):
            if status == "cancelled":
                report.cancelled += 1
            else:
                report.skipped += 1
            if self.metrics is not None:
                self.metrics.proactive.labels(tenant=reminder.tenant_id, event=status).inc()


class ReminderLoop:
    """The tick every `every` seconds inside `atende serve` (SQLite deployments)."""

    def __init__(self, runner: ReminderRunner, *, every: float = 15.0) -> None:
        self.runner = runner
        self.every = every
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await loops.every(self.every, self._wake, self.runner.tick, failed="reminders_tick_failed")
