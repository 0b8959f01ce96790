"""A reminder as data and as each channel sends it: Meta's template outside the 24-hour window
(the corpus's template send shape), buttons inside it, Z-API's text; Meta's template errors
from the corpora end as permanent failures that say what they mean."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from atende.memory.records import Appointment
from atende.reminders import notice as notices
from atende.reminders.outcomes import account_flag
from atende.server.channels import CHANNELS
from atende.server.channels.meta.parse import parse_meta
from atende.server.channels.meta.sender import MetaSender
from atende.server.channels.zapi.sender import ZapiSender
from atende.server.inbound import AccountNotice, Ignored
from atende.server.senders import SendError
from atende.tenant import REPLY_HINT, resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests/corpora/meta"
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
PATIENT = "+5500000000001"
APPOINTMENT = Appointment(
    id="5f0c4a2e-0000-4000-8000-000000000001", tenant_id=TENANT.id, professional_id="ana-souza",
    service_id="limpeza", patient_phone=PATIENT, start=datetime(2026, 3, 12, 13, 0, tzinfo=UTC),
    end=datetime(2026, 3, 12, 13, 45, tzinfo=UTC), status="booked")
SENT = {"messaging_product": "whatsapp", "contacts": [{"input": "5500000000001",
                                                       "wa_id": "5500000000001"}],
        "messages": [{"id": "wamid.reminder1"}]}


def corpus(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def meta_sender(answer: httpx.Response) -> tuple[MetaSender, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return MetaSender(http, graph_url="https://graph.facebook.com", api_version="v21.0",
                      phone_number_id="1122334455667", access_token="EAAGsecret"), sent


def shape(value: object) -> object:
    """A JSON value's structure alone: every scalar replaced by its type, every list by the
    distinct shapes of its items (three body parameters or six have the same shape)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = [shape(v) for v in value]
        return sorted({json.dumps(s, sort_keys=True) for s in shapes})
    return type(value).__name__


def test_the_reminder_text_names_the_appointment_and_ends_with_the_reply_hint() -> None:
    reminder = notices.reminder(TENANT, APPOINTMENT, "Maria Aparecida")
    assert reminder.text.startswith("Olá, Maria! Lembrete da sua consulta de Limpeza com "
                                    "Dra. Ana Souza quinta-feira, 12/03, às 10:00")
    assert reminder.text.endswith("Responda 1 para confirmar, 2 para remarcar ou 0 para cancelar.")
    assert REPLY_HINT not in reminder.body
    assert [b.title for b in reminder.buttons] == ["Confirmar", "Remarcar", "Cancelar"]
    assert notices.Notice.from_dict(json.loads(json.dumps(reminder.to_dict()))) == reminder


async def test_outside_the_window_meta_gets_the_template_in_the_corpus_shape() -> None:
    sender, sent = meta_sender(httpx.Response(200, json=SENT))
    reminder = notices.reminder(TENANT, APPOINTMENT, "Maria")
    result = await CHANNELS["meta"].send_notice(sender, PATIENT, reminder, window_open=False)
    assert result.provider_message_id == "wamid.reminder1"
    body = json.loads(sent[0].content)
    assert shape(body) == shape(corpus("out_request_template_body_params.json"))
    template = body["template"]
    assert template["name"] == "lembrete_consulta" and template["language"] == {"code": "pt_BR"}
    assert [p["text"] for p in template["components"][0]["parameters"]] == [
        "Maria", "Limpeza", "Dra. Ana Souza", "12/03", "10:00", "Clínica Sorriso Exemplo"]
    payloads = [c["parameters"][0]["payload"] for c in template["components"][1:]]
    assert [notices.read_payload(p) for p in payloads] == [
        ("confirm", APPOINTMENT.id), ("reschedule", APPOINTMENT.id), ("cancel", APPOINTMENT.id)]
    assert sent[0].headers["authorization"] == "Bearer EAAGsecret"


