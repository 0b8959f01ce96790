"""What the child processes of tests/test_postgres.py run: a light module, so that the spawned
interpreters start fast (they import this, not the test module)."""

from __future__ import annotations

import asyncio
from multiprocessing.synchronize import Barrier

from atende.memory import open_store


def migrate_at_once(url: str, barrier: Barrier) -> None:
    """Wait until every child is up, then run the store's setup."""
    store = open_store(url)
    barrier.wait()
    asyncio.run(store.setup())
