"""Benchmark: availability with a busy agenda vs an empty one, through the store.

    python bench/availability.py [--busy 200] [--calls 20] [--database-url URL-with-{side}]

Two fresh databases hold the example clinic (3 professionals): one empty, one where each
professional has `--busy` busy spans over the 60-day booking horizon (30 minutes each on the
clinic's grid, at seeded random working times: half appointments, half blocks). Two paths are
timed, each a batch of `--calls` calls:

- `check_availability`: the public tool path, `service=avaliacao` with no date (the soonest:
  it reads the whole horizon's appointments and blocks, then stops at the offered slots);
- `full horizon`: `tools.busy.busy_between` over the 60 days (the same store reads) and
  `scheduling.free_slots(limit=None)` (every free slot of every professional, the walk an
  availability query that finds nothing nearby makes).

Sides are interleaved (empty, busy, empty, busy, ...) for 3 rounds; each figure is the median
round, as wall-clock time and as the process's CPU time (which a loaded machine does not
inflate). The wall-clock ratio busy / empty of the full-horizon path is printed LAST (goal:
≤ 1.5).
Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from atende.memory import open_store
from atende.memory.records import NewAppointment
from atende.memory.store import Store
from atende.tenant import WEEKDAYS, Tenant, resolve_tenant
from atende.tools.booking import check_availability
from atende.tools.busy import busy_between
from atende.tools.scheduling import free_slots
from atende.tools.scope import Scope

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # Tuesday 08:00 in São Paulo
SERVICE = "avaliacao"  # all three professionals do it
SPAN = timedelta(minutes=30)
ROUNDS = 3


def _grid(tenant: Tenant, professional_id: str, days: int) -> list[datetime]:
    """Every 30-minute start inside the professional's working hours over `days` days."""
    pro = tenant.professional(professional_id)
    today = NOW.astimezone(tenant.tz).date()
    starts = []
    for n in range(1, days + 1):
        day: date = today + timedelta(days=n)
        if tenant.holiday_on(day):
            continue
        for interval in tenant.working_hours(pro, WEEKDAYS[day.weekday()]):
            at = datetime.combine(day, interval.start, tzinfo=tenant.tz)
            end = datetime.combine(day, min(interval.end, clock_time(23, 30)), tzinfo=tenant.tz)
            while at + SPAN <= end:
                starts.append(at.astimezone(UTC))
                at += SPAN
    return starts


async def fill(store: Store, tenant: Tenant, busy: int) -> int:
    """`busy` spans per professional over the horizon: even ones booked, odd ones blocked."""
    rng = random.Random(11)
    written = 0
    for pro in tenant.professionals:
        grid = _grid(tenant, pro.id, tenant.policies.booking_horizon_days)
        for n, start in enumerate(sorted(rng.sample(grid, min(busy, len(grid))))):
            if n % 2 == 0:
                await store.book_appointment(NewAppointment(
                    tenant.id, pro.id, SERVICE, f"+55119{written:08d}", start, start + SPAN))
            else:
                await store.block_add(tenant.id, pro.id, starts_at=start, ends_at=start + SPAN,
                                      reason="bench")
            written += 1
    return written


def _scope(tenant: Tenant, store: Store) -> Scope:
    return Scope(tenant=tenant, store=store, patient_phone="+5511987650001",
                 conversation_id="bench", turn_id="bench", now=NOW)


async def tool_path(scope: Scope) -> int:
    found = await check_availability(scope, SERVICE, None, None)
    return len(found["slots"])


async def full_horizon(scope: Scope) -> int:
    tenant = scope.tenant
    end = NOW + timedelta(days=tenant.policies.booking_horizon_days + 1)
    busy = await busy_between(scope.store, tenant.id, NOW, end,
                              professional_ids=[p.id for p in tenant.professionals])
    return len(free_slots(tenant, SERVICE, now=NOW, busy=busy, limit=None))


async def batch(work: Callable[[Scope], Awaitable[int]], scope: Scope, calls: int
                ) -> tuple[float, float]:
    """Seconds per call: wall clock, and this process's CPU time (every thread: SQLite runs
    in worker threads), which other processes' load on the machine does not inflate."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await work(scope)
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


async def main(args: argparse.Namespace) -> None:
    tenant = resolve_tenant("clinica-exemplo", ROOT / "tenants")
    if args.database_url and "{side}" not in args.database_url:
        raise SystemExit("--database-url must hold {side} (e.g. postgresql://…/bench_{side}): "
                         "the empty and the busy side need a database each")
    with tempfile.TemporaryDirectory(prefix="atende-bench-availability-") as folder:
        urls = {side: args.database_url.replace("{side}", side) if args.database_url
                else f"sqlite:///{Path(folder) / side}.db" for side in ("empty", "busy")}
        stores = {side: open_store(url) for side, url in urls.items()}
        for store in stores.values():
            await store.setup()
        try:
            horizon = NOW + timedelta(days=tenant.policies.booking_horizon_days + 1)
            for side, store in stores.items():
                if await store.busy_spans(tenant.id, NOW, horizon):
                    raise SystemExit(f"the {side} database already holds busy time: give two "
                                     "empty databases")
            written = await fill(stores["busy"], tenant, args.busy)
            scopes = {side: _scope(tenant, store) for side, store in stores.items()}
            print(f"{len(tenant.professionals)} professionals, {written} busy spans "
                  f"({args.busy} each) over {tenant.policies.booking_horizon_days} days; "
                  f"{urls['busy'].split(':', 1)[0]}; {args.calls} calls a batch, "
                  f"{ROUNDS} interleaved rounds, median")
            slots = {side: await full_horizon(scope) for side, scope in scopes.items()}
            print(f"free slots over the horizon: empty {slots['empty']}, busy {slots['busy']}")
            ratio = 0.0
            for name, work in (("check_availability", tool_path), ("full horizon", full_horizon)):
                for scope in scopes.values():
                    await work(scope)  # warm: connections, caches
                rounds: dict[str, list[tuple[float, float]]] = {"empty": [], "busy": []}
                for _ in range(ROUNDS):
                    for side, scope in scopes.items():
                        rounds[side].append(await batch(work, scope, args.calls))
                (empty, busy), (empty_cpu, busy_cpu) = (
                    [statistics.median(r[i] for r in rounds[s]) for s in ("empty", "busy")]
                    for i in (0, 1))
                ratio = busy / empty
                print(f"{name}: empty {empty * 1000:.2f} ms, busy {busy * 1000:.2f} ms per call "
                      f"({ratio:.2f}x); CPU {empty_cpu * 1000:.2f} vs {busy_cpu * 1000:.2f} ms "
                      f"({busy_cpu / empty_cpu:.2f}x)")
            print(f"ratio busy/empty (full horizon): {ratio:.2f}")
        finally:
            for store in stores.values():
                await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=200, help="busy spans per professional")
    parser.add_argument("--calls", type=int, default=40, help="calls per timed batch")
    parser.add_argument("--database-url", default="",
                        help="a URL with {side} in its name: two empty databases, "
                             "e.g. postgresql://.../bench_{side}; "
                             "default: two SQLite files in a temp folder")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
