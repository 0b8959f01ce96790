"""`GoogleCalendars`: the Calendar side of a deployment, built once by the server or a worker.

It owns the client, the sync, the push channels, the event writer and the `CalendarBackend`
turns use for clinics with `calendar.backend: google`. Its loops (`run`): the backstop sync
of every calendar with the channels' renewal (`google_sync_every_seconds`), and the calendar
jobs (`google_jobs_every_seconds`, woken by a booking). It needs, from the OAuth side, a
`TokenSource` and the clinic's calendar associations (calendar id → professional id)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from atende.clock import Clock
from atende.errors import ConfigError
from atende.integrations.google.backend import GoogleBackend
from atende.integrations.google.base import TokenSource
from atende.integrations.google.changes import Changes
from atende.integrations.google.channels import Channels, authentic, tenant_of
from atende.integrations.google.client import CalendarClient, Sleep
from atende.integrations.google.events import push_notice
from atende.integrations.google.outbound import Calendars, DrainReport, EventWriter
from atende.integrations.google.push import SyncScheduler
from atende.integrations.google.sync import CalendarSync, SyncReport
from atende.loops import every
from atende.memory.store import Store
from atende.server.http_errors import ApiError
from atende.settings import Settings
from atende.tenant import Tenant, TenantRegistry
from atende.tools.calendars import LOCAL, CalendarBackend

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class GoogleWiring:
    """What the OAuth side supplies: tokens per clinic, and each clinic's associations
    (`calendars(tenant_id)` → [(calendar id, professional id)])."""

    tokens: TokenSource
    calendars: Calendars


def oauth_wiring(connections: Any, store: Store) -> GoogleWiring | None:
    """The OAuth side's wiring (`integrations/google/connections.GoogleConnections`): its
    `TokenSource`, and the associations it stores (`Store.google_calendars`)."""
    if connections is None:
        return None

    async def calendars(tenant_id: str) -> list[tuple[str, str]]:
        return [(link.calendar_id, link.professional_id)
                for link in await store.google_calendars(tenant_id)]

    return GoogleWiring(connections.tokens, calendars)


class GoogleCalendars:
    def __init__(self, store: Store, tenants: TenantRegistry, http: httpx.AsyncClient,
                 tokens: TokenSource, calendars: Calendars, clock: Clock, *,
                 settings: Settings, on_outbox: Callable[[], None] = lambda: None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.store = store
        self.tenants = tenants
        self.clock = clock
        self.settings = settings
        self.associations = calendars
        self.client = CalendarClient(http, tokens, base_url=settings.google_api_url, sleep=sleep)
        self.syncer = CalendarSync(store, self.client, Changes(store, on_outbox=on_outbox), clock)
        self.writer = EventWriter(store, self.client, calendars, clock)
        self.channels = Channels(store, self.client, calendars, clock,
                                 address=settings.google_calendar_webhook_url)
        self.jobs_wake = asyncio.Event()
        self.sync_wake = asyncio.Event()
        self.backend = GoogleBackend(store, self.client, calendars, clock,
                                     wake_jobs=self.jobs_wake.set)
        self.scheduler = SyncScheduler(self.sync_calendar, self._debounce)

    def for_tenant(self, tenant: Tenant) -> CalendarBackend:
        """The turn's calendar backend (`Atende.calendars`)."""
        return self.backend if tenant.calendar.backend == "google" else LOCAL

    def _google(self) -> list[Tenant]:
        return [t for t in self.tenants if t.calendar.backend == "google"]

    def _tenant(self, tenant_id: str) -> Tenant | None:
        try:
            return self.tenants.get(tenant_id)
        except ConfigError:
            return None

    def _debounce(self, tenant_id: str) -> float:
        tenant = self._tenant(tenant_id)
        return tenant.calendar.google.push_debounce_seconds if tenant else 0.0

    # inbound

    async def sync_calendar(self, tenant_id: str, calendar_id: str) -> SyncReport | None:
        tenant = self._tenant(tenant_id)
        professional = next((p for c, p in await self.associations(tenant_id)
                             if c == calendar_id), None)
        if tenant is None or professional is None:
            return None  # no longer associated: nothing to mirror
        report = await self.syncer.sync(tenant, calendar_id, professional)
        log.info("calendar_synced", tenant=tenant_id, full=report.full, pages=report.pages,
                 busy=report.busy, removed=report.removed, cancelled=report.cancelled,
                 moved=report.moved, conflicts=report.conflicts)
        return report

    async def notified(self, headers: Mapping[str, str]) -> str:
        """A push notification, authenticated; what was done (`ApiError` when refused)."""
        notice = push_notice(headers)
        if notice is None:
            raise ApiError(400, "bad_notification", "Missing X-Goog-Channel-ID, "
                           "X-Goog-Resource-ID or X-Goog-Resource-State.")
        tenant = self._tenant(tenant_of(notice.channel_id))
        found = await self.store.calendar_channels(tenant.id, channel_id=notice.channel_id) \
            if tenant is not None else []
        if tenant is None or not found:
            raise ApiError(404, "unknown_channel", "No such notification channel.")
        channel = found[0]
        if not authentic(channel, notice):
            log.warning("calendar_notification_refused", tenant=tenant.id)
            raise ApiError(401, "bad_channel_token", "The channel's token or resource is wrong.")
        if notice.state == "sync":
            return "sync_acknowledged"
        if notice.state == "not_exists":
            await self.store.calendar_channel_remove(tenant.id, channel.channel_id)
            return "channel_gone"
        return "sync_scheduled" if self.scheduler.notify(tenant.id, channel.calendar_id) \
            else "sync_already_scheduled"

    async def tick(self) -> dict[str, int]:
        """The backstop: every associated calendar of every Google clinic synced, and its
        channels renewed before they expire. A calendar that fails keeps its last copy (whose
        age availability checks) and the others go on."""
        counts = {"synced": 0, "failed": 0, "channels": 0, "forgotten": 0}
        for tenant in self._google():
            associated = await self.associations(tenant.id)
            counts["forgotten"] += await self._forget(tenant.id, {c for c, _ in associated})
            for calendar, _ in associated:
                try:
                    await self.sync_calendar(tenant.id, calendar)
                    counts["synced"] += 1
                except Exception as exc:
                    counts["failed"] += 1
                    log.warning("calendar_sync_failed", tenant=tenant.id,
                                error=type(exc).__name__)
            counts["channels"] += await self.channels.ensure(tenant)
        return counts

    # outbound

    async def drain(self) -> DrainReport:
        total = DrainReport()
        for tenant in self._google():
            report = await self.writer.drain(tenant)
            total.done += report.done
            total.retried += report.retried
            total.given_up += report.given_up
        return total

    async def disconnect(self, tenant_id: str) -> int:
        """The clinic disconnected Google (call it while its token still works): its channels
        are stopped and forgotten, and its calendars' busy time no longer counts. Returns how
        many channels were stopped."""
        stopped = await self.channels.stop_all(tenant_id)
        await self._forget(tenant_id, set())
        return stopped

    async def _forget(self, tenant_id: str, keep: set[str]) -> int:
        """Calendars no longer associated: their busy rows and sync token dropped."""
        gone = [s.calendar_id for s in await self.store.calendar_sync_states(tenant_id)
                if s.calendar_id not in keep]
        for calendar in gone:
            await self.store.calendar_apply(tenant_id, calendar, professional_id="", reset=True)
        return len(gone)

    async def run(self) -> None:
        """The two loops, until cancelled."""
        loops: list[Awaitable[None]] = [
            every(self.settings.google_sync_every_seconds, self.sync_wake, self.tick,
                  failed="calendar_tick_failed"),
            every(self.settings.google_jobs_every_seconds, self.jobs_wake, self.drain,
                  failed="calendar_jobs_failed"),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            await self.scheduler.close()

