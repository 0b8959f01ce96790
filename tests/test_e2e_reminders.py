"""End to end, the clinic writes first: a real `atende serve` (SQLite) whose clock a file
freezes and moves (`ATENDE_CLOCK_FILE`), Z-API and Meta played by `ProviderStub`.

Patient A books on Meta; a day later, outside the 24-hour window, the 48-hour reminder goes out
as the approved template at its minute, not one before; A taps Confirmar and the appointment is
confirmed. Patient B books on Z-API, gets the text reminder ending "Responda 1 ..., 0 ...",
answers "0": cancelled; the slot is offered to patient C, who had asked to hear of a freed
cleaning; C answers "sim" and the slot is booked for C.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from provider_stub import ProviderStub
from test_e2e_server import PHONE_NUMBER_ID, TENANT, AtendeServer, Channels, wait_for

from atende.memory import open_store
from atende.memory.records import Appointment
from atende.reminders.notice import read_payload

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "tests" / "corpora"
SP = ZoneInfo("America/Sao_Paulo")
A, B, C = "5511987650101", "5511987650102", "5511987650103"
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=SP)  # Monday 08:00


class Clock:
    """The file the server reads "now" from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.at = T0
        self.write()

    def write(self) -> None:
        self.path.write_text(self.at.isoformat(), encoding="utf-8")

    def set(self, at: datetime) -> None:
        self.at = at
        self.write()

    def epoch(self) -> int:
        return int(self.at.timestamp())


