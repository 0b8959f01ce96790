"""Inputs that used to answer 500, and poison messages: each message of a POST is stored or set
aside on its own, the POST is acknowledged, and ops can list what was set aside and why."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from server_harness import ROOT, ZAPI_URL, meta_text, running, signed, zapi_text

from atende.memory.store import Store
from atende.server.channels.meta.signature import meta_signature

TENANT = "clinica-exemplo"
ADMIN = {"Authorization": "Bearer admin-token"}
YEAR_1, YEAR_68, YEAR_3000 = -62135596800, -59042995200, 32503680000


def _meta_batch(*bodies: str, phone: str = "5511987650141") -> dict[str, Any]:
    payload = meta_text(bodies[0], wa_id=phone)
    value = payload["entry"][0]["changes"][0]["value"]
    first = value["messages"][0]
    value["messages"] = [{**copy.deepcopy(first), "id": f"wamid.BATCH{i}", "text": {"body": body}}
                         for i, body in enumerate(bodies, 1)]
    return payload


def _zapi_raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()  # ensure_ascii: a lone surrogate travels as "\ud800"


def _meta_mutations() -> dict[str, dict[str, Any]]:
    def message(**fields: Any) -> dict[str, Any]:
        payload = meta_text("Oi", wa_id="5511987650142")
        payload["entry"][0]["changes"][0]["value"]["messages"][0].update(fields)
        return payload

    named = meta_text("Oi", wa_id="5511987650142")
    named["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Ana \ud800"
    return {
        "empty id": message(id=""),
        "surrogate in text": message(text={"body": "oi \ud800 tudo bem"}),
        "NUL in text": message(text={"body": "oi \x00"}),
        "surrogate in sender name": named,
        "year 1": message(timestamp=str(YEAR_1)),
        "year 68": message(timestamp=str(YEAR_68)),
        "year 3000": message(timestamp=str(YEAR_3000)),
    }


def _zapi_mutations() -> dict[str, dict[str, Any]]:
    def message(**fields: Any) -> dict[str, Any]:
        return {**zapi_text("Oi", phone="5511987650143"), **fields}

    return {
        "empty id": message(messageId=""),
        "surrogate in text": message(text={"message": "oi \ud800"}),
        "NUL in text": message(text={"message": "oi \x00"}),
        "surrogate in sender name": message(senderName="Ana \ud800"),
        "year 1": message(momment=YEAR_1 * 1000),
        "year 68": message(momment=YEAR_68 * 1000),
        "year 3000": message(momment=YEAR_3000 * 1000),
    }


async def _nothing_stored(store: Store) -> None:
    assert await store.conversations_with_pending() == []
    for phone in ("+5511987650142", "+5511987650143"):
        assert await store.find_conversation(TENANT, phone) is None


async def test_inputs_that_answered_500_are_set_aside_on_both_webhooks(tmp_path) -> None:
    """Empty id, lone surrogate or NUL in the text or the sender's name, a timestamp of year 1,
    68 or 3000: the message is set aside with its reason, the POST answered 200, nothing stored
    in the inbox."""
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        for name, payload in _meta_mutations().items():
            body, headers = signed(payload)
            answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json()["poison"] == 1 and answer.json()["accepted"] == 0, name
        for name, payload in _zapi_mutations().items():
            answer = await srv.client.post(ZAPI_URL, content=_zapi_raw(payload),
                                           headers={"Content-Type": "application/json"})
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json()["poison"] == 1 and answer.json()["accepted"] == 0, name
        await _nothing_stored(store)
        kept = await store.list_poison(TENANT)
        listed = (await srv.client.get("/admin/poison", headers=ADMIN)).json()
    assert len(kept) == len(_meta_mutations()) + len(_zapi_mutations())
    reasons = {p.reason for p in kept}
    assert any("string_too_short" in r for r in reasons)
    assert any("timestamp out of range" in r for r in reasons)
    assert any("a lone surrogate or a NUL character" in r for r in reasons)
    assert all("\ud800" not in p.excerpt and "\x00" not in p.excerpt for p in kept)
    assert [p["id"] for p in listed] == [p.id for p in kept]


@pytest.mark.parametrize("route", ["meta", "zapi"])
async def test_deep_nesting_and_broken_bodies_get_a_4xx_with_the_error_shape(tmp_path, route) -> None:
    bodies = {
        "deep": b"[" * 100_000,
        "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "nested past 64 levels": b'{"entry": ' + b"[" * 200 + b"]" * 200 + b"}",
        "not an object": b"[1, 2]",
        "not utf-8": b'{"a": "\xff"}',
    }
    async with running(tmp_path) as srv:
        for name, body in bodies.items():
            if route == "meta":
                headers = {"X-Hub-Signature-256": meta_signature(body, "meta-app-secret")}
                answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
            else:
                answer = await srv.client.post(ZAPI_URL, content=body)
            assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
            assert set(answer.json()) == {"request_id", "code", "message"}, name
        await _nothing_stored(srv.services.atende.store)
        assert await srv.services.atende.store.list_poison() == []


async def test_a_batch_with_a_poisoned_middle_message_stores_the_others_and_ops_see_it(
        tmp_path) -> None:
    """Meta batch of 3 (signed): the middle message carries a lone surrogate no store can keep.
    Messages 1 and 3 are stored, the POST is 200 (Meta stops redelivering), and the poison is
    listed by `atende inbox poison` with its reason, and counted in /metrics."""
    payload = _meta_batch("Oi, bom dia", "quero \ud800 marcar", "uma limpeza")
    body, headers = signed(payload)
    assert b"\\ud800" in body
    async with running(tmp_path) as srv:
        answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        again = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        store = srv.services.atende.store
        conversation = await store.find_conversation(TENANT, "+5511987650141")
        inbox = [m for m in await store.list_messages(conversation.id) if m.direction == "in"]
        metrics = (await srv.client.get("/metrics")).text
        await srv.settle()
    assert answer.status_code == 200
    assert {k: answer.json()[k] for k in ("accepted", "poison")} == {"accepted": 2, "poison": 1}
    assert again.json()["duplicate"] == 2 and again.json()["poison"] == 1  # one record, still
    assert [(m.provider_message_id, m.text) for m in inbox] == [
        ("wamid.BATCH1", "Oi, bom dia"), ("wamid.BATCH3", "uma limpeza")]
    assert 'poison_messages_total{channel="meta"} 2.0' in metrics

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ATENDE_"))}
    env["ATENDE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'atende.db'}"
    listed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "atende.cli", "inbox", "poison", "--tenant", TENANT],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "wamid.BATCH2" in line and "meta" in line
    assert "MetaMessage text.body: value_error (a lone surrogate or a NUL character)" in line
    as_json = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "atende.cli", "inbox", "poison", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    (record,) = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert record["tenant"] == TENANT and record["provider_message_id"] == "wamid.BATCH2"
    assert "marcar" not in record["excerpt"] and "<" in record["excerpt"]


class _RefusesOneMessage:
    """The real store, except that `inbox_add` of one provider id raises as a database would."""

    def __init__(self, store: Store, poisoned: str):
        self._store, self._poisoned = store, poisoned

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def inbox_add(self, tenant_id: str, phone: str, **kw: Any) -> Any:
        if kw["provider_message_id"] == self._poisoned:
            raise RuntimeError("value too long for type character varying(20)\nDETAIL: oi 5511987650141")
        return await self._store.inbox_add(tenant_id, phone, **kw)


async def test_a_message_the_store_refuses_is_set_aside_and_the_batch_goes_on(tmp_path) -> None:
    """After validation at the door no known input makes the store raise, so the refusal is
    injected at the store boundary: a wrapper around the real store raises for one message."""
    payload = _meta_batch("primeira", "segunda", "terceira", phone="5511987650144")
    body, headers = signed(payload)
    async with running(tmp_path) as srv:
        real = srv.services.atende.store
        srv.services.atende.store = _RefusesOneMessage(real, "wamid.BATCH2")  # type: ignore[assignment]
        answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        srv.services.atende.store = real
        conversation = await real.find_conversation(TENANT, "+5511987650144")
        inbox = [m.text for m in await real.list_messages(conversation.id) if m.direction == "in"]
        (poison,) = await real.list_poison(TENANT)
        await srv.settle()
    assert answer.status_code == 200 and answer.json()["poison"] == 1
    assert inbox == ["primeira", "terceira"]
    assert poison.provider_message_id == "wamid.BATCH2"
    assert poison.reason == "store refused: RuntimeError: value too long for type character varying(20)"
    assert "segunda" not in poison.excerpt and "5511987650144" not in poison.excerpt


class _DatabaseDown:
    def __init__(self, store: Store):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def inbox_add(self, *args: Any, **kw: Any) -> Any:
        raise ConnectionError("database unreachable")

    async def add_poison(self, *args: Any, **kw: Any) -> Any:
        raise ConnectionError("database unreachable")


async def test_when_not_even_the_poison_record_can_be_written_the_provider_retries(tmp_path) -> None:
    body, headers = signed(_meta_batch("Oi", phone="5511987650145"))
    async with running(tmp_path) as srv:
        real = srv.services.atende.store
        srv.services.atende.store = _DatabaseDown(real)  # type: ignore[assignment]
        answer = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        srv.services.atende.store = real
        retried = await srv.client.post("/webhooks/meta", content=body, headers=headers)
        await srv.settle()
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert retried.status_code == 200 and retried.json()["accepted"] == 1
