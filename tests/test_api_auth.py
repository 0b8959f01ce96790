"""The staff API's door: log in (a session cookie), API tokens, the admin token, roles, and a
clinic's staff seeing only their clinic. Every refusal answers the error shape and changes
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from server_harness import running

from atende.passwords import hash_password, new_token
from atende.server.api.auth import SESSION_COOKIE

PASSWORD = "senha-da-dona-1"
ADMIN = {"Authorization": "Bearer admin-token"}


def shape(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body: request id, stable code, a message; `answer` had `status`."""
    body = answer.json()
    assert answer.status_code == status, body
    assert body["code"] == code and body["message"] and body["request_id"]
    assert answer.headers["X-Request-ID"] == body["request_id"]
    return body


async def add_staff(srv: Any, email: str, role: str = "owner", tenant: str = "clinica-exemplo"
                    ) -> str:
    user = await srv.services.atende.store.staff_add(tenant, email, name=email.split("@")[0],
                                                     role=role,
                                                     password_hash=hash_password(PASSWORD))
    return str(user.id)


async def api_token(srv: Any, staff_id: str, *, days: float | None = None,
                    tenant: str = "clinica-exemplo") -> tuple[str, str]:
    store = srv.services.atende.store
    secret, digest = new_token()
    expires = None if days is None else srv.services.atende.clock.now() + timedelta(days=days)
    token = await store.staff_token_add(tenant, staff_id, kind="api", name="n8n",
                                        token_hash=digest, expires_at=expires)
    return secret, str(token.id)


