"""`Atende`: the long-lived parts of a deployment (store, checkpointer, compiled graph, models),
opened once by an entry point and shared by every `run_turn`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from atende.agent.context import ModelChain, TurnContext
from atende.agent.graph import build_graph
from atende.agent.models.factory import load_chat_model
from atende.agent.transcribe import Transcriber
from atende.clock import Clock, SystemClock
from atende.memory import open_store
from atende.memory.checkpoint import open_checkpointer, share_loads
from atende.memory.store import Store
from atende.settings import Settings
from atende.tenant import Tenant
from atende.tools.calendars import CalendarBackend, local_calendars

ModelFactory = Callable[[Tenant, datetime], ModelChain]
# builds each turn's context from (scope=, models=, transcriber=); replay adds its recorded tools
ContextFactory = Callable[..., TurnContext]


@dataclass
class Atende:
    store: Store
    checkpointer: BaseCheckpointSaver
    graph: CompiledStateGraph[Any, Any, Any, Any]
    models: ModelFactory
    transcriber: Transcriber | None = None
    clock: Clock = field(default_factory=SystemClock)
    context: ContextFactory = TurnContext
    # the clinic's calendar backend for a turn (`tools/calendars.py`); the server sets Google's
    calendars: Callable[[Tenant], CalendarBackend] = local_calendars
    # turns per thread since its checkpoints were last pruned (`agent/turn.py` `_prune`)
    unpruned: dict[str, int] = field(default_factory=dict)


def model_factory(spec: str, settings: Settings) -> ModelFactory:
    """Build each turn's model chain from one spec (the tenant's own `model.name` wins)."""

    def make(tenant: Tenant, now: datetime) -> ModelChain:
        return load_chat_model(tenant.model.name or spec, tenant=tenant, now=now,
                               settings=settings)

    return make


def default_transcriber(settings: Settings) -> Transcriber | None:
    if not settings.has_openai_key or settings.openai_api_key is None:
        return None
    from atende.agent.transcribe import WhisperTranscriber

    return WhisperTranscriber(settings.openai_api_key.get_secret_value(),
                              model=settings.transcription_model,
                              base_url=settings.openai_base_url)


@asynccontextmanager
async def open_atende(
    settings: Settings,
    *,
    model: str | ModelFactory | None = None,
    clock: Clock | None = None,
    transcriber: Transcriber | None = None,
) -> AsyncIterator[Atende]:
    """Open the store and checkpointer on `settings.database_url` and compile the graph."""
    clock = clock or SystemClock()
    store = open_store(settings.database_url, clock=clock,  # rows stamped by the app's clock
                       pool_size=settings.postgres_pool_size)
    await store.setup()
    try:
        async with open_checkpointer(settings.database_url,
                                     pool_size=settings.postgres_checkpoint_pool_size) as saver:
            models = model if callable(model) else model_factory(
                model or settings.default_model(), settings)
            yield Atende(
                store=store,
                checkpointer=saver,
                graph=build_graph(share_loads(saver)),
                models=models,
                transcriber=transcriber or default_transcriber(settings),
                clock=clock,
            )
    finally:
        await store.close()
