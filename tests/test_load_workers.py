"""Load: `atende serve` and three `atende worker` processes on one Postgres, one worker SIGKILLed
mid-run, Z-API played by `ProviderStub` on 127.0.0.1.

What a clinic would notice: every patient message is answered, no reply goes out twice, a
conversation's turns answer its messages in the order they were typed, and no conversation
ever has two turns at once — even when a worker dies with turns and sends in hand.

Postgres at ATENDE_TEST_POSTGRES_URL (a role that may create databases); unset, skipped;
unreachable, skipped locally and failed under CI=true.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import secrets
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from processes import Processes, child_env, free_port, query, wait_for, workers_up
from provider_stub import ProviderStub, ZapiAccount
from server_harness import ENV, ZAPI_INSTANCE, ZAPI_URL, make_tenants_dir, zapi_text

from atende.memory.records import INTERRUPTED

pytestmark = pytest.mark.slow

POSTGRES_ENV = "ATENDE_TEST_POSTGRES_URL"
WINDOW_S = 0.2  # the tenant's debounce window in these runs
STALLED_AFTER_S = 10.0  # a killed worker's jobs run again after this (3 s: a starved live one looked dead)
SEND_LEASE_S = 5.0  # a killed worker's half-done sends are failed after this
CONCURRENCY = 6


@dataclass(frozen=True)
class Load:
    messages: int
    conversations: int
    workers: int
    timeout_s: float


LOADS = {
    "quick": Load(messages=120, conversations=20, workers=2, timeout_s=60.0),
    "full": Load(messages=1_000, conversations=100, workers=3, timeout_s=120.0),
}


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    server = os.environ.get(POSTGRES_ENV, "").strip()
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set: the worker load test needs Postgres")
    import psycopg

    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs Postgres at {POSTGRES_ENV}: {exc}", pytrace=False)
        pytest.skip(f"Postgres at {POSTGRES_ENV} is unreachable: {exc}")
    name = f"atende_load_{secrets.token_hex(5)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _post_all(url: str, load: Load, kill: Any) -> None:
    """Each conversation types its messages in order, with pauses around the debounce window
    (some join a burst, some start a new turn); `kill()` runs once half have been posted."""
    phones = [f"55119876{n:05d}" for n in range(load.conversations)]
    per_phone = load.messages // load.conversations
    posted = 0
    rng = random.Random(4)

    async def patient(client: httpx.AsyncClient, phone: str) -> None:
        nonlocal posted
        base_ms = int(time.time() * 1000)
        for i in range(per_phone):
            payload = zapi_text(f"mensagem {i} do paciente: quanto custa a limpeza?", phone=phone)
            payload["momment"] = base_ms + i  # the provider's timestamp: the typing order
            answer = await client.post(ZAPI_URL, json=payload)
            assert answer.status_code == 200, answer.text
            posted += 1
            if posted == load.messages // 2:
                kill()
            await asyncio.sleep(rng.choice((0.0, 0.1, 0.4, 1.5)))

    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        await asyncio.gather(*(patient(client, phone) for phone in phones))


def _settled(database: str, expected: int) -> bool:
    [row] = query(database, """
        SELECT count(*) FILTER (WHERE direction = 'in') AS inbound,
               count(*) FILTER (WHERE direction = 'in' AND state = 'pending') AS pending,
               count(*) FILTER (WHERE direction = 'out' AND status IN ('queued', 'sending')) AS unsent
        FROM messages""")
    return row["inbound"] == expected and row["pending"] == 0 and row["unsent"] == 0


@pytest.mark.parametrize("size", ["quick", "full"])
def test_workers_answer_every_message_once_in_order_despite_a_sigkill(
        size: str, database: str, tmp_path: Path) -> None:
    load = LOADS[size]
    account = ZapiAccount(ZAPI_INSTANCE, ENV["CLINICA_EXEMPLO_ZAPI_TOKEN"],
                          ENV["CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN"])
    tenants = make_tenants_dir(tmp_path, window=WINDOW_S, cap=3.0)
    with ProviderStub(zapi=account) as stub:
        procs = Processes(tmp_path, child_env(database, stub, tenants))
        port = free_port()
        try:
            procs.start("serve", "serve", "--host", "127.0.0.1", "--port", str(port),
                        "--model", "offline")
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _healthy(url), "atende serve to answer /health", 60.0, procs)
            workers = [procs.start(f"worker{n}", "worker", "--model", "offline",
                                   "--concurrency", str(CONCURRENCY),
                                   "--stalled-after", str(STALLED_AFTER_S),
                                   "--send-lease", str(SEND_LEASE_S))
                       for n in range(load.workers)]
            wait_for(lambda: workers_up(database) == load.workers, "the workers to register",
                  60.0, procs)
            victim = workers[0]
            killed_at: list[float] = []

            def kill() -> None:
                victim.send_signal(signal.SIGKILL)
                killed_at.append(time.time())

            started = time.monotonic()
            asyncio.run(_post_all(url, load, kill))
            wait_for(lambda: _settled(database, load.messages), "every message answered and sent",
                  load.timeout_s, procs)
            elapsed = time.monotonic() - started
            time.sleep(0.5)  # room for a duplicate already on the wire to arrive
            assert victim.wait(timeout=5) == -signal.SIGKILL
            assert all(w.poll() is None for w in workers[1:]), procs.logs()
        finally:
            procs.stop()
        stats = _check(database, stub, load, killed_at[0])
    print(f"\n{size}: {load.messages} messages, {load.conversations} conversations, "
          f"{load.workers} workers (one SIGKILLed): settled in {elapsed:.1f} s; {stats}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _check(database: str, stub: ProviderStub, load: Load, killed_at: float) -> str:
    inbound = query(database, "SELECT m.*, c.phone FROM messages m JOIN conversations c"
                              " ON c.id = m.conversation_id WHERE direction = 'in'")
    outbound = query(database, "SELECT m.*, c.phone FROM messages m JOIN conversations c"
                               " ON c.id = m.conversation_id WHERE direction = 'out'")
    turns = query(database, "SELECT id::text, conversation_id, started_at, finished_at, outcome"
                            " FROM turns")

    # every message answered by a turn that queued a reply
    assert len(inbound) == load.messages
    assert {m["state"] for m in inbound} == {"done"}
    replies_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in outbound:
        replies_of[row["turn_id"]].append(row)
    assert all(replies_of.get(m["turn_id"]) for m in inbound)
    assert {row["turn_id"] for row in outbound} == {m["turn_id"] for m in inbound}

    # each reply sent exactly once; only the killed worker's sends in hand may be left failed
    # (they may or may not have gone out: never resent, so never twice)
    by_provider_id: dict[str, int] = defaultdict(int)
    for sent in stub.sent("zapi"):
        by_provider_id[sent.answer["messageId"]] += 1
    assert all(count == 1 for count in by_provider_id.values())
    interrupted = {r["id"] for r in outbound
                   if r["status"] == "failed" and r["error"] == INTERRUPTED}
    assert len(interrupted) <= CONCURRENCY, interrupted
    for row in outbound:
        if row["id"] not in interrupted:
            assert row["status"] == "sent", row
            assert by_provider_id.get(row["provider_message_id"]) == 1, row
    stub_to: dict[str, int] = defaultdict(int)
    for sent in stub.sent("zapi"):
        stub_to["+" + (sent.to or "")] += 1
    rows_to: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in outbound:
        rows_to[row["phone"]].append(row)
    for phone in {m["phone"] for m in inbound}:
        rows = rows_to[phone]
        sent_rows = [r for r in rows if r["id"] not in interrupted]
        assert len(sent_rows) <= stub_to[phone] <= len(rows), phone

    # per conversation: turns never overlap, and answer messages in the order they were typed
    by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for turn in turns:
        by_conversation[str(turn["conversation_id"])].append(turn)
    unfinished = [t for t in turns if t["finished_at"] is None]
    assert len(unfinished) <= CONCURRENCY  # the killed worker's turns in hand, nobody else's
    assert all(t["started_at"].timestamp() <= killed_at for t in unfinished)
    for conversation_turns in by_conversation.values():
        done = sorted((t for t in conversation_turns if t["finished_at"] is not None),
                      key=lambda t: t["started_at"])
        for before, after in itertools.pairwise(done):
            assert before["finished_at"] <= after["started_at"], (before, after)
    started = {t["id"]: t["started_at"] for t in turns}
    messages_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in inbound:
        messages_of[str(message["conversation_id"])].append(message)
    for messages in messages_of.values():
        typed = sorted(messages, key=lambda m: (m["provider_ts"], m["seq"]))
        answered_at = [started[m["turn_id"]] for m in typed]
        assert answered_at == sorted(answered_at)
    answering = {m["turn_id"] for m in inbound}
    return (f"{len(answering)} answering turns of {len(turns)}, {len(outbound)} replies, "
            f"{len(unfinished)} turns cut by the kill, {len(interrupted)} sends failed by it")
