"""The topology of one turn — the only place with add_node/add_edge.

    context → transcribe → model → writes → tools ─┐
                  │          ↑ ↑        │           │
                  │          │ └────────┘ refused   │
                  │          └──────────────────────┘
                  │        model → guard → reply
                  └──(voice note unreadable)─────→ reply

`writes` answers a booking or a move the patient did not ask for instead of running it.
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
from atende.agent.state import AgentState
from atende.tools.toolset import TOOLS


def after_transcribe(state: AgentState) -> Literal["model", "reply"]:
    return "reply" if state.get("reply") else "model"


MAX_MODEL_CALLS = 6  # per turn; a model still asking for tools after that gets a safe reply


def after_model(state: AgentState) -> Literal["writes", "guard"]:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls and state.get("model_calls", 0) < MAX_MODEL_CALLS:
        return "writes"
    return "guard"


def after_writes(state: AgentState) -> Literal["tools", "model", "guard"]:
    last = state["messages"][-1]
    if isinstance(last, ToolMessage):  # refused: the model reads why and tries again
        return "model"
    if isinstance(last, AIMessage) and not last.tool_calls:  # refused twice: ask the patient
        return "guard"
    return "tools"


def after_guard(state: AgentState) -> Literal["model", "reply"]:
    return "reply" if state.get("reply") is not None else "model"


def build_graph(checkpointer: BaseCheckpointSaver | None = None, *,
                tools: Any = None) -> CompiledStateGraph[AgentState, TurnContext]:
    """The turn graph; `tools` replaces the node that runs tool calls (replay answers them from a
    recording instead of running them)."""
    graph = StateGraph(AgentState, context_schema=TurnContext)
    graph.add_node("context", nodes.context)
    graph.add_node("transcribe", nodes.transcribe)
    graph.add_node("model", nodes.model)
    graph.add_node("writes", nodes.writes)
    graph.add_node("tools", tools if tools is not None else ToolNode(TOOLS))
    graph.add_node("guard", nodes.guard)
    graph.add_node("reply", nodes.reply)
    graph.add_edge(START, "context")
    graph.add_edge("context", "transcribe")
    graph.add_conditional_edges("transcribe", after_transcribe)
    graph.add_conditional_edges("model", after_model)
    graph.add_conditional_edges("writes", after_writes)
    graph.add_edge("tools", "model")
    graph.add_conditional_edges("guard", after_guard)
    graph.add_edge("reply", END)
    return graph.compile(checkpointer=checkpointer)