def meta_text(clock: Clock, phone: str, text: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((CORPORA / "meta" / "msg_text.json").read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": "5511933334444", "phone_number_id": PHONE_NUMBER_ID}
    value["contacts"][0].update(wa_id=phone, user_id=f"BR.{phone[-10:]}", profile={"name": "Ana Paula"})
    value["messages"][0].update(**{"from": phone, "id": "wamid." + uuid.uuid4().hex.upper(),
                                   "timestamp": str(clock.epoch()), "text": {"body": text}})
    return payload


def meta_button(clock: Clock, phone: str, payload_id: str, title: str) -> dict[str, Any]:
    """The tap on a template's quick-reply button (corpus `button_template_quick_reply_pt.json`)."""
    payload: dict[str, Any] = json.loads(
        (CORPORA / "meta" / "button_template_quick_reply_pt.json").read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": "5511933334444", "phone_number_id": PHONE_NUMBER_ID}
    value["contacts"][0].update(wa_id=phone)
    value["messages"][0].update(**{"from": phone, "id": "wamid." + uuid.uuid4().hex.upper(),
                                   "timestamp": str(clock.epoch()),
                                   "button": {"payload": payload_id, "text": title}})
    return payload


def zapi_text(clock: Clock, phone: str, text: str, instance_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((CORPORA / "zapi" / "received_text.json").read_text())
    payload.update(instanceId=instance_id, messageId="3EB0" + uuid.uuid4().hex[:18].upper(),
                   phone=phone, momment=clock.epoch() * 1000, chatName="Paciente",
                   senderName="Paciente", senderLid=f"{phone[-8:]}0000@lid", text={"message": text})
    return payload


def appointments(server: AtendeServer) -> list[Appointment]:
    async def read() -> list[Appointment]:
        store = open_store(server.db_url)
        try:
            return await store.list_appointments(TENANT, statuses=None)
        finally:
            await store.close()

    return asyncio.run(read())


def texts(stub: ProviderStub, phone: str) -> list[str]:
    return [s.text or "" for s in stub.sent_to(phone)]


def templates(stub: ProviderStub, phone: str) -> list[dict[str, Any]]:
    return [s.json for s in stub.sent_to(phone, "meta") if s.json.get("type") == "template"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[AtendeServer, ProviderStub, Clock, Channels]]:
    channels = Channels.random()
    with ProviderStub(zapi=channels.zapi, meta=channels.meta) as stub:
        server = AtendeServer(tmp_path, stub, channels)
        clock = Clock(tmp_path / "now.txt")
        server.env.update(ATENDE_CLOCK_FILE=str(clock.path), ATENDE_REMINDERS_TICK_SECONDS="0.2")
        try:
            server.start()
            yield server, stub, clock, channels
        finally:
            server.kill()


def test_reminders_go_out_on_time_and_answers_confirm_cancel_and_refill(
        world: tuple[AtendeServer, ProviderStub, Clock, Channels]) -> None:
    server, stub, clock, channels = world
    zapi = channels.zapi.instance_id
    with server.client() as client:
        # A books on Meta: Thursday 12/03 10:00 with Dra. Ana
        server.post_meta(client, meta_text(
            clock, A, "Oi, sou a Ana Paula, quero marcar uma limpeza quinta às 10h"))
        wait_for(lambda: any("12/03" in json.dumps(s.json, ensure_ascii=False)
                             for s in stub.sent_to(A)), "A's options (a list to tap)",
                 logs=server.logs)
        server.post_meta(client, meta_text(clock, A, "1"))
        booked_a = wait_for(lambda: [a for a in appointments(server) if a.patient_phone == "+" + A],
                            "A's booking", logs=server.logs)[0]
        wait_for(lambda: any("Consulta marcada" in t for t in texts(stub, A)),
                 "A's booking confirmation", logs=server.logs)
        # B books on Z-API at 11:00; C asks to hear of a freed cleaning
        server.post_zapi(client, zapi_text(clock, B, "quero marcar uma limpeza quinta às 11h", zapi))
        wait_for(lambda: any("11:00" in t for t in texts(stub, B)), "B's options", logs=server.logs)
        server.post_zapi(client, zapi_text(clock, B, "1", zapi))
        booked_b = wait_for(lambda: [a for a in appointments(server) if a.patient_phone == "+" + B],
                            "B's booking", logs=server.logs)[0]
        server.post_zapi(client, zapi_text(clock, C, "me avisa se vagar um horário de limpeza", zapi))
        wait_for(lambda: any("lista de espera" in t for t in texts(stub, C)), "C on the waitlist",
                 logs=server.logs)

        # one minute early: no reminder yet
        clock.set(booked_a.start.astimezone(SP) - timedelta(hours=48, minutes=1))
        time.sleep(1.5)
        assert templates(stub, A) == []
        # at its minute, A (26 h after writing: outside the window) gets the approved template
        clock.set(booked_a.start.astimezone(SP) - timedelta(hours=48))
        (template,) = wait_for(lambda: templates(stub, A), "A's template reminder",
                               logs=server.logs)
        body = template["template"]
        assert body["name"] == "lembrete_consulta" and body["language"] == {"code": "pt_BR"}
        params = [p["text"] for p in body["components"][0]["parameters"]]
        assert params == ["Ana", "Limpeza", "Dra. Ana Souza", "12/03", "10:00",
                          "Clínica Sorriso Exemplo"]
        confirm = body["components"][1]["parameters"][0]["payload"]
        assert read_payload(confirm) == ("confirm", booked_a.id)
        # A taps Confirmar
        server.post_meta(client, meta_button(clock, A, confirm, "Confirmar"))
        wait_for(lambda: [a for a in appointments(server)
                          if a.id == booked_a.id and a.status == "confirmed"],
                 "A's appointment confirmed", logs=server.logs)

        # B's reminder, on Z-API, is the text ending with the 1 / 2 / 0 hint
        clock.set(booked_b.start.astimezone(SP) - timedelta(hours=48))
        wait_for(lambda: any(t.endswith("Responda 1 para confirmar, 2 para remarcar ou 0 para "
                                        "cancelar.") for t in texts(stub, B)),
                 "B's text reminder", logs=server.logs)
        clock.set(clock.at + timedelta(minutes=5))
        server.post_zapi(client, zapi_text(clock, B, "0", zapi))
        wait_for(lambda: [a for a in appointments(server)
                          if a.id == booked_b.id and a.status == "cancelled"],
                 "B's appointment cancelled", logs=server.logs)
        # the freed slot is offered to C, who takes it
        offer = wait_for(lambda: [t for t in texts(stub, C) if "Vagou" in t], "C's offer",
                         logs=server.logs)[0]
        assert "11:00" in offer and "12/03" in offer
        server.post_zapi(client, zapi_text(clock, C, "sim", zapi))
        rebooked = wait_for(lambda: [a for a in appointments(server)
                                     if a.patient_phone == "+" + C and a.status == "booked"],
                            "C booked", logs=server.logs)[0]
        assert rebooked.start == booked_b.start and rebooked.professional_id == booked_b.professional_id
        wait_for(lambda: any("Consulta marcada" in t for t in texts(stub, C)),
                 "C's booking confirmation", logs=server.logs)
        # nobody got anything twice
        for phone in (A, B, C):
            sent = texts(stub, phone)
            assert len(sent) == len(set(sent)), (phone, sent)
        reminders = httpx.get(f"{server.url}/admin/reminders", params={"tenant": TENANT},
                              headers={"Authorization": "Bearer e2e-admin-token"}).json()
        by = {(r["appointment_id"], r["kind"]): r["status"] for r in reminders}
        assert by[(booked_a.id, "before_48h")] == "sent"
        assert by[(booked_b.id, "before_48h")] == "sent"
        assert by[(booked_b.id, "before_12h")] == "cancelled"
        # sent: A's and B's confirmations and reminders, C's offer and C's confirmation
        wanted = [f'proactive_messages_total{{event="{event}",tenant="{TENANT}"}} {count}.0'
                  for event, count in (("sent", 6), ("confirmed", 1), ("patient_cancelled", 1),
                                       ("waitlist_offered", 1), ("waitlist_rebooked", 1))]

        def counted() -> bool:
            metrics = httpx.get(f"{server.url}/metrics").text
            return all(line in metrics for line in wanted)

        wait_for(counted, f"the proactive counters {wanted}", timeout=10, logs=server.logs)
