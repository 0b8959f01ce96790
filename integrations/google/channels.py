"""Push channels: one per associated calendar, created with a random per-channel token (kept
only as its SHA-256), replaced before it expires (Google never renews a channel: a new id,
then `channels.stop` of the old one), and checked on every notification.

A channel id carries its clinic (`<tenant>-<hex>`), so a notification finds its tenant
before any row is read, and row-level security holds."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

import structlog

from atende.clock import Clock
from atende.integrations.google.base import NeedsReconnect
from atende.integrations.google.client import CalendarClient
from atende.integrations.google.errors import CalendarError
from atende.integrations.google.events import PushNotice, expiration
from atende.integrations.google.outbound import Calendars
from atende.memory.records import CalendarChannel
from atende.memory.store import Store
from atende.tenant import Tenant

log = structlog.get_logger(__name__)
MAX_CHANNEL_ID = 64


def new_channel_id(tenant_id: str) -> str:
    room = MAX_CHANNEL_ID - len(tenant_id) - 1
    if room < 16:
        raise ValueError(f"tenant id too long for a channel id: {tenant_id!r}")
    return f"{tenant_id}-{uuid.uuid4().hex[:room]}"


def tenant_of(channel_id: str) -> str:
    """The clinic a channel id names ('' for a malformed one)."""
    tenant, _, tail = channel_id.rpartition("-")
    return tenant if tenant and tail and len(channel_id) <= MAX_CHANNEL_ID else ""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authentic(channel: CalendarChannel, notice: PushNotice) -> bool:
    """The notification names the channel's resource and carries its token (compared in
    constant time, as hashes)."""
    return (hmac.compare_digest(channel.resource_id, notice.resource_id)
            and hmac.compare_digest(channel.token_hash, token_hash(notice.token)))


class Channels:
    def __init__(self, store: Store, client: CalendarClient, calendars: Calendars, clock: Clock,
                 *, address: str | None) -> None:
        self.store = store
        self.client = client
        self.calendars = calendars
        self.clock = clock
        self.address = address

    def _renew_before(self, tenant: Tenant) -> timedelta:
        ttl = timedelta(hours=tenant.calendar.google.channel_ttl_hours)
        return min(timedelta(days=1), ttl / 4)

    async def ensure(self, tenant: Tenant) -> int:
        """Every associated calendar has a channel that does not expire soon: a new one where
        not, then the old ones stopped (a brief overlap: duplicates are debounced). Channels of
        calendars no longer associated are stopped. Returns how many were created."""
        if not self.address:
            return 0
        now = self.clock.now()
        wanted = {c for c, _ in await self.calendars(tenant.id)}
        channels = await self.store.calendar_channels(tenant.id)
        created = 0
        for calendar in sorted(wanted):
            mine = [c for c in channels if c.calendar_id == calendar]
            if any(c.expires_at > now + self._renew_before(tenant) for c in mine):
                continue
            try:
                await self.watch(tenant, calendar)
            except (CalendarError, NeedsReconnect, OSError) as exc:
                log.warning("calendar_watch_failed", tenant=tenant.id, error=type(exc).__name__)
                continue
            created += 1
            for old in mine:
                await self.stop(tenant.id, old)
        for old in channels:
            if old.calendar_id not in wanted:
                await self.stop(tenant.id, old)
        return created

    async def watch(self, tenant: Tenant, calendar_id: str) -> CalendarChannel:
        assert self.address
        channel_id, token = new_channel_id(tenant.id), secrets.token_urlsafe(32)
        ttl = tenant.calendar.google.channel_ttl_hours * 3600
        answer = await self.client.watch(tenant.id, calendar_id, channel_id=channel_id,
                                         address=self.address, token=token, ttl_seconds=ttl)
        granted = expiration(answer) or self.clock.now() + timedelta(seconds=ttl)
        return await self.store.calendar_channel_add(
            tenant.id, channel_id=channel_id, calendar_id=calendar_id,
            resource_id=str(answer.get("resourceId") or ""), token_hash=token_hash(token),
            expires_at=granted)

    async def stop(self, tenant_id: str, channel: CalendarChannel) -> None:
        """channels.stop, then forget it (a channel Google already dropped is forgotten too)."""
        try:
            await self.client.stop_channel(tenant_id, channel.channel_id, channel.resource_id)
        except (CalendarError, NeedsReconnect, OSError) as exc:
            log.info("calendar_channel_stop_failed", tenant=tenant_id, error=type(exc).__name__)
        await self.store.calendar_channel_remove(tenant_id, channel.channel_id)

    async def stop_all(self, tenant_id: str) -> int:
        """The clinic disconnected Google: stop and forget every channel."""
        channels = await self.store.calendar_channels(tenant_id)
        for channel in channels:
            await self.stop(tenant_id, channel)
        return len(channels)
