"""Benchmark: turns per second with 1, 2 and 4 `atende worker` processes on Postgres, and the
per-turn overhead of `run_turn` on Postgres against a bare LangGraph loop on the same saver.

    ATENDE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/workers.py [--conversations 300] [--workers 1,2,4] [--turns 100]

Throughput: a fresh database, N workers (offline model, `--concurrency 8`) registered and idle,
then one message in each of `--conversations` conversations, stored and queued as the webhook
does (debounce window 0); the clock runs from the first job queued until every message is
answered and every reply has reached a loopback provider stub. Overhead: the two sides of
bench/turns.py (scripted model, one tool call then a reply per turn), both checkpointing in
Postgres with `AsyncPostgresSaver`. Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
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
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel
from atende.agent.runtime import open_atende
from atende.agent.turn import TurnRequest, run_turn
from atende.clock import FrozenClock
from atende.memory import open_store
from atende.memory.checkpoint import open_checkpointer
from atende.server.queue import enqueue, queue_app
from atende.settings import Settings
from atende.tenant import load_tenant_file

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
from provider_stub import ProviderStub, ZapiAccount  # noqa: E402
from turns import NOW, REPLY, USER, _script, list_services  # noqa: E402

TENANT = "clinica-exemplo"
ZAPI = ZapiAccount("BENCH-INSTANCE", "bench-token", "bench-client-token")
CONCURRENCY = 8


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


# overhead: run_turn against the bare loop, both on AsyncPostgresSaver

async def bench_atende(url: str, turns: int) -> float:
    settings = Settings(database_url=url, tenants_dir=ROOT / "tenants", _env_file=None)
    tenant = load_tenant_file(ROOT / "tenants" / f"{TENANT}.yaml")
    model = ScriptedChatModel(_script(turns + 1))
    async with open_atende(settings, model=lambda t, n: ModelChain("scripted", model),
                           clock=FrozenClock(datetime.fromisoformat(NOW))) as app:
        request = TurnRequest(tenant=tenant, phone="+5511987650001", text=USER)
        await run_turn(app, request)  # warm-up: pools, caches, first checkpoint
        times = []
        for _ in range(turns):
            start = time.perf_counter()
            result = await run_turn(app, request)
            times.append(time.perf_counter() - start)
            assert result.reply == REPLY, result
    return statistics.median(times)


async def bench_bare(url: str, turns: int) -> float:
    store = open_store(url)
    await store.setup()  # the checkpointer's tables are part of the store's migrations
    await store.close()
    model = ScriptedChatModel(_script(turns + 1)).bind_tools([list_services])

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([list_services]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    async with open_checkpointer(url) as saver:
        app = graph.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "bare"}}
        await app.ainvoke({"messages": [HumanMessage(USER)]}, config)
        times = []
        for _ in range(turns):
            start = time.perf_counter()
            out = await app.ainvoke({"messages": [HumanMessage(USER)]}, config)
            times.append(time.perf_counter() - start)
            assert isinstance(out["messages"][-1], AIMessage)
    return statistics.median(times)


# throughput: N worker processes draining one message per conversation

def _env(url: str, stub: ProviderStub, tenants: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))}
    return {**inherited, "ATENDE_DATABASE_URL": url, "ATENDE_TENANTS_DIR": str(tenants),
            "ATENDE_ZAPI_BASE_URL": stub.url, "ATENDE_LOG_LEVEL": "WARNING",
            "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": ZAPI.instance_id,
            "CLINICA_EXEMPLO_ZAPI_TOKEN": ZAPI.token,
            "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": ZAPI.client_token,
            "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": "bench-webhook-secret"}


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


async def bench_workers(server: str, workers: int, conversations: int, folder: Path) -> float:
    tenants = folder / "tenants"
    tenants.mkdir(exist_ok=True)
    data = yaml.safe_load((ROOT / "tenants" / f"{TENANT}.yaml").read_text("utf-8"))
    data["debounce"] = {"window_seconds": 0, "max_seconds": 0}
    (tenants / f"{TENANT}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    async with fresh_database(server) as url:
        store = open_store(url)
        await store.setup()
        with ProviderStub(zapi=ZAPI) as stub:
            env = _env(url, stub, tenants)
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "atende.cli", "worker", "--model", "offline",
                "--concurrency", str(CONCURRENCY), env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL) for _ in range(workers)]
            try:
                deadline = time.monotonic() + 120
                while _count(url, "SELECT count(*) FROM procrastinate_workers") < workers:
                    assert time.monotonic() < deadline, "workers did not start"
                    await asyncio.sleep(0.2)
                queue = queue_app(url)
                async with queue.open_async():
                    stored = []
                    for n in range(conversations):
                        message, _ = await store.inbox_add(
                            TENANT, f"+55119876{n:05d}", channel="zapi",
                            provider_message_id=f"bench-{n}", provider_ts=datetime.now(UTC),
                            kind="text", text="Quanto custa a limpeza?")
                        stored.append(message.conversation_id)
                    start = time.perf_counter()
                    for conversation_id in stored:
                        await enqueue(queue, conversation_id)
                    while len(stub.sent("zapi")) < conversations or _count(
                            url, "SELECT count(*) FROM messages WHERE state = 'pending'"):
                        assert time.perf_counter() - start < 600, "workers too slow"
                        await asyncio.sleep(0.05)
                    elapsed = time.perf_counter() - start
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    await asyncio.wait_for(proc.wait(), timeout=30)
                await store.close()
    return conversations / elapsed


async def main(server: str, workers: list[int], conversations: int, turns: int) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "conversations": conversations,
                              "concurrency": CONCURRENCY, "turns_per_second": {}}
    async with fresh_database(server) as url:
        bare = await bench_bare(url, turns)
    async with fresh_database(server) as url:
        atende = await bench_atende(url, turns)
    report["overhead"] = {"run_turn_ms": atende * 1000, "bare_langgraph_ms": bare * 1000,
                          "ratio": atende / bare, "turns": turns}
    print(f"per turn on Postgres ({turns} turns, scripted model): run_turn {atende * 1000:.1f} ms,"
          f" bare LangGraph loop {bare * 1000:.1f} ms, ratio {atende / bare:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        for count in workers:
            rate = await bench_workers(server, count, conversations, Path(tmp))
            report["turns_per_second"][count] = rate
            print(f"{count} worker(s) x concurrency {CONCURRENCY}: {rate:6.1f} turns/s "
                  f"({conversations} conversations, offline model, {os.cpu_count()} CPUs)")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("ATENDE_TEST_POSTGRES_URL"),
                        help="a server URL whose role may create databases")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("give --postgres or set ATENDE_TEST_POSTGRES_URL")
    result = asyncio.run(main(args.postgres, [int(n) for n in args.workers.split(",")],
                              args.conversations, args.turns))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
