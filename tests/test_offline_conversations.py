"""Whole conversations with the offline model through `run_turn`: real graph, tools and SQLite."""

from __future__ import annotations

from datetime import datetime

from atende.agent.state import AudioInput
from atende.agent.transcribe import FakeTranscriber
from atende.tenant import Tenant
from helpers import ANA, BIA, atende_on, example_tenant, say

TENANT = example_tenant()


async def _rows(app, tenant_id="clinica-exemplo"):
    return await app.store.list_appointments(tenant_id, statuses=None)


async def test_greet_book_and_list(tmp_path):
    async with atende_on(tmp_path) as app:
        hello = await say(app, "Oi, meu nome é Maria")
        assert hello.reply.startswith("Prazer, Maria!") and TENANT.name in hello.reply
        offer = await say(app, "quero marcar uma limpeza amanhã de manhã")
        (check,) = offer.tool_calls
        assert check.args == {"service": "Limpeza", "when": "amanhã de manhã",
                              "professional": None}
        slots = check.result["slots"]
        # the turn offers the tool's slots as data; the console shows them numbered
        assert [c.id for c in offer.choices] == [s["slot_id"] for s in slots]
        assert "Qual prefere?" in offer.reply and slots[0]["label"] not in offer.reply
        assert f"\n\n1. {slots[0]['label']}\n2. {slots[1]['label']}" in (offer.as_text() or "")
        booked = await say(app, "a segunda")
        assert "agendado" in booked.reply and slots[1]["label"].split(" com ")[0] in booked.reply
        (row,) = await _rows(app)
        assert row.patient_phone == ANA and row.status == "booked"
        assert f"{row.professional_id}|{row.service_id}|" in slots[1]["slot_id"]
        listed = await say(app, "tenho consulta marcada?")
        assert "Limpeza" in listed.reply and row.id == listed.tool_calls[0].result[
            "appointments"][0]["id"]
        patient = await app.store.get_patient(TENANT.id, ANA)
    assert patient.name == "Maria" and patient.stage == "scheduled"


async def test_reschedule_then_cancel(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "quero marcar limpeza quinta de manhã")
        await say(app, "1")
        (before,) = await _rows(app)
        offer = await say(app, "preciso remarcar para sexta à tarde")
        assert [c.name for c in offer.tool_calls] == ["list_my_appointments",
                                                      "check_availability"]
        assert offer.tool_calls[1].args["when"] == "sexta à tarde"
        assert offer.reply.startswith("Vamos remarcar: Limpeza")
        target = offer.tool_calls[1].result["slots"][1]
        moved = await say(app, "a segunda opção")
        assert "remarcado" in moved.reply
        (after,) = await _rows(app)
        assert after.id == before.id and after.start.isoformat() != before.start.isoformat()
        assert after.start.astimezone(TENANT.tz).isoformat(timespec="minutes") == target["start"]
        ask = await say(app, "quero cancelar")
        assert "Confirma o cancelamento" in ask.reply
        assert (await _rows(app))[0].status == "booked"  # nothing happens before the "sim"
        done = await say(app, "sim")
        assert "cancelado" in done.reply
        assert (await _rows(app))[0].status == "cancelled"
        none = await say(app, "minhas consultas")
    assert "não tem consultas marcadas" in none.reply


async def test_slot_taken_by_someone_else_in_the_meantime(tmp_path):
    async with atende_on(tmp_path) as app:
        ana = await say(app, "limpeza amanhã às 9h", phone=ANA)
        bia = await say(app, "limpeza amanhã às 9h", phone=BIA)
        assert ana.tool_calls[0].result["slots"][0] == bia.tool_calls[0].result["slots"][0]
        await say(app, "a primeira", phone=ANA)
        lost = await say(app, "a primeira", phone=BIA)
        assert not lost.tool_calls[0].ok and "agendado" not in lost.reply
        assert lost.reply.endswith("Quer que eu veja outros horários?")
        again = await say(app, "sim", phone=BIA)
        taken = ana.tool_calls[0].result["slots"][0]["slot_id"]
        fresh = again.tool_calls[0].result["slots"]
        assert fresh and taken not in {s["slot_id"] for s in fresh}
        rows = await _rows(app)
    assert [r.patient_phone for r in rows] == [ANA]


async def test_prices_promotions_and_facts_come_from_tools_and_config(tmp_path):
    async with atende_on(tmp_path) as app:
        price = await say(app, "quanto custa o clareamento?")
        promo = await say(app, "tem promoção?")
        where = await say(app, "onde fica a clínica?")
    assert "R$ 900,00" in price.reply and "R$ 720,00" in price.reply
    assert "20% de desconto" in promo.reply and "Black Friday" not in promo.reply
    assert "Rua Augusta" in where.reply and not where.tool_calls


