"""`CalendarBackend` for a clinic on Google Calendar (`calendar.backend: google`).

Availability reads the local copy of each professional's calendars (`calendar_busy`, fed by
push and sync) with every other busy time (`tools/busy.py`). A copy older than
`calendar.google.stale_after_minutes` is checked live with freeBusy; when that fails too
(Google down, the connection lost, a calendar answering with `errors`), the professional is
*unreadable*: offered no slots, and the patient is told. Right before a write, freeBusy on
that professional's calendars closes the race. After a commit, a job is queued
(`outbound.py`) and the writer woken: nothing here waits for Google."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from atende.clock import Clock
from atende.errors import SlotUnavailable
from atende.integrations.google.client import CalendarClient
from atende.integrations.google.outbound import Calendars, version_of
from atende.memory.records import SLOT_TAKEN, Appointment
from atende.memory.store import Store
from atende.tenant import Tenant
from atende.tools.calendars import BusyTime, unreadable_note
from atende.tools.scheduling import Busy
from atende.tools.scope import Scope

log = structlog.get_logger(__name__)
UNREADABLE = "calendar unreadable and its copy is stale"
DOWN_FOR = timedelta(seconds=30)  # after a failed live look, answer from that for a while


def _instant(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


class GoogleBackend:
    def __init__(self, store: Store, client: CalendarClient, calendars: Calendars, clock: Clock,
                 *, wake_jobs: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.client = client
        self.calendars = calendars
        self.clock = clock
        self.wake_jobs = wake_jobs
        self._down_until: dict[str, datetime] = {}  # tenant → when to try Google live again

    async def _associated(self, tenant_id: str) -> dict[str, list[str]]:
        """Professional id → their calendar ids."""
        found: dict[str, list[str]] = {}
        for calendar, professional in await self.calendars(tenant_id):
            found.setdefault(professional, []).append(calendar)
        return found

    async def _stale(self, tenant: Tenant, calendars: list[str]) -> list[str]:
        limit = self.clock.now() - timedelta(minutes=tenant.calendar.google.stale_after_minutes)
        synced = {s.calendar_id: s.synced_at for s in await self.store.calendar_sync_states(tenant.id)}
        return [c for c in calendars if (synced.get(c) is None or synced[c] < limit)]  # type: ignore[operator]

    async def _live(self, tenant_id: str, calendars: list[str], start: datetime, end: datetime
                    ) -> tuple[list[tuple[datetime, datetime]], bool]:
        """freeBusy over `calendars`: the busy intervals, and whether every calendar was read
        (a calendar answering `errors` has an empty busy list that is not "free")."""
        now = self.clock.now()
        if self._down_until.get(tenant_id, now) > now:
            return [], False  # it just failed: the patient is not kept waiting for it again
        try:
            answer = await self.client.freebusy(tenant_id, calendars, start, end, quick=True)
        except Exception as exc:  # whatever failed (token endpoint too): not read, not "free"
            log.warning("calendar_freebusy_failed", tenant=tenant_id, error=type(exc).__name__)
            self._down_until[tenant_id] = now + DOWN_FOR
            return [], False
        intervals: list[tuple[datetime, datetime]] = []
        read = True
        found = answer.get("calendars") or {}
        for calendar in calendars:
            entry = found.get(calendar)
            if not isinstance(entry, dict) or entry.get("errors"):
                read = False
                continue
            for interval in entry.get("busy") or []:
                s, e = _instant(interval.get("start")), _instant(interval.get("end"))
                if s and e and e > s:
                    intervals.append((s, e))
        return intervals, read

    async def busy(self, scope: Scope, start: datetime, end: datetime,
                   professional_ids: Sequence[str]) -> BusyTime:
        tenant = scope.tenant
        associated = {p: c for p, c in (await self._associated(tenant.id)).items()
                      if p in professional_ids}
        if not associated:
            return BusyTime()
        # the local copy (`calendar_busy`) is read with appointments and blocks
        # (`tools/busy.busy_between`); here only what a stale copy needs: a live look
        busy: list[Busy] = []
        unreadable: dict[str, str] = {}
        for professional, calendars in associated.items():
            stale = await self._stale(tenant, calendars)
            if not stale:
                continue
            intervals, read = await self._live(tenant.id, stale, start, end)
            if not read:
                unreadable[professional] = UNREADABLE
                continue
            busy += [Busy(professional, s, e) for s, e in intervals
                     if not await self._ours(tenant.id, professional, s, e)]
        return BusyTime(busy, unreadable)

    async def _ours(self, tenant_id: str, professional: str, start: datetime, end: datetime
                    ) -> bool:
        """Whether a freeBusy interval is only atende's own appointments (the events it
        wrote): those are in the database already, and one being moved must not block itself."""
        appts = await self.store.list_appointments(
            tenant_id, professional_id=professional, start_from=start - timedelta(hours=12),
            start_to=end)
        cursor = start
        for appt in sorted(appts, key=lambda a: a.start):
            if appt.start <= cursor < appt.end:
                cursor = appt.end
        return cursor >= end

    async def check_slot(self, scope: Scope, professional_id: str, start: datetime,
                         end: datetime) -> None:
        calendars = (await self._associated(scope.tenant.id)).get(professional_id)
        if not calendars:
            return
        intervals, read = await self._live(scope.tenant.id, calendars, start, end)
        if not read:
            if await self._stale(scope.tenant, calendars):
                raise SlotUnavailable(unreadable_note(scope.tenant, {professional_id: UNREADABLE}))
            return  # the local copy is fresh, and booking already checked it
        for s, e in intervals:
            if s < end and e > start and not await self._ours(scope.tenant.id, professional_id,
                                                              s, e):
                raise SlotUnavailable(SLOT_TAKEN)

    async def _queue(self, tenant_id: str, appt: Appointment, action: str, version: str) -> None:
        await self.store.calendar_job_add(tenant_id, appt.id, action,  # type: ignore[arg-type]
                                          version=version, due_at=self.clock.now())
        self.wake_jobs()

    async def booked(self, scope: Scope, appt: Appointment) -> None:
        await self._queue(scope.tenant.id, appt, "create", "1")

    async def cancelled(self, scope: Scope, appt: Appointment) -> None:
        await self._queue(scope.tenant.id, appt, "delete", "1")

    async def rescheduled(self, scope: Scope, appt: Appointment, previous: Appointment) -> None:
        await self._queue(scope.tenant.id, appt, "update", version_of(appt.start))
