"""Who is calling the staff API: `current_staff` reads a bearer token (the admin token, or a
staff member's API token) or the login session cookie; `require(role, ...)` admits some roles;
`clinic` is the clinic a call acts on.

The clinic always comes from the caller's identity, never from the request: a staff member acts
on their own clinic only, and another clinic's ids answer 404 (as unknown ones), never 403. The
admin bearer token (`ATENDE_ADMIN_TOKEN`) is a super-user over every clinic; it names the clinic
with `?tenant=`, the one place a request may."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request

from atende.memory.records import StaffRole
from atende.passwords import token_hash
from atende.server.admin_auth import is_admin
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError

SESSION_COOKIE = "atende_session"
UNAUTHORIZED = "Faça login ou envie um token de API válido."


@dataclass(frozen=True)
class StaffIdentity:
    """The caller: a staff member (via an API token or a session) or the admin (every clinic)."""

    via: Literal["admin", "token", "session"]
    role: StaffRole
    tenant_id: str | None = None  # None: the admin
    staff_id: str | None = None
    email: str | None = None
    name: str | None = None
    token_id: str | None = None

    @property
    def author(self) -> str:
        """How a change this caller makes is signed in the history."""
        return "admin" if self.via == "admin" else f"staff:{self.email}"


def _bearer(authorization: str | None) -> str | None:
    scheme, _, given = (authorization or "").strip().partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


async def current_staff(
    request: Request, services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StaffIdentity:
    """The caller, or 401 in the error shape (missing, unknown, revoked or expired)."""
    if is_admin(services, authorization):
        return StaffIdentity(via="admin", role="owner")
    bearer = _bearer(authorization)
    secret, kind = (bearer, "api") if bearer is not None else (
        request.cookies.get(SESSION_COOKIE), "session")
    if not secret:
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    found = await services.atende.store.staff_token_use(token_hash(secret),
                                                        services.atende.clock.now())
    if found is None or found[0].kind != kind:
        raise ApiError(401, "unauthorized", "Sessão ou token inválido, expirado ou revogado.",
                       hint="Faça login de novo (POST /api/v1/auth/login).")
    token, user = found
    return StaffIdentity(via="token" if kind == "api" else "session", role=user.role,
                         tenant_id=user.tenant_id, staff_id=user.id, email=user.email,
                         name=user.name, token_id=token.id)


StaffDep = Annotated[StaffIdentity, Depends(current_staff)]


def require(*roles: StaffRole):  # type: ignore[no-untyped-def]
    """A dependency admitting callers with one of `roles` (the admin always); 403 otherwise."""
    async def check(identity: StaffDep) -> StaffIdentity:
        if identity.via != "admin" and identity.role not in roles:
            raise ApiError(403, "forbidden", "Seu perfil não tem acesso a esta área.",
                           hint=f"Precisa do perfil: {', '.join(roles)}.")
        return identity

    return Depends(check)


def clinic_of(identity: StaffIdentity, services: ServicesDep, tenant: str | None) -> str:
    """The clinic the call acts on: the staff member's own; the admin names one (`?tenant=`).
    A staff member naming another clinic, or the admin an unknown one: 404."""
    known = {t.id for t in services.tenants}
    if identity.tenant_id is not None:
        if tenant is not None and tenant != identity.tenant_id:
            raise ApiError(404, "not_found", "Clínica não encontrada.")
        return identity.tenant_id
    if tenant is None:
        raise ApiError(422, "invalid_request", "Informe a clínica (?tenant=<id>).",
                       details={"field": "tenant"})
    if tenant not in known:
        raise ApiError(404, "not_found", "Clínica não encontrada.")
    return tenant


TenantQuery = Annotated[str | None, Query(description="admin token only: the clinic's id")]
