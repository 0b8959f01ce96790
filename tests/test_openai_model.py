"""The OpenAI chat model parses tool calls and usage, retries in the SDK, and fails in OPENAI_ERRORS."""

from __future__ import annotations

import json
from typing import Literal

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from vcr.request import Request
from vcr_config import block_network, make_vcr

from atende.agent.models.openai import OPENAI_ERRORS, make_openai_model
from atende.errors import ConfigError

ASK = "Oi, queria marcar uma limpeza para amanhã de manhã"
CHECK_ARGS = {"service": "limpeza", "date": "2025-06-12", "period": "morning"}


def check_availability(service: str, date: str, period: Literal["morning", "afternoon", "any"]) -> list[str]:
    """Horários livres para um serviço numa data.

    Args:
        service: nome do serviço, como o paciente disse.
        date: data ISO, AAAA-MM-DD.
        period: parte do dia.
    """
    return []


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "LANGSMITH_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    return block_network(monkeypatch)


def _tool_names(request: Request) -> set[str]:
    raw = request.body or b"{}"
    payload = json.loads(raw if isinstance(raw, str | bytes) else raw.read())
    return {tool["function"]["name"] for tool in payload.get("tools", [])}


def same_tools(live: Request, recorded: Request) -> None:
    """vcrpy matcher: the live request declares the tools the cassette was recorded with."""
    assert _tool_names(live) == _tool_names(recorded)


def replay(cassette: str):  # type: ignore[no-untyped-def]
    recorder = make_vcr()
    recorder.register_matcher("same_tools", same_tools)
    match_on = ("method", "scheme", "host", "port", "path", "query", "same_tools")
    return recorder.use_cassette(cassette, match_on=match_on)


async def test_tool_call_is_parsed_with_arguments_and_usage(offline: list[object]) -> None:
    model = make_openai_model("openai:gpt-4o-mini", api_key="test-key", base_url=None)
    prompt = [SystemMessage("Você é a recepcionista da Clínica Sorriso."), HumanMessage(ASK)]

    with replay("openai_chat_tool_call.yaml") as cassette:
        answer = await model.bind_tools([check_availability]).ainvoke(prompt)

    assert cassette.all_played
    assert offline == []
    assert isinstance(answer, AIMessage)
    assert answer.tool_calls == [
        {"name": "check_availability", "args": CHECK_ARGS, "id": "call_check0001", "type": "tool_call"}
    ]
    assert answer.response_metadata["finish_reason"] == "tool_calls"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_tokens"] == 182
    assert answer.usage_metadata["output_tokens"] == 27
    assert answer.usage_metadata["total_tokens"] == 209


async def test_plain_reply_after_a_tool_result(offline: list[object]) -> None:
    model = make_openai_model("gpt-4o-mini", api_key="test-key", base_url=None)
    call = {"name": "check_availability", "args": CHECK_ARGS, "id": "call_check0001"}
    history = [
        HumanMessage(ASK),
        AIMessage("", tool_calls=[call]),
        ToolMessage('["09:00", "10:30"]', tool_call_id="call_check0001"),
    ]

    with replay("openai_chat_text_reply.yaml") as cassette:
        answer = await model.ainvoke(history)

    assert cassette.all_played
    assert isinstance(answer, AIMessage)
    assert answer.content == "Tenho amanhã às 9h ou às 10h30 para a limpeza. Qual horário prefere?"
    assert answer.tool_calls == []
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["total_tokens"] == 252


def _completion(text: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 1749650400,
        "model": "qwen2.5-7b-instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


class Server:
    """An OpenAI-compatible endpoint scripted with one response per attempt."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses[len(self.requests) - 1]


def _error(status: int, **headers: str) -> httpx.Response:
    body = {"error": {"message": "upstream failed", "type": "server_error", "code": None}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's waits between retries, recorded instead of slept."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("openai._base_client.anyio.sleep", fake_sleep)
    return slept


async def test_base_url_points_the_model_at_a_compatible_server() -> None:
    server = Server(httpx.Response(200, json=_completion("Olá!")))
    model = make_openai_model(
        "qwen2.5-7b-instruct",
        api_key="local",
        base_url="http://llm.internal:8000/v1",
        http_async_client=server.client,
    )

    answer = await model.ainvoke([HumanMessage("oi")])

    assert answer.content == "Olá!"
    (request,) = server.requests
    assert str(request.url) == "http://llm.internal:8000/v1/chat/completions"
    assert json.loads(request.content)["model"] == "qwen2.5-7b-instruct"
    await server.client.aclose()


async def test_two_server_errors_with_one_retry_raise_a_provider_error(
    sleeps: list[float],
) -> None:
    server = Server(_error(500), _error(500))
    model = make_openai_model(
        "gpt-4o-mini", api_key="test-key", base_url=None, max_retries=1,
        http_async_client=server.client,
    )  # fmt: skip

    with pytest.raises(OPENAI_ERRORS):
        await model.ainvoke([HumanMessage(ASK)])

    assert len(server.requests) == 2
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5  # first backoff step, with jitter
    await server.client.aclose()


async def test_rate_limit_is_retried_after_the_servers_retry_after(sleeps: list[float]) -> None:
    server = Server(_error(429, **{"retry-after": "2"}), httpx.Response(200, json=_completion("ok")))
    model = make_openai_model(
        "gpt-4o-mini", api_key="test-key", base_url=None, http_async_client=server.client
    )

    answer = await model.ainvoke([HumanMessage(ASK)])

    assert answer.content == "ok"
    assert len(server.requests) == 2
    assert sleeps == [2.0]
    await server.client.aclose()


async def test_connection_errors_are_retried_then_raised(sleeps: list[float]) -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    model = make_openai_model(
        "gpt-4o-mini", api_key="test-key", base_url=None, max_retries=2, http_async_client=client
    )

    with pytest.raises(OPENAI_ERRORS):
        await model.ainvoke([HumanMessage(ASK)])

    assert len(attempts) == 3
    assert len(sleeps) == 2
    await client.aclose()


def test_missing_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "LANGSMITH_GATEWAY"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError):
        make_openai_model("gpt-4o-mini", api_key=None, base_url=None)
