"""The replay's tools node: answers the new model's tool calls from what the recorded turn's tools
returned, and never runs a tool, so nothing is booked, cancelled or written anywhere.

A call with the same name and arguments as a recorded call of the turn (nulls dropped, strings
compared without case or extra spaces) gets the recorded result; each recorded write answers
once, a recorded read as often as asked. Any other call gets a `not_recorded` error result, and
the turn is reported as diverged: what the model did next rests on an answer nobody recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.runtime import Runtime

from atende.agent.context import TurnContext
from atende.agent.state import AgentState
from atende.evals.transcript_format import ToolCall

NOT_RECORDED = "not_recorded"
READ_ONLY = frozenset({"check_availability", "list_my_appointments", "list_services",
                       "list_promotions"})


def normalized(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as compared: nulls dropped, strings without case and repeated spaces."""
    return {k: " ".join(v.split()).casefold() if isinstance(v, str) else v
            for k, v in args.items() if v is not None}


@dataclass
class Tape:
    """The recorded tool calls of one turn, and what the replay asked of them."""

    recorded: list[ToolCall]
    used: list[bool] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)  # {name, args} not recorded

    def __post_init__(self) -> None:
        self.used = [False] * len(self.recorded)

    def answer(self, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded result for this call, or None (and the call is kept in `misses`)."""
        wanted = normalized(args)
        same = [i for i, c in enumerate(self.recorded)
                if c.name == name and normalized(c.args) == wanted]
        fresh = [i for i in same if not self.used[i]]
        if fresh:
            self.used[fresh[0]] = True
        pick = fresh[0] if fresh else same[0] if same and name in READ_ONLY else None
        if pick is None:
            self.misses.append({"name": name, "args": dict(args)})
            return None
        call = self.recorded[pick]
        return dict(call.result) if call.result is not None else {"ok": call.ok}


@dataclass(frozen=True)
class ReplayContext(TurnContext):
    """A turn's context in replay: the recorded tool results it may answer from."""

    tape: Tape = field(default_factory=lambda: Tape([]))


def not_recorded(name: str) -> dict[str, Any]:
    return {"ok": False, "code": NOT_RECORDED,
            "message": f"Replay: a conversa gravada não tem resultado para esta chamada de "
                       f"`{name}` com estes argumentos; nenhuma ferramenta foi executada."}


async def replay_tools(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Answer the last model message's tool calls from the turn's `Tape`."""
    ctx = runtime.context
    if not isinstance(ctx, ReplayContext):
        raise TypeError("replay_tools needs a ReplayContext")
    last = state["messages"][-1]
    calls = last.tool_calls if isinstance(last, AIMessage) else []
    answers = []
    for call in calls:
        recorded = ctx.tape.answer(call["name"], call["args"])
        artifact = recorded if recorded is not None else not_recorded(call["name"])
        visible = {k: v for k, v in artifact.items() if k != "turn_id"}
        artifact["turn_id"] = ctx.scope.turn_id  # the guard reads this turn's results by it
        answers.append(ToolMessage(
            content=json.dumps(visible, ensure_ascii=False), artifact=artifact,
            tool_call_id=call["id"] or "", name=call["name"],
            status="success" if recorded is not None else "error",
        ))
    return {"messages": answers}
