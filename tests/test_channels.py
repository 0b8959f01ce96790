"""A channel is a registration: a channel the shared code has never heard of, added to `CHANNELS`,
gets its webhook route, its credentials on /health, its sender, and decides in the outbox whether
a reply may go out and how it is shown."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from server_harness import ENV, running

from atende.server.channels import CHANNELS
from atende.server.channels.base import NOT_CONFIGURED, Refusal, read_env
from atende.server.inbound import MediaRef
from atende.server.media import DownloadedMedia, MediaFetcher, MediaUnavailable
from atende.server.senders import SendResult
from atende.settings import Settings
from atende.tenant import Tenant

PHONE = "+5511987650303"
SILENT = "+5511987650404"


@dataclass
class Outbox:
    """What the pager channel was asked to send."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_text(self, to_phone: str, text: str, *, choices: Any = ()
                        ) -> SendResult:
        self.sent.append((to_phone, text))
        return SendResult(provider_message_id=f"pager-{len(self.sent)}")


class Pager:
    """A made-up channel: one account per clinic from PAGER_KEY, replies shouted, and no reply
    at all to a patient who never wrote."""

    name = "pager"

    def __init__(self) -> None:
        self.outbox = Outbox()
        self.router = APIRouter()

        @self.router.post("/pager/{tenant}")
        async def ping(tenant: str) -> dict[str, str]:
            return {"pager": tenant}

    def routes(self) -> APIRouter:
        return self.router

    def read_credentials(self, tenant: Tenant, env: Mapping[str, str]) -> tuple[str | None, str]:
        if tenant.id != "clinica-exemplo":
            return None, NOT_CONFIGURED
        values, status = read_env(env, {"key": "PAGER_KEY"})
        return (values["key"] if values else None), status

    def sender(self, account: str, settings: Settings, http: httpx.AsyncClient) -> Outbox:
        return self.outbox

    async def fetch_media(self, fetcher: MediaFetcher, ref: MediaRef, account: str | None
                          ) -> DownloadedMedia:
        raise MediaUnavailable("pagers carry no media", reason="no_source")

    def refusal(self, last_inbound_at: datetime | None, now: datetime) -> Refusal | None:
        return Refusal("outside_window", "never_wrote: nobody to answer") \
            if last_inbound_at is None else None

    async def send_reply(self, sender: Outbox, to_phone: str, text: str, choices=()) -> SendResult:
        return await sender.send_text(to_phone, text.upper())


@pytest.fixture
def pager(monkeypatch: pytest.MonkeyPatch) -> Pager:
    channel = Pager()
    monkeypatch.setitem(CHANNELS, channel.name, channel)
    monkeypatch.setitem(ENV, "PAGER_KEY", "pager-key-secret")
    return channel


async def test_a_registered_channel_gets_its_route_credentials_and_sender(tmp_path, pager):
    async with running(tmp_path) as srv:
        ping = await srv.client.post("/webhooks/pager/clinica-exemplo")
        health = (await srv.client.get(
            "/health", headers={"Authorization": "Bearer admin-token"})).json()
        sender = srv.services.senders.get(("clinica-exemplo", "pager"))
    assert (ping.status_code, ping.json()) == (200, {"pager": "clinica-exemplo"})
    assert health["tenants"]["clinica-exemplo"]["pager"] == "configured"
    assert sender is pager.outbox


async def test_missing_credentials_are_named_on_health_and_build_no_sender(tmp_path, pager):
    del ENV["PAGER_KEY"]
    async with running(tmp_path) as srv:
        health = (await srv.client.get(
            "/health", headers={"Authorization": "Bearer admin-token"})).json()
        senders = srv.services.senders
    assert health["tenants"]["clinica-exemplo"]["pager"] == (
        "failing: missing environment variable PAGER_KEY")
    assert ("clinica-exemplo", "pager") not in senders


async def test_the_outbox_lets_the_channel_refuse_and_render_a_reply(tmp_path, pager):
    async with running(tmp_path) as srv:
        store = srv.services.atende.store
        wrote, _ = await store.inbox_add(
            "clinica-exemplo", PHONE, channel="pager", provider_message_id="p-1",
            provider_ts=srv.services.atende.clock.now(), kind="text", text="oi")
        [answer] = await store.complete_turn(wrote.conversation_id, inbox_ids=[wrote.id],
                                             turn_id=None, replies=["Olá!"])
        silent = await store.get_or_create_conversation("clinica-exemplo", SILENT, "pager")
        [unasked] = await store.complete_turn(silent.id, inbox_ids=[], turn_id=None,
                                              replies=["Promoção!"])
        await srv.services.outbox.drain()
        # the app's own outbox loop may have taken a row first: wait for its results
        for _ in range(100):
            sent = await store.find_outbound("clinica-exemplo", "pager-1")
            refused = next(m for m in await store.list_messages(silent.id) if m.id == unasked.id)
            if sent is not None and refused.status == "failed":
                break
            await asyncio.sleep(0.05)
        unasked = refused
        metrics = (await srv.client.get("/metrics")).text
    assert pager.outbox.sent == [(PHONE, "OLÁ!")]
    assert sent is not None and (sent.id, sent.status) == (answer.id, "sent")
    assert (unasked.status, unasked.error) == ("failed", "never_wrote: nobody to answer")
    assert 'sends_total{channel="pager",outcome="outside_window"} 1.0' in metrics
