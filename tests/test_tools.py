"""Each tool through the real graph, a scripted model and a real SQLite file."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from langchain_core.messages import ToolMessage

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.tools.toolset import TOOLS
from helpers import ANA, BIA, SwitchableModel, atende_on, example_tenant, say

IDENTITY_WORDS = ("phone", "tenant", "patient", "conversation", "runtime", "clinic")


def scripted(*items):
    return SwitchableModel(ModelChain("scripted", ScriptedChatModel(list(items))))


def test_no_tool_schema_lets_the_model_name_an_identity():
    for tool in TOOLS:
        props = tool.tool_call_schema.model_json_schema().get("properties", {})
        assert not [p for p in props if any(w in p for w in IDENTITY_WORDS)], tool.name
        assert tool.description and len(tool.description) > 40, tool.name


async def _offer(app, model, when="amanhã de manhã", service="limpeza", phone=ANA):
    model.chain = ModelChain("scripted", ScriptedChatModel([
        call("check_availability", service=service, when=when), "Horários:"]))
    result = await say(app, f"quero {service} {when}", phone=phone)
    (availability,) = result.tool_calls
    assert availability.ok, availability.result
    return availability.result["slots"]


async def _do(app, model, tool_name, /, phone=ANA, **args):
    model.chain = ModelChain("scripted", ScriptedChatModel([call(tool_name, **args), "Feito."]))
    result = await say(app, "ok", phone=phone)
    return result.tool_calls[0]


async def test_availability_offers_real_slots_tomorrow_morning(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slots = await _offer(app, model)
    assert slots, "a working Wednesday morning has free slots"
    assert all(s["start"].startswith("2026-03-11T") for s in slots)
    assert all(int(s["start"][11:13]) < 12 for s in slots)
    assert {s["professional_id"] for s in slots} <= {"ana-souza", "carla-mendes"}


async def test_book_then_second_patient_cannot_take_the_slot(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slot = (await _offer(app, model))[0]
        booked = await _do(app, model, "book_appointment", slot_id=slot["slot_id"])
        assert booked.ok and booked.result["action"] == "booked"
        taken = await _do(app, model, "book_appointment", phone=BIA, slot_id=slot["slot_id"])
        assert not taken.ok and taken.result["code"] == "slot_unavailable"
        rows = await app.store.list_appointments("clinica-exemplo")
    assert [(r.patient_phone, r.status) for r in rows] == [(ANA, "booked")]


@pytest.mark.parametrize("slot_id, why", [
    ("ana-souza|limpeza|2026-03-11T11:30", "runs into the lunch break"),
    ("ana-souza|limpeza|2026-03-15T09:00", "sunday"),
    ("ana-souza|limpeza|2026-04-21T09:00", "holiday"),
    ("ana-souza|limpeza|2026-03-10T08:30", "inside the minimum notice"),
    ("ana-souza|limpeza|2026-09-01T09:00", "beyond the booking horizon"),
    ("bruno-lima|limpeza|2026-03-11T09:00", "professional does not do it"),
    ("ana-souza|limpeza|amanha", "malformed"),
])
async def test_booking_refuses_what_availability_would_never_offer(tmp_path, slot_id, why):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        result = await _do(app, model, "book_appointment", slot_id=slot_id)
        assert not result.ok, why
        assert result.result["message"]
        assert await app.store.list_appointments("clinica-exemplo") == []


async def test_patient_sees_cancels_and_moves_only_their_own(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slots = await _offer(app, model, phone=BIA)
        bia = await _do(app, model, "book_appointment", phone=BIA, slot_id=slots[0]["slot_id"])
        bia_id = bia.result["appointment"]["id"]
        mine = await _do(app, model, "list_my_appointments")
        assert mine.result["appointments"] == []
        cancel = await _do(app, model, "cancel_appointment", appointment_id=bia_id,
                           patient_phone=BIA)
        assert not cancel.ok and cancel.result["code"] == "not_found"
        move = await _do(app, model, "reschedule_appointment", appointment_id=bia_id,
                         slot_id=slots[1]["slot_id"])
        assert not move.ok
        (row,) = await app.store.list_appointments("clinica-exemplo")
    assert row.id == bia_id and row.status == "booked" and row.patient_phone == BIA


async def test_cancel_own_and_reschedule_own(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slots = await _offer(app, model, when="quinta à tarde")
        booked = await _do(app, model, "book_appointment", slot_id=slots[0]["slot_id"])
        appt_id = booked.result["appointment"]["id"]
        moved = await _do(app, model, "reschedule_appointment", appointment_id=appt_id,
                          slot_id=slots[1]["slot_id"])
        assert moved.ok and moved.result["appointment"]["start"] == slots[1]["start"]
        assert moved.result["previous"]["start"] == slots[0]["start"]
        mine = await _do(app, model, "list_my_appointments")
        assert [a["id"] for a in mine.result["appointments"]] == [appt_id]
        cancelled = await _do(app, model, "cancel_appointment", appointment_id=appt_id)
        assert cancelled.ok and cancelled.result["appointment"]["status"] == "cancelled"
        assert (await _do(app, model, "list_my_appointments")).result["appointments"] == []


async def test_cancel_inside_the_notice_window_is_refused(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slots = await _offer(app, model, when="hoje à tarde")
        booked = await _do(app, model, "book_appointment", slot_id=slots[0]["slot_id"])
        result = await _do(app, model, "cancel_appointment",
                           appointment_id=booked.result["appointment"]["id"])
        assert not result.ok and result.result["code"] == "policy_violation"
        assert (await app.store.list_appointments("clinica-exemplo"))[0].status == "booked"


async def test_unknown_service_comes_back_to_the_model(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        result = await _do(app, model, "check_availability", service="botox")
        assert not result.ok and result.result["code"] == "not_found"
        assert "Limpeza" in result.result["message"]


async def test_services_prices_and_only_valid_promotions(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        services = await _do(app, model, "list_services", query="limpeza")
        promos = await _do(app, model, "list_promotions")
    (limpeza,) = services.result["services"]
    assert limpeza["price_text"] == "R$ 180,00"
    assert [p["id"] for p in promos.result["promotions"]] == ["clareamento-20"]
    assert promos.result["promotions"][0]["prices"][0]["promo_price_text"] == "R$ 720,00"


async def test_update_lead_and_handoff_pause_the_conversation(tmp_path):
    model = SwitchableModel()
    tenant = example_tenant()
    async with atende_on(tmp_path, model=model) as app:
        lead = await _do(app, model, "update_lead", name="Maria Silva", interest="clareamento",
                         stage="qualified")
        assert lead.ok
        patient = await app.store.get_patient(tenant.id, ANA)
        assert (patient.name, patient.interest, patient.stage) == (
            "Maria Silva", "clareamento", "qualified")
        handoff = await _do(app, model, "request_human", reason="quer falar com atendente")
        assert handoff.ok and handoff.result["message"] == tenant.handoff.message
        after = await say(app, "alô?")
    assert after.skipped == "human" and after.reply is None


async def test_unreadable_words_come_back_with_the_arguments_to_send(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        result = await _do(app, model, "check_availability", service="limpeza",
                           when="no dezoito, saindo da fisio")
    assert not result.ok and result.result["code"] == "policy_violation"
    assert result.result["message"].startswith("Não entendi a data")  # for the patient
    assert "`date` (AAAA-MM-DD)" in result.result["hint"]  # for the model
    assert "`time_from`/`time_to` (HH:MM)" in result.result["hint"]


async def test_structured_days_still_meet_the_clinic_calendar(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        far = await _do(app, model, "check_availability", service="limpeza",
                        date="2026-06-01", date_to="2026-06-05")
        holiday = await _do(app, model, "check_availability", service="limpeza",
                            date="2026-04-21")
        today = await _do(app, model, "check_availability", service="limpeza",
                          date="2026-03-10", period="manha")
        bad = await _do(app, model, "check_availability", service="limpeza", date="21/04")
    assert not far.ok and far.result["message"] == (
        "Só agendamos com até 60 dias de antecedência (até 09/05/2026).")
    assert holiday.ok and holiday.result["alternative"]
    assert holiday.result["note"].startswith("Dia 21/04 é feriado (Tiradentes)")
    # 08:00 now, two hours' notice: this morning's first slot is 10:00 at the earliest
    assert today.ok and today.result["slots"]
    assert all("T10:" <= s["start"][10:14] < "T12:" for s in today.result["slots"])
    assert not bad.ok and bad.result["message"].startswith("`date` deve ser uma data AAAA-MM-DD")


def _retry_with_structured_arguments(messages):
    """A model that reads the tool error and sends what its hint asks for."""
    error = json.loads(messages[-1].content)
    assert error["ok"] is False and "`date` (AAAA-MM-DD)" in error["hint"]
    return call("check_availability", service="limpeza", date="2026-03-19",
                time_from="16:30", time_to="17:30")


def _book_the_slot_at(hour):
    def pick(messages):
        offered = [m for m in messages if isinstance(m, ToolMessage)]
        slots = json.loads(offered[-1].content)["slots"]
        slot = next(s for s in slots if s["start"][11:16] == hour)
        return call("book_appointment", slot_id=slot["slot_id"])
    return pick


async def test_model_retries_an_unreadable_when_with_structured_arguments_and_books(tmp_path):
    model = scripted(
        call("check_availability", service="limpeza", when="no dezenove, saindo da fisio"),
        _retry_with_structured_arguments,
        "Tenho estes horários no dia 19. Qual prefere?",
        _book_the_slot_at("16:30"),
        "Pronto, sua limpeza está agendada!",
    )
    async with atende_on(tmp_path, model=model) as app:
        offer = await say(app, "da pra fazer uma limpeza no dezenove, saindo da fisio?")
        first, retry = offer.tool_calls
        assert not first.ok and retry.ok
        assert [s["start"] for s in retry.result["slots"]] == [
            "2026-03-19T16:30-03:00", "2026-03-19T17:00-03:00"]
        booked = await say(app, "16:30")
        (row,) = await app.store.list_appointments("clinica-exemplo")
    assert booked.tool_calls[0].ok
    assert (row.patient_phone, row.service_id, row.status) == (ANA, "limpeza", "booked")
    assert row.start == datetime.fromisoformat("2026-03-19T16:30-03:00")
    assert row.professional_id == "carla-mendes"  # Dra. Ana's Thursday ends at 17:00
    assert booked.reply and "agendada" in booked.reply
