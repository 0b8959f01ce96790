"""The one chat-model factory: `openai:<model>`, `offline`, `scripted:<file>`, `null`."""

from __future__ import annotations

from datetime import datetime

import httpx

from atende.agent.context import ModelChain
from atende.errors import ConfigError
from atende.settings import Settings
from atende.tenant import Tenant

MODEL_SPECS = "offline | scripted:<file.yaml> | openai:<model> | null"


def load_chat_model(spec: str, *, tenant: Tenant, now: datetime, settings: Settings,
                    http_client: httpx.AsyncClient | None = None) -> ModelChain:
    """The model chain for one turn of `tenant`; OpenAI falls back to the offline policy."""
    from atende.agent.models.offline import OfflineChatModel

    kind, _, arg = spec.partition(":")
    if kind == "offline":
        return ModelChain("offline", OfflineChatModel(tenant=tenant, now=now))
    if kind == "scripted":
        from atende.agent.models.scripted import ScriptedChatModel

        if not arg:
            raise ConfigError("scripted needs a script file: scripted:<file.yaml>", field="model")
        return ModelChain(spec, ScriptedChatModel.from_file(arg))
    if kind == "null":
        from atende.agent.models.scripted import NullChatModel

        return ModelChain("null", NullChatModel())
    if kind == "openai":
        from atende.agent.models.openai import make_openai_model

        if not arg:
            raise ConfigError("openai needs a model name: openai:gpt-4o-mini", field="model")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        primary = make_openai_model(
            arg, api_key=key, base_url=settings.openai_base_url,
            temperature=tenant.model.temperature, max_retries=settings.model_max_retries,
            timeout=settings.model_timeout_seconds, http_async_client=http_client,
        )
        return ModelChain(spec, primary, fallback=OfflineChatModel(tenant=tenant, now=now),
                          fallback_name="offline")
    raise ConfigError(f"unknown model {spec!r}; use {MODEL_SPECS}", field="model")
