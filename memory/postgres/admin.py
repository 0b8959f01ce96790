"""Postgres administration for the CLI (`atende db ...`): apply the migrations, check a database."""

from __future__ import annotations

from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row

from .base import connect_kwargs, masked, pg_conninfo
from .checkpoint import open_postgres_checkpointer
from .migrations import applied, migrations
from .migrations import migrate as migrate_connection

# Every table that holds one clinic's rows; each must have RLS enabled, forced, and the policy.
TENANT_TABLES = ("patients", "conversations", "messages", "appointments", "turns", "poison_messages")

_RLS = """
SELECT c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p
               WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation') AS policy
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY(%s)
"""
_ROLE = """
SELECT current_user AS user, current_setting('server_version') AS server_version,
       r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls
FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user
"""


async def migrate(url: str) -> list[str]:
    """Apply the pending migrations (supabase/migrations/*.sql, in order, under an advisory
    lock) as the role in `url`, which should own the schema; then bring the checkpointer's
    tables up to the installed langgraph-checkpoint-postgres. The versions applied, oldest first."""
    conninfo, pooler = pg_conninfo(url)
    async with await psycopg.AsyncConnection.connect(conninfo, **connect_kwargs(pooler)) as conn:
        done = await migrate_connection(conn)
    async with open_postgres_checkpointer(url, max_size=1):
        pass  # opening it runs the saver's own setup() if it is ahead of the database
    return done


async def check(url: str) -> dict[str, Any]:
    """Whether the database at `url` is ready for atende, as a JSON-able report:

    `ok`, `problems` (one sentence each), `connected` (and `error` when not), the server
    version, the role (`user`, `superuser`, `bypass_rls`: such a role is not held to the tenant
    policies), `pooler` (prepared statements off), migrations `applied` / `pending` /
    `modified` (applied from a file that has changed since), the checkpointer's schema
    version against the saver's, and `rls` per tenant-owned table (enabled, forced, policy).
    """
    conninfo, pooler = pg_conninfo(url)
    report: dict[str, Any] = {"url": masked(url), "ok": False, "connected": False, "pooler": pooler,
                              "problems": []}
    problems: list[str] = report["problems"]
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10,
                                                     **connect_kwargs(pooler))
    except psycopg.Error as exc:
        report["error"] = str(exc).strip()
        problems.append(f"cannot connect: {report['error']}")
        return report
    async with conn, conn.cursor(row_factory=dict_row) as cur:
        report["connected"] = True
        await cur.execute(_ROLE)
        report.update(await cur.fetchone() or {})

        known = migrations()
        done = await applied(conn)
        report["applied"] = [m.version for m in known if m.version in done]
        report["pending"] = [m.version for m in known if m.version not in done]
        report["modified"] = [m.version for m in known if done.get(m.version) not in (None, m.checksum)]
        if report["pending"]:
            problems.append(f"{len(report['pending'])} migration(s) pending: run atende db migrate")
        if report["modified"]:
            problems.append(f"migration file(s) changed after they were applied: {report['modified']}")

        await cur.execute(_RLS, (list(TENANT_TABLES),))
        found = {row["table"]: row for row in await cur.fetchall()}
        report["rls"] = {
            table: {key: bool(found[table][key]) for key in ("enabled", "forced", "policy")}
            if table in found else None
            for table in TENANT_TABLES
        }
        for table, rls in report["rls"].items():
            if rls is None:
                problems.append(f"table {table} is missing")
            elif not all(rls.values()):
                missing = ", ".join(key for key, value in rls.items() if not value)
                problems.append(f"table {table}: row-level security not {missing}")

        await cur.execute("SELECT to_regclass('public.checkpoint_migrations') IS NOT NULL AS present")
        present = await cur.fetchone()
        version = -1
        if present and present["present"]:
            await cur.execute("SELECT coalesce(max(v), -1) AS v FROM public.checkpoint_migrations")
            row = await cur.fetchone()
            version = int(row["v"]) if row else -1
        report["checkpointer"] = {"version": version, "expected": len(AsyncPostgresSaver.MIGRATIONS) - 1}
        if version < report["checkpointer"]["expected"]:
            problems.append("the checkpointer's tables are behind: run atende db migrate")
    report["ok"] = not problems
    return report