async def test_inside_the_window_meta_gets_the_same_three_buttons_to_tap() -> None:
    sender, sent = meta_sender(httpx.Response(200, json=SENT))
    reminder = notices.reminder(TENANT, APPOINTMENT, None)
    await CHANNELS["meta"].send_notice(sender, PATIENT, reminder, window_open=True)
    body = json.loads(sent[0].content)
    assert body["type"] == "interactive" and body["interactive"]["type"] == "button"
    assert body["interactive"]["body"]["text"].startswith("Olá! Lembrete da sua consulta")
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert titles == ["Confirmar", "Remarcar", "Cancelar"]


async def test_zapi_gets_the_text_with_the_reply_hint() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"messageId": "3EB0ABC"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    sender = ZapiSender(http, base_url="https://api.z-api.io", instance_id="I", token="T",
                        client_token="C")
    reminder = notices.reminder(TENANT, APPOINTMENT, "Maria")
    await CHANNELS["zapi"].send_notice(sender, PATIENT, reminder, window_open=False)
    assert json.loads(sent[0].content)["message"] == reminder.text


@pytest.mark.parametrize(("name", "problem"), [
    ("graph_error_132000_param_count_mismatch_capture.json", "template_parameters"),
    ("graph_error_132001_template_not_in_language_capture.json", "template_missing"),
    ("graph_error_100_invalid_parameter_empty_template_text_capture.json", "template_parameters"),
])
async def test_template_errors_from_the_corpus_are_permanent_and_say_what_they_mean(
        name: str, problem: str) -> None:
    sender, _ = meta_sender(httpx.Response(400, json=corpus(name)))
    with pytest.raises(SendError) as caught:
        await sender.send_template(PATIENT, notices.reminder(TENANT, APPOINTMENT, "M").template)  # type: ignore[arg-type]
    assert caught.value.retryable is False
    assert caught.value.problem == problem
    assert caught.value.code == str(corpus(name)["error"]["code"])
    assert "EAAGsecret" not in str(caught.value)


async def test_without_a_template_a_closed_window_is_a_clear_permanent_failure() -> None:
    sender, sent = meta_sender(httpx.Response(200, json=SENT))
    offer = notices.waitlist_offer(TENANT, APPOINTMENT, "Maria", offer_id="abc")
    with pytest.raises(SendError) as caught:
        await CHANNELS["meta"].send_notice(sender, PATIENT, offer, window_open=False)
    assert caught.value.code == "no_template" and not caught.value.retryable and not sent


def owned_by(tenant: str):  # type: ignore[no-untyped-def]
    return lambda waba: tenant if waba == "102290129340398" else None


def test_template_and_account_notices_from_the_corpus_become_clinic_flags() -> None:
    rejected = parse_meta(corpus("template_status_rejected.json"), lambda *_: None,
                          owned_by("clinica-exemplo"))
    assert rejected == [AccountNotice(channel="meta", tenant_id="clinica-exemplo",
                                      topic="template", event="REJECTED",
                                      template="abandoned_cart (en)", detail="INVALID_FORMAT")]
    assert account_flag("template", "REJECTED", "abandoned_cart (en)", "INVALID_FORMAT") == (
        "template_failing:abandoned_cart", "REJECTED (INVALID_FORMAT)")
    approved = parse_meta(corpus("template_status_approved.json"), lambda *_: None,
                          owned_by("clinica-exemplo"))[0]
    assert isinstance(approved, AccountNotice)
    assert account_flag(approved.topic, approved.event, approved.template, approved.detail) == (
        "template_failing:order_confirmation", None)  # approved again: the flag clears
    restricted = parse_meta(corpus("account_update_restriction.json"), lambda *_: None,
                            owned_by("clinica-exemplo"))[0]
    assert isinstance(restricted, AccountNotice)
    assert restricted.detail == "RESTRICTED_BIZ_INITIATED_MESSAGING, RESTRICTED_ADD_PHONE_NUMBER_ACTION"
    assert account_flag(restricted.topic, restricted.event, None, restricted.detail)[0] == (
        "proactive_paused:account")
    # an account that is no clinic's stays ignored, as before
    stranger = parse_meta(corpus("account_update_restriction.json"), lambda *_: None,
                          owned_by("someone-else") if False else (lambda waba: None))
    assert isinstance(stranger[0], Ignored)
