"""Options offered as data: from `check_availability` through the turn and the outbox to each
channel, which shows them its own way (Meta: a list to tap; Z-API: numbered lines)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server_harness import ZAPI_URL, meta_message, meta_text, running, signed, zapi_text

from atende.tools import booking
from atende.tools.choices import Choice, numbered, offered

SLOT = {"id": "ana-souza|limpeza|2026-03-11T08:00", "label": "qua 11/03 às 08:00 com Dra. Ana Souza",
        "title": "qua 11/03 às 08:00", "detail": "Dra. Ana Souza"}
OTHER = {**SLOT, "id": "ana-souza|limpeza|2026-03-11T08:30", "title": "qua 11/03 às 08:30"}


def test_numbered_puts_the_options_under_the_text_in_order():
    choices = [Choice.from_dict(SLOT), Choice.from_dict({**OTHER, "label": "qua 11/03 às 08:30"})]
    assert numbered("Qual prefere?", choices) == (
        "Qual prefere?\n\n1. qua 11/03 às 08:00 com Dra. Ana Souza\n2. qua 11/03 às 08:30")
    assert numbered("Oi!", []) == "Oi!"


def test_a_turn_offers_its_latest_offer_until_something_is_done():
    listed = {"ok": True, "appointments": []}
    assert offered([{"ok": True, "choices": [SLOT]}, listed]) == [SLOT]
    assert offered([{"ok": True, "choices": [SLOT]}, {"ok": True, "choices": [OTHER]}]) == [OTHER]
    assert offered([{"ok": True, "choices": [SLOT]}, {"ok": True, "choices": []}]) == []
    assert offered([{"ok": True, "choices": [SLOT]}, {"ok": True, "action": "booked"}]) == []
    # a failed booking settles nothing: the offer stands
    assert offered([{"ok": True, "choices": [SLOT]}, {"ok": False, "code": "slot_taken"}]) == [SLOT]


def _rows(sent: str) -> list[dict[str, Any]]:
    interactive = json.loads(sent)
    assert interactive["type"] == "list"
    return interactive["action"]["sections"][0]["rows"]


async def _say_on_meta(srv: Any, text: str, wa_id: str) -> None:
    body, headers = signed(meta_text(text, wa_id=wa_id))
    assert (await srv.client.post("/webhooks/meta", content=body, headers=headers)).status_code == 200


TEMPLATES = ["{when} com {professional}", "{when} — {professional}", "{when} with {professional}"]


async def test_rewording_the_slot_label_changes_nothing_on_metas_list(tmp_path, monkeypatch):
    lists, texts = [], []
    async with running(tmp_path) as srv:
        for n, template in enumerate(TEMPLATES):
            monkeypatch.setattr(booking, "SLOT_LABEL", template)
            on_meta, on_zapi = f"55119876503{n:02d}", f"55119876504{n:02d}"
            await _say_on_meta(srv, "quero marcar uma limpeza amanhã de manhã", on_meta)
            await srv.client.post(ZAPI_URL, json=zapi_text("quero marcar uma limpeza amanhã de manhã",
                                                           phone=on_zapi))
            await srv.settle()
            (offer,) = srv.providers.to(on_meta)
            lists.append(_rows(offer))
            (text,) = srv.providers.to(on_zapi)
            texts.append(text)
        tenant = srv.services.tenants.get("clinica-exemplo")
    assert lists[0] == lists[1] == lists[2]  # the same rows, whatever the words around a slot
    first = lists[0][0]
    professional = tenant.professional(first["id"].split("|")[0]).name
    assert first["title"].startswith("1. ") and first["description"] == professional
    when = first["title"].removeprefix("1. ")
    for template, text in zip(TEMPLATES, texts, strict=True):  # the wording is live on Z-API
        assert f"\n\n1. {template.format(when=when, professional=professional)}\n2. " in text


async def test_a_tapped_row_books_its_own_slot(tmp_path):
    patient = "5511987650202"
    async with running(tmp_path) as srv:
        await _say_on_meta(srv, "quero marcar uma avaliação amanhã", patient)
        await srv.settle()
        (offer,) = srv.providers.to(patient)
        rows = _rows(offer)
        tap = meta_message({"type": "interactive", "interactive": {
            "type": "list_reply", "list_reply": rows[1]}}, wa_id=patient)
        body, headers = signed(tap)
        await srv.client.post("/webhooks/meta", content=body, headers=headers)
        await srv.settle()
        (booked,) = await srv.services.atende.store.list_appointments(
            "clinica-exemplo", patient_phone="+" + patient)
        tenant = srv.services.tenants.get("clinica-exemplo")
    professional, _, start = rows[1]["id"].split("|")
    assert (booked.professional_id, booked.start.astimezone(tenant.tz).isoformat(timespec="minutes")
            ) == (professional, f"{start}-03:00")
    assert "agendado" in srv.providers.to(patient)[-1]


async def test_a_number_typed_on_zapi_books_the_numbered_slot(tmp_path):
    patient = "5511987650101"
    async with running(tmp_path) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("quero marcar limpeza amanhã", phone=patient))
        await srv.settle()
        (offer,) = srv.providers.to(patient)
        second = next(line for line in offer.splitlines() if line.startswith("2. "))
        await srv.client.post(ZAPI_URL, json=zapi_text("2", phone=patient))
        await srv.settle()
        (booked,) = await srv.services.atende.store.list_appointments(
            "clinica-exemplo", patient_phone="+" + patient)
        tenant = srv.services.tenants.get("clinica-exemplo")
    assert booking.local_label(booked.start, tenant) in second


async def test_an_offer_sent_after_a_retry_is_still_a_list(tmp_path):
    patient = "5511987650202"
    async with running(tmp_path) as srv:
        srv.providers.fail_next.append(500)  # the first send fails: the row waits, then retries
        await _say_on_meta(srv, "quero marcar uma limpeza amanhã de manhã", patient)
        for _ in range(150):  # the first backoff is 1-2 s; a loaded machine may take longer
            await srv.settle()
            if srv.providers.to(patient):
                break
            await asyncio.sleep(0.1)
        (sent,) = srv.providers.to(patient)
        store = srv.services.atende.store
        conversation = await store.find_conversation("clinica-exemplo", "+" + patient)
        assert conversation is not None
        (row,) = [m for m in await store.list_messages(conversation.id) if m.direction == "out"]
    assert row.attempts == 2  # read back from the outbox row for the second attempt
    assert len(_rows(sent)) >= 2
