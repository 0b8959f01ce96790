"""Chat models for tests and load checks: `ScriptedChatModel` replays a queue of replies and tool
calls (`--model scripted:<file>`); `NullChatModel` answers every turn with one fixed sentence."""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from atende.errors import ConfigError

ScriptItem = AIMessage | str | Callable[[list[BaseMessage]], AIMessage]


class ScriptExhausted(RuntimeError):
    """The model was called more times than its script has items (a test bug)."""


def call(name: str, /, **args: Any) -> AIMessage:
    """An AI message asking for one tool call: `call("book_appointment", slot_id="...")`."""
    return calls((name, args))


def calls(*specs: tuple[str, dict[str, Any]]) -> AIMessage:
    """An AI message asking for several tool calls at once (run in parallel by the graph)."""
    return AIMessage(content="", tool_calls=[
        {"name": name, "args": dict(args), "id": f"call_{uuid.uuid4().hex[:12]}",
         "type": "tool_call"}
        for name, args in specs
    ])


class ScriptedChatModel(BaseChatModel):
    """Pops the next script item per call: a str is a reply, an `AIMessage` is sent as is, a
    callable gets the messages and returns the `AIMessage`. `.calls` keeps every prompt seen."""

    script: deque[Any] = Field(default_factory=deque)
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def __init__(self, script: Sequence[ScriptItem] = (), **kwargs: Any):
        fields: dict[str, Any] = {"script": deque(script), **kwargs}
        super().__init__(**fields)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedChatModel:
        """Load a YAML or JSON list: `{"reply": "..."}`, `{"tool": name, "args": {...}}`, or
        `{"tools": [{"tool": name, "args": {...}}, ...]}` for parallel calls."""
        source = str(path)
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("script file not found", source=source) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML/JSON ({exc})", source=source) from None
        if not isinstance(raw, list):
            raise ConfigError("expected a list of {reply: ...} or {tool: ..., args: ...}",
                              source=source)
        return cls([_item(entry, source, f"[{i}]") for i, entry in enumerate(raw)])

    @property
    def _llm_type(self) -> str:
        return "atende-scripted"

    @property
    def remaining(self) -> int:
        return len(self.script)

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """The same model: bound or not, every caller draws from one queue."""
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        if not self.script:
            raise ScriptExhausted(
                f"scripted model called {len(self.calls)} times but its script had only "
                f"{len(self.calls) - 1} items; last message: {_preview(messages)}"
            )
        item = self.script.popleft()
        message = item(list(messages)) if callable(item) else item
        if isinstance(message, str):
            message = AIMessage(content=message)
        if not isinstance(message, AIMessage):
            raise TypeError(f"script item produced {type(message).__name__}, not AIMessage")
        return ChatResult(generations=[ChatGeneration(message=_with_ids(message,
                                                                         len(self.calls)))])


def _with_ids(message: AIMessage, n: int) -> AIMessage:
    """Give every tool call an id (ToolNode pairs results by it)."""
    if all(c.get("id") for c in message.tool_calls):
        return message
    fixed = [{**c, "id": c.get("id") or f"scripted-{n}-{i}"}
             for i, c in enumerate(message.tool_calls)]
    return message.model_copy(update={"tool_calls": fixed})


def _preview(messages: list[BaseMessage]) -> str:
    if not messages:
        return "(none)"
    last = messages[-1]
    return f"{type(last).__name__}({str(last.content)[:80]!r})"


def _item(entry: Any, source: str, where: str) -> AIMessage:
    if isinstance(entry, str):
        return AIMessage(content=entry)
    if isinstance(entry, dict) and isinstance(entry.get("reply"), str):
        return AIMessage(content=entry["reply"])
    if isinstance(entry, dict) and isinstance(entry.get("tool"), str):
        return calls((entry["tool"], _args(entry, source, where)))
    if isinstance(entry, dict) and isinstance(entry.get("tools"), list):
        specs = []
        for j, sub in enumerate(entry["tools"]):
            if not isinstance(sub, dict) or not isinstance(sub.get("tool"), str):
                raise ConfigError("expected {tool: name, args: {...}}", source=source,
                                  field=f"{where}.tools[{j}]")
            specs.append((sub["tool"], _args(sub, source, f"{where}.tools[{j}]")))
        return calls(*specs)
    raise ConfigError(f"expected {{reply: ...}} or {{tool: ..., args: ...}}, got "
                      f"{json.dumps(entry, ensure_ascii=False, default=str)[:80]}",
                      source=source, field=where)


def _args(entry: dict[str, Any], source: str, where: str) -> dict[str, Any]:
    args = entry.get("args") or {}
    if not isinstance(args, dict):
        raise ConfigError("args must be a mapping", source=source, field=f"{where}.args")
    return args


class NullChatModel(BaseChatModel):
    """Answers every turn with `reply` and no tool calls: measures everything but the model."""

    reply: str = "Recebido! Em instantes retornamos."

    @property
    def _llm_type(self) -> str:
        return "atende-null"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        message = AIMessage(content=self.reply, usage_metadata={
            "input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
        return ChatResult(generations=[ChatGeneration(message=message)])
