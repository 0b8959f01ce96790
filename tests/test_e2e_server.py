"""End to end: `atende serve` in a subprocess on 127.0.0.1, Z-API and Meta played by `ProviderStub`.

What a clinic would notice: a patient's question gets one answer on the channel it came from;
a redelivered webhook, a throttled provider or a server killed mid-burst (SIGKILL, then a
restart on the same database) neither loses a reply nor sends one twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from provider_stub import MetaAccount, ProviderStub, ZapiAccount

from atende.memory import open_store
from atende.server.channels.meta.signature import meta_signature
from atende.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "tests" / "corpora"
TENANT = "clinica-exemplo"
PHONE_NUMBER_ID = "1122334455667"  # the example clinic's Meta number (tenant YAML)
GRAPH_VERSION = Settings.model_fields["meta_api_version"].default
DEBOUNCE_S = 3.0  # the example clinic's debounce window
QUESTION = "Quanto custa a limpeza?"
PRICE = "R$ 180,00"
WAIT_S = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class Channels:
    """Fresh random credentials for the example clinic's two channels."""

    zapi: ZapiAccount
    zapi_webhook_secret: str
    meta: MetaAccount
    meta_app_secret: str
    meta_verify_token: str

    @classmethod
    def random(cls) -> Channels:
        return cls(
            zapi=ZapiAccount(uuid.uuid4().hex.upper(), secrets.token_hex(12), secrets.token_hex(16)),
            zapi_webhook_secret=secrets.token_urlsafe(16),
            meta=MetaAccount(PHONE_NUMBER_ID, "EAAG" + secrets.token_urlsafe(32)),
            meta_app_secret=secrets.token_hex(16),
            meta_verify_token=secrets.token_urlsafe(12),
        )

    def env(self) -> dict[str, str]:
        """The variables tenants/clinica-exemplo.yaml names under `channels`."""
        return {
            "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": self.zapi.instance_id,
            "CLINICA_EXEMPLO_ZAPI_TOKEN": self.zapi.token,
            "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": self.zapi.client_token,
            "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": self.zapi_webhook_secret,
            "CLINICA_EXEMPLO_META_ACCESS_TOKEN": self.meta.access_token,
            "CLINICA_EXEMPLO_META_APP_SECRET": self.meta_app_secret,
            "CLINICA_EXEMPLO_META_VERIFY_TOKEN": self.meta_verify_token,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], T], what: str, *, timeout: float = WAIT_S, logs: Callable[[], str] = lambda: ""
) -> T:
    """Poll `condition` every 0.1 s until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{logs()}")
        time.sleep(0.1)


ADMIN_TOKEN = "e2e-admin-token"


class AtendeServer:
    """`atende serve` as a subprocess; `kill()` is a SIGKILL, `start()` again reuses db and port."""

    def __init__(self, folder: Path, stub: ProviderStub, channels: Channels):
        self.folder = folder
        self.channels = channels
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = f"sqlite:///{folder / 'atende.db'}"
        self.log_path = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ATENDE_", "OPENAI_", "CLINICA_"))
            and k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
        }
        self.env = {
            **inherited,
            "ATENDE_DATABASE_URL": self.db_url,
            "ATENDE_TENANTS_DIR": str(ROOT / "tenants"),
            "ATENDE_ZAPI_BASE_URL": stub.url,
            "ATENDE_META_GRAPH_URL": stub.url,
            "ATENDE_LOG_JSON": "true",
            "ATENDE_ADMIN_TOKEN": ADMIN_TOKEN,
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **channels.env(),
        }  # no OPENAI_API_KEY: the offline model answers

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "atende.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, "GET /health", logs=self.logs)

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"atende serve exited with {self.proc.returncode}\n{self.logs()}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no flush, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def logs(self, lines: int = 40) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + "\n".join(tail)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)

    def post_zapi(self, client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"/webhooks/zapi/{TENANT}/{self.channels.zapi_webhook_secret}", json=payload)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post_meta(self, client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(payload).encode()
        response = client.post(
            "/webhooks/meta",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta_signature(raw, self.channels.meta_app_secret),
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settled(self) -> bool:
        """No inbound message waits for a turn and no reply waits to be sent."""

        async def check() -> bool:
            store = open_store(self.db_url)
            try:
                pending = await store.conversations_with_pending()
                queued = await store.outbox_due(datetime.now(UTC) + timedelta(days=3650))
                return not pending and not queued
            finally:
                await store.close()

        return asyncio.run(check())


def zapi_text(phone: str, text: str, instance_id: str) -> dict[str, Any]:
    """A Z-API ReceivedCallback (the corpus shape) from `phone`, with a fresh messageId."""
    payload: dict[str, Any] = json.loads((CORPORA / "zapi" / "received_text.json").read_text())
    payload.update(
        instanceId=instance_id,
        messageId="3EB0" + uuid.uuid4().hex[:18].upper(),
        phone=phone,
        momment=int(time.time() * 1000),
        chatName="Paciente",
        senderName="Paciente",
        senderLid=f"{phone[-8:]}0000@lid",
        text={"message": text},
    )
    return payload


def meta_text(phone: str, text: str) -> dict[str, Any]:
    """A Meta `messages` notification (the corpus shape) to the example clinic's number."""
    payload: dict[str, Any] = json.loads((CORPORA / "meta" / "msg_text.json").read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": "5511933334444", "phone_number_id": PHONE_NUMBER_ID}
    value["contacts"][0].update(wa_id=phone, user_id=f"BR.{phone[-10:]}", profile={"name": "Paciente"})
    value["messages"][0].update(
        **{
            "from": phone,
            "id": "wamid." + uuid.uuid4().hex.upper(),
            "timestamp": str(int(time.time())),
            "text": {"body": text},
        }
    )
    return payload


def priced_replies(stub: ProviderStub, phone: str) -> int:
    return sum(PRICE in sent.text for sent in stub.sent_to(phone))


def assert_answered_once(stub: ProviderStub, phone: str, provider: str) -> None:
    """One reply: the price went out once, on the patient's own channel, and no bubble twice."""
    sent = stub.sent_to(phone)
    texts = [s.text for s in sent]
    assert priced_replies(stub, phone) == 1, (phone, texts)
    assert len(texts) == len(set(texts)), (phone, texts)
    assert {s.provider for s in sent} == {provider}, (phone, [s.path for s in sent])


@pytest.fixture(scope="module")
def channels() -> Channels:
    return Channels.random()


@pytest.fixture(scope="module")
def stub(channels: Channels) -> Iterator[ProviderStub]:
    with ProviderStub(zapi=channels.zapi, meta=channels.meta) as running:
        yield running


@pytest.fixture(scope="module")
def server(
    stub: ProviderStub, channels: Channels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AtendeServer]:
    running = AtendeServer(tmp_path_factory.mktemp("serve"), stub, channels)
    try:
        running.start()
        yield running
    finally:
        running.kill()


def test_a_question_on_each_channel_gets_one_answer(
    server: AtendeServer, stub: ProviderStub, channels: Channels
) -> None:
    zapi_phone, meta_phone = "5511987650101", "5511987650201"
    with server.client() as client:
        ack = server.post_zapi(client, zapi_text(zapi_phone, QUESTION, channels.zapi.instance_id))
        assert ack["accepted"] == 1, ack
        assert server.post_meta(client, meta_text(meta_phone, QUESTION))["accepted"] == 1

    wait_for(lambda: stub.sent_to(zapi_phone) and stub.sent_to(meta_phone), "both replies", logs=server.logs)
    wait_for(server.settled, "the outbox to drain", logs=server.logs)

    (zapi,) = stub.sent_to(zapi_phone)
    assert zapi.provider == "zapi" and zapi.path.endswith("/send-text")
    assert PRICE in zapi.text, zapi.text
    (meta,) = stub.sent_to(meta_phone)
    assert meta.provider == "meta" and meta.path == f"/{GRAPH_VERSION}/{PHONE_NUMBER_ID}/messages"
    assert meta.json["type"] == "text" and PRICE in meta.text, meta.json


def test_redelivered_webhooks_are_answered_once(
    server: AtendeServer, stub: ProviderStub, channels: Channels
) -> None:
    zapi_phone, meta_phone = "5511987650102", "5511987650202"
    zapi_payload = zapi_text(zapi_phone, QUESTION, channels.zapi.instance_id)
    meta_payload = meta_text(meta_phone, QUESTION)
    with server.client() as client:
        zapi_acks = [server.post_zapi(client, zapi_payload) for _ in range(3)]
        meta_acks = [server.post_meta(client, meta_payload) for _ in range(3)]
    for acks in (zapi_acks, meta_acks):
        assert [(a["accepted"], a["duplicate"]) for a in acks] == [(1, 0), (0, 1), (0, 1)], acks

    wait_for(lambda: stub.sent_to(zapi_phone) and stub.sent_to(meta_phone), "both replies", logs=server.logs)
    wait_for(server.settled, "the outbox to drain", logs=server.logs)
    assert_answered_once(stub, zapi_phone, "zapi")
    assert_answered_once(stub, meta_phone, "meta")


def test_throttled_sends_are_retried_and_delivered_once(
    server: AtendeServer, stub: ProviderStub, channels: Channels
) -> None:
    phone = "5511987650103"
    stub.fail_next(2, status=429, retry_after=0)
    with server.client() as client:
        server.post_zapi(client, zapi_text(phone, QUESTION, channels.zapi.instance_id))

    wait_for(lambda: stub.sent_to(phone), "the reply after two 429s", logs=server.logs)
    wait_for(server.settled, "the outbox to drain", logs=server.logs)
    attempts = [r.status for r in stub.requests if r.to == phone.removeprefix("+")]
    assert attempts == [429, 429, 200], attempts
    assert_answered_once(stub, phone, "zapi")


def test_sigkill_mid_burst_loses_no_reply_and_repeats_none(
    server: AtendeServer, stub: ProviderStub, channels: Channels
) -> None:
    answered = "5511987650120"  # answered before the crash: must not be answered again
    burst = {f"55119876501{n}": "zapi" for n in range(21, 25)}
    burst |= {f"55119876502{n}": "meta" for n in range(21, 25)}
    try:
        with server.client() as client:
            server.post_zapi(client, zapi_text(answered, QUESTION, channels.zapi.instance_id))
            wait_for(lambda: stub.sent_to(answered), "the first reply", logs=server.logs)
            wait_for(server.settled, "the first reply to be recorded", logs=server.logs)

            first_post = time.monotonic()
            for phone, provider in burst.items():
                if provider == "zapi":
                    server.post_zapi(client, zapi_text(phone, QUESTION, channels.zapi.instance_id))
                else:
                    server.post_meta(client, meta_text(phone, QUESTION))
        server.kill()
        # the crash came inside the debounce window: every burst turn was still pending
        assert time.monotonic() - first_post < DEBOUNCE_S
        assert not any(stub.sent_to(phone) for phone in burst)
    finally:
        server.kill()
        server.start()  # same database, same port: the module's other tests keep working

    wait_for(
        lambda: all(priced_replies(stub, phone) for phone in burst),
        "every burst conversation to be answered after the restart",
        logs=server.logs,
    )
    wait_for(server.settled, "the outbox to drain", logs=server.logs)
    time.sleep(0.5)  # room for a duplicate already on the wire to arrive

    for phone, provider in burst.items():
        assert_answered_once(stub, phone, provider)
    assert_answered_once(stub, answered, "zapi")
    assert httpx.get(f"{server.url}/health", timeout=5.0).json() == {"status": "ok"}
    health = httpx.get(f"{server.url}/health", timeout=5.0,
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert health.status_code == 200
    assert health.json()["database"] == "connected", health.json()
    assert health.json()["tenants"][TENANT] == {"zapi": "connected", "meta": "connected"}
