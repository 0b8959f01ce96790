"""Benchmark: what one patient message costs on atende's path against a like-for-like bare
LangGraph loop, on SQLite and on Postgres.

    python bench/turns.py [--turns 200] [--runs 3] [--postgres URL] [--out bench/out/turns.json]

atende's side is a console patient on `ConsoleSession.say`'s path: the inbox row (the webhook's
part), the turn (`ConversationTurns.answer`, what the dispatcher or worker runs: the pending
rows, `run_turn` with its checkpoint and pruning, `complete_turn` queueing the reply) and the
outbox send (the sender's part). The turn is what the ratio compares; the whole message is
printed beside it. The
bare side is the loop anyone would write with LangGraph for the same job: a model node and
LangGraph's `ToolNode` over atende's own tools (the same `list_services` reading the clinic's
catalog), one checkpoint per turn (`durability="exit"`), the same stored-history cap
(`max_stored_messages`, cut on a patient message), on the same saver class and database.
Both get the same scripted model (`Cycle`: one tool call, then a reply, every turn) that keeps
nothing it was sent, so neither side's cost grows because the model remembers prompts.

Fairness: each run opens both sides on a fresh database and alternates them turn by turn (the
side going first alternates too), so a noisy neighbour on the machine slows both alike; each run
reports each side's median turn, and the figure is the median of `--runs` runs. Postgres runs
when `--postgres` (or ATENDE_TEST_POSTGRES_URL) names a server whose role may create databases.
Not a test: it prints figures, it asserts only that every turn got the scripted reply. The
ratio (atende / bare) is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from atende.agent.context import ModelChain
from atende.agent.models.scripted import call
from atende.agent.runtime import open_atende
from atende.clock import FrozenClock
from atende.logs import configure_logging
from atende.memory import open_store
from atende.memory.checkpoint import open_checkpointer
from atende.server.channels.console.session import ConsoleSession
from atende.settings import Settings
from atende.tenant import Tenant, load_tenant_file
from atende.tools.scope import Scope
from atende.tools.toolset import TOOLS

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-10T08:00-03:00"
USER = "Quanto custa a limpeza? Queria saber também se aceita convênio."
REPLY = "A limpeza custa R$ 180,00 e aceitamos Amil Dental, OdontoPrev e SulAmérica Odonto."
PHONE = "+5511987650001"
TENANT = "clinica-exemplo"


class Cycle(BaseChatModel):
    """Asks for `list_services`, then replies, then again, forever; keeps nothing it is sent."""

    step: int = 0

    @property
    def _llm_type(self) -> str:
        return "bench-cycle"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.step += 1
        message = call("list_services", query="limpeza") if self.step % 2 else AIMessage(REPLY)
        return ChatResult(generations=[ChatGeneration(message=message)])


# one patient message: the seconds of the turn, and of the whole message path
Turn = Callable[[], Awaitable[tuple[float, float]]]


@asynccontextmanager
async def atende_side(url: str, tenant: Tenant) -> AsyncIterator[Turn]:
    settings = Settings(database_url=url, tenants_dir=ROOT / "tenants", _env_file=None)
    model = Cycle()
    async with open_atende(settings, model=lambda t, n: ModelChain("scripted", model),
                           clock=FrozenClock(datetime.fromisoformat(NOW))) as app:
        session = ConsoleSession(app, tenant)
        store = app.store

        async def turn() -> tuple[float, float]:
            # what `ConsoleSession.say` does, with the turn (what the dispatcher runs after the
            # webhook stored the row, before the outbox sends) timed on its own
            start = time.perf_counter()
            stored, _ = await store.inbox_add(
                tenant.id, PHONE, channel="console", provider_message_id=secrets.token_hex(8),
                provider_ts=app.clock.now(), kind="text", text=USER)
            conversation = await store.get_conversation(stored.conversation_id)
            assert conversation is not None
            begun = time.perf_counter()
            await session.turns.answer(conversation)
            ended = time.perf_counter()
            await session.outbox.drain(conversation_id=conversation.id)
            done = time.perf_counter()
            bubbles = session.sender.take()
            assert bubbles == [REPLY], bubbles
            return ended - begun, done - start

        yield turn


@dataclass(frozen=True)
class BareContext:
    scope: Scope  # what atende's tools read their clinic from


def bare_graph(keep: int) -> StateGraph[Any, Any, Any, Any]:
    model = Cycle().bind_tools(TOOLS)

    async def call_model(state: MessagesState) -> dict[str, Any]:
        messages = state["messages"]
        answer = await model.ainvoke(messages)
        if answer.tool_calls or len(messages) + 1 <= keep:
            return {"messages": [answer]}
        cut = len(messages) + 1 - keep  # the same cap as atende's reply node, cut on a patient
        while cut < len(messages) and not isinstance(messages[cut], HumanMessage):
            cut += 1
        return {"messages": [*(RemoveMessage(id=str(m.id)) for m in messages[:cut]), answer]}

    graph = StateGraph(MessagesState, context_schema=BareContext)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph


@asynccontextmanager
async def bare_side(url: str, tenant: Tenant) -> AsyncIterator[Turn]:
    async with open_checkpointer(url) as saver:
        app = bare_graph(tenant.model.max_stored_messages).compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "bare"}}
        store = open_store(url)
        context = BareContext(Scope(tenant=tenant, store=store, patient_phone=PHONE,
                                    conversation_id="bare", turn_id="bare",
                                    now=datetime.fromisoformat(NOW)))

        async def turn() -> tuple[float, float]:
            start = time.perf_counter()
            out = await app.ainvoke({"messages": [HumanMessage(USER)]}, config,
                                    context=context, durability="exit")
            took = time.perf_counter() - start
            assert out["messages"][-1].content == REPLY, out["messages"][-1]
            return took, took

        yield turn


@asynccontextmanager
async def fresh_database(backend: str, server: str | None) -> AsyncIterator[str]:
    """A new SQLite file, or a new Postgres database dropped afterwards; migrations run."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="atende-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            await _migrate(url)
            yield url
        return
    import psycopg

    assert server
    name = f"atende_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        await _migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _migrate(url: str) -> None:
    store = open_store(url)
    await store.setup()  # the checkpointer's tables are part of the store's migrations
    await store.close()


