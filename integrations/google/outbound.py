"""Writing bookings to the professional's calendar, after they committed: durable jobs
(`Store.calendar_job_*`) drained by a loop with backoff, so Google being slow or down delays
the event and never the patient's reply.

Each job writes the appointment as it is NOW (create: insert it if still active; update: patch
its times, or insert when the create never landed; delete: remove it), so running a job twice,
or late, is harmless. The event id is derived from the appointment: a retried insert that
answers 409 means the first one landed, and counts as done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from atende.clock import Clock
from atende.integrations.google.base import NeedsReconnect
from atende.integrations.google.client import CalendarClient
from atende.integrations.google.errors import (
    Duplicate,
    Gone,
    QuotaExceeded,
    Refused,
)
from atende.integrations.google.events import event_body, event_id, times
from atende.memory.records import CalendarJob
from atende.memory.store import Store
from atende.tenant import Tenant

log = structlog.get_logger(__name__)
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 12
Calendars = Callable[[str], Awaitable[list[tuple[str, str]]]]  # tenant → (calendar, professional)


def backoff(attempts: int, error: Exception) -> timedelta:
    """When a failed job runs again: exponential from 30 s, an hour at most; an account that
    exceeded its quota or lost its connection waits longer (no hot retry)."""
    if isinstance(error, QuotaExceeded | NeedsReconnect):
        return timedelta(hours=1)
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class DrainReport:
    done: int = 0
    retried: int = 0
    given_up: int = 0


class EventWriter:
    def __init__(self, store: Store, client: CalendarClient, calendars: Calendars, clock: Clock
                 ) -> None:
        self.store = store
        self.client = client
        self.calendars = calendars
        self.clock = clock

    async def calendar_of(self, tenant_id: str, professional_id: str) -> str | None:
        """The professional's calendar atende writes to: the first one associated."""
        return next((c for c, p in await self.calendars(tenant_id) if p == professional_id), None)

    async def drain(self, tenant: Tenant) -> DrainReport:
        report = DrainReport()
        now = self.clock.now()
        for job in await self.store.calendar_jobs_claim(tenant.id, now, lease_until=now + LEASE):
            try:
                await self._run(tenant, job)
            except Exception as exc:
                if job.attempts >= MAX_ATTEMPTS or isinstance(exc, Refused):
                    log.error("calendar_job_given_up", tenant=tenant.id, job=job.id,
                              action=job.action, error=str(exc)[:200])
                    await self.store.calendar_job_settle(tenant.id, job.id,
                                                         error=f"gave up: {exc}")
                    report.given_up += 1
                    continue
                log.warning("calendar_job_retry", tenant=tenant.id, job=job.id,
                            action=job.action, error=str(exc)[:200])
                await self.store.calendar_job_settle(
                    tenant.id, job.id, retry_at=self.clock.now() + backoff(job.attempts, exc),
                    error=str(exc)[:500])
                report.retried += 1
                continue
            await self.store.calendar_job_settle(tenant.id, job.id)
            report.done += 1
        return report

    async def _run(self, tenant: Tenant, job: CalendarJob) -> None:
        appt = await self.store.get_appointment(tenant.id, job.appointment_id)
        if appt is None:
            return
        calendar = await self.calendar_of(tenant.id, appt.professional_id)
        if calendar is None:
            return  # no calendar for this professional: nothing to write
        event = event_id(appt.id)
        if job.action == "delete" or not appt.active:
            try:
                await self.client.delete_event(tenant.id, calendar, event)
            except Gone:
                pass  # deleted already (410 deleted): the delete is done
            except Refused as exc:
                if exc.status != 404:
                    raise
            return
        if job.action == "update":
            try:
                await self.client.patch_event(tenant.id, calendar, event,
                                              times(tenant, appt.start, appt.end))
                return
            except Refused as exc:
                if exc.status != 404:
                    raise  # 404: the create never landed; insert it as it is now
        patient = await self.store.get_patient(tenant.id, appt.patient_phone)
        try:
            await self.client.insert_event(tenant.id, calendar, event_body(tenant, appt, patient))
        except Duplicate:
            log.info("calendar_event_already_there", tenant=tenant.id, appointment=appt.id)


def version_of(start: datetime) -> str:
    """A move's job version: one update job per new time."""
    return start.isoformat()
