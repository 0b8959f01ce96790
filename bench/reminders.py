"""Benchmark: reminders sent per second, tick → outbox → loopback provider stub, on SQLite
(`atende serve`) and on Postgres with 1 and with 2 `atende worker` processes, in one run.

    ATENDE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/reminders.py [--reminders 500] [--workers 1,2] [--latency 0]

Each setup gets a fresh database holding `--reminders` appointments (one patient each), the
example clinic on Z-API only with send caps lifted and no quiet hours, and its processes frozen
by `ATENDE_CLOCK_FILE` at an instant where nothing is due yet. Once they are up, the clock file
moves to the minute every 48 h reminder is due, and the clock runs until the stub
(tests/provider_stub.py, answering `--latency` seconds late) has received one message per
reminder and the database has them all `sent`. The tick runs every `TICK_S` seconds:
`ATENDE_REMINDERS_TICK_SECONDS` for `atende serve`, `--reminders-every` for the workers.
Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from atende.memory import open_store
from atende.memory.records import NewAppointment
from atende.reminders.plan import plan
from atende.tenant import load_tenant_file

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
from processes import free_port  # noqa: E402
from provider_stub import ProviderStub  # noqa: E402
from workers import ZAPI, _count, fresh_database  # noqa: E402
from workers import _env as workers_env  # noqa: E402

TENANT = "clinica-exemplo"
NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # the batch's minute: 12:00 in São Paulo
BEFORE = NOW - timedelta(hours=30)  # where the processes start: nothing due
PROFESSIONALS = ("ana-souza", "bruno-lima")  # both see `avaliacao`
TICK_S = 0.25


def clinic(folder: Path) -> Path:
    tenants = folder / "tenants"
    tenants.mkdir(exist_ok=True)
    data = yaml.safe_load((ROOT / "tenants" / f"{TENANT}.yaml").read_text("utf-8"))
    data["channels"].pop("meta")
    data["reminders"].update(booking_confirmation=False, quiet_hours=None,
                             limits={"per_minute": 10_000, "per_hour": 100_000})
    (tenants / f"{TENANT}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return tenants


async def book(url: str, tenants: Path, count: int) -> None:
    """`count` appointments 20 h to 46 h after NOW, booked three days before: each one's 48 h
    reminder is due at NOW, its 12 h reminder later."""
    tenant = load_tenant_file(tenants / f"{TENANT}.yaml")
    per_professional = -(-count // len(PROFESSIONALS))
    minutes = max(1, 26 * 60 // per_professional)
    store = open_store(url)
    await store.setup()
    try:
        for n in range(count):
            start = NOW + timedelta(hours=20, minutes=minutes * (n // len(PROFESSIONALS)))
            await store.book_appointment(
                NewAppointment(TENANT, PROFESSIONALS[n % len(PROFESSIONALS)], "avaliacao",
                               f"+55119877{n:05d}", start, start + timedelta(minutes=minutes)),
                reminders=plan(tenant, start, NOW - timedelta(days=3)))
    finally:
        await store.close()


def child_env(url: str, stub: ProviderStub, tenants: Path, clock: Path) -> dict[str, str]:
    return {**workers_env(url, stub, tenants), "ATENDE_CLOCK_FILE": str(clock),
            "ATENDE_REMINDERS_TICK_SECONDS": str(TICK_S), "NO_PROXY": "127.0.0.1,localhost"}


async def measure(url: str, count: int, latency: float, folder: Path, commands: list[list[str]],
                  ready: Callable[[], bool], sent: Callable[[], int]) -> float:
    """Start `commands`, wait for `ready()`, move the clock to NOW: reminders per second until
    the stub has `count` messages and `sent()` reminders are `sent` in the database."""
    tenants = clinic(folder)
    await book(url, tenants, count)
    clock = folder / "clock.txt"
    clock.write_text(BEFORE.isoformat(), "utf-8")
    with ProviderStub(zapi=ZAPI) as stub:
        stub.slow(latency)
        env = child_env(url, stub, tenants, clock)
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "atende.cli", *command, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL) for command in commands]
        try:
            deadline = time.monotonic() + 120
            while not ready():
                assert time.monotonic() < deadline, "the processes did not start"
                await asyncio.sleep(0.2)
            start = time.perf_counter()
            clock.write_text(NOW.isoformat(), "utf-8")
            while len(stub.requests) < count or sent() < count:
                assert time.perf_counter() - start < 600, "too slow"
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                await asyncio.wait_for(proc.wait(), timeout=30)
    return count / elapsed


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _sqlite_count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(sql).fetchone()[0])


SENT = "SELECT count(*) FROM reminders WHERE status = 'sent'"


async def bench_sqlite(count: int, latency: float, folder: Path) -> float:
    database = folder / "atende.db"
    port = free_port()
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--model", "offline"]
    return await measure(f"sqlite:///{database}", count, latency, folder, [serve],
                         lambda: _healthy(f"http://127.0.0.1:{port}"),
                         lambda: _sqlite_count(database, SENT))


async def bench_postgres(server: str, workers: int, count: int, latency: float,
                         folder: Path) -> float:
    worker = ["worker", "--model", "offline", "--reminders-every", str(TICK_S)]
    async with fresh_database(server) as url:
        return await measure(
            url, count, latency, folder, [worker] * workers,
            lambda: _count(url, "SELECT count(*) FROM procrastinate_workers") == workers,
            lambda: _count(url, SENT))


async def main(server: str | None, workers: list[int], count: int, latency: float
               ) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "reminders": count, "latency_s": latency,
                              "tick_s": TICK_S, "reminders_per_second": {}}
    rates = report["reminders_per_second"]
    with tempfile.TemporaryDirectory() as tmp:
        rates["sqlite"] = await bench_sqlite(count, latency, Path(tmp))
    print(f"SQLite, atende serve:          {rates['sqlite']:6.1f} reminders/s ({count} reminders)")
    if server is None:
        print("Postgres skipped: give --postgres or set ATENDE_TEST_POSTGRES_URL")
        return report
    for n in workers:
        with tempfile.TemporaryDirectory() as tmp:
            rates[f"postgres_{n}"] = await bench_postgres(server, n, count, latency, Path(tmp))
        print(f"Postgres, {n} atende worker(s): {rates[f'postgres_{n}']:6.1f} reminders/s "
              f"({count} reminders)")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("ATENDE_TEST_POSTGRES_URL"),
                        help="a server URL whose role may create databases")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--reminders", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the stub takes to answer each send")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(main(args.postgres, [int(n) for n in args.workers.split(",")],
                              args.reminders, args.latency))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
