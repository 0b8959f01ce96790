"""The truthfulness guard refuses replies that claim what no tool of the turn did."""

from atende.agent.guard import check_reply

BOOKED = {"ok": True, "action": "booked", "turn_id": "t1",
          "appointment": {"id": "a1", "start": "2026-03-11T09:00-03:00", "label": "qua 11/03 às 09:00"}}
CANCELLED = {**BOOKED, "action": "cancelled"}
LISTED = {"ok": True, "turn_id": "t1", "appointments": [BOOKED["appointment"]]}
FAILED = {"ok": False, "code": "slot_unavailable", "message": "Esse horário acabou de ser ocupado."}


def test_booking_claim_without_a_tool_is_refused():
    v = check_reply("Pronto! Sua limpeza está agendada para amanhã às 9h.", [])
    assert [x.claim for x in v] == ["booked"]


def test_booking_claim_after_a_failed_booking_is_refused():
    assert check_reply("Consulta marcada para 11/03 às 09:00!", [FAILED])


def test_booking_claim_backed_by_the_tool_passes():
    assert check_reply("Pronto! Sua limpeza ficou agendada para qua 11/03 às 09:00.", [BOOKED]) == []


def test_claim_at_another_time_than_booked_is_refused():
    v = check_reply("Agendado para 11/03 às 10:30.", [BOOKED])
    assert v and "10:30" in v[0].why


def test_claim_on_another_date_than_booked_is_refused():
    v = check_reply("Agendado para 12/03 às 09:00.", [BOOKED])
    assert v and "12/03" in v[0].why


def test_cancel_claim_needs_a_cancel():
    assert check_reply("Sua consulta foi cancelada.", [BOOKED])
    assert check_reply("Sua consulta foi cancelada.", [CANCELLED]) == []
    assert check_reply("Cancelei sua consulta.", [])


def test_reschedule_claim_needs_a_reschedule():
    assert check_reply("Remarquei para sexta às 10h.", [BOOKED])


def test_questions_offers_and_negations_are_not_claims():
    assert check_reply("Quer que eu deixe agendado para 09:00?", []) == []
    assert check_reply("Posso agendar para você. Qual horário prefere?", []) == []
    assert check_reply("Ainda não foi agendado nada.", []) == []
    assert check_reply("Não consegui: o horário não foi marcado.", [FAILED]) == []


def test_listing_existing_appointments_is_grounded():
    assert check_reply("Você tem uma consulta agendada: qua 11/03 às 09:00.", [LISTED]) == []
    assert check_reply("Você tem uma consulta agendada: qua 11/03 às 15:00.", [LISTED])


def test_accents_and_case_do_not_hide_a_claim():
    assert check_reply("AGENDADO com sucesso!", [])
    assert check_reply("Tudo certo, já está reagendada.", [])
