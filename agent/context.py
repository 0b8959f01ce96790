"""The per-turn runtime context handed to the graph (`context_schema`), never checkpointed."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from atende.agent.transcribe import Transcriber
from atende.tools.scope import Scope


@dataclass(frozen=True)
class ModelChain:
    """The chat model of a turn and the one the turn falls back to when it fails."""

    name: str
    primary: BaseChatModel
    fallback: BaseChatModel | None = None
    fallback_name: str | None = None


@dataclass(frozen=True)
class TurnContext:
    scope: Scope
    models: ModelChain
    transcriber: Transcriber | None = None
