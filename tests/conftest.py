"""Shared fixtures: a real SQLite file per test, and a migrated store of every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atende.memory import open_store
from atende.memory.store import Store


@pytest.fixture
def tmp_db_url(tmp_path: Path) -> str:
    """`sqlite:////abs/path.db` of a fresh file in this test's tmp_path."""
    return f"sqlite:///{tmp_path / 'atende.db'}"


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_db_url: str) -> AsyncIterator[Store]:
    """An empty, migrated store; the contract suite runs once per backend in `params`."""
    urls = {"sqlite": tmp_db_url}
    opened = open_store(urls[request.param])
    await opened.setup()
    yield opened
    await opened.close()
