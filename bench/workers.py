"""Benchmark: what `atende worker` processes on Postgres cost per turn, and how many
connections they hold, with 1 and 2 workers.

    ATENDE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/workers.py [--conversations 300] [--workers 1,2] [--pools 10,10,4]

A fresh database, N workers (offline model, `--concurrency 8`, pool sizes from `--pools`:
store, checkpointer, procrastinate, set as ATENDE_POSTGRES_*_POOL_SIZE) registered and idle, then
one message in each of `--conversations` conversations, stored and queued as the webhook does
(debounce window 0); the clock runs from the first job queued until every message is answered
and every reply has reached a loopback provider stub. On a 2-core machine workers cannot add
throughput, so the figures are turns per second, turns per CPU-second of the worker processes
(user + system time read from /proc between the first job and the last reply) and the most
Postgres connections open to the database at any sample (every 50 ms), against the bound the
pool sizes give: N x (store + checkpointer + procrastinate + 1 LISTEN). The per-turn overhead
against a bare LangGraph loop on Postgres is bench/turns.py's. Not a test: it prints figures;
the ratio (2 workers / 1, turns per CPU-second) is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml

from atende.memory import open_store
from atende.server.queue import enqueue, queue_app

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]
from provider_stub import ProviderStub, ZapiAccount  # noqa: E402

TENANT = "clinica-exemplo"
ZAPI = ZapiAccount("BENCH-INSTANCE", "bench-token", "bench-client-token")
CONCURRENCY = 8
TICKS = os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def fresh_database(server: str) -> AsyncIterator[str]:
    name = f"atende_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(url: str, stub: ProviderStub, tenants: Path, pools: tuple[int, int, int]
         ) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))}
    store, checkpoints, queue = pools
    return {**inherited, "ATENDE_DATABASE_URL": url, "ATENDE_TENANTS_DIR": str(tenants),
            "ATENDE_ZAPI_BASE_URL": stub.url, "ATENDE_LOG_LEVEL": "WARNING",
            "ATENDE_POSTGRES_POOL_SIZE": str(store),
            "ATENDE_POSTGRES_CHECKPOINT_POOL_SIZE": str(checkpoints),
            "ATENDE_POSTGRES_QUEUE_POOL_SIZE": str(queue),
            "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": ZAPI.instance_id,
            "CLINICA_EXEMPLO_ZAPI_TOKEN": ZAPI.token,
            "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": ZAPI.client_token,
            "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": "bench-webhook-secret"}


def _count(url: str, sql: str, *args: Any) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, args).fetchone()
        return int(row[0]) if row else 0


def cpu_seconds(pids: list[int]) -> float:
    """User + system time so far of each process and its threads (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICKS


async def bench_workers(server: str, workers: int, conversations: int, folder: Path,
                        pools: tuple[int, int, int]) -> dict[str, float]:
    tenants = folder / "tenants"
    tenants.mkdir(exist_ok=True)
    data = yaml.safe_load((ROOT / "tenants" / f"{TENANT}.yaml").read_text("utf-8"))
    data["debounce"] = {"window_seconds": 0, "max_seconds": 0}
    (tenants / f"{TENANT}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    async with fresh_database(server) as url:
        database = urlsplit(url).path.lstrip("/")
        store = open_store(url)
        await store.setup()
        with ProviderStub(zapi=ZAPI) as stub:
            env = _env(url, stub, tenants, pools)
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "atende.cli", "worker", "--model", "offline",
                "--concurrency", str(CONCURRENCY), env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL) for _ in range(workers)]
            pids = [p.pid for p in procs]
            try:
                deadline = time.monotonic() + 120
                while _count(url, "SELECT count(*) FROM procrastinate_workers") < workers:
                    assert time.monotonic() < deadline, "workers did not start"
                    await asyncio.sleep(0.2)
                connections = 0
                queue = queue_app(url)
                async with queue.open_async():
                    stored = []
                    for n in range(conversations):
                        message, _ = await store.inbox_add(
                            TENANT, f"+55119876{n:05d}", channel="zapi",
                            provider_message_id=f"bench-{n}", provider_ts=datetime.now(UTC),
                            kind="text", text="Quanto custa a limpeza?")
                        stored.append(message.conversation_id)
                    cpu_before = cpu_seconds(pids)
                    start = time.perf_counter()
                    for conversation_id in stored:
                        await enqueue(queue, conversation_id)
                    while len(stub.sent("zapi")) < conversations or _count(
                            url, "SELECT count(*) FROM messages WHERE state = 'pending'"):
                        assert time.perf_counter() - start < 600, "workers too slow"
                        connections = max(connections, _count(
                            server, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            database))
                        await asyncio.sleep(0.05)
                    elapsed = time.perf_counter() - start
                    cpu = cpu_seconds(pids) - cpu_before
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    await asyncio.wait_for(proc.wait(), timeout=30)
                await store.close()
    return {"turns_per_second": conversations / elapsed, "cpu_seconds": cpu,
            "turns_per_cpu_second": conversations / cpu, "max_connections": connections}


async def main(server: str, workers: list[int], conversations: int,
               pools: tuple[int, int, int]) -> dict[str, Any]:
    per_worker = sum(pools) + 1  # + procrastinate's LISTEN connection
    report: dict[str, Any] = {"cpus": os.cpu_count(), "conversations": conversations,
                              "concurrency": CONCURRENCY, "pools": pools, "runs": {}}
    print(f"{conversations} conversations, one message each, offline model, "
          f"{os.cpu_count()} CPUs; pools store/checkpointer/queue {pools}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in workers:
            run = await bench_workers(server, count, conversations, Path(tmp), pools)
            report["runs"][count] = run
            print(f"{count} worker(s) x concurrency {CONCURRENCY}: "
                  f"{run['turns_per_second']:6.1f} turns/s, "
                  f"{run['turns_per_cpu_second']:6.1f} turns per worker CPU-second, "
                  f"at most {run['max_connections']} connections "
                  f"(bound {count * per_worker} = {count} x {per_worker}; the bench's own "
                  f"store and queue pools add theirs)", flush=True)
    runs = report["runs"]
    if 1 in runs and len(runs) > 1:
        for count in [c for c in runs if c != 1]:
            print(f"ratio {count} workers / 1: turns/s "
                  f"{runs[count]['turns_per_second'] / runs[1]['turns_per_second']:.2f}x, "
                  f"turns per CPU-second "
                  f"{runs[count]['turns_per_cpu_second'] / runs[1]['turns_per_cpu_second']:.2f}x")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("ATENDE_TEST_POSTGRES_URL"),
                        help="a server URL whose role may create databases")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--pools", default="10,10,4",
                        help="store, checkpointer and procrastinate pool sizes per worker")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("give --postgres or set ATENDE_TEST_POSTGRES_URL")
    store_pool, checkpoint_pool, queue_pool = (int(n) for n in args.pools.split(","))
    result = asyncio.run(main(args.postgres, [int(n) for n in args.workers.split(",")],
                              args.conversations, (store_pool, checkpoint_pool, queue_pool)))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
