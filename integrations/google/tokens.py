"""`GoogleTokens`, the `TokenSource` the Calendar side uses: a valid access token per clinic,
refreshed ahead of expiry, one refresh at a time per clinic, `invalid_grant` → needs_reconnect.

One refresh at a time: in this process an `asyncio.Lock` per clinic; across processes (several
servers or workers on one Postgres) the refresh lease on the connection row
(`Store.google_refresh_claim`, a conditional UPDATE only one caller wins). A caller that finds
the lease taken uses the current access token while it is still valid, or waits for the other
process to write the new one (at most the lease). `GoogleRefreshLoop` refreshes in the
background whatever is about to expire, so a turn rarely waits for Google."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import structlog

from atende.clock import Clock
from atende.loops import every
from atende.memory.records import GoogleConnection
from atende.memory.store import Store

from .base import NeedsReconnect
from .cipher import TokenCipher
from .oauth import GoogleOAuth, GoogleUnavailable, Grant, InvalidGrant, OAuthRefused

log = structlog.get_logger(__name__)
LEASE = timedelta(seconds=90)  # longer than a refresh with all its retries (4 x 10 s + backoff)
_WAIT_STEP = 0.2

# (tenant id, "connected" | "needs_reconnect" | "not_connected"); and one per invalid_grant
StatusHook = Callable[[str, str], None]


class GoogleTokens:
    def __init__(self, store: Store, oauth: GoogleOAuth, cipher: TokenCipher, clock: Clock, *,
                 ahead: timedelta = timedelta(minutes=5), lease: timedelta = LEASE,
                 on_status: StatusHook | None = None,
                 on_invalid_grant: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.oauth = oauth
        self.cipher = cipher
        self.clock = clock
        self.ahead = ahead
        self.lease = lease
        self.on_status = on_status or (lambda tenant, status: None)
        self.on_invalid_grant = on_invalid_grant or (lambda tenant: None)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def access_token(self, tenant_id: str) -> str:
        """A valid access token for the clinic; NeedsReconnect when there is none to be had,
        GoogleUnavailable / OAuthRefused when Google's token endpoint failed (try later)."""
        connection = await self._usable(tenant_id)
        if self._fresh(connection):
            return self._access(connection)
        async with self._locks[tenant_id]:
            return await self._refresh(tenant_id)

    async def refused(self, tenant_id: str) -> None:
        """Google answered 401 to the access token it gave (revoked, or expired early): the next
        `access_token` refreshes it (and learns whether the grant is dead)."""
        await self.store.google_access_refused(tenant_id)

    async def save_grant(self, tenant_id: str, grant: Grant) -> GoogleConnection | None:
        """Store a code exchange's tokens, encrypted; None when Google sent no refresh token and
        none is stored (nothing written: the clinic must consent again)."""
        async with self._locks[tenant_id]:
            saved = await self.store.google_connect(
                tenant_id, access_token_enc=self.cipher.encrypt(grant.access_token),
                refresh_token_enc=self.cipher.encrypt(grant.refresh_token)
                if grant.refresh_token else None,
                expires_at=self._expiry(grant), scopes=grant.scope)
        if saved is not None:
            self.on_status(tenant_id, "connected")
        return saved

    async def refresh_due(self, tenant_ids: Iterable[str]) -> dict[str, str]:
        """Refresh every listed clinic's token that is about to expire; what each clinic's
        connection is now (for the status metric): connected, needs_reconnect, not_connected,
        or failing (Google did not answer; the next pass tries again)."""
        outcome: dict[str, str] = {}
        for tenant_id in tenant_ids:
            connection = await self.store.google_connection(tenant_id)
            status = "not_connected" if connection is None else connection.status
            if connection is not None and status == "connected" and not self._fresh(connection):
                try:
                    await self.access_token(tenant_id)
                except NeedsReconnect:
                    status = "needs_reconnect"
                except (GoogleUnavailable, OAuthRefused) as exc:
                    log.warning("google.refresh_failed", tenant_id=tenant_id, error=exc.code,
                                detail=str(exc))
                    status = "failing"
            if status != "failing":
                self.on_status(tenant_id, status)
            outcome[tenant_id] = status
        return outcome

    async def _refresh(self, tenant_id: str) -> str:
        deadline = time.monotonic() + self.lease.total_seconds()
        while True:
            connection = await self._usable(tenant_id)
            now = self.clock.now()
            if self._fresh(connection):
                return self._access(connection)  # another process refreshed meanwhile
            claimed = await self.store.google_refresh_claim(tenant_id, now + self.lease)
            if claimed is not None:
                return await self._renew(claimed)
            # another process holds the lease: its token is good until it expires
            if connection.access_token_enc and connection.expires_at and connection.expires_at > now:
                return self._access(connection)
            if time.monotonic() > deadline:
                raise GoogleUnavailable("another process's token refresh did not finish")
            await asyncio.sleep(_WAIT_STEP)

    async def _renew(self, connection: GoogleConnection) -> str:
        tenant_id = connection.tenant_id
        try:
            grant = await self.oauth.refresh(self.cipher.decrypt(connection.refresh_token_enc))
        except InvalidGrant as exc:
            reason = f"invalid_grant: {exc.description}" if exc.description else "invalid_grant"
            await self.store.google_needs_reconnect(tenant_id, reason)
            log.warning("google.needs_reconnect", tenant_id=tenant_id, reason=reason)
            self.on_invalid_grant(tenant_id)
            self.on_status(tenant_id, "needs_reconnect")
            raise NeedsReconnect(tenant_id, reason) from None
        except BaseException:
            await asyncio.shield(self.store.google_refresh_release(tenant_id))
            raise
        expires_at = self._expiry(grant)
        stored = await self.store.google_refreshed(
            tenant_id, access_token_enc=self.cipher.encrypt(grant.access_token),
            refresh_token_enc=self.cipher.encrypt(grant.refresh_token) if grant.refresh_token else None,
            expires_at=expires_at, scopes=grant.scope)
        if not stored:
            raise NeedsReconnect(tenant_id, "disconnected while refreshing")
        log.info("google.token_refreshed", tenant_id=tenant_id, expires_at=expires_at.isoformat())
        return grant.access_token

    async def _usable(self, tenant_id: str) -> GoogleConnection:
        connection = await self.store.google_connection(tenant_id)
        if connection is None:
            raise NeedsReconnect(tenant_id, "not connected")
        if connection.status != "connected":
            raise NeedsReconnect(tenant_id, connection.reason or connection.status)
        return connection

    def _fresh(self, connection: GoogleConnection) -> bool:
        return bool(connection.access_token_enc and connection.expires_at
                    and connection.expires_at - self.ahead > self.clock.now())

    def _access(self, connection: GoogleConnection) -> str:
        assert connection.access_token_enc is not None
        return self.cipher.decrypt(connection.access_token_enc)

    def _expiry(self, grant: Grant) -> datetime:
        return self.clock.now() + timedelta(seconds=max(grant.expires_in, 0))


class GoogleRefreshLoop:
    """Every `every` seconds, refresh the tokens of `tenants()` that are about to expire."""

    def __init__(self, tokens: GoogleTokens, tenants: Callable[[], Iterable[str]], *,
                 every: float) -> None:
        self.tokens = tokens
        self.tenants = tenants
        self.every = every
        self.wake = asyncio.Event()

    async def run(self) -> None:
        await every(self.every, self.wake,
                    lambda: self.tokens.refresh_due(list(self.tenants())),
                    failed="google.refresh_loop_failed")
