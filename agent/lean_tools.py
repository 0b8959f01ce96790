"""The model's tools as the graph's ToolNode runs them, minus a per-call copy of the turn.

LangChain validates a tool call's input with the tool's argument model and then dumps that model
to a dict only to learn which fields were given (`BaseTool._parse_input`). The injected
`ToolRuntime` is one of those fields, and dumping it serialises the graph state (every message
of the conversation) and the turn's context (the clinic's whole catalogue) on every tool call:
the cost of a call grew with the conversation. Here the runtime is validated as a stand-in with
nothing in it and handed to the tool as it came: the tool sees exactly what it saw before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime


class _LeanTool(StructuredTool):
    def _parse_input(self, tool_input: str | dict[str, Any], tool_call_id: str | None
                     ) -> str | dict[str, Any]:
        runtime = tool_input.get("runtime") if isinstance(tool_input, dict) else None
        if not isinstance(tool_input, dict) or not isinstance(runtime, ToolRuntime):
            return super()._parse_input(tool_input, tool_call_id)
        stand_in = replace(runtime, state={}, context=None, config={}, store=None, tools=[])
        parsed = super()._parse_input({**tool_input, "runtime": stand_in}, tool_call_id)
        if isinstance(parsed, dict) and parsed.get("runtime") is stand_in:
            parsed["runtime"] = runtime
        return parsed


def lean(tools: Sequence[BaseTool]) -> list[BaseTool]:
    """Each structured tool rebuilt as a `_LeanTool` (same name, schema, function); others
    as they are."""
    return [_LeanTool(**{name: getattr(t, name) for name in type(t).model_fields})
            if type(t) is StructuredTool else t for t in tools]
