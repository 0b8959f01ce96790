"""Benchmark: per-turn overhead of one patient message on atende's path (inbox → `run_turn` →
outbox → sender, the console channel's `ConsoleSession.say`) against a bare LangGraph model⇄tools
loop, and the database bytes a turn adds over a long conversation.

    python bench/turns.py [--turns 200] [--out bench/out/turns.json]

Both sides use the same scripted model (one tool call, then a reply, every turn) and the same
SQLite checkpointer class, in one process, so the ratio isolates what atende adds per turn:
the inbox row, context injection, the store writes (turn, reply queued with the inbox row
answered), the guard, history trimming, checkpoint pruning and the outbox send. Not a test: it
prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.agent.runtime import open_atende
from atende.clock import FrozenClock
from atende.memory.checkpoint import open_checkpointer
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from atende.tenant import load_tenant_file

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-10T08:00-03:00"
USER = "Quanto custa a limpeza? Queria saber também se aceita convênio."
REPLY = "A limpeza custa R$ 180,00 e aceitamos Amil Dental, OdontoPrev e SulAmérica Odonto."


def _script(turns: int) -> list[Any]:
    items: list[Any] = []
    for _ in range(turns):
        items += [call("list_services", query="limpeza"), REPLY]
    return items


def _db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def bench_atende(turns: int, folder: Path) -> dict[str, Any]:
    from datetime import datetime

    db = folder / "atende.db"
    settings = Settings(database_url=f"sqlite:///{db}", tenants_dir=ROOT / "tenants",
                        _env_file=None)
    tenant = load_tenant_file(ROOT / "tenants" / "clinica-exemplo.yaml")
    model = ScriptedChatModel(_script(turns + 1))
    async with open_atende(settings, model=lambda t, n: ModelChain("scripted", model),
                           clock=FrozenClock(datetime.fromisoformat(NOW))) as app:
        session = ConsoleSession(app, tenant)
        await session.say("+5511987650001", USER)  # warm-up: schema, caches, first checkpoint
        base = _db_bytes(db)
        times, sizes = [], {}
        for i in range(1, turns + 1):
            start = time.perf_counter()
            answer = await session.say("+5511987650001", USER)
            times.append(time.perf_counter() - start)
            assert answer.bubbles == [REPLY], answer
            if i in (10, turns // 2, turns):
                sizes[i] = _db_bytes(db) - base
    return {"median_s": statistics.median(times), "bytes_added": sizes}


@tool
def list_services(query: str | None = None) -> str:
    """Lista serviços e preços."""
    return json.dumps({"ok": True, "services": [{"name": "Limpeza", "price_text": "R$ 180,00"}]})


async def bench_bare(turns: int, folder: Path) -> dict[str, Any]:
    db = folder / "bare.db"
    model = ScriptedChatModel(_script(turns + 1)).bind_tools([list_services])

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([list_services]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    async with open_checkpointer(f"sqlite:///{db}") as saver:
        app = graph.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "bare"}}
        await app.ainvoke({"messages": [HumanMessage(USER)]}, config)
        base = _db_bytes(db)
        times, sizes = [], {}
        for i in range(1, turns + 1):
            start = time.perf_counter()
            out = await app.ainvoke({"messages": [HumanMessage(USER)]}, config)
            times.append(time.perf_counter() - start)
            assert isinstance(out["messages"][-1], AIMessage)
            if i in (10, turns // 2, turns):
                sizes[i] = _db_bytes(db) - base
    return {"median_s": statistics.median(times), "bytes_added": sizes}


async def main(turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare = await bench_bare(turns, folder)
        atende = await bench_atende(turns, folder)
    ratio = atende["median_s"] / bare["median_s"]
    report = {"turns": turns, "atende": atende, "bare_langgraph": bare, "ratio": ratio}
    print(f"turns per run: {turns} (scripted model, one tool call + one reply per turn)")
    print(f"median turn   atende:   {atende['median_s'] * 1000:7.2f} ms   "
          f"bare LangGraph loop: {bare['median_s'] * 1000:7.2f} ms   ratio: {ratio:.2f}x")
    for name, side in (("atende", atende), ("bare loop", bare)):
        sizes = side["bytes_added"]
        growth = ", ".join(f"after {k} turns: {v / 1024:.0f} KiB ({v / k:.0f} B/turn)"
                           for k, v in sizes.items())
        print(f"db growth     {name:9}: {growth}")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(main(args.turns))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
