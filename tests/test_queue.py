"""The turn queue on Postgres (procrastinate), in-process: what the webhooks queue, what a worker
answers, and what happens to the job of a worker that died.

What a clinic would notice: a burst of messages is one job and one reply; a conversation whose
worker was killed mid-turn is answered anyway, once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from server_harness import ZAPI_URL, running, zapi_text

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel
from atende.memory import open_store
from atende.server.app import conversation_turns
from atende.server.queue import (
    ANSWER_TASK,
    enqueue,
    ensure_schema,
    queue_app,
    retry_stalled,
)
from helpers import SwitchableModel

PATIENT = "5511987650101"


def _jobs(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return list(conn.execute(
            "SELECT id, status, lock, queueing_lock, scheduled_at, args FROM procrastinate_jobs"
            " WHERE task_name = %s ORDER BY id", (ANSWER_TASK,)).fetchall())


async def _migrated(url: str) -> None:
    store = open_store(url)
    await store.setup()
    await store.close()


async def test_the_schema_is_applied_once_by_whoever_comes_first(postgres_url: str) -> None:
    results = await asyncio.gather(*(ensure_schema(postgres_url) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert await ensure_schema(postgres_url) is False
    await _migrated(postgres_url)  # the store's own migration finds it there and keeps it


async def test_a_burst_is_one_queued_job_locked_on_its_conversation(postgres_url: str) -> None:
    await _migrated(postgres_url)
    async with queue_app(postgres_url).open_async() as app:
        assert await enqueue(app, "c-1", delay=5.0) is True
        assert await enqueue(app, "c-1", delay=5.0) is False  # the waiting job reads it all
        assert await enqueue(app, "c-2") is True
    [first, second] = _jobs(postgres_url)
    assert (first["lock"], first["queueing_lock"], first["args"]) == (
        "c-1", "c-1", {"conversation_id": "c-1"})
    assert first["scheduled_at"].timestamp() > time.time() + 3  # the debounce window
    assert second["lock"] == "c-2"


async def _dead_worker_holding(app: Any, url: str) -> int:
    """Register a worker, hand it the next job, then let its heartbeat go stale (a SIGKILL)."""
    manager = app.job_manager
    worker_id = await manager.register_worker()
    job = await manager.fetch_job(queues=None, worker_id=worker_id)
    assert job is not None and job.id is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                     " WHERE id = %s", (worker_id,))
    return job.id


async def test_the_job_of_a_dead_worker_runs_again(postgres_url: str) -> None:
    await _migrated(postgres_url)
    async with queue_app(postgres_url).open_async() as app:
        await enqueue(app, "c-1")
        held = await _dead_worker_holding(app, postgres_url)
        assert await retry_stalled(app, stalled_after=30) == 1
        assert await retry_stalled(app, stalled_after=30) == 0
        [job] = _jobs(postgres_url)
        assert (job["id"], job["status"], job["lock"]) == (held, "todo", "c-1")
        live = await app.job_manager.register_worker()
        again = await app.job_manager.fetch_job(queues=None, worker_id=live)
        assert again is not None and again.id == held


async def test_a_dead_workers_job_gives_way_to_the_one_queued_after_it(postgres_url: str) -> None:
    await _migrated(postgres_url)
    async with queue_app(postgres_url).open_async() as app:
        await enqueue(app, "c-1")
        held = await _dead_worker_holding(app, postgres_url)
        assert await enqueue(app, "c-1") is True  # a new message while the turn "ran"
        live = await app.job_manager.register_worker()
        assert await app.job_manager.fetch_job(queues=None, worker_id=live) is None  # locked
        assert await retry_stalled(app, stalled_after=30) == 0  # not a second waiting job...
        [dead, queued] = _jobs(postgres_url)
        assert (dead["id"], dead["status"]) == (held, "failed")  # ...its lock is released
        fetched = await app.job_manager.fetch_job(queues=None, worker_id=live)
        assert fetched is not None and fetched.id == queued["id"]


async def test_serve_queues_the_burst_and_a_worker_answers_it_once(
        tmp_path: Any, postgres_url: str) -> None:
    model = ScriptedChatModel(["Claro! Para quando você gostaria?"])
    chain = SwitchableModel(ModelChain("scripted", model))
    async with running(tmp_path, model=chain, window=0.3,
                       settings_overrides={"database_url": postgres_url}) as srv:
        for text in ("Oi", "quero marcar uma limpeza", "pode ser amanhã?"):
            assert (await srv.client.post(ZAPI_URL, json=zapi_text(text, phone=PATIENT))
                    ).status_code == 200
        assert [j["status"] for j in _jobs(postgres_url)] == ["todo"]  # no worker yet: it waits
        s = srv.services
        turns = conversation_turns(s.settings, s.tenants, s.credentials, s.atende, s.http,
                                   s.metrics, s.outbox.wake)
        async with queue_app(postgres_url).open_async() as app:
            worker = asyncio.create_task(app.run_worker_async(
                additional_context={"turns": turns}, install_signal_handlers=False))
            store = s.atende.store
            for _ in range(200):
                await asyncio.sleep(0.05)
                if not await store.conversations_with_pending():
                    break
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker
        await s.outbox.drain()
    (call,) = model.calls
    assert call[-1].content == "Oi\nquero marcar uma limpeza\npode ser amanhã?"
    assert srv.providers.to(PATIENT) == ["Claro! Para quando você gostaria?"]
