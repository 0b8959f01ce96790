"""The turn graph end to end with scripted models: tool loop, guard, fallback, audio, limits."""

from __future__ import annotations

import httpx
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

from atende.agent.context import ModelChain
from atende.agent.graph import MAX_MODEL_CALLS
from atende.agent.guard import SAFE_REPLY
from atende.agent.models.offline import OfflineChatModel
from atende.agent.models.openai import make_openai_model
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.agent.state import AudioInput
from atende.agent.transcribe import FakeTranscriber
from atende.agent.turn import APOLOGY
from atende.errors import TranscriptionFailed
from helpers import ANA, SwitchableModel, atende_on, example_tenant, say


def chain(model, name="scripted", fallback=None):
    return SwitchableModel(ModelChain(name, model, fallback=fallback,
                                      fallback_name="offline" if fallback else None))


async def test_tool_call_then_tool_result_then_reply(tmp_path):
    model = ScriptedChatModel([call("list_services", query="limpeza"),
                               "A limpeza custa R$ 180,00."])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "Quanto custa a limpeza?")
        messages = await app.store.list_messages(
            (await app.store.get_or_create_conversation("clinica-exemplo", ANA, "console")).id)
    assert result.reply == "A limpeza custa R$ 180,00."
    assert [(c.name, c.ok) for c in result.tool_calls] == [("list_services", True)]
    first, second = model.calls
    assert isinstance(first[0], SystemMessage) and "Clínica Sorriso Exemplo" in first[0].content
    assert "terça-feira, 10/03/2026 08:00" in first[0].content
    assert isinstance(first[-1], HumanMessage) and first[-1].content == "Quanto custa a limpeza?"
    assert isinstance(second[-1], ToolMessage) and "R$ 180,00" in second[-1].content
    assert [(m.direction, m.text) for m in messages] == [
        ("in", "Quanto custa a limpeza?"), ("out", "A limpeza custa R$ 180,00.")]


async def test_history_carries_over_between_turns(tmp_path):
    model = ScriptedChatModel(["Olá! Como posso ajudar?", "Claro."])
    async with atende_on(tmp_path, model=chain(model)) as app:
        await say(app, "Oi")
        await say(app, "Quero marcar")
    seen = [m.content for m in model.calls[1][1:]]
    assert seen == ["Oi", "Olá! Como posso ajudar?", "Quero marcar"]


async def test_guard_sends_a_false_claim_back_once(tmp_path):
    model = ScriptedChatModel(["Pronto, sua limpeza está agendada para amanhã às 9h!",
                               "Posso verificar os horários de amanhã para você?"])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "marca pra mim amanhã 9h")
        assert await app.store.list_appointments("clinica-exemplo") == []
    assert result.reply == "Posso verificar os horários de amanhã para você?"
    assert "ATENÇÃO" in model.calls[1][0].content
    assert all("agendada" not in str(m.content) for m in model.calls[1][1:])


async def test_guard_replaces_a_repeated_false_claim(tmp_path):
    model = ScriptedChatModel(["Agendado!", "Cancelei sua consulta, está agendado de novo."])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "marca aí")
    assert result.reply == SAFE_REPLY


async def test_a_claim_backed_by_this_turns_booking_passes(tmp_path):
    model = ScriptedChatModel([
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-11T09:00"),
        "Pronto! Sua limpeza ficou agendada para qua 11/03 às 09:00 com a Dra. Ana Souza."])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "pode ser quarta às 9h")
    assert result.reply.startswith("Pronto! Sua limpeza ficou agendada")
    assert result.tool_calls[0].ok


def _failing_openai(attempts: list[int]):
    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return make_openai_model("gpt-4o-mini", api_key="sk-test", base_url="http://llm.invalid/v1",
                             max_retries=1, http_async_client=client)


async def test_openai_failure_falls_back_to_offline(tmp_path):
    attempts: list[int] = []
    tenant = example_tenant()
    from helpers import TUESDAY_NOW

    offline = OfflineChatModel(tenant=tenant, now=TUESDAY_NOW)
    async with atende_on(tmp_path, model=chain(_failing_openai(attempts), "openai:gpt-4o-mini",
                                               fallback=offline)) as app:
        result = await say(app, "Quanto custa a limpeza?")
    assert len(attempts) == 2  # one try and one retry
    assert result.model == "offline"
    assert "R$ 180,00" in result.reply


async def test_openai_failure_without_fallback_apologises(tmp_path):
    async with atende_on(tmp_path, model=chain(_failing_openai([]), "openai:gpt-4o-mini")) as app:
        result = await say(app, "Oi")
    assert result.reply == APOLOGY and result.error == "model_unavailable"


async def test_voice_note_reaches_the_model_as_text(tmp_path):
    model = ScriptedChatModel(["Entendi, vou ver os horários."])
    transcriber = FakeTranscriber("Oi, queria marcar uma limpeza amanhã de manhã")
    async with atende_on(tmp_path, model=chain(model), transcriber=transcriber) as app:
        result = await say(app, None, audio=[AudioInput(data=b"OggS fake")])
    assert result.reply == "Entendi, vou ver os horários."
    assert model.calls[0][-1].content == "[áudio] Oi, queria marcar uma limpeza amanhã de manhã"


class _BrokenTranscriber:
    async def transcribe(self, audio, *, filename, mime_type):
        raise TranscriptionFailed("provider down")


async def test_unreadable_voice_note_gets_a_polite_reply(tmp_path):
    model = ScriptedChatModel([])
    async with atende_on(tmp_path, model=chain(model), transcriber=_BrokenTranscriber()) as app:
        result = await say(app, None, audio=[AudioInput(data=b"x")])
    assert "áudio" in result.reply and "escrito" in result.reply
    assert model.calls == []


async def test_the_tool_loop_is_bounded(tmp_path):
    model = ScriptedChatModel([call("list_promotions") for _ in range(10)])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "promoções?")
    assert len(result.tool_calls) == MAX_MODEL_CALLS - 1
    assert result.reply and "equipe" in result.reply


async def test_history_sent_to_the_model_stays_within_the_token_budget(tmp_path):
    from atende.agent.tokens import count_messages

    model = ScriptedChatModel([f"Resposta {i}: " + "ok " * 150 for i in range(40)])
    async with atende_on(tmp_path, model=chain(model)) as app:
        for i in range(40):
            await say(app, f"Mensagem {i}: " + "bla " * 150)
    budget = example_tenant().model.max_history_tokens
    last = model.calls[-1]
    assert count_messages(last[1:]) <= budget
    assert last[-1].content.startswith("Mensagem 39")
    assert isinstance(last[1], HumanMessage)
