"""Shared fixtures: a real SQLite file per test, a fresh Postgres database per test, and a
migrated store of every backend.

Postgres is reached at ATENDE_TEST_POSTGRES_URL (a server URL, e.g.
postgresql://postgres@127.0.0.1:5432/postgres, whose role may create databases and roles).
Unset or unreachable, the Postgres tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from atende.memory import open_store
from atende.memory.store import Store

POSTGRES_ENV = "ATENDE_TEST_POSTGRES_URL"


@pytest.fixture
def tmp_db_url(tmp_path: Path) -> str:
    """`sqlite:////abs/path.db` of a fresh file in this test's tmp_path."""
    return f"sqlite:///{tmp_path / 'atende.db'}"


def with_database(url: str, database: str, *, user: str | None = None) -> str:
    """`url` pointing at another database (and, given `user`, as another role, no password)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs Postgres: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The Postgres server URL, checked once; skip (locally) or fail (CI) without one."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        _unavailable(f"{POSTGRES_ENV} is not set")
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        _unavailable(f"Postgres at {POSTGRES_ENV} is unreachable: {exc}")
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a fresh, empty database (`atende_test_<random>`), dropped after the test."""
    import psycopg

    name = f"atende_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app_role(postgres_server: str) -> Iterator[str]:
    """A login role that may do nothing but what `atende_app` may (no superuser, no BYPASSRLS):
    the least-privilege role a deployment runs as, held to the tenant policies."""
    import psycopg

    role = f"atende_test_login_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS')
    try:
        yield role
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


async def _app_store(request: pytest.FixtureRequest) -> Store:
    """Migrate a fresh database as its owner, then open the store as the least-privilege role."""
    url: str = request.getfixturevalue("postgres_url")
    role: str = request.getfixturevalue("app_role")
    owner = open_store(url)
    await owner.setup()
    await owner.close()
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f'GRANT atende_app TO "{role}"')
    return open_store(with_database(url, urlsplit(url).path.lstrip("/"), user=role))


@pytest.fixture(params=["sqlite", "postgres", "postgres-rls"])
async def store(request: pytest.FixtureRequest, tmp_db_url: str) -> AsyncIterator[Store]:
    """An empty, migrated store; the contract suite runs once per backend in `params`:
    SQLite, Postgres as its owner, and Postgres as a role held to row-level security."""
    if request.param == "sqlite":
        opened = open_store(tmp_db_url)
    elif request.param == "postgres":
        opened = open_store(request.getfixturevalue("postgres_url"))
    else:
        opened = await _app_store(request)
    await opened.setup()
    yield opened
    await opened.close()
