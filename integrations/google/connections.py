"""`GoogleConnections`: each clinic's Google connection as the routes use it (start a consent,
complete it, status, calendars, associations, disconnect) and as the rest of atende reaches it
(`tokens`: the `TokenSource`; `on_disconnect`: hooks run before a clinic is disconnected;
`on_associate`: hooks run after its calendars change).

Built once per process by `open_google` (the server's lifespan puts it on `Services.google`;
`atende worker` may build its own): None when Google is not configured and no clinic uses it; a
clear ConfigError at start-up when a clinic has `calendar.backend: google` and a setting is
missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import structlog

from atende.clock import Clock
from atende.errors import ConfigError
from atende.memory.records import CalendarLink
from atende.memory.store import Store
from atende.server.http_errors import ApiError
from atende.server.metrics import GOOGLE_STATUSES, Metrics
from atende.settings import Settings
from atende.tenant import Tenant, TenantRegistry

from .base import NeedsReconnect
from .cipher import TokenCipher
from .listing import CalendarEntry, list_calendars
from .oauth import GoogleOAuth, GoogleUnavailable, InvalidGrant, OAuthConfig, OAuthRefused, scope_list
from .state import BadState, StateSigner
from .tokens import GoogleRefreshLoop, GoogleTokens

log = structlog.get_logger(__name__)
DisconnectHook = Callable[[str], Awaitable[None]]  # tenant id; runs while the tokens still work
_REQUIRED = ("token_key", "google_client_id", "google_client_secret", "google_redirect_uri")

# what the clinic's staff read when a consent cannot be completed (the callback's page)
CALLBACK_ERRORS = {
    "invalid_state": "Este link de conexão não é válido. Volte ao painel e clique em "
                     "“Conectar Google Agenda” de novo.",
    "expired_state": "Este link de conexão expirou. Volte ao painel e comece de novo.",
    "used_state": "Este link de conexão já foi usado (ou um mais novo foi gerado). Volte ao "
                  "painel e comece de novo.",
    "consent_denied": "A conexão com o Google Agenda foi cancelada no Google.",
    "invalid_code": "O Google não aceitou esta autorização (ela pode ter expirado). Comece de "
                    "novo pelo painel.",
    "no_refresh_token": "O Google não enviou a autorização permanente. Remova o acesso do atende "
                        "em myaccount.google.com/permissions e conecte de novo.",
}


def _status_metric(metrics: Metrics) -> Callable[[str, str], None]:
    def set_status(tenant_id: str, status: str) -> None:
        for each in GOOGLE_STATUSES:
            metrics.google_connection.labels(tenant=tenant_id, status=each).set(
                1 if each == status else 0)
    return set_status


def open_google(settings: Settings, tenants: TenantRegistry, store: Store,
                http: httpx.AsyncClient, clock: Clock, metrics: Metrics) -> GoogleConnections | None:
    """The process's GoogleConnections, or None when Google is not set up and no clinic needs it;
    ConfigError naming the clinic and the missing settings when one does."""
    missing = [name for name in _REQUIRED if not _value(getattr(settings, name))]
    users = [t.id for t in tenants if t.calendar.backend == "google"]
    if missing:
        if users:
            raise ConfigError(
                f"clinic(s) {', '.join(users)} use calendar.backend: google, which needs "
                + ", ".join(f"ATENDE_{n.upper()}" for n in missing))
        return None
    assert settings.token_key and settings.google_client_secret and settings.google_client_id
    assert settings.google_redirect_uri
    cipher = TokenCipher(settings.token_key.get_secret_value())
    oauth = GoogleOAuth(http, OAuthConfig(
        settings.google_client_id, settings.google_client_secret.get_secret_value(),
        settings.google_redirect_uri, settings.google_auth_url, settings.google_token_url,
        settings.google_revoke_url, tuple(settings.google_scopes)))
    tokens = GoogleTokens(store, oauth, cipher, clock,
                          ahead=timedelta(seconds=settings.google_refresh_ahead_seconds),
                          on_status=_status_metric(metrics),
                          on_invalid_grant=lambda t: metrics.google_invalid_grant.labels(tenant=t).inc())
    for tenant in tenants:
        metrics.google_invalid_grant.labels(tenant=tenant.id)
    return GoogleConnections(settings, tenants, store, http, clock, oauth, tokens,
                             StateSigner(cipher.state_key,
                                         timedelta(seconds=settings.google_state_ttl_seconds)))


def _value(value: Any) -> bool:
    secret = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return bool(secret and str(secret).strip())


class GoogleConnections:
    def __init__(self, settings: Settings, tenants: TenantRegistry, store: Store,
                 http: httpx.AsyncClient, clock: Clock, oauth: GoogleOAuth, tokens: GoogleTokens,
                 signer: StateSigner) -> None:
        self.settings = settings
        self.tenants = tenants
        self.store = store
        self.http = http
        self.clock = clock
        self.oauth = oauth
        self.tokens = tokens  # the TokenSource the Calendar side uses
        self.signer = signer
        self.on_disconnect: list[DisconnectHook] = []
        self.on_associate: list[Callable[[str], None]] = []  # tenant id; after the store write

    def refresh_loop(self) -> GoogleRefreshLoop:
        return GoogleRefreshLoop(self.tokens, lambda: [t.id for t in self.tenants],
                                 every=self.settings.google_refresh_every_seconds)

    def tenant(self, tenant_id: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise ApiError(404, "unknown_tenant", f"Não há clínica {tenant_id!r}.")

    async def start(self, tenant_id: str) -> dict[str, str]:
        """A consent URL for the clinic, with a new signed state (earlier ones stop working)."""
        self.tenant(tenant_id)
        state = self.signer.issue(tenant_id, self.clock.now())
        await self.store.google_state_open(tenant_id, state.nonce, state.expires_at)
        log.info("google.consent_started", tenant_id=tenant_id,
                 expires_at=state.expires_at.isoformat())
        return {"url": self.oauth.consent_url(state.text), "expiresAt": state.expires_at.isoformat()}

    async def complete(self, code: str, state_text: str) -> Tenant:
        """Check the state (signature, expiry, then single use in the database), exchange the
        code, store the tokens encrypted. ApiError (400 with a CALLBACK_ERRORS code, or 502
        when Google failed) with nothing stored otherwise."""
        try:
            state = self.signer.verify(state_text, self.clock.now())
        except BadState as exc:
            raise _callback_error(exc.code) from None
        tenant = next((t for t in self.tenants if t.id == state.tenant_id), None)
        if tenant is None:
            raise _callback_error("invalid_state")
        if not await self.store.google_state_use(tenant.id, state.nonce):
            raise _callback_error("used_state")
        try:
            grant = await self.oauth.exchange(code)
        except InvalidGrant:
            raise _callback_error("invalid_code") from None
        except (GoogleUnavailable, OAuthRefused) as exc:
            log.error("google.exchange_failed", tenant_id=tenant.id, error=exc.code, detail=str(exc))
            raise ApiError(502, "google_unavailable", "O Google não respondeu como esperado. "
                           "Tente de novo em alguns minutos.") from None
        if await self.tokens.save_grant(tenant.id, grant) is None:
            await self._revoke(tenant.id, grant.access_token)
            raise _callback_error("no_refresh_token")
        log.info("google.connected", tenant_id=tenant.id, scopes=scope_list(grant.scope))
        return tenant

    async def status(self, tenant_id: str) -> dict[str, Any]:
        """What the clinic's panel shows; never a token."""
        self.tenant(tenant_id)
        row = await self.store.google_connection(tenant_id)
        connected = row is not None and row.status == "connected"
        return {"clinicId": tenant_id, "connected": connected,
                "valid": bool(connected and row and row.access_token_enc and row.expires_at
                              and row.expires_at > self.clock.now()),
                "expiresAt": row.expires_at.isoformat() if row and row.expires_at else None,
                "needsReconnect": row is not None and row.status == "needs_reconnect",
                "reason": row.reason if row else None,
                "scopes": scope_list(row.scopes) if row else []}

    async def calendars(self, tenant_id: str) -> list[CalendarEntry]:
        self.tenant(tenant_id)
        try:
            return await list_calendars(self.http, self.settings.google_api_url, self.tokens,
                                        tenant_id)
        except NeedsReconnect as exc:
            raise _not_connected(exc) from None
        except (GoogleUnavailable, OAuthRefused) as exc:
            log.warning("google.calendar_list_failed", tenant_id=tenant_id, error=exc.code,
                        detail=str(exc))
            raise ApiError(502, "google_unavailable", "Não foi possível ler as agendas do Google "
                           "agora. Tente de novo em alguns minutos.") from None

    async def associate(self, tenant_id: str, pairs: list[tuple[str, str]]) -> list[CalendarLink]:
        """Replace the clinic's associations with (calendar id, professional id) pairs: every
        professional must be the clinic's, every calendar one its Google account sees."""
        tenant = self.tenant(tenant_id)
        known = {p.id for p in tenant.professionals}
        for _, professional_id in pairs:
            if professional_id not in known:
                raise ApiError(422, "unknown_professional",
                               f"Profissional {professional_id!r} não existe nesta clínica.",
                               hint="use um destes: " + ", ".join(sorted(known)))
        ids = [calendar_id for calendar_id, _ in pairs]
        if len(set(ids)) != len(ids):
            raise ApiError(422, "duplicate_calendar",
                           "Cada agenda pode ser associada a um só profissional.")
        seen = {entry.id: entry for entry in await self.calendars(tenant_id)} if pairs else {}
        unknown = [calendar_id for calendar_id in ids if calendar_id not in seen]
        if unknown:
            raise ApiError(422, "unknown_calendar", f"A conta Google conectada não vê a agenda "
                           f"{unknown[0]!r}.", hint="veja GET /api/google/calendars/list")
        links = [CalendarLink(tenant_id, calendar_id, professional_id, seen[calendar_id].summary)
                 for calendar_id, professional_id in pairs]
        saved = await self.store.google_calendars_set(tenant_id, links)
        for hook in list(self.on_associate):  # e.g. the Calendar side syncs and watches now
            hook(tenant_id)
        return saved

    async def disconnect(self, tenant_id: str) -> dict[str, Any]:
        """Run the disconnect hooks (the Calendar side stops its channels while the tokens still
        work), delete the tokens, associations and states, then revoke the grant at Google (best
        effort: a revocation Google cannot take now is logged, the clinic is disconnected)."""
        self.tenant(tenant_id)
        if await self.store.google_connection(tenant_id) is None:
            return {"clinicId": tenant_id, "disconnected": False, "revoked": False}
        for hook in list(self.on_disconnect):
            try:
                await hook(tenant_id)
            except Exception:
                log.exception("google.disconnect_hook_failed", tenant_id=tenant_id,
                              hook=getattr(hook, "__qualname__", repr(hook)))
        gone = await self.store.google_disconnect(tenant_id)
        revoked = False
        if gone is not None:
            try:
                revoked = await self._revoke(tenant_id, self.tokens.cipher.decrypt(
                    gone.refresh_token_enc))
            except ConfigError:
                log.warning("google.revoke_failed", tenant_id=tenant_id, error="undecryptable")
        self.tokens.on_status(tenant_id, "not_connected")
        log.info("google.disconnected", tenant_id=tenant_id, revoked=revoked)
        return {"clinicId": tenant_id, "disconnected": gone is not None, "revoked": revoked}

    async def health(self, tenant: Tenant) -> str | None:
        """The clinic's Google connection for the admin /health: None when it neither uses
        Google nor ever connected."""
        row = await self.store.google_connection(tenant.id)
        if row is None:
            return "failing: not connected" if tenant.calendar.backend == "google" else None
        if row.status == "needs_reconnect":
            return f"failing: needs_reconnect ({row.reason or 'invalid_grant'})"
        return "connected"

    async def _revoke(self, tenant_id: str, token: str) -> bool:
        try:
            return await self.oauth.revoke(token)
        except GoogleUnavailable as exc:
            log.warning("google.revoke_failed", tenant_id=tenant_id, error=exc.code)
            return False


def _callback_error(code: str) -> ApiError:
    return ApiError(400, code, CALLBACK_ERRORS[code])


def _not_connected(exc: NeedsReconnect) -> ApiError:
    if exc.reason == "not connected":
        return ApiError(409, "not_connected", "A clínica não conectou o Google Agenda.",
                        hint="POST /api/google/oauth/start")
    return ApiError(409, "needs_reconnect", "A conexão com o Google Agenda precisa ser refeita.",
                    hint="POST /api/google/oauth/start")
