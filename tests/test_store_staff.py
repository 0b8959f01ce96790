"""The `Store` contract for clinic configuration versions and staff (accounts, tokens, login
attempts), on SQLite, Postgres and Postgres under row-level security; and, on Postgres, a role
held to the policies reading another clinic's staff or configuration finds nothing."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import with_database

from atende.errors import InvalidInput
from atende.memory import open_store
from atende.memory.store import Store
from atende.passwords import new_token

A, B = "clinica-a", "clinica-b"
NOW = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


def doc(price: int) -> dict[str, object]:
    return {"id": A, "services": [{"id": "avaliacao", "price": str(price)}]}


async def test_each_change_is_a_version_and_the_newest_is_in_force(store: Store) -> None:
    assert await store.config_get(A) is None and await store.config_heads() == {}
    first, new = await store.config_put(A, doc(120), author="file:clinica-a.yaml")
    same, again = await store.config_put(A, doc(120), author="staff:x@y.com")
    second, _ = await store.config_put(A, doc(135), author="staff:x@y.com", note="reajuste")
    await store.config_put(B, {"id": B}, author="cli:root")
    back, _ = await store.config_put(A, doc(120), author="cli:root", rollback_of=1)
    assert (new, again, same.version) == (True, False, 1)  # an unchanged document writes nothing
    assert (first.version, second.version, back.version) == (1, 2, 3)
    assert (second.author, second.note, back.rollback_of) == ("staff:x@y.com", "reajuste", 1)
    assert (await store.config_get(A)).document == doc(120)
    assert (await store.config_get(A, 2)).document == doc(135)
    assert await store.config_get(A, 9) is None and await store.config_get(B, 2) is None
    assert [c.version for c in await store.config_history(A)] == [3, 2, 1]
    assert await store.config_heads() == {A: 3, B: 1}


async def test_concurrent_writers_get_distinct_versions(store: Store) -> None:
    saved = await asyncio.gather(*(store.config_put(A, doc(100 + n), author="t")
                                   for n in range(8)))
    assert sorted(c.version for c, _ in saved) == list(range(1, 9))
    assert (await store.config_heads())[A] == 8


async def test_staff_accounts_belong_to_one_clinic(store: Store) -> None:
    ana = await store.staff_add(A, " Ana@Clinica.com ", name="Ana", role="owner",
                                password_hash="h1")
    await store.staff_add(B, "bia@outra.com", name="Bia", role="reception", password_hash="h2")
    with pytest.raises(InvalidInput):
        await store.staff_add(B, "ana@clinica.com", name="Ana 2", role="owner", password_hash="h")
    with pytest.raises(InvalidInput):
        await store.staff_add(A, "sem-arroba", name="X", role="owner", password_hash="h")
    with pytest.raises(ValueError, match="role"):
        await store.staff_add(A, "x@y.com", name="X", role="admin", password_hash="h")  # type: ignore[arg-type]
    assert ana.email == "ana@clinica.com" and ana.active
    assert (await store.staff_by_email("ANA@clinica.com")) == ana
    assert await store.staff_by_email("ninguem@clinica.com") is None
    assert [u.email for u in await store.staff_list(A)] == ["ana@clinica.com"]
    assert await store.staff_get(B, ana.id) is None  # another clinic's id: as unknown
    assert await store.staff_get(A, "not-a-uuid") is None
    assert not await store.staff_set_password(B, ana.id, "h9")
    assert (await store.staff_get(A, ana.id)).password_hash == "h1"


async def test_tokens_are_found_by_hash_until_revoked_or_expired(store: Store) -> None:
    ana = await store.staff_add(A, "ana@clinica.com", name="Ana", role="owner", password_hash="h")
    api, api_hash = new_token()
    _, session_hash = new_token()
    _, short_hash = new_token()
    token = await store.staff_token_add(A, ana.id, kind="api", name="n8n", token_hash=api_hash)
    session = await store.staff_token_add(A, ana.id, kind="session", name="login",
                                          token_hash=session_hash,
                                          expires_at=NOW + timedelta(hours=12))
    await store.staff_token_add(A, ana.id, kind="api", name="curto", token_hash=short_hash,
                                expires_at=NOW + timedelta(minutes=1))
    with pytest.raises(InvalidInput):  # another clinic's account
        await store.staff_token_add(B, ana.id, kind="api", name="x", token_hash="f" * 64)
    assert api not in api_hash and token.last_used_at is None
    found = await store.staff_token_use(api_hash, NOW)
    assert found is not None and found[1] == ana and found[0].last_used_at == NOW
    assert await store.staff_token_use("0" * 64, NOW) is None
    assert await store.staff_token_use(short_hash, NOW + timedelta(minutes=2)) is None
    assert not await store.staff_token_revoke(B, token.id, NOW)  # not theirs
    assert await store.staff_token_revoke(A, token.id, NOW)
    assert not await store.staff_token_revoke(A, token.id, NOW)  # already
    assert await store.staff_token_use(api_hash, NOW) is None
    assert await store.staff_set_password(A, ana.id, "h2")  # ends sessions, not API tokens
    assert await store.staff_token_use(session_hash, NOW) is None
    kinds = {t.id: t.revoked_at is not None for t in await store.staff_tokens(A, staff_id=ana.id)}
    assert kinds[session.id] and kinds[token.id] and len(kinds) == 3
    assert await store.staff_tokens(B) == []


async def test_login_failures_count_per_email_and_address_within_the_window(store: Store) -> None:
    for minutes in (0, 5, 20):
        await store.login_attempt("Ana@clinica.com", "10.0.0.1", ok=False,
                                  now=NOW - timedelta(minutes=minutes))
    await store.login_attempt("ana@clinica.com", "10.0.0.1", ok=True, now=NOW)
    await store.login_attempt("ana@clinica.com", "10.0.0.2", ok=False, now=NOW)
    since = NOW - timedelta(minutes=15)
    assert await store.login_failures("ana@clinica.com", "10.0.0.1", since=since) == 2
    assert await store.login_failures("ana@clinica.com", "10.0.0.2", since=since) == 1
    assert await store.login_failures("bia@clinica.com", "10.0.0.1", since=since) == 0


async def test_a_role_held_to_rls_reads_no_other_clinics_staff_or_configuration(
        postgres_url: str, app_role: str) -> None:
    owner = open_store(postgres_url)
    await owner.setup()
    for tenant in (A, B):
        user = await owner.staff_add(tenant, f"dona@{tenant}.com", name="Dona", role="owner",
                                     password_hash="h")
        await owner.staff_token_add(tenant, user.id, kind="api", name="t",
                                    token_hash=new_token()[1])
        await owner.config_put(tenant, {"id": tenant}, author="t")
    await owner.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'GRANT atende_app TO "{app_role}"')
    as_app = with_database(postgres_url, urlsplit(postgres_url).path.lstrip("/"), user=app_role)
    tables = ("staff_users", "staff_tokens", "tenant_configs", "tenant_config_heads")
    with psycopg.connect(as_app, autocommit=True) as conn:
        for table in tables:
            with conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
                assert conn.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall() == [(A,)]
                assert conn.execute(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = %s",
                                    (B,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"), \
                conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
            conn.execute("INSERT INTO tenant_configs (tenant_id, version, document, author)"
                         " VALUES (%s, 9, '{}', 'x')", (B,))
        with conn.transaction():  # the lookups tell a clinic, nothing of its rows
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (A,))
            [(tenant,)] = conn.execute(
                "SELECT public.atende_staff_email_tenant('dona@clinica-b.com')").fetchall()
            assert tenant == B
            assert conn.execute("SELECT count(*) FROM staff_users WHERE email = %s",
                                ("dona@clinica-b.com",)).fetchone() == (0,)
    # through the store, as that role: only the clinic's own rows
    store = open_store(as_app)
    try:
        assert [u.tenant_id for u in await store.staff_list(A)] == [A]
        b_staff = await store.staff_by_email(f"dona@{B}.com")
        assert b_staff is not None and await store.staff_get(A, b_staff.id) is None
        assert await store.config_heads() == {A: 1, B: 1}
    finally:
        await store.close()


async def test_only_the_app_role_may_ask_which_clinic_an_email_or_token_is(
        postgres_url: str) -> None:
    owner = open_store(postgres_url)
    await owner.setup()
    await owner.staff_add(A, "dona@clinica-a.com", name="Dona", role="owner", password_hash="h")
    await owner.close()
    stranger = f"atende_test_stranger_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{stranger}" LOGIN'.encode())
    try:
        url = with_database(postgres_url, urlsplit(postgres_url).path.lstrip("/"), user=stranger)
        with psycopg.connect(url, autocommit=True) as conn:
            for call in ("atende_config_heads()", "atende_staff_email_tenant('dona@clinica-a.com')",
                         "atende_staff_token_tenant('x')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(f"SELECT * FROM public.{call}".encode())
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(b"SELECT * FROM staff_users")
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{stranger}"'.encode())
