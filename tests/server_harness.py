"""The webhook server in-process for tests: real app, lifespan, SQLite file and dispatcher;
providers answered by an `httpx.MockTransport` that records every send; media host names
resolved by a fake DNS (helpers.DNS)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from atende.server.app import Services, create_app
from atende.server.channels.meta.signature import meta_signature
from atende.settings import Settings
from helpers import fake_dns

ROOT = Path(__file__).resolve().parent.parent
CORPORA = Path(__file__).resolve().parent / "corpora"
ZAPI_INSTANCE = "TEST-INSTANCE-0001"
ENV = {
    "CLINICA_EXEMPLO_ZAPI_INSTANCE_ID": ZAPI_INSTANCE,
    "CLINICA_EXEMPLO_ZAPI_TOKEN": "zapi-token-secret",
    "CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN": "zapi-client-token-secret",
    "CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET": "s3cr3t-webhook-path-token",
    "CLINICA_EXEMPLO_META_ACCESS_TOKEN": "meta-access-token-secret",
    "CLINICA_EXEMPLO_META_APP_SECRET": "meta-app-secret",
    "CLINICA_EXEMPLO_META_VERIFY_TOKEN": "meta-verify-token",
}
ZAPI_URL = f"/webhooks/zapi/clinica-exemplo/{ENV['CLINICA_EXEMPLO_ZAPI_WEBHOOK_SECRET']}"
META_PHONE_NUMBER_ID = "1122334455667"


@dataclass
class FakeProviders:
    """Z-API and Meta as a MockTransport: records sends, answers like the real APIs."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before succeeding

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"error": "try again"})
        body = json.loads(request.content or b"{}")
        if "/send-text" in request.url.path:
            self.sent.append({"channel": "zapi", "to": body["phone"], "text": body["message"]})
            mid = uuid.uuid4().hex.upper()
            return httpx.Response(200, json={"zaapId": mid, "messageId": mid, "id": mid})
        if request.url.path.endswith("/messages"):
            text = body.get("text", {}).get("body") or json.dumps(body.get("interactive"))
            self.sent.append({"channel": "meta", "to": body["to"], "text": text})
            return httpx.Response(200, json={
                "messaging_product": "whatsapp", "contacts": [{"input": body["to"],
                                                               "wa_id": body["to"]}],
                "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]})
        return httpx.Response(404, json={"error": "unknown path"})

    def to(self, digits: str) -> list[str]:
        return [s["text"] for s in self.sent if s["to"] == digits]


def make_tenants_dir(tmp_path: Path, *, window: float = 0.4, cap: float = 3.0) -> Path:
    folder = tmp_path / "tenants"
    folder.mkdir(exist_ok=True)
    data = yaml.safe_load((ROOT / "tenants" / "clinica-exemplo.yaml").read_text("utf-8"))
    data["debounce"] = {"window_seconds": window, "max_seconds": cap}
    (folder / "clinica-exemplo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                 "utf-8")
    return folder


@dataclass
class Running:
    client: httpx.AsyncClient
    services: Services
    providers: FakeProviders

    async def settle(self) -> None:
        """Wait (up to 15 s) until every pending turn ran and every queued reply was sent."""
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            await self.services.dispatcher.idle()
            await self.services.outbox.drain()
            store = self.services.atende.store
            sent = len(self.providers.sent)
            if not await store.conversations_with_pending() and not await store.outbox_due(
                    self.services.atende.clock.now()):
                # the background outbox may be mid-send: settled means nothing moves any more
                await asyncio.sleep(0.15)
                await self.services.outbox.drain()
                if len(self.providers.sent) == sent and not await store.outbox_due(
                        self.services.atende.clock.now()):
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError("the server did not settle")


@asynccontextmanager
async def running(tmp_path: Path, *, model: Any = None, transcriber: Any = None,
                  http: httpx.AsyncClient | None = None, window: float = 0.4,
                  settings_overrides: dict[str, Any] | None = None,
                  mounts: dict[str, httpx.AsyncBaseTransport] | None = None
                  ) -> AsyncIterator[Running]:
    """The app on a MockTransport for the providers (or on `http`). With `mounts`, those
    origins get their own transports and every other origin is the real network (a loopback
    listener the server must not reach, say)."""
    providers = FakeProviders()
    options: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'atende.db'}",
        "tenants_dir": make_tenants_dir(tmp_path, window=window),
        "zapi_base_url": "http://zapi.test", "meta_graph_url": "http://graph.test",
        "admin_token": "admin-token", **(settings_overrides or {})}
    settings = Settings(_env_file=None, **options)
    fake = httpx.MockTransport(providers.handle)
    if http is not None:
        client_http = http
    elif mounts is not None:
        client_http = httpx.AsyncClient(mounts={
            "http://zapi.test": fake, "http://graph.test": fake, **mounts})
    else:
        client_http = httpx.AsyncClient(transport=fake)
    app = create_app(settings, env=ENV, model=model, transcriber=transcriber, http=client_http,
                     resolve=fake_dns)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://atende.test") as client:
            yield Running(client, app.state.services, providers)
    await client_http.aclose()


def _corpus(path: str) -> dict[str, Any]:
    return json.loads((CORPORA / path).read_text("utf-8"))


def zapi_text(text: str, *, phone: str = "5511987650101", message_id: str | None = None,
              from_me: bool = False, from_api: bool = False) -> dict[str, Any]:
    payload = copy.deepcopy(_corpus("zapi/received_text.json"))
    payload.update(instanceId=ZAPI_INSTANCE, messageId=message_id or uuid.uuid4().hex.upper(),
                   phone=phone, fromMe=from_me, fromApi=from_api, momment=int(time.time() * 1000),
                   text={"message": text})
    return payload


def zapi_audio(audio_url: str, *, phone: str = "5511987650101") -> dict[str, Any]:
    payload = copy.deepcopy(_corpus("zapi/received_audio_ptt_voice_note.json"))
    payload.update(instanceId=ZAPI_INSTANCE, messageId=uuid.uuid4().hex.upper(), phone=phone,
                   momment=int(time.time() * 1000))
    payload["audio"].update(audioUrl=audio_url, seconds=3)
    return payload


def meta_message(message: dict[str, Any], *, wa_id: str = "5511987650202") -> dict[str, Any]:
    payload = copy.deepcopy(_corpus("meta/msg_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"] = {"display_phone_number": "5511933334444",
                         "phone_number_id": META_PHONE_NUMBER_ID}
    value["contacts"] = [{"profile": {"name": "Paciente Teste"}, "wa_id": wa_id}]
    value["messages"] = [{"from": wa_id, "id": f"wamid.{uuid.uuid4().hex}",
                          "timestamp": str(int(time.time())), **message}]
    return payload


def meta_text(text: str, **kw: Any) -> dict[str, Any]:
    return meta_message({"type": "text", "text": {"body": text}}, **kw)


def signed(payload: dict[str, Any], secret: str = ENV["CLINICA_EXEMPLO_META_APP_SECRET"]
           ) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-Hub-Signature-256": meta_signature(body, secret),
                  "Content-Type": "application/json"}


