"""The Postgres schema: the SQL files in `supabase/migrations/`, applied in order under a lock.

A file is `<14-digit timestamp>_<name>.sql`, the layout `supabase db push` reads, so the same
files serve both. Applied versions are recorded in `atende_schema_migrations` (with the file's
checksum); versions `supabase db push` recorded in `supabase_migrations.schema_migrations`
count as applied too. Append new files; never edit one that has shipped. Every file is written
to be idempotent, so one applied by both tools, or twice, does no harm.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from atende.errors import ConfigError, InfrastructureError

# The repository's supabase/ folder, beside memory/ (an editable install or a checkout).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
_FILE = re.compile(r"(?P<version>[0-9]{14})_(?P<name>[a-z0-9_]+)\.sql")
# pg_advisory_xact_lock key: one setup at a time per database, released at commit.
LOCK_KEY = int.from_bytes(b"atende:m", "big")

BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS public.atende_schema_migrations (
    version    text PRIMARY KEY CHECK (version ~ '^[0-9]{14}$'),
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
# Which record tables exist and are readable (CASE: no privilege check on a missing schema).
_TABLES = """
SELECT to_regclass('public.atende_schema_migrations') IS NOT NULL AS ours,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                         WHERE schemaname = 'supabase_migrations' AND tablename = 'schema_migrations')
            THEN has_schema_privilege('supabase_migrations', 'USAGE')
                 AND has_table_privilege('supabase_migrations.schema_migrations', 'SELECT')
            ELSE false END AS supabase
"""
OWNER_NEEDED = (
    "applying migrations needs the database owner's connection (supabase db push, or"
    " atende db migrate with the owner's URL); this role may only use the schema"
)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in `folder`, oldest first."""
    if not folder.is_dir():
        raise ConfigError(f"no migrations folder at {folder}", field="database_url")
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.fullmatch(path.name)
        if match is None:
            raise ConfigError("a migration is named <14-digit timestamp>_<name>.sql",
                              source=str(path))
        found.append(Migration(match["version"], match["name"], path.read_text(encoding="utf-8")))
    return found


async def applied(conn: AsyncConnection) -> dict[str, str | None]:
    """Applied versions → checksum (None when `supabase db push` applied it)."""
    done: dict[str, str | None] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TABLES)
        tables = await cur.fetchone()
        assert tables is not None
        if tables["supabase"]:
            await cur.execute("SELECT version FROM supabase_migrations.schema_migrations")
            done.update((row["version"], None) for row in await cur.fetchall())
        if tables["ours"]:
            await cur.execute("SELECT version, checksum FROM public.atende_schema_migrations")
            done.update((row["version"], row["checksum"]) for row in await cur.fetchall())
    return done


async def migrate(conn: AsyncConnection, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations in one transaction; the versions applied, oldest first.

    Safe when many processes start at once: each waits for the advisory lock, then finds
    nothing left to do. With nothing pending it runs no DDL, so a role that may only use the
    schema (atende_app) can call it. Refuses a database migrated by newer code.
    """
    known = migrations(folder)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            done = await applied(conn)
            newest = known[-1].version if known else ""
            if ahead := sorted(v for v, checksum in done.items() if checksum and v > newest):
                raise InfrastructureError(
                    f"the database has atende schema {ahead[-1]}, newer than this code's {newest}"
                )
            pending = [m for m in known if m.version not in done]
            if not pending:
                return []
            await conn.execute(BOOTSTRAP)
            for migration in pending:
                await _apply(conn, migration)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InfrastructureError(f"{OWNER_NEEDED}: {exc}") from exc
    except psycopg.Error as exc:
        raise InfrastructureError(f"migrating the database failed: {exc}") from exc
    return [m.version for m in pending]


async def _apply(conn: AsyncConnection, migration: Migration) -> None:
    try:
        await conn.execute(migration.sql.encode())  # no parameters: sent as one script
    except psycopg.errors.InsufficientPrivilege:
        raise
    except psycopg.Error as exc:
        raise InfrastructureError(
            f"migration {migration.version}_{migration.name} failed: {exc}"
        ) from exc
    await conn.execute(
        "INSERT INTO public.atende_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
        " ON CONFLICT (version) DO NOTHING",
        (migration.version, migration.name, migration.checksum),
    )
