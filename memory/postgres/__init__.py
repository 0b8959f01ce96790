"""The Postgres (Supabase) `Store` backend: SQL, the connection pool, migrations, the checkpointer."""

from .store import POOLER_PORT, PostgresStore, pg_conninfo

__all__ = ["POOLER_PORT", "PostgresStore", "pg_conninfo"]
