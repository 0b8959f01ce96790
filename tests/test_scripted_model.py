"""The scripted chat model tests use to drive the real graph, and the null model."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from atende.agent.models.scripted import (
    NullChatModel,
    ScriptedChatModel,
    ScriptExhausted,
    call,
    calls,
)
from atende.errors import ConfigError

PROMPT = [SystemMessage(content="prompt"), HumanMessage(content="oi")]


def test_items_come_out_in_order_and_prompts_are_recorded():
    seen = []

    def echo(messages):
        seen.append(messages[-1].content)
        return AIMessage(content=f"você disse {messages[-1].content}")

    model = ScriptedChatModel(["Olá!", call("list_services", query="limpeza"), echo])
    assert model.invoke(PROMPT).content == "Olá!"
    tool = model.invoke(PROMPT)
    assert [(c["name"], c["args"]) for c in tool.tool_calls] == [
        ("list_services", {"query": "limpeza"})]
    assert model.invoke([HumanMessage(content="tchau")]).content == "você disse tchau"
    assert seen == ["tchau"]
    assert [[m.content for m in prompt] for prompt in model.calls] == [
        ["prompt", "oi"], ["prompt", "oi"], ["tchau"]]
    assert model.remaining == 0


def test_exhausted_script_says_so():
    model = ScriptedChatModel(["só uma"])
    model.invoke(PROMPT)
    with pytest.raises(ScriptExhausted, match="called 2 times but its script had only 1"):
        model.invoke(PROMPT)


def test_bound_model_shares_the_queue():
    model = ScriptedChatModel(["um", "dois"])
    bound = model.bind_tools([])
    assert bound.invoke(PROMPT).content == "um"
    assert model.invoke(PROMPT).content == "dois"
    assert len(model.calls) == 2


async def test_async_invoke():
    model = ScriptedChatModel(["assíncrono"])
    assert (await model.bind_tools([]).ainvoke(PROMPT)).content == "assíncrono"


def test_tool_calls_get_distinct_ids():
    first, second = call("list_promotions"), call("list_promotions")
    assert first.tool_calls[0]["id"] != second.tool_calls[0]["id"]
    both = calls(("update_lead", {"name": "Maria"}), ("list_services", {}))
    assert [c["name"] for c in both.tool_calls] == ["update_lead", "list_services"]
    bare = AIMessage(content="", tool_calls=[{"name": "list_services", "args": {}, "id": None}])
    out = ScriptedChatModel([bare]).invoke(PROMPT)
    assert out.tool_calls[0]["id"]


def test_from_yaml_file(tmp_path):
    path = tmp_path / "script.yaml"
    path.write_text(
        "- tool: check_availability\n"
        "  args: {service: limpeza, when: amanhã}\n"
        "- tools:\n"
        "  - {tool: update_lead, args: {name: Ana}}\n"
        "  - {tool: list_promotions}\n"
        "- reply: Temos horário às 9h.\n",
        encoding="utf-8",
    )
    model = ScriptedChatModel.from_file(path)
    first = model.invoke(PROMPT)
    assert first.tool_calls[0]["args"] == {"service": "limpeza", "when": "amanhã"}
    assert [c["name"] for c in model.invoke(PROMPT).tool_calls] == [
        "update_lead", "list_promotions"]
    assert model.invoke(PROMPT).content == "Temos horário às 9h."


def test_from_json_file(tmp_path):
    path = tmp_path / "script.json"
    path.write_text(json.dumps([{"tool": "list_my_appointments"}, {"reply": "Nenhuma."}]),
                    encoding="utf-8")
    model = ScriptedChatModel.from_file(path)
    assert model.invoke(PROMPT).tool_calls[0]["name"] == "list_my_appointments"
    assert model.invoke(PROMPT).content == "Nenhuma."


@pytest.mark.parametrize("text, field", [
    ("reply: not a list\n", None),
    ("- {tool: list_services, args: [1, 2]}\n", "[0].args"),
    ("- {reply: ok}\n- {say: oops}\n", "[1]"),
    ("- [unclosed\n", None),
])
def test_bad_script_file_names_file_and_item(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        ScriptedChatModel.from_file(path)
    assert str(path) in str(error.value)
    if field:
        assert error.value.field == field


def test_missing_script_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ScriptedChatModel.from_file(tmp_path / "nope.yaml")


def test_null_model_always_answers_the_same_without_tools():
    model = NullChatModel().bind_tools([])
    first, second = model.invoke(PROMPT), model.invoke(PROMPT)
    assert first.content == second.content and first.content
    assert not first.tool_calls