async def one_run(backend: str, server: str | None, turns: int, bare_first: bool
                  ) -> dict[str, float]:
    """Both sides on one fresh database, alternating turn by turn; each side's medians (s)."""
    tenant = load_tenant_file(ROOT / "tenants" / f"{TENANT}.yaml")
    async with fresh_database(backend, server) as url, AsyncExitStack() as stack:
        sides = {"atende": await stack.enter_async_context(atende_side(url, tenant)),
                 "bare": await stack.enter_async_context(bare_side(url, tenant))}
        order = ["bare", "atende"] if bare_first else ["atende", "bare"]
        for name in order:
            await sides[name]()  # warm-up: schema, caches, the first checkpoint
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in order}
        for _ in range(turns):
            for name in order:
                times[name].append(await sides[name]())
    return {"atende": statistics.median(t for t, _ in times["atende"]),
            "atende_message": statistics.median(m for _, m in times["atende"]),
            "bare": statistics.median(t for t, _ in times["bare"])}


async def bench(backend: str, server: str | None, turns: int, runs: int) -> dict[str, Any]:
    medians: dict[str, list[float]] = {"atende": [], "atende_message": [], "bare": []}
    for run in range(runs):
        result = await one_run(backend, server, turns, bare_first=bool(run % 2))
        for name, value in result.items():
            medians[name].append(value)
        print(f"  {backend} run {run + 1}: atende turn {result['atende'] * 1e3:6.2f} ms "
              f"(message {result['atende_message'] * 1e3:6.2f} ms), "
              f"bare {result['bare'] * 1e3:6.2f} ms", flush=True)
    figure = {name: statistics.median(values) * 1e3 for name, values in medians.items()}
    return {"atende_ms": figure["atende"], "atende_message_ms": figure["atende_message"],
            "bare_ms": figure["bare"], "ratio": figure["atende"] / figure["bare"],
            "message_ratio": figure["atende_message"] / figure["bare"],
            "runs_ms": {k: [v * 1e3 for v in vs] for k, vs in medians.items()}}


async def main(turns: int, runs: int, server: str | None) -> dict[str, Any]:
    backends = ["sqlite", *(["postgres"] if server else [])]
    print(f"{turns} turns per run, {runs} runs, sides alternating turn by turn "
          f"(scripted model: one tool call + one reply per turn); {os.cpu_count()} CPUs")
    report: dict[str, Any] = {"turns": turns, "runs": runs}
    for backend in backends:
        report[backend] = await bench(backend, server, turns, runs)
    if not server:
        print("Postgres skipped: give --postgres or set ATENDE_TEST_POSTGRES_URL")
    for backend in backends:
        r = report[backend]
        print(f"median on {backend:8}: atende turn {r['atende_ms']:6.2f} ms, whole message "
              f"{r['atende_message_ms']:6.2f} ms ({r['message_ratio']:.2f}x); "
              f"bare LangGraph loop {r['bare_ms']:6.2f} ms")
    print("turn ratio atende / bare: "
          + ", ".join(f"{b} {report[b]['ratio']:.2f}x" for b in backends))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("ATENDE_TEST_POSTGRES_URL"),
                        help="a server URL whose role may create databases")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    # as deployed (JSON lines at INFO), written nowhere: the cost stays, the noise goes
    configure_logging("INFO", json=True, stream=open(os.devnull, "w"))
    result = asyncio.run(main(args.turns, args.runs, args.postgres))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
