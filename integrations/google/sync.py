"""Mirroring one calendar: incremental sync with the stored sync token, every page followed;
without a token (first time, or after 410 fullSyncRequired) a full sync that starts by dropping
the calendar's busy rows. The token is stored only with the last page (PROVIDER-FACTS 8.1), in
the same transaction as that page's rows (`Store.calendar_apply`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from atende.clock import Clock
from atende.integrations.google.changes import Applied, Changes
from atende.integrations.google.client import CalendarClient
from atende.integrations.google.errors import FullSyncRequired
from atende.integrations.google.events import read_item
from atende.memory.store import Store
from atende.tenant import Tenant

log = structlog.get_logger(__name__)
# a full sync reads from a little before today: what is past cannot be booked anyway
FULL_SYNC_FROM = timedelta(days=1)
MAX_PAGES = 200


@dataclass
class SyncReport:
    calendar_id: str
    full: bool = False
    pages: int = 0
    busy: int = 0
    removed: int = 0
    cancelled: int = 0
    moved: int = 0
    conflicts: int = 0

    def add(self, applied: Applied) -> None:
        self.pages += 1
        self.busy += len(applied.busy)
        self.removed += len(applied.removed)
        self.cancelled += len(applied.cancelled)
        self.moved += len(applied.moved)
        self.conflicts += applied.conflicts


class CalendarSync:
    def __init__(self, store: Store, client: CalendarClient, changes: Changes, clock: Clock
                 ) -> None:
        self.store = store
        self.client = client
        self.changes = changes
        self.clock = clock

    async def sync(self, tenant: Tenant, calendar_id: str, professional_id: str) -> SyncReport:
        """Bring the calendar's copy up to date; a 410 on a stored token means one full sync.
        Errors other than 410 propagate (the copy keeps its last successful `synced_at`)."""
        states = {s.calendar_id: s for s in await self.store.calendar_sync_states(tenant.id)}
        state = states.get(calendar_id)
        token = state.sync_token if state else None
        try:
            return await self._pages(tenant, calendar_id, professional_id, token)
        except FullSyncRequired:
            if token is None:
                raise
            log.info("calendar_full_sync_required", tenant=tenant.id)
            return await self._pages(tenant, calendar_id, professional_id, None)

    async def _pages(self, tenant: Tenant, calendar_id: str, professional_id: str,
                     token: str | None) -> SyncReport:
        report = SyncReport(calendar_id, full=token is None)
        reset = token is None
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            now = self.clock.now()
            page = await self.client.list_events(
                tenant.id, calendar_id, sync_token=token, page_token=page_token,
                time_min=None if token else now - FULL_SYNC_FROM)
            items = [read_item(raw, tenant.tz) for raw in page.get("items") or []
                     if isinstance(raw, dict) and raw.get("id")]
            applied = await self.changes.page(tenant, calendar_id, professional_id, items, now)
            page_token = page.get("nextPageToken") or None
            next_sync = None if page_token else page.get("nextSyncToken")
            await self.store.calendar_apply(
                tenant.id, calendar_id, professional_id=professional_id, busy=applied.busy,
                removed=applied.removed, reset=reset, sync_token=next_sync)
            reset = False
            report.add(applied)
            if page_token is None:
                if not next_sync:
                    log.warning("calendar_sync_without_token", tenant=tenant.id)
                return report
        log.warning("calendar_sync_page_limit", tenant=tenant.id, pages=MAX_PAGES)
        return report
