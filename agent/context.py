"""The per-turn runtime context handed to the graph (`context_schema`), never checkpointed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.language_models import BaseChatModel

from atende.agent.transcribe import Transcriber
from atende.memory.records import Patient
from atende.tenant import Tenant
from atende.tools.scope import Scope

# (tenant, patient, upcoming appointments, now) -> (system prompt, version)
PromptRenderer = Callable[[Tenant, Patient, list[dict[str, Any]], datetime], tuple[str, str]]


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
    # renders the system prompt instead of the tenant's templates (replay --prompt-dir)
    system_prompt: PromptRenderer | None = None