def cookie(session: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={session}"}


async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(tmp_path) -> None:
    async with running(tmp_path) as srv:
        await add_staff(srv, "dona@clinica.com.br")
        login = await srv.client.post("/api/v1/auth/login", json={
            "email": "Dona@Clinica.com.br", "password": PASSWORD})
        assert login.status_code == 200, login.text
        set_cookie = login.headers["set-cookie"]
        assert set_cookie.startswith(f"{SESSION_COOKIE}=")
        for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
            assert attribute.lower() in set_cookie.lower()
        session = login.cookies[SESSION_COOKIE]
        assert session not in login.text  # the body never carries the secret
        me = await srv.client.get("/api/v1/me", headers=cookie(session))
        assert me.json() | {"via": "session"} == {
            "email": "dona@clinica.com.br", "name": "dona", "role": "owner",
            "tenant_id": "clinica-exemplo", "clinic": "Clínica Sorriso Exemplo", "via": "session"}
        out = await srv.client.post("/api/v1/auth/logout", headers=cookie(session))
        assert out.status_code == 204 and 'Max-Age=0' in out.headers["set-cookie"]
        after = await srv.client.get("/api/v1/me", headers=cookie(session))
    shape(after, 401, "unauthorized")


async def test_a_wrong_password_and_an_unknown_email_answer_alike(tmp_path) -> None:
    async with running(tmp_path) as srv:
        await add_staff(srv, "dona@clinica.com.br")
        wrong = await srv.client.post("/api/v1/auth/login", json={
            "email": "dona@clinica.com.br", "password": "errada"})
        unknown = await srv.client.post("/api/v1/auth/login", json={
            "email": "ninguem@clinica.com.br", "password": PASSWORD})
        bad_types = await srv.client.post("/api/v1/auth/login", json={"email": 5})
    assert shape(wrong, 401, "invalid_credentials")["message"] == \
        shape(unknown, 401, "invalid_credentials")["message"]
    assert "set-cookie" not in wrong.headers
    shape(bad_types, 422, "invalid_request")


async def test_five_failures_lock_the_login_for_that_email_and_address(tmp_path) -> None:
    async with running(tmp_path) as srv:
        await add_staff(srv, "dona@clinica.com.br")
        await add_staff(srv, "recepcao@clinica.com.br", "reception")
        for _ in range(5):
            failed = await srv.client.post("/api/v1/auth/login", json={
                "email": "dona@clinica.com.br", "password": "chute"})
            shape(failed, 401, "invalid_credentials")
        locked = await srv.client.post("/api/v1/auth/login", json={
            "email": "dona@clinica.com.br", "password": PASSWORD})  # even the right one
        other = await srv.client.post("/api/v1/auth/login", json={
            "email": "recepcao@clinica.com.br", "password": PASSWORD})
        srv.services.atende.clock.now = lambda real=srv.services.atende.clock.now: (  # type: ignore[method-assign]
            real() + timedelta(minutes=16))
        later = await srv.client.post("/api/v1/auth/login", json={
            "email": "dona@clinica.com.br", "password": PASSWORD})
    body = shape(locked, 429, "too_many_attempts")
    assert body["hint"] and locked.headers["Retry-After"] == "900"
    assert "set-cookie" not in locked.headers
    assert other.status_code == 200  # another account is not locked out with it
    assert later.status_code == 200  # the window passed


@pytest.mark.parametrize("header", [None, "Bearer atd_not-a-real-token", "Basic x", "Bearer "])
async def test_no_identity_is_401_in_the_error_shape(tmp_path, header) -> None:
    async with running(tmp_path) as srv:
        answer = await srv.client.get("/api/v1/me",
                                      headers={"Authorization": header} if header else {})
    shape(answer, 401, "unauthorized")


async def test_api_tokens_work_until_revoked_or_expired(tmp_path) -> None:
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        staff_id = await add_staff(srv, "integracao@clinica.com.br", "reception")
        secret, token_id = await api_token(srv, staff_id)
        expiring, _ = await api_token(srv, staff_id, days=1)
        ok = await srv.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        [used] = [t for t in await store.staff_tokens("clinica-exemplo") if t.id == token_id]
        assert await store.staff_token_revoke("clinica-exemplo", token_id,
                                              srv.services.atende.clock.now())
        revoked = await srv.client.get("/api/v1/me",
                                       headers={"Authorization": f"Bearer {secret}"})
        srv.services.atende.clock.now = lambda real=srv.services.atende.clock.now: (  # type: ignore[method-assign]
            real() + timedelta(days=2))
        expired = await srv.client.get("/api/v1/me",
                                       headers={"Authorization": f"Bearer {expiring}"})
        as_cookie = await srv.client.get("/api/v1/me", headers=cookie(secret))
    assert ok.status_code == 200 and ok.json()["role"] == "reception"
    assert used.last_used_at is not None
    shape(revoked, 401, "unauthorized")
    shape(expired, 401, "unauthorized")
    shape(as_cookie, 401, "unauthorized")  # an API token is not a session


async def test_a_password_reset_ends_open_sessions(tmp_path) -> None:
    async with running(tmp_path) as srv:
        staff_id = await add_staff(srv, "dona@clinica.com.br")
        login = await srv.client.post("/api/v1/auth/login", json={
            "email": "dona@clinica.com.br", "password": PASSWORD})
        session = login.cookies[SESSION_COOKIE]
        await srv.services.atende.store.staff_set_password(
            "clinica-exemplo", staff_id, hash_password("outra-senha-123"))
        after = await srv.client.get("/api/v1/me", headers=cookie(session))
    shape(after, 401, "unauthorized")


async def test_the_admin_token_is_a_super_user_naming_the_clinic(tmp_path) -> None:
    async with running(tmp_path) as srv:
        me = await srv.client.get("/api/v1/me", headers=ADMIN)
        config = await srv.client.get("/api/v1/config?tenant=clinica-exemplo", headers=ADMIN)
        unnamed = await srv.client.get("/api/v1/config", headers=ADMIN)
        unknown = await srv.client.get("/api/v1/config?tenant=outra", headers=ADMIN)
    assert me.json()["via"] == "admin" and me.json()["tenant_id"] is None
    assert config.status_code == 200 and config.json()["tenant_id"] == "clinica-exemplo"
    shape(unnamed, 422, "invalid_request")
    shape(unknown, 404, "not_found")
