"""The write guard: a model that books another day or professional than the patient asked, or
books a second appointment when asked to move one, is stopped before the tool runs, reads why,
and gets one retry (scripted models on the real graph, tools and SQLite store)."""

from __future__ import annotations

import re
from datetime import date, datetime

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.agent.write_guard import ASK_REPLY, asked, check_write, moving
from helpers import SwitchableModel, atende_on, example_tenant, say

TENANT = example_tenant()
NOW = datetime.fromisoformat("2026-03-10T08:00-03:00")


def chain(model: ScriptedChatModel) -> SwitchableModel:
    return SwitchableModel(ModelChain("scripted", model))


async def active(app) -> list[tuple[str, str]]:
    rows = await app.store.list_appointments("clinica-exemplo")
    return sorted((a.professional_id, a.start.astimezone(TENANT.tz).strftime("%d/%m %H:%M"))
                  for a in rows if a.status == "booked")


async def test_a_booking_with_another_day_and_professional_is_stopped_and_retried(tmp_path):
    model = ScriptedChatModel([
        # wrong: Wednesday with Dra. Ana, asked Thursday morning with Dra. Carla
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-11T09:00"),
        call("book_appointment", slot_id="carla-mendes|limpeza|2026-03-12T10:00"),
        "Pronto! Sua limpeza ficou agendada para qui 12/03 às 10:00 com a Dra. Carla Mendes.",
    ])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "quero marcar uma limpeza quinta de manhã com a Dra. Carla")
        booked = await active(app)
    assert booked == [("carla-mendes", "12/03 10:00")]
    refused = model.calls[1][-1]
    assert isinstance(refused, ToolMessage) and refused.artifact["ok"] is False
    assert "Dra. Carla Mendes, não Dra. Ana Souza" in refused.content
    assert "dia 12/03, não 11/03" in refused.content
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("book_appointment", False), ("book_appointment", True)]
    assert result.reply.startswith("Pronto! Sua limpeza ficou agendada")


async def test_a_second_refusal_asks_the_patient_and_books_nothing(tmp_path):
    model = ScriptedChatModel([
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-11T09:00"),
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-11T14:00"),
    ])
    async with atende_on(tmp_path, model=chain(model)) as app:
        result = await say(app, "quero marcar uma limpeza na sexta com a Dra. Ana")
        assert await active(app) == []
    assert result.reply == ASK_REPLY
    assert model.remaining == 0


def _appointment_id(messages: list[BaseMessage]) -> AIMessage:
    """The retry a model makes after reading the guard: the move, with the id it was given."""
    reason = str(messages[-1].content)
    found = re.search(r"id ([0-9a-f-]{8,})", reason)
    assert found and "reschedule_appointment" in reason, reason
    return call("reschedule_appointment", appointment_id=found.group(1),
                slot_id="ana-souza|limpeza|2026-03-13T08:00")


async def test_booking_a_second_appointment_when_asked_to_move_one_is_stopped(tmp_path):
    model = ScriptedChatModel([
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-12T10:00"),
        "Pronto! Sua limpeza ficou agendada para qui 12/03 às 10:00.",
        # asked to move it, the model books another limpeza on Friday
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-13T08:00"),
        _appointment_id,
        "Pronto, remarcada para sex 13/03 às 08:00.",
    ])
    async with atende_on(tmp_path, model=chain(model)) as app:
        await say(app, "quero marcar uma limpeza quinta às 10h")
        result = await say(app, "não vou conseguir quinta, passa minha limpeza pra sexta cedo")
        booked = await active(app)
    assert booked == [("ana-souza", "13/03 08:00")]
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("book_appointment", False), ("reschedule_appointment", True)]


