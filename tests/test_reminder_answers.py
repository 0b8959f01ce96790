"""The offline policy reads the reminder and the waitlist offer from the turn's prompt, as an
LLM does, and answers them: 1 / sim / 👍 / Confirmar confirm, 0 / não vou poder / Cancelar
cancel, 2 / remarcar / outro dia offer new times; "parar" stops proactive messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from atende.agent.models.offline import OfflineChatModel
from atende.memory.records import Patient
from atende.prompts.render import render_system_prompt
from atende.tenant import resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=TENANT.tz)
APPT = {"id": "7d1c0a2e-5f4b-4c3a-9e1d-000000000042", "service_id": "limpeza",
        "service": "Limpeza", "professional_id": "ana-souza", "professional": "Dra. Ana Souza",
        "start": "2026-03-12T10:00-03:00", "label": "qui 12/03 às 10:00", "status": "booked"}
OFFER = {"offer_id": "a1b2c3", "service": "Limpeza", "professional": "Dra. Ana Souza",
         "label": "qua 11/03 às 09:00", "expires": "10:30"}


def answer(text: str, proactive: dict[str, Any]) -> list[dict[str, Any]]:
    prompt, _ = render_system_prompt(TENANT, Patient(TENANT.id, "+5511999990000"), [APPT], NOW,
                                     proactive)
    reply = OfflineChatModel(tenant=TENANT, now=NOW).invoke(
        [SystemMessage(content=prompt), HumanMessage(content=text)])
    return [{"name": c["name"], "args": c["args"]} for c in reply.tool_calls]


@pytest.mark.parametrize("text", ["1", "Sim", "confirmo", "pode confirmar", "ok, vou", "👍",
                                  "Confirmar", "sim, vou sim"])
def test_a_yes_to_the_reminder_confirms_that_appointment(text: str) -> None:
    assert answer(text, {"reminder": APPT}) == [
        {"name": "confirm_appointment", "args": {"appointment_id": APPT["id"]}}]


@pytest.mark.parametrize("text", ["0", "não vou poder", "cancela", "Cancelar"])
def test_a_no_to_the_reminder_cancels_that_appointment(text: str) -> None:
    assert answer(text, {"reminder": APPT}) == [
        {"name": "cancel_appointment", "args": {"appointment_id": APPT["id"]}}]


@pytest.mark.parametrize("text", ["2", "remarcar", "outro dia", "Remarcar"])
def test_a_2_to_the_reminder_looks_for_new_times_for_that_service(text: str) -> None:
    calls = answer(text, {"reminder": APPT})
    assert calls[0]["name"] == "check_availability"
    assert calls[0]["args"]["service"] == "Limpeza"


def test_without_a_reminder_a_1_is_not_a_confirmation() -> None:
    assert not any(c["name"] == "confirm_appointment" for c in answer("1", {}))


def test_a_message_that_answers_nothing_is_answered_normally() -> None:
    calls = answer("Quanto custa o clareamento?", {"reminder": APPT})
    assert [c["name"] for c in calls] == ["list_services"]


def test_a_yes_to_a_waitlist_offer_takes_it_and_a_no_releases_it() -> None:
    assert answer("sim", {"offer": OFFER}) == [
        {"name": "answer_waitlist_offer", "args": {"accept": True}}]
    assert answer("não, obrigado", {"offer": OFFER}) == [
        {"name": "answer_waitlist_offer", "args": {"accept": False}}]


@pytest.mark.parametrize("text", ["parar", "não quero mais receber", "PARE", "para de me mandar isso",
                                  "pfv nao me mandem mais mensagem", "para"])
def test_stop_words_stop_proactive_messages(text: str) -> None:
    assert answer(text, {"reminder": APPT}) == [{"name": "stop_messages", "args": {}}]


@pytest.mark.parametrize("text", ["Quero deixar agendada uma avaliação para o dia 10 de junho",
                                  "quero marcar para amanhã", "vou parar no estacionamento?"])
def test_para_inside_a_sentence_is_no_stop_word(text: str) -> None:
    assert not any(c["name"] == "stop_messages" for c in answer(text, {}))


def test_para_inside_a_sentence_is_the_preposition_not_a_stop() -> None:
    calls = answer("Agende uma limpeza amanhã às 9h para o telefone +5511987650002", {})
    assert calls == []  # acting for another phone is refused, nothing is switched off


def test_asking_to_hear_of_an_earlier_time_joins_the_waitlist() -> None:
    assert answer("me avisa se vagar um horário de limpeza antes", {}) == [
        {"name": "join_waitlist", "args": {"service": "Limpeza"}}]
