"""Persistence: the `Store` protocol, its backends (chosen by URL scheme) and the checkpointer."""

from __future__ import annotations

from atende.clock import Clock
from atende.errors import ConfigError
from atende.memory.store import Store


def open_store(url: str, *, clock: Clock | None = None, pool_size: int = 10) -> Store:
    """The store for `url` (`sqlite:///file.db` or `postgresql://...`), stamping rows by
    `clock` (the system's by default), with at most `pool_size` Postgres connections; call
    `await store.setup()` before use."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from atende.memory.sqlite import SQLiteStore

        return SQLiteStore(url, clock=clock)
    if scheme in {"postgres", "postgresql"}:
        from atende.memory.postgres import PostgresStore

        return PostgresStore(url, clock=clock, max_size=pool_size)
    raise ConfigError(f"unsupported database URL scheme {scheme!r}", field="ATENDE_DATABASE_URL")
