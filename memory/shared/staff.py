"""The clinic's staff: accounts, their tokens (API tokens for integrations and login sessions,
only the sha256 stored) and login attempts. The SQL is written once here (`script.Step`); a
backend supplies `_script` and the two lookups that name no clinic (`_EMAIL_TENANT`,
`_TOKEN_TENANT`: on Postgres, SECURITY DEFINER functions that tell only the clinic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atende.errors import InvalidInput

from ..records import STAFF_ROLES, StaffRole, StaffToken, StaffUser, TokenKind, check_choice
from .base import Scripted
from .script import Step, is_id, new_id

EMAIL_TAKEN = "Esse e-mail já tem uma conta."


def normal_email(email: str) -> str:
    """`email` trimmed and lower-case; InvalidInput when it cannot be one."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not (local and at and "." in domain) or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidInput(f"not an e-mail address: {email!r}")
    return email


class Staff(Scripted):
    _EMAIL_TENANT = "SELECT tenant_id FROM staff_users WHERE email = :email"
    _TOKEN_TENANT = "SELECT tenant_id FROM staff_tokens WHERE token_hash = :token_hash"

    async def staff_add(self, tenant_id: str, email: str, *, name: str, role: StaffRole,
                        password_hash: str) -> StaffUser:
        check_choice("role", role, STAFF_ROLES)
        email = normal_email(email)
        if await self._tenant_of(self._EMAIL_TENANT, email=email) is not None:
            raise InvalidInput(EMAIL_TAKEN)
        now = self._now()
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO staff_users (id, tenant_id, email, name, role, password_hash, active,"
            " created_at, updated_at) VALUES (:id, :tenant_id, :email, :name, :role,"
            " :password_hash, :active, :now, :now) RETURNING *",
            {"id": new_id(), "tenant_id": tenant_id, "email": email, "name": name.strip()[:200],
             "role": role, "password_hash": password_hash, "active": True, "now": now},
            returns=StaffUser)])
        assert rows, "an insert returns its row"
        return rows[0]  # type: ignore[no-any-return]

    async def staff_list(self, tenant_id: str) -> list[StaffUser]:
        return await self._script(tenant_id, [Step(
            "SELECT * FROM staff_users WHERE tenant_id = :tenant_id ORDER BY email",
            {"tenant_id": tenant_id}, returns=StaffUser)]) or []

    async def staff_get(self, tenant_id: str, staff_id: str) -> StaffUser | None:
        if not is_id(staff_id):
            return None
        rows = await self._script(tenant_id, [Step(
            "SELECT * FROM staff_users WHERE tenant_id = :tenant_id AND id = :id",
            {"tenant_id": tenant_id, "id": staff_id}, returns=StaffUser)])
        return rows[0] if rows else None

    async def staff_by_email(self, email: str) -> StaffUser | None:
        try:
            email = normal_email(email)
        except InvalidInput:
            return None
        tenant_id = await self._tenant_of(self._EMAIL_TENANT, email=email)
        if tenant_id is None:
            return None
        rows = await self._script(tenant_id, [Step(
            "SELECT * FROM staff_users WHERE tenant_id = :tenant_id AND email = :email",
            {"tenant_id": tenant_id, "email": email}, returns=StaffUser)])
        return rows[0] if rows else None

    async def staff_set_password(self, tenant_id: str, staff_id: str, password_hash: str) -> bool:
        if not is_id(staff_id):
            return False
        params = {"tenant_id": tenant_id, "id": staff_id, "password_hash": password_hash,
                  "now": self._now()}
        # a new password ends every open session of the account
        return await self._script(tenant_id, [
            Step("UPDATE staff_users SET password_hash = :password_hash, updated_at = :now"
                 " WHERE tenant_id = :tenant_id AND id = :id", params, require=True),
            Step("UPDATE staff_tokens SET revoked_at = :now WHERE tenant_id = :tenant_id"
                 " AND staff_id = :id AND kind = 'session' AND revoked_at IS NULL", params),
        ]) is not None

    async def staff_token_add(self, tenant_id: str, staff_id: str, *, kind: TokenKind, name: str,
                              token_hash: str, expires_at: datetime | None = None) -> StaffToken:
        check_choice("kind", kind, ("api", "session"))
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO staff_tokens (id, tenant_id, staff_id, kind, name, token_hash,"
            " created_at, expires_at) SELECT :id, tenant_id, id, :kind, :name, :token_hash,"
            " :now, :expires_at FROM staff_users WHERE tenant_id = :tenant_id AND id = :staff_id"
            " RETURNING *",
            {"id": new_id(), "tenant_id": tenant_id, "staff_id": staff_id if is_id(staff_id)
             else new_id(), "kind": kind, "name": name.strip()[:200], "token_hash": token_hash,
             "now": self._now(),
             "expires_at": None if expires_at is None else self._instant(expires_at)},
            returns=StaffToken)])
        if not rows:
            raise InvalidInput("no such staff member in this clinic")
        return rows[0]  # type: ignore[no-any-return]

    async def staff_token_use(self, token_hash: str, now: datetime
                              ) -> tuple[StaffToken, StaffUser] | None:
        tenant_id = await self._tenant_of(self._TOKEN_TENANT, token_hash=token_hash)
        if tenant_id is None:
            return None
        params = {"tenant_id": tenant_id, "token_hash": token_hash, "now": self._instant(now)}
        tokens: list[StaffToken] = []
        users = await self._script(tenant_id, [
            Step("UPDATE staff_tokens SET last_used_at = :now WHERE tenant_id = :tenant_id"
                 " AND token_hash = :token_hash AND revoked_at IS NULL"
                 " AND (expires_at IS NULL OR expires_at > :now) RETURNING *", params,
                 require=True, returns=StaffToken, into=tokens),
            Step("SELECT u.* FROM staff_users AS u JOIN staff_tokens AS t ON t.staff_id = u.id"
                 " WHERE t.tenant_id = :tenant_id AND t.token_hash = :token_hash AND u.active",
                 params, returns=StaffUser)])
        return (tokens[0], users[0]) if users and tokens else None

    async def staff_tokens(self, tenant_id: str, *, staff_id: str | None = None) -> list[StaffToken]:
        where = "tenant_id = :tenant_id" + (" AND staff_id = :staff_id" if staff_id else "")
        if staff_id is not None and not is_id(staff_id):
            return []
        return await self._script(tenant_id, [Step(
            f"SELECT * FROM staff_tokens WHERE {where} ORDER BY created_at, id",
            {"tenant_id": tenant_id, "staff_id": staff_id}, returns=StaffToken)]) or []

    async def staff_token_revoke(self, tenant_id: str, token_id: str, now: datetime) -> bool:
        if not is_id(token_id):
            return False
        return await self._script(tenant_id, [Step(
            "UPDATE staff_tokens SET revoked_at = :now WHERE tenant_id = :tenant_id AND id = :id"
            " AND revoked_at IS NULL",
            {"tenant_id": tenant_id, "id": token_id, "now": self._instant(now)},
            require=True)]) is not None

    async def login_attempt(self, email: str, ip: str, *, ok: bool, now: datetime) -> None:
        await self._script("", [Step(
            "INSERT INTO login_attempts (email, ip, ok, created_at) VALUES (:email, :ip, :ok, :now)",
            {"email": email.strip().lower()[:254], "ip": ip[:64], "ok": ok,
             "now": self._instant(now)})])

    async def login_failures(self, email: str, ip: str, *, since: datetime) -> int:
        rows = await self._script("", [Step(
            "SELECT count(*) AS n FROM login_attempts WHERE email = :email AND ip = :ip"
            " AND NOT ok AND created_at >= :since",
            {"email": email.strip().lower()[:254], "ip": ip[:64], "since": self._instant(since)},
            returns=dict)])
        return int(rows[0]["n"]) if rows else 0

    async def _tenant_of(self, sql: str, **params: Any) -> str | None:
        rows = await self._script("", [Step(sql, params, returns=dict)])
        return str(rows[0]["tenant_id"]) if rows and rows[0]["tenant_id"] else None
