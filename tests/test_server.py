"""The webhook server in-process: authentication, redeliveries, bursts, takeover, voice notes."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from server_harness import (
    ENV,
    ZAPI_URL,
    meta_text,
    running,
    signed,
    zapi_text,
)

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel
from helpers import SwitchableModel

PATIENT = "5511987650101"


async def test_meta_verification_handshake_both_ways(tmp_path):
    async with running(tmp_path) as srv:
        ok = await srv.client.get("/webhooks/meta", params={
            "hub.mode": "subscribe", "hub.verify_token": ENV["CLINICA_EXEMPLO_META_VERIFY_TOKEN"],
            "hub.challenge": "1158201444"})
        bad = await srv.client.get("/webhooks/meta", params={
            "hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    assert bad.status_code == 403
    assert set(bad.json()) == {"request_id", "code", "message"}


async def test_only_a_correctly_signed_meta_post_is_accepted(tmp_path):
    payload = meta_text("Oi")
    body, headers = signed(payload)
    tampered = body.replace(b"Oi", b"Oh")
    _, wrong = signed(payload, secret="not-the-app-secret")
    async with running(tmp_path) as srv:
        answers = [
            await srv.client.post("/webhooks/meta", content=tampered, headers=headers),
            await srv.client.post("/webhooks/meta", content=body, headers=wrong),
            await srv.client.post("/webhooks/meta", content=body,
                                  headers={"Content-Type": "application/json"}),
            await srv.client.post("/webhooks/meta", content=body, headers=headers),
        ]
        await srv.settle()
        conversation = await srv.services.atende.store.find_conversation(
            "clinica-exemplo", "+5511987650202")
        inbox = await srv.services.atende.store.list_messages(conversation.id)
    assert [a.status_code for a in answers] == [401, 401, 401, 200]
    assert answers[0].json()["code"] == "invalid_signature"
    assert [m.text for m in inbox if m.direction == "in"] == ["Oi"]


async def test_zapi_secret_tenant_and_body_are_checked(tmp_path):
    async with running(tmp_path) as srv:
        wrong = await srv.client.post("/webhooks/zapi/clinica-exemplo/wrong", json=zapi_text("x"))
        unknown = await srv.client.post("/webhooks/zapi/nao-existe/x", json=zapi_text("x"))
        broken = await srv.client.post(ZAPI_URL, content=b"{not json",
                                       headers={"Content-Type": "application/json"})
        query = await srv.client.post(
            "/webhooks/zapi/clinica-exemplo",
            params={"token": ENV["CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET"]},
            json=zapi_text("Oi", phone="5511987650111"))
        zipped = await srv.client.post(
            ZAPI_URL, content=gzip.compress(json.dumps(zapi_text("Oi", phone="5511987650112"))
                                            .encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        await srv.settle()
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_token")
    # an unknown clinic looks exactly like a wrong secret: clinic ids cannot be enumerated
    assert unknown.status_code == 401
    assert {k: v for k, v in unknown.json().items() if k != "request_id"} == {
        k: v for k, v in wrong.json().items() if k != "request_id"}
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid_json")
    assert query.status_code == 200 and zipped.status_code == 200
    assert srv.providers.to("5511987650111") and srv.providers.to("5511987650112")
    assert wrong.headers["x-request-id"] == wrong.json()["request_id"]


async def test_a_webhook_delivered_three_times_is_answered_once(tmp_path):
    payload = zapi_text("Quanto custa a limpeza?", phone=PATIENT)
    async with running(tmp_path) as srv:
        answers = [await srv.client.post(ZAPI_URL, json=payload) for _ in range(3)]
        await srv.settle()
        store = srv.services.atende.store
        conversation = await store.find_conversation("clinica-exemplo", "+" + PATIENT)
        messages = await store.list_messages(conversation.id)
    assert [a.json()["accepted"] for a in answers] == [1, 0, 0]
    assert [a.json()["duplicate"] for a in answers] == [0, 1, 1]
    assert len([m for m in messages if m.direction == "in"]) == 1
    (reply,) = srv.providers.to(PATIENT)
    assert "R$ 180,00" in reply


async def test_a_burst_of_three_messages_is_one_turn_and_one_reply(tmp_path):
    model = ScriptedChatModel(["Claro! Para quando você gostaria?"])
    chain = SwitchableModel(ModelChain("scripted", model))
    async with running(tmp_path, model=chain, window=0.6) as srv:
        for text in ("Oi", "quero marcar uma limpeza", "pode ser amanhã?"):
            assert (await srv.client.post(ZAPI_URL, json=zapi_text(text, phone=PATIENT))
                    ).status_code == 200
            await asyncio.sleep(0.2)
        await srv.settle()
    (call,) = model.calls
    assert call[-1].content == "Oi\nquero marcar uma limpeza\npode ser amanhã?"
    assert srv.providers.to(PATIENT) == ["Claro! Para quando você gostaria?"]


async def test_a_message_during_the_model_call_supersedes_the_reply(tmp_path):
    thinking, release = threading.Event(), threading.Event()

    def slow_first(messages):
        thinking.set()
        release.wait(10)
        return AIMessage(content="Resposta só para o primeiro")

    model = ScriptedChatModel([slow_first, "Resposta para as duas mensagens"])
    chain = SwitchableModel(ModelChain("scripted", model))
    async with running(tmp_path, model=chain, window=0.1) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi, tudo bem?", phone=PATIENT))
        await asyncio.to_thread(thinking.wait, 10)
        await srv.client.post(ZAPI_URL, json=zapi_text("queria saber o preço", phone=PATIENT))
        release.set()
        await srv.settle()
    assert srv.providers.to(PATIENT) == ["Resposta para as duas mensagens"]
    second = model.calls[1]
    humans = [m.content for m in second if isinstance(m, HumanMessage)]
    assert humans == ["Oi, tudo bem?\nqueria saber o preço"]  # the dropped turn left no trace


async def test_a_person_typing_on_the_clinic_phone_pauses_the_bot_until_resumed(tmp_path):
    async with running(tmp_path) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi", phone=PATIENT))
        await srv.settle()
        assert len(srv.providers.to(PATIENT)) == 1
        await srv.client.post(ZAPI_URL, json=zapi_text(
            "Oi Maria, aqui é a Júlia da recepção!", phone=PATIENT, from_me=True))
        await srv.client.post(ZAPI_URL, json=zapi_text("quanto custa a limpeza?", phone=PATIENT))
        await srv.settle()
        assert len(srv.providers.to(PATIENT)) == 1  # the bot stayed quiet
        unauthorised = await srv.client.post(
            f"/admin/conversations/clinica-exemplo/+{PATIENT}/resume")
        resumed = await srv.client.post(
            f"/admin/conversations/clinica-exemplo/+{PATIENT}/resume",
            headers={"Authorization": "Bearer admin-token"})
        await srv.client.post(ZAPI_URL, json=zapi_text("e a avaliação?", phone=PATIENT))
        await srv.settle()
    assert unauthorised.status_code == 401
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    replies = srv.providers.to(PATIENT)
    assert len(replies) == 2 and "R$ 120,00" in replies[1]


async def test_the_bots_own_echo_does_not_pause_it(tmp_path):
    async with running(tmp_path) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text(
            "eco", phone=PATIENT, from_me=True, from_api=True))
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi", phone=PATIENT))
        await srv.settle()
    assert len(srv.providers.to(PATIENT)) == 1


async def test_unsupported_kinds_get_a_polite_reply(tmp_path):
    from server_harness import meta_message

    sticker = meta_message({"type": "sticker", "sticker": {
        "mime_type": "image/webp", "sha256": "x", "id": "123", "animated": False}})
    async with running(tmp_path) as srv:
        body, headers = signed(sticker)
        assert (await srv.client.post("/webhooks/meta", content=body, headers=headers)
                ).status_code == 200
        await srv.settle()
    (reply,) = srv.providers.to("5511987650202")
    assert "textos e áudios" in reply


async def test_retry_then_success_and_metrics(tmp_path):
    async with running(tmp_path) as srv:
        srv.providers.fail_next = [503]
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi", phone=PATIENT))
        await srv.services.dispatcher.idle()
        store = srv.services.atende.store
        later = srv.services.atende.clock.now() + timedelta(hours=1)
        for _ in range(100):  # the outbox worker runs in the background
            queued_rows = [m for m in await store.outbox_due(later) if m.attempts]
            if queued_rows:
                break
            await asyncio.sleep(0.02)
        assert not srv.providers.to(PATIENT)  # the first attempt failed and was rescheduled
        (queued,) = queued_rows
        assert queued.status == "queued" and queued.attempts == 1 and "503" in queued.error
        await asyncio.sleep(2.1)  # the first backoff is 1-2 s
        await srv.settle()
        metrics = (await srv.client.get("/metrics")).text
        health = (await srv.client.get("/health",
                                       headers={"Authorization": "Bearer admin-token"})).json()
    assert len(srv.providers.to(PATIENT)) == 1
    assert 'sends_total{channel="zapi",outcome="retry"} 1.0' in metrics
    assert 'sends_total{channel="zapi",outcome="sent"} 1.0' in metrics
    assert health["tenants"]["clinica-exemplo"]["zapi"] == "connected"


@pytest.mark.parametrize("path", ["/health", "/metrics", "/docs", "/openapi.json"])
async def test_ops_endpoints_answer(tmp_path, path):
    async with running(tmp_path) as srv:
        answer = await srv.client.get(path)
    assert answer.status_code == 200


async def test_meta_free_text_outside_the_24_hour_window_is_refused_locally(tmp_path):
    import time as _time

    from server_harness import meta_message

    old = meta_message({"type": "text", "text": {"body": "Oi"},
                        "timestamp": str(int(_time.time()) - 2 * 24 * 3600)})
    async with running(tmp_path) as srv:
        body, headers = signed(old)
        await srv.client.post("/webhooks/meta", content=body, headers=headers)
        await srv.settle()
        metrics = (await srv.client.get("/metrics")).text
        dead = await srv.client.get("/admin/dead-letters",
                                    headers={"Authorization": "Bearer admin-token"})
    assert srv.providers.sent == []  # nothing reached Meta
    assert 'sends_total{channel="meta",outcome="outside_window"} 1.0' in metrics
    (letter,) = dead.json()
    assert letter["status"] == "failed" and letter["error"].startswith("outside_24h_window")


async def test_retries_exhausted_are_dead_lettered_and_visible(tmp_path):
    async with running(tmp_path, settings_overrides={"send_max_attempts": 1}) as srv:
        srv.providers.fail_next = [500]
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi", phone=PATIENT))
        await srv.settle()
        no_token = await srv.client.get("/admin/dead-letters")
        dead = await srv.client.get("/admin/dead-letters",
                                    headers={"Authorization": "Bearer admin-token"})
    assert no_token.status_code == 401
    (letter,) = dead.json()
    assert letter["status"] == "dead" and letter["attempts"] == 1 and "500" in letter["error"]
    assert srv.providers.to(PATIENT) == []


async def test_long_replies_are_split_and_the_address_gets_its_own_bubble(tmp_path):
    from helpers import example_tenant

    address = example_tenant().address
    reply = ("Ficamos na " + address + ". " + "Chegue 10 minutos antes. " * 3
             + "\n\n" + "Qualquer dúvida é só chamar! " * 50)
    chain = SwitchableModel(ModelChain("scripted", ScriptedChatModel([reply])))
    async with running(tmp_path, model=chain) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("onde fica?", phone=PATIENT))
        await srv.settle()
    bubbles = srv.providers.to(PATIENT)
    assert len(bubbles) >= 3 and address in bubbles
    assert all(len(b) <= 1000 for b in bubbles)
    words = " ".join(bubbles).split()
    assert len(words) == len(reply.split())  # nothing lost, nothing repeated


async def test_a_captioned_photo_is_read_and_replies_follow_the_patients_latest_channel(
        tmp_path):
    from server_harness import meta_message

    photo = meta_message({"type": "image", "image": {
        "mime_type": "image/jpeg", "sha256": "x", "id": "555",
        "caption": "quanto custa a limpeza?"}}, wa_id=PATIENT)
    async with running(tmp_path) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("Oi", phone=PATIENT))
        await srv.settle()
        body, headers = signed(photo)
        await srv.client.post("/webhooks/meta", content=body, headers=headers)
        await srv.settle()
    first, second = [s for s in srv.providers.sent if s["to"] == PATIENT]
    assert first["channel"] == "zapi" and second["channel"] == "meta"
    assert "R$ 180,00" in second["text"]  # the caption was read, not "só leio textos"


async def test_a_handoff_is_not_undone_by_a_message_arriving_mid_turn(tmp_path):
    from atende.agent.models.scripted import call

    thinking, release = threading.Event(), threading.Event()

    def slow_reply(messages):
        thinking.set()
        release.wait(10)
        return AIMessage(content="Vou chamar alguém da equipe.")

    model = ScriptedChatModel([call("request_human", reason="pediu atendente"), slow_reply])
    chain = SwitchableModel(ModelChain("scripted", model))
    async with running(tmp_path, model=chain, window=0.1) as srv:
        await srv.client.post(ZAPI_URL, json=zapi_text("quero um atendente", phone=PATIENT))
        await asyncio.to_thread(thinking.wait, 10)
        await srv.client.post(ZAPI_URL, json=zapi_text("por favor", phone=PATIENT))
        release.set()
        await srv.settle()
    assert srv.providers.to(PATIENT) == ["Vou chamar alguém da equipe."]
