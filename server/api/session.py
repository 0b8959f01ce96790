"""Logging in and out of the staff API, and who am I: `POST /api/v1/auth/login` (rate-limited
per e-mail and address), `POST /api/v1/auth/logout`, `GET /api/v1/me`.

A login sets a session cookie (HTTP-only, SameSite=Lax, Secure unless `ATENDE_COOKIE_SECURE`
is off for local http): a random id whose sha256 is a `session` row of `staff_tokens`, so a
logout or a password reset ends it at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from atende.passwords import new_token, token_hash, verify_password
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError

from .auth import SESSION_COOKIE, StaffDep

router = APIRouter(prefix="/api/v1", tags=["auth"])
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


class Login(BaseModel):
    email: str = Field(min_length=3, max_length=254, examples=["recepcao@clinica.com.br"])
    password: str = Field(min_length=1, max_length=1024)


def _me(identity: Any, services: ServicesDep) -> dict[str, Any]:
    clinic = next((t for t in services.tenants if t.id == identity.tenant_id), None)
    return {"email": identity.email, "name": identity.name, "role": identity.role,
            "tenant_id": identity.tenant_id, "clinic": clinic.name if clinic else None,
            "via": identity.via}


@router.post("/auth/login", summary="Log in (sets the session cookie)")
async def login(body: Login, request: Request, response: Response,
                services: ServicesDep) -> dict[str, Any]:
    store, now = services.atende.store, services.atende.clock.now()
    ip = request.client.host if request.client else "-"
    if await store.login_failures(body.email, ip, since=now - FAILURE_WINDOW) >= MAX_FAILURES:
        raise ApiError(429, "too_many_attempts", "Muitas tentativas de login. Tente mais tarde.",
                       hint="Espere 15 minutos ou peça a um responsável para redefinir a senha.",
                       headers={"Retry-After": str(int(FAILURE_WINDOW.total_seconds()))})
    user = await store.staff_by_email(body.email)
    stored = user.password_hash if user is not None and user.active else None
    ok = await asyncio.to_thread(verify_password, body.password, stored)  # ~0.1 s of scrypt
    await store.login_attempt(body.email, ip, ok=ok, now=now)
    if not ok or user is None:
        raise ApiError(401, "invalid_credentials", "E-mail ou senha incorretos.")
    secret, digest = new_token()
    hours = services.settings.session_hours
    await store.staff_token_add(user.tenant_id, user.id, kind="session", name=f"login {ip}",
                                token_hash=digest, expires_at=now + timedelta(hours=hours))
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(hours * 3600), path="/",
                        httponly=True, samesite="lax", secure=services.settings.cookie_secure)
    return {"email": user.email, "name": user.name, "role": user.role,
            "tenant_id": user.tenant_id}


@router.post("/auth/logout", status_code=204, summary="End this session")
async def logout(request: Request, response: Response, services: ServicesDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        found = await services.atende.store.staff_token_use(token_hash(secret),
                                                            services.atende.clock.now())
        if found is not None and found[0].kind == "session":
            await services.atende.store.staff_token_revoke(found[0].tenant_id, found[0].id,
                                                           services.atende.clock.now())
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                      secure=services.settings.cookie_secure)
    return out


@router.get("/me", summary="Who is calling")
async def me(identity: StaffDep, services: ServicesDep) -> dict[str, Any]:
    return _me(identity, services)
