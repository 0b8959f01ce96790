"""A clinic's Google connection: the OAuth states of consent flows (single use), the connection
with its encrypted tokens, and the calendars associated with professionals. The SQL is written
once here (`script.Step`s both backends run as written); no backend code.

One refresh at a time across processes is a lease on the connection row: `google_refresh_claim`
is a conditional UPDATE that only one caller wins until the refresh is written (or released, or
the lease runs out); the database settles the race (a second UPDATE on Postgres waits for the
first to commit and then finds the lease taken; SQLite serialises writers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..records import CalendarLink, GoogleConnection
from .base import Scripted
from .script import Step

_CONNECTION = "SELECT * FROM google_connections WHERE tenant_id = :tenant_id"


class Google(Scripted):
    """The Store's Google methods (their contracts are on `Store`)."""

    # consent flows

    async def google_state_open(self, tenant_id: str, state_id: str, expires_at: datetime) -> None:
        params = {"tenant_id": tenant_id, "id": state_id, "expires_at": self._instant(expires_at),
                  "now": self._now()}
        await self._script(tenant_id, [
            Step("UPDATE google_oauth_states SET used_at = :now WHERE tenant_id = :tenant_id"
                 " AND used_at IS NULL", params),
            Step("DELETE FROM google_oauth_states WHERE tenant_id = :tenant_id"
                 " AND expires_at < :now", params),
            Step("INSERT INTO google_oauth_states (id, tenant_id, expires_at, created_at)"
                 " VALUES (:id, :tenant_id, :expires_at, :now)", params),
        ])

    async def google_state_use(self, tenant_id: str, state_id: str) -> bool:
        return await self._script(tenant_id, [Step(
            "UPDATE google_oauth_states SET used_at = :now WHERE tenant_id = :tenant_id"
            " AND id = :id AND used_at IS NULL AND expires_at > :now",
            {"tenant_id": tenant_id, "id": state_id, "now": self._now()}, require=True)]) is not None

    # the connection

    async def google_connection(self, tenant_id: str) -> GoogleConnection | None:
        rows = await self._script(tenant_id, [Step(
            _CONNECTION, {"tenant_id": tenant_id}, returns=GoogleConnection)])
        return rows[0] if rows else None

    async def google_connect(self, tenant_id: str, *, refresh_token_enc: str | None,
                             access_token_enc: str, expires_at: datetime, scopes: str
                             ) -> GoogleConnection | None:
        params = {"tenant_id": tenant_id, "refresh": refresh_token_enc, "access": access_token_enc,
                  "expires_at": self._instant(expires_at), "scopes": scopes, "now": self._now()}
        if refresh_token_enc is None:  # Google kept the old grant: only a stored one will do
            write = Step("UPDATE google_connections SET status = 'connected', reason = NULL,"
                         " access_token_enc = :access, expires_at = :expires_at, scopes = :scopes,"
                         " lease_until = NULL, connected_at = :now, updated_at = :now"
                         " WHERE tenant_id = :tenant_id", params, require=True)
        else:
            write = Step(
                "INSERT INTO google_connections (tenant_id, status, refresh_token_enc,"
                " access_token_enc, expires_at, scopes, connected_at, updated_at) VALUES"
                " (:tenant_id, 'connected', :refresh, :access, :expires_at, :scopes, :now, :now)"
                " ON CONFLICT (tenant_id) DO UPDATE SET status = 'connected', reason = NULL,"
                " refresh_token_enc = excluded.refresh_token_enc,"
                " access_token_enc = excluded.access_token_enc, expires_at = excluded.expires_at,"
                " scopes = excluded.scopes, lease_until = NULL,"
                " connected_at = excluded.connected_at, updated_at = excluded.updated_at", params)
        rows = await self._script(tenant_id, [
            write, Step(_CONNECTION, params, returns=GoogleConnection)])
        return rows[0] if rows else None

    async def google_refresh_claim(self, tenant_id: str, lease_until: datetime
                                   ) -> GoogleConnection | None:
        rows = await self._script(tenant_id, [Step(
            "UPDATE google_connections SET lease_until = :lease_until WHERE tenant_id = :tenant_id"
            " AND status = 'connected' AND (lease_until IS NULL OR lease_until <= :now)"
            " RETURNING *",
            {"tenant_id": tenant_id, "lease_until": self._instant(lease_until), "now": self._now()},
            returns=GoogleConnection)])
        return rows[0] if rows else None

    async def google_refreshed(self, tenant_id: str, *, access_token_enc: str,
                               refresh_token_enc: str | None, expires_at: datetime, scopes: str
                               ) -> bool:
        return await self._script(tenant_id, [Step(
            "UPDATE google_connections SET access_token_enc = :access, expires_at = :expires_at,"
            " refresh_token_enc = COALESCE(:refresh, refresh_token_enc),"
            " scopes = COALESCE(:scopes, scopes), lease_until = NULL, updated_at = :now"
            " WHERE tenant_id = :tenant_id AND status = 'connected'",
            {"tenant_id": tenant_id, "access": access_token_enc, "refresh": refresh_token_enc,
             "expires_at": self._instant(expires_at), "scopes": scopes or None,
             "now": self._now()}, require=True)]) is not None

    async def google_access_refused(self, tenant_id: str) -> None:
        await self._script(tenant_id, [Step(
            "UPDATE google_connections SET expires_at = :now, updated_at = :now"
            " WHERE tenant_id = :tenant_id AND status = 'connected' AND expires_at > :now",
            {"tenant_id": tenant_id, "now": self._now()})])

    async def google_refresh_release(self, tenant_id: str) -> None:
        await self._script(tenant_id, [Step(
            "UPDATE google_connections SET lease_until = NULL WHERE tenant_id = :tenant_id",
            {"tenant_id": tenant_id})])

    async def google_needs_reconnect(self, tenant_id: str, reason: str) -> bool:
        return await self._script(tenant_id, [Step(
            "UPDATE google_connections SET status = 'needs_reconnect', reason = :reason,"
            " access_token_enc = NULL, lease_until = NULL, updated_at = :now"
            " WHERE tenant_id = :tenant_id AND status = 'connected'",
            {"tenant_id": tenant_id, "reason": reason[:300], "now": self._now()},
            require=True)]) is not None

    async def google_disconnect(self, tenant_id: str) -> GoogleConnection | None:
        params = {"tenant_id": tenant_id}
        rows = await self._script(tenant_id, [
            Step("DELETE FROM google_calendars WHERE tenant_id = :tenant_id", params),
            Step("DELETE FROM google_oauth_states WHERE tenant_id = :tenant_id", params),
            Step("DELETE FROM google_connections WHERE tenant_id = :tenant_id RETURNING *", params,
                 returns=GoogleConnection),
        ])
        return rows[0] if rows else None

    # calendars

    async def google_calendars_set(self, tenant_id: str, links: Sequence[CalendarLink]
                                   ) -> list[CalendarLink]:
        now = self._now()
        steps = [Step("DELETE FROM google_calendars WHERE tenant_id = :tenant_id",
                      {"tenant_id": tenant_id})]
        for link in links:
            if link.tenant_id != tenant_id:
                raise ValueError(f"calendar link of {link.tenant_id!r} given for {tenant_id!r}")
            steps.append(Step(
                "INSERT INTO google_calendars (tenant_id, calendar_id, professional_id, summary,"
                " created_at) VALUES (:tenant_id, :calendar_id, :professional_id, :summary, :now)",
                {"tenant_id": tenant_id, "calendar_id": link.calendar_id,
                 "professional_id": link.professional_id, "summary": link.summary, "now": now}))
        steps.append(self._links(tenant_id))
        return await self._script(tenant_id, steps) or []

    async def google_calendars(self, tenant_id: str) -> list[CalendarLink]:
        return await self._script(tenant_id, [self._links(tenant_id)]) or []

    @staticmethod
    def _links(tenant_id: str) -> Step:
        return Step("SELECT * FROM google_calendars WHERE tenant_id = :tenant_id"
                    " ORDER BY professional_id, calendar_id", {"tenant_id": tenant_id},
                    returns=CalendarLink)
