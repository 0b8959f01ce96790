"""The topology of one turn — the only place with add_node/add_edge. The turn's opening state
(system prompt, counters reset: `nodes.context`) comes with the patient's message from `run_turn`.

    start ─(voice notes)→ transcribe → model → (writes →) tools ─┐
       └────────────────────────────────→ ↑ ↑        │               │
                             │            │ └────────┘ refused       │
                             │            └──────────────────────────┘
                             │          model → guard ─(a reply)→ end
                             └──(voice note unreadable)──→ reply

`writes` answers a booking or a move the patient did not ask for instead of running it; only a
turn whose model asks for one passes through it, and only a turn with voice notes through
`transcribe`: a node that would do nothing is not a step (each step costs LangGraph's overhead).
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from atende.agent import nodes
from atende.agent.context import TurnContext
from atende.agent.lean_tools import lean
from atende.agent.state import AgentState
from atende.agent.write_guard import WRITES
from atende.tools.toolset import TOOLS


def after_context(state: AgentState) -> Literal["transcribe", "model"]:
    return "transcribe" if state.get("audio") else "model"


def after_transcribe(state: AgentState) -> Literal["model", "reply"]:
    return "reply" if state.get("reply") else "model"


MAX_MODEL_CALLS = 6  # per turn; a model still asking for tools after that gets a safe reply


def after_model(state: AgentState) -> Literal["writes", "tools", "guard"]:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls and state.get("model_calls", 0) < MAX_MODEL_CALLS:
        return "writes" if any(c["name"] in WRITES for c in last.tool_calls) else "tools"
    return "guard"


def after_writes(state: AgentState) -> Literal["tools", "model", "guard"]:
    last = state["messages"][-1]
    if isinstance(last, ToolMessage):  # refused: the model reads why and tries again
        return "model"
    if isinstance(last, AIMessage) and not last.tool_calls:  # refused twice: ask the patient
        return "guard"
    return "tools"


def after_guard(state: AgentState) -> Literal["model", "__end__"]:
    # a reply (the model's, or the safe one in its place) closes the turn in the guard itself
    return "model" if state.get("reply") is None else END


def build_graph(checkpointer: BaseCheckpointSaver | None = None, *,
                tools: Any = None) -> CompiledStateGraph[AgentState, TurnContext]:
    """The turn graph; `tools` replaces the node that runs tool calls (replay answers them from a
    recording instead of running them)."""
    graph = StateGraph(AgentState, context_schema=TurnContext)
    graph.add_node("transcribe", nodes.transcribe)
    graph.add_node("model", nodes.model)
    graph.add_node("writes", nodes.writes)
    graph.add_node("tools", tools if tools is not None else ToolNode(lean(TOOLS)))
    graph.add_node("guard", nodes.guard)
    graph.add_node("reply", nodes.reply)
    graph.add_conditional_edges(START, after_context)
    graph.add_conditional_edges("transcribe", after_transcribe)
    graph.add_conditional_edges("model", after_model)
    graph.add_conditional_edges("writes", after_writes)
    graph.add_edge("tools", "model")
    graph.add_conditional_edges("guard", after_guard)
    graph.add_edge("reply", END)
    return graph.compile(checkpointer=checkpointer)
