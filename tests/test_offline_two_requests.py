"""The offline model answers everything a message asks, and says plainly what the clinic
doesn't do or doesn't know (issue 14): real graph, tools and SQLite."""

from __future__ import annotations

from helpers import atende_on, say


async def test_two_prices_in_one_question(tmp_path):
    async with atende_on(tmp_path) as app:
        turn = await say(app, "qnto ta a extracao e a restauracao?")
    assert [c.name for c in turn.tool_calls] == ["list_services", "list_services"]
    assert "Extração" in turn.reply and "Restauração" in turn.reply
    assert turn.reply.count("Quer agendar") == 1


async def test_a_booking_and_a_question_come_back_in_one_reply(tmp_path):
    async with atende_on(tmp_path) as app:
        turn = await say(app, "quero marcar limpeza quinta 14h. aceita pix?")
        assert [c.name for c in turn.tool_calls] == ["check_availability"]
        assert "Pix" in turn.reply and "Horários disponíveis para Limpeza" in turn.reply
        parking = await say(app, "e onde estaciono?")
    assert "conveniado" in parking.reply and not parking.tool_calls


async def test_a_service_the_clinic_does_not_do_is_a_straight_no(tmp_path):
    async with atende_on(tmp_path) as app:
        turn = await say(app, "voces fazem harmonizacao facial?")
    assert turn.reply.startswith("Não fazemos harmonizacao") and "Limpeza" in turn.reply
    assert "não entendi" not in turn.reply and not turn.tool_calls


async def test_a_practical_question_the_notes_dont_answer_offers_a_person(tmp_path):
    async with atende_on(tmp_path) as app:
        turn = await say(app, "tem wifi pra usar na sala de espera?")
        assert "Não tenho essa informação" in turn.reply
        handoff = await say(app, "sim")
    assert [c.name for c in handoff.tool_calls] == ["request_human"]


async def test_a_day_set_by_another_of_my_appointments(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "quero marcar limpeza sexta as 9h")
        await say(app, "1")
        turn = await say(app, "e uma avaliacao no mesmo dia da minha limpeza, logo depois")
    names = [c.name for c in turn.tool_calls]
    assert names == ["list_my_appointments", "check_availability"]
    first = turn.tool_calls[1].result["slots"][0]
    assert "2026-03-13T09:45" <= first["start"] < "2026-03-14"  # the limpeza ends at 09:45
    assert "Sua consulta de Limpeza é sex 13/03 às 09:00" in turn.reply