async def test_another_appointment_for_someone_else_may_be_booked(tmp_path):
    model = ScriptedChatModel([
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-12T10:00"),
        "Pronto! Agendada para qui 12/03 às 10:00.",
        call("book_appointment", slot_id="ana-souza|limpeza|2026-03-13T08:00"),
        "Pronto! Agendada para sex 13/03 às 08:00.",
    ])
    async with atende_on(tmp_path, model=chain(model)) as app:
        await say(app, "quero marcar uma limpeza quinta às 10h")
        await say(app, "e remarca... não, quero outra consulta, pra minha filha, sexta às 8h")
        assert await active(app) == [("ana-souza", "12/03 10:00"), ("ana-souza", "13/03 08:00")]


def _offer(slot_id: str) -> list[BaseMessage]:
    return [AIMessage(content="", tool_calls=[{"name": "check_availability", "args": {},
                                               "id": "c1", "type": "tool_call"}]),
            ToolMessage(content="{}", tool_call_id="c1", name="check_availability",
                        artifact={"ok": True, "slots": [{"slot_id": slot_id}]})]


def test_an_offered_time_the_patient_then_took_stands_for_the_earlier_request():
    wednesday = "ana-souza|limpeza|2026-03-18T09:00"
    book = {"name": "book_appointment", "args": {"slot_id": wednesday}}
    asked_tuesday = HumanMessage(content="limpeza dia 17/03 com a Dra. Ana")
    # the same turn: the patient never saw Wednesday
    assert check_write(book, [asked_tuesday, *_offer(wednesday)], TENANT, NOW, [])
    # offered ("17/03 está lotado; 18/03 às 9h?") and taken: the patient chose it
    taken = [asked_tuesday, *_offer(wednesday), AIMessage(content="18/03 às 9h?"),
             HumanMessage(content="pode ser")]
    assert check_write(book, taken, TENANT, NOW, []) is None
    # but what the answer itself says still holds
    other = [*taken[:-1], HumanMessage(content="pode ser, mas com a Dra. Carla")]
    assert "Dra. Carla" in (check_write(book, other, TENANT, NOW, []) or "")


def test_what_was_asked_is_the_latest_statement_of_each_part():
    today = NOW.date()
    wanted = asked(["limpeza quinta de manhã com a Dra. Ana", "melhor à tarde",
                    "com a Dra. Carla"], TENANT, today)
    assert wanted.days == (date(2026, 3, 12),) * 2
    assert (wanted.period, wanted.professional.id, wanted.service.id) == (
        "tarde", "carla-mendes", "limpeza")
    # "minha consulta" names no service, even where "consulta" is a synonym of one
    assert asked(["quero remarcar minha consulta"], TENANT, today).service is None


def test_moving_is_read_in_the_usual_words():
    today = NOW.date()
    for text in ("quero remarcar", "dá pra mudar o horário?", "passa minha limpeza pra sexta",
                 "pode trocar pra semana que vem?", "preciso adiar a consulta"):
        assert moving(text, today), text
    for text in ("me passa o endereço pra eu ir", "quero marcar pra sexta", "troca de escova?"):
        assert not moving(text, today), text


def test_a_time_window_the_patient_gave_holds():
    evening = "ana-souza|limpeza|2026-03-11T17:30"
    morning = "ana-souza|limpeza|2026-03-11T08:00"
    for words, fits, misses in (("limpeza amanhã depois das 17h", evening, morning),
                                ("limpeza amanhã cedinho", morning, evening),
                                ("limpeza amanhã depois do almoço", evening, morning)):
        said = HumanMessage(content=words)
        assert check_write({"name": "book_appointment", "args": {"slot_id": fits}},
                           [said], TENANT, NOW, []) is None
        refused = check_write({"name": "book_appointment", "args": {"slot_id": misses}},
                              [said], TENANT, NOW, [])
        assert refused and "o paciente pediu" in refused and ("a partir" in refused
                                                             or "antes das" in refused)


def test_moving_ones_own_appointment_to_another_time():
    today = NOW.date()
    assert moving("tem como trocar meu pilates de quarta pras 17h?", today)
    assert moving("passa minha limpeza para as 10h", today)
    # a time alone, without naming one's own appointment, is not a move (choosing among options)
    assert not moving("pode trocar pras 17h?", today)