async def test_misunderstood_twice_then_a_person(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "xpto")
        offer = await say(app, "hã??")
        assert "chame alguém da equipe" in offer.reply
        handoff = await say(app, "sim")
        assert handoff.handoff and handoff.reply == TENANT.handoff.message
        after = await say(app, "alô?")
    assert after.skipped == "human"


async def test_voice_note_books_like_text(tmp_path):
    transcriber = FakeTranscriber("queria marcar uma avaliação sexta de manhã")
    async with atende_on(tmp_path, transcriber=transcriber) as app:
        result = await say(app, None, audio=[AudioInput(data=b"OggS fake")])
    (check,) = result.tool_calls
    assert check.args["service"] == "Avaliação odontológica"
    assert check.args["when"] == "sexta de manhã" and "1. sex 13/03" in (result.as_text() or "")


async def test_another_clinic_without_a_yaml_of_its_own(tmp_path):
    physio = Tenant.model_validate({
        "id": "fisio-movimento", "name": "Fisio Movimento", "address": "Av. Brasil, 200",
        "timezone": "America/Sao_Paulo",
        "business_hours": {d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "services": [{"id": "pilates", "name": "Pilates clínico", "duration_minutes": 50,
                      "price": "110.00", "synonyms": ["pilates"]}],
        "professionals": [{"id": "marcos-reis", "name": "Marcos Reis",
                           "services": ["pilates"]}],
    })
    async with atende_on(tmp_path) as app:
        hello = await say(app, "oi", tenant=physio)
        offer = await say(app, "tem horário de pilates amanhã à tarde?", tenant=physio)
        booked = await say(app, "o primeiro", tenant=physio)
        rows = await _rows(app, physio.id)
    assert "Fisio Movimento" in hello.reply
    assert offer.choices[0].label == "qua 11/03 às 12:00 com Marcos Reis"
    assert "agendado" in booked.reply
    assert [(r.service_id, r.professional_id) for r in rows] == [("pilates", "marcos-reis")]


async def test_first_available_with_a_chosen_professional(tmp_path):
    async with atende_on(tmp_path) as app:
        offer = await say(app, "quero marcar avaliação com o Dr. Bruno")
        (check,) = offer.tool_calls
        assert check.args["professional"] and check.args["when"] is None
        slots = check.result["slots"]
        assert slots and {s["professional_id"] for s in slots} == {"bruno-lima"}
        booked = await say(app, "a primeira")
        (row,) = await _rows(app)
    assert row.professional_id == "bruno-lima" and row.service_id == "avaliacao"
    assert "agendado" in booked.reply and "Dr. Bruno Lima" in booked.reply


async def test_holiday_request_gets_the_reason_and_the_next_days(tmp_path):
    async with atende_on(tmp_path) as app:
        offer = await say(app, "tem limpeza dia 21/04?")
    (check,) = offer.tool_calls
    assert check.result["alternative"] and "feriado" in check.result["note"]
    assert "feriado" in offer.reply and "Tiradentes" in offer.reply
    assert all(not s["start"].startswith("2026-04-21") for s in check.result["slots"])


async def test_holiday_by_name_is_that_day_and_its_reason(tmp_path):
    async with atende_on(tmp_path, now=datetime.fromisoformat("2026-04-15T08:00-03:00")) as app:
        offer = await say(app, "queria uma avaliação no feriado de Tiradentes")
        later = await say(app, "e no Natal?")
    (check,) = offer.tool_calls
    assert check.args["when"] == "no feriado de Tiradentes"
    assert "Dia 21/04 é feriado (Tiradentes)" in offer.reply
    assert check.result["slots"] and "21/04 às" not in offer.reply
    assert "60 dias" in later.reply  # 25/12 is beyond the booking horizon


async def test_service_named_in_the_next_message_keeps_the_date(tmp_path):
    async with atende_on(tmp_path) as app:
        ask = await say(app, "quero agendar para sexta à tarde")
        assert not ask.tool_calls and "Limpeza" in ask.reply  # asks which service, listing them
        offer = await say(app, "limpeza")
        (check,) = offer.tool_calls
    assert check.args["service"] == "Limpeza" and check.args["when"] == "sexta à tarde"
    assert all(s["start"].startswith("2026-03-13T1") for s in check.result["slots"])


async def test_unknown_requests_change_nothing(tmp_path):
    async with atende_on(tmp_path) as app:
        reply = await say(app, "vocês vendem sapato?")
        rows = await _rows(app)
    assert rows == [] and not [c for c in reply.tool_calls if c.name != "list_services"]
    assert reply.reply and "agendad" not in reply.reply


async def test_cancel_one_of_several_appointments(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "limpeza quinta de manhã")
        await say(app, "1")
        await say(app, "avaliação sexta de manhã")
        await say(app, "1")
        ask = await say(app, "quero cancelar uma consulta")
        assert "1." in ask.reply and "2." in ask.reply
        confirm = await say(app, "a 2")
        assert "Confirma o cancelamento" in confirm.reply and "sex 13/03" in confirm.reply
        done = await say(app, "sim")
        rows = await _rows(app)
    assert "cancelado" in done.reply
    assert sorted((r.service_id, r.status) for r in rows) == [
        ("avaliacao", "cancelled"), ("limpeza", "booked")]


async def test_an_agreement_after_a_list_books_the_option_that_fits(tmp_path):
    async with atende_on(tmp_path) as app:
        # every option fits "quinta 14h": the first, and the reply says so
        offer = await say(app, "qro avaliaçao quinta 14h")
        first = offer.tool_calls[0].result["slots"][0]
        assert len(offer.tool_calls[0].result["slots"]) > 1
        booked = await say(app, "pode")
        assert booked.tool_calls[0].args == {"slot_id": first["slot_id"]}
        assert "marquei a primeira" in booked.reply and "agendado" in booked.reply
    async with atende_on(tmp_path / "near") as app:
        # "lá pelas 4": the 16:00 one, not the morning's first slot
        offer = await say(app, "tem avaliacao hj la pelas 4?")
        assert offer.tool_calls[0].args["when"] == "hj la pelas 4"
        booked = await say(app, "fechou")
        (row,) = await _rows(app)
        assert row.start.astimezone(TENANT.tz).strftime("%d %H:%M") == "10 16:00"


async def test_restating_an_offered_hour_books_it(tmp_path):
    async with atende_on(tmp_path) as app:
        offer = await say(app, "qria marcar limpeza amanha quinze pras dez")
        assert offer.tool_calls[0].args["when"] == "amanha quinze pras dez"
        booked = await say(app, "10 entao")
        (row,) = await _rows(app)
    assert "agendado" in booked.reply
    assert row.start.astimezone(TENANT.tz).strftime("%d %H:%M") == "11 10:00"


async def test_an_agreement_after_another_days_list_asks(tmp_path):
    async with atende_on(tmp_path) as app:
        offer = await say(app, "limpeza domingo")  # closed: the next days are offered instead
        assert offer.tool_calls[0].result["alternative"]
        answer = await say(app, "pode ser")
        assert not answer.tool_calls and "Qual prefere?" in answer.reply
        assert await _rows(app) == []


async def test_the_same_day_is_the_day_just_booked(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "qro limpeza quinta")
        await say(app, "1")
        offer = await say(app, "e manutencao do aparelho no mesmo dia?")
        (check,) = offer.tool_calls
        assert check.name == "check_availability" and check.args["when"] == "12/03"
        assert {s["start"][:10] for s in check.result["slots"]} == {"2026-03-12"}
        booked = await say(app, "10h")
        rows = await _rows(app)
    assert "agendado" in booked.reply
    assert sorted((r.service_id, r.start.astimezone(TENANT.tz).strftime("%d %H:%M"))
                  for r in rows) == [("limpeza", "12 08:00"), ("ortodontia-manutencao", "12 10:00")]


async def test_does_a_professional_work_that_day_is_answered(tmp_path):
    async with atende_on(tmp_path) as app:
        works = await say(app, "vc sabe se a dra carla atende quinta?")
        off = await say(app, "e sexta, a dra carla atende?")
    assert works.reply.startswith("Sim, Dra. Carla Mendes atende qui 12/03, das ")
    assert "Qual serviço" in works.reply
    assert off.reply.startswith("Dra. Carla Mendes não atende sex 13/03.")


async def test_a_professional_named_turns_earlier_is_who_com_ela_means(tmp_path):
    async with atende_on(tmp_path) as app:
        await say(app, "a dra carla faz limpeza?")
        await say(app, "e quanto custa a avaliacao?")
        offer = await say(app, "blz, qro uma limpeza quinta com ela entao")
    (check,) = [c for c in offer.tool_calls if c.name == "check_availability"]
    assert check.args["professional"] == "Dra. Carla Mendes"
    assert {s["professional_id"] for s in check.result["slots"]} == {"carla-mendes"}
