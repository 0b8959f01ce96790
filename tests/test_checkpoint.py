"""The checkpointer shares the store's file, and pruning keeps it small without losing state."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from functools import reduce
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from atende.memory import open_store
from atende.memory.checkpoint import open_checkpointer, prune_checkpoints
from atende.memory.sqlite import sqlite_path

THREAD = "clinica-exemplo:+5511990000001"


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    turns: int


def _add_message_batches(state: list[AnyMessage], batches: Sequence[Any]) -> list[AnyMessage]:
    return reduce(add_messages, batches, state)  # type: ignore[arg-type]


class DeltaChat(TypedDict):
    """The same chat with its history in a `DeltaChannel` (stored as writes, snapshot every 4)."""

    messages: Annotated[list[AnyMessage], DeltaChannel(_add_message_batches, snapshot_frequency=4)]
    turns: Annotated[int, operator.add]


async def reply(state: dict[str, Any]) -> dict[str, Any]:
    said = state["messages"][-1].content
    return {"messages": [AIMessage(f"eco {said}")], "turns": 1}


def double_check(state: dict[str, Any]) -> str:
    return "double" if len(state["messages"]) % 4 == 0 else END


async def double(state: dict[str, Any]) -> dict[str, Any]:
    return {"turns": 0}


def build(schema: type) -> StateGraph:
    """model -> (sometimes a second node): a few supersteps, and branch channels, per turn."""
    graph = StateGraph(schema)
    graph.add_node("reply", reply)
    graph.add_node("double", double)
    graph.add_edge(START, "reply")
    graph.add_conditional_edges("reply", double_check, ["double", END])
    graph.add_edge("double", END)
    return graph


def count(url: str, table: str, thread: str = THREAD) -> int:
    with closing(sqlite3.connect(sqlite_path(url))) as conn:
        (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread,)).fetchone()
    return int(n)


async def chat(url: str, schema: type, say: list[str]) -> list[int]:
    """Send each message as one turn, pruning after each; the checkpoint rows left each time."""
    config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
    rows = []
    async with open_checkpointer(url) as saver:
        graph = build(schema).compile(checkpointer=saver)
        for text in say:
            await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
            await prune_checkpoints(saver, THREAD)
            rows.append(count(url, "checkpoints"))
    return rows


async def history(url: str, schema: type) -> list[str]:
    """The conversation as a new process would load it: a new saver on the same file."""
    async with open_checkpointer(url) as saver:
        graph = build(schema).compile(checkpointer=saver)
        state = await graph.aget_state({"configurable": {"thread_id": THREAD}})
    return [str(message.content) for message in state.values["messages"]]


def transcript(say: list[str]) -> list[str]:
    return [line for text in say for line in (text, f"eco {text}")]


async def test_pruned_conversation_stays_small_and_continues_elsewhere(tmp_db_url: str) -> None:
    say = [f"mensagem {n}" for n in range(30)]
    rows = await chat(tmp_db_url, Chat, say)
    assert rows == [1] * 30
    assert count(tmp_db_url, "writes") == 0
    assert await history(tmp_db_url, Chat) == transcript(say)

    await chat(tmp_db_url, Chat, ["e amanhã?"])  # another process picks the thread up
    assert await history(tmp_db_url, Chat) == transcript([*say, "e amanhã?"])


async def test_unpruned_history_is_what_pruning_removes(tmp_db_url: str) -> None:
    say = [f"mensagem {n}" for n in range(5)]
    async with open_checkpointer(tmp_db_url) as saver:
        graph = build(Chat).compile(checkpointer=saver)
        for text in say:
            await graph.ainvoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": THREAD}})
        before = count(tmp_db_url, "checkpoints")
        deleted = await prune_checkpoints(saver, THREAD, keep=3)
    assert before > 10
    assert (deleted, count(tmp_db_url, "checkpoints")) == (before - 3, 3)
    assert await history(tmp_db_url, Chat) == transcript(say)


async def test_pruning_keeps_what_a_delta_channel_needs(tmp_db_url: str) -> None:
    say = [f"mensagem {n}" for n in range(30)]
    rows = await chat(tmp_db_url, DeltaChat, say)
    # rebuilt from writes since the last snapshot: bounded by the snapshot cadence, not by 30
    assert max(rows) <= 8, rows
    assert await history(tmp_db_url, DeltaChat) == transcript(say)
    await chat(tmp_db_url, DeltaChat, ["e amanhã?"])
    assert await history(tmp_db_url, DeltaChat) == transcript([*say, "e amanhã?"])


async def test_pruning_one_thread_leaves_the_others(tmp_db_url: str) -> None:
    async with open_checkpointer(tmp_db_url) as saver:
        graph = build(Chat).compile(checkpointer=saver)
        for thread in (THREAD, "outra"):
            for text in ("oi", "tudo bem?"):
                await graph.ainvoke(
                    {"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread}}
                )
        before = count(tmp_db_url, "checkpoints")
        await prune_checkpoints(saver, "outra")
        assert count(tmp_db_url, "checkpoints") == before
        assert count(tmp_db_url, "checkpoints", "outra") == 1
        other = await graph.aget_state({"configurable": {"thread_id": "outra"}})
    assert len(other.values["messages"]) == 4


async def test_checkpointer_shares_the_store_file(tmp_db_url: str) -> None:
    store = open_store(tmp_db_url)
    await store.setup()
    async with open_checkpointer(tmp_db_url) as saver:
        graph = build(Chat).compile(checkpointer=saver)
        await graph.ainvoke({"messages": [HumanMessage("oi")]}, {"configurable": {"thread_id": THREAD}})
        patient = await store.upsert_patient("clinica-exemplo", "+5511990000001")
    await store.close()
    with closing(sqlite3.connect(sqlite_path(tmp_db_url))) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"checkpoints", "writes", "patients", "appointments"} <= tables
    assert patient.stage == "new"


async def test_pruning_an_in_memory_saver_is_a_no_op() -> None:
    saver = InMemorySaver()  # what tests and the console run turns with
    graph = build(Chat).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": THREAD}}
    await graph.ainvoke({"messages": [HumanMessage("oi")]}, config)
    assert await prune_checkpoints(saver, THREAD) == 0
    assert len((await graph.aget_state(config)).values["messages"]) == 2
