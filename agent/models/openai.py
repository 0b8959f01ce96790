"""The OpenAI (or OpenAI-compatible) chat model factory and the errors that mean "provider failed".

Retries live in the openai SDK, not here. `ChatOpenAI(max_retries=n)` hands `n` to
`openai.AsyncOpenAI`, whose request loop (`openai/_base_client.py`, `AsyncAPIClient.request`)
retries connection errors and timeouts, and responses with status 408, 409, 429 or >= 500
(or `x-should-retry: true`). It waits `Retry-After` / `retry-after-ms` when the server sends
one (up to 120 s; a longer Retry-After is not retried), else exponential backoff
0.5 s * 2**attempt capped at 8 s with up to 25 % jitter. That covers 429/5xx/connection
errors, so there is no tenacity layer on top: it would multiply attempts.
"""

from __future__ import annotations

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from atende.errors import ConfigError

OPENAI_BASE_URL = "https://api.openai.com/v1"

try:  # openai>=3 talks HTTP through httpx2, an API-identical fork of httpx.
    import httpx2

    _HTTPX2_ERRORS: tuple[type[BaseException], ...] = (httpx2.HTTPError,)
except ImportError:  # pragma: no cover - openai<3
    _HTTPX2_ERRORS = ()

# What the caller's fallback (retry elsewhere, apologise, hand off) should catch. The SDK
# wraps transport failures in APIConnectionError/APITimeoutError and status errors in
# APIStatusError subclasses; langchain-openai re-raises them as subclasses that are still
# openai.APIError. The raw httpx errors and TimeoutError (langchain-openai's
# StreamChunkTimeoutError) cover what escapes that wrapping, e.g. while streaming.
OPENAI_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIError,
    httpx.HTTPError,
    *_HTTPX2_ERRORS,
    TimeoutError,
)


def make_openai_model(
    model_name: str,
    *,
    api_key: str | None,
    base_url: str | None,
    temperature: float = 0.2,
    max_retries: int = 2,
    timeout: float = 30.0,
    http_async_client: httpx.AsyncClient | None = None,
) -> BaseChatModel:
    """A `ChatOpenAI` for `model_name` ("gpt-4o-mini" or atende's "openai:gpt-4o-mini").

    `base_url` points it at any OpenAI-compatible server (vLLM, Ollama, a gateway); None
    means OpenAI itself, pinned here so OPENAI_API_BASE or LANGSMITH_GATEWAY in the
    environment cannot reroute traffic behind the settings' back.
    `api_key=None` falls back to the OPENAI_API_KEY environment variable; if that is unset
    too, ConfigError. `max_retries` and `timeout` (seconds, per attempt) go to the openai
    SDK, which does the retrying. `http_async_client` replaces the SDK's HTTP client (tests
    pass one with `httpx.MockTransport`); the app lifespan owns and closes it.
    """
    base_url = base_url or OPENAI_BASE_URL
    kwargs: dict[str, object] = {
        "model": model_name.removeprefix("openai:"),
        "base_url": base_url,
        # OpenAI reports usage on streams; many compatible servers reject the option.
        "stream_usage": base_url == OPENAI_BASE_URL,
        "temperature": temperature,
        "max_retries": max_retries,
        "timeout": timeout,
    }
    if api_key is not None:
        kwargs["api_key"] = api_key
    if http_async_client is not None:
        kwargs["http_async_client"] = http_async_client
    try:
        return ChatOpenAI(**kwargs)  # type: ignore[arg-type]
    except openai.OpenAIError as exc:  # raised at construction when no key is found
        raise ConfigError(str(exc), source="settings", field="OPENAI_API_KEY") from exc
