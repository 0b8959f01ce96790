"""Token counting works offline from the bundled tiktoken files; trimming keeps valid windows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken.registry
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from vcr_config import block_network

from atende.agent import tokens
from atende.agent.tokens import (
    BUNDLED_CACHE_DIR,
    count_messages,
    count_text,
    encoding_for,
    trim_to_budget,
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """No network, no encoding loaded yet in this process, no cache dir chosen by anyone."""
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokens._encoding.cache_clear()
    encoding_for.cache_clear()
    yield block_network(monkeypatch)
    tokens._encoding.cache_clear()
    encoding_for.cache_clear()


@pytest.mark.parametrize(
    ("model", "encoding", "hello_world"),
    [
        ("gpt-3.5-turbo", "cl100k_base", [15339, 1917]),
        ("openai:gpt-4o-mini", "o200k_base", [24912, 2375]),
    ],
)
def test_encodings_load_from_bundled_files_with_network_blocked(
    offline: list[object], model: str, encoding: str, hello_world: list[int]
) -> None:
    enc = encoding_for(model)

    assert enc.name == encoding
    assert enc.encode("hello world") == hello_world
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(BUNDLED_CACHE_DIR)
    assert offline == []  # nothing even tried the network


def test_a_cache_dir_set_by_the_operator_is_respected(
    offline: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))

    # The operator's (empty) folder is used, so tiktoken tries to download and is refused.
    with pytest.raises(OSError):
        count_text("oi")

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path)
    assert offline


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-mini", "openai:gpt-4.1-mini", "gpt-5", "gpt-5-mini", "o1", "o3-mini",
     "o4-mini", "chatgpt-4o-latest", "ft:gpt-4o-mini-2024-07-18:clinic::abc123"],
)  # fmt: skip
def test_recent_openai_models_use_o200k(model: str) -> None:
    assert encoding_for(model).name == "o200k_base"


@pytest.mark.parametrize(
    "model", [None, "", "gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "llama3.1:8b", "offline"]
)
def test_older_or_unknown_models_use_cl100k(model: str | None) -> None:
    assert encoding_for(model).name == "cl100k_base"


def test_special_token_text_from_a_patient_is_counted_not_rejected() -> None:
    # tiktoken's encode() raises on "<|endoftext|>" by default; a WhatsApp message must not.
    assert count_text("<|endoftext|> quero marcar") > 3


def test_message_count_follows_openai_chat_accounting() -> None:
    text = "Oi, queria marcar uma limpeza para amanhã de manhã"
    expected = 3 + count_text("user") + count_text(text) + 3  # framing, role, content, priming

    assert count_messages([HumanMessage(text)]) == expected
    assert count_messages([]) == 0


def test_tool_call_names_and_arguments_are_counted() -> None:
    args = {"service": "limpeza", "date": "2026-03-10", "period": "morning"}
    plain = AIMessage("")
    calling = AIMessage("", tool_calls=[{"name": "check_availability", "args": args, "id": "call_1"}])

    extra = count_messages([calling]) - count_messages([plain])

    assert extra == 3 + count_text("check_availability") + count_text(json.dumps(args))


def _booking_history() -> list[BaseMessage]:
    """Two turns; the second calls a tool. Long texts so budgets can fall between messages."""
    return [
        SystemMessage("Você é a recepcionista da Clínica Sorriso. " * 5),
        HumanMessage("Bom dia! Vocês atendem convênio? " * 4),
        AIMessage("Atendemos Amil e Bradesco Saúde. " * 4),
        HumanMessage("Queria marcar uma limpeza para amanhã de manhã"),
        AIMessage(
            "",
            tool_calls=[
                {
                    "name": "check_availability",
                    "args": {"service": "limpeza", "date": "2026-03-10", "period": "morning"},
                    "id": "call_1",
                }
            ],
        ),
        ToolMessage('["09:00", "10:30", "11:00"] ' * 6, tool_call_id="call_1"),
        AIMessage("Tenho 9h, 10h30 ou 11h. Qual prefere?"),
        HumanMessage("9h"),
        AIMessage(
            "",
            tool_calls=[{"name": "book_appointment", "args": {"slot": "2026-03-10T09:00"}, "id": "call_2"}],
        ),
        ToolMessage('{"status": "confirmed", "id": 42} ' * 6, tool_call_id="call_2"),
    ]


def _assert_valid_window(window: list[BaseMessage], history: list[BaseMessage]) -> None:
    assert window[0] is history[0], "the system prompt is kept"
    body = window[1:]
    assert isinstance(body[0], HumanMessage), "the window starts on the patient's message"
    assert body == history[len(history) - len(body) :], "the window is the newest suffix"
    last_human = max(i for i, m in enumerate(history) if isinstance(m, HumanMessage))
    assert history[last_human] in body, "the patient's latest message is never dropped"
    called = {c["id"] for m in body if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in body if isinstance(m, ToolMessage)}
    assert answered <= called and called <= answered, "tool calls travel with their results"


def test_every_budget_gives_the_largest_valid_window() -> None:
    history = _booking_history()
    total = count_messages(history)
    human_starts = [i for i, m in enumerate(history) if isinstance(m, HumanMessage)]

    for budget in range(0, total + 10):
        window = trim_to_budget(history, budget)

        _assert_valid_window(window, history)
        start = len(history) - (len(window) - 1)
        if count_messages(window) > budget:
            assert start == human_starts[-1], "only the last turn may exceed the budget"
        earlier = [i for i in human_starts if i < start]
        if earlier:
            wider = [history[0], *history[earlier[-1] :]]
            assert count_messages(wider) > budget, f"budget {budget}: a wider window fits"


def test_everything_is_kept_when_it_fits() -> None:
    history = _booking_history()
    assert trim_to_budget(history, count_messages(history)) == history


def test_a_huge_last_message_is_kept_even_over_budget() -> None:
    history = [HumanMessage("oi"), AIMessage("Olá!"), HumanMessage("áudio transcrito " * 500)]

    assert trim_to_budget(history, 50) == [history[-1]]


def test_a_tool_exchange_is_not_cut_when_the_turn_is_still_open() -> None:
    # Mid-turn: the model is about to read the tool result; the window must include the call.
    history = _booking_history()[:6]
    window = trim_to_budget(history, count_messages([history[0], *history[3:]]))

    assert window == [history[0], *history[3:]]
    assert not isinstance(window[1], ToolMessage | AIMessage)


def test_history_without_a_patient_message_is_left_whole() -> None:
    history = [SystemMessage("s"), AIMessage("Olá! Posso ajudar?")]
    assert trim_to_budget(history, 1) == history
