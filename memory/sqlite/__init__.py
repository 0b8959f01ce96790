"""The embedded default `Store` backend: one SQLite file (SQL, connections and migrations)."""

from .store import BUSY_TIMEOUT_S, SQLiteStore, sqlite_path

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore", "sqlite_path"]
