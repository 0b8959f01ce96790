"""The Z-API channel: its credentials and what the shared code asks of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from fastapi import APIRouter

from atende.server.channels.base import NOT_CONFIGURED, Refusal, read_env
from atende.server.channels.zapi.sender import ZapiSender
from atende.server.inbound import MediaRef
from atende.server.media import DownloadedMedia, MediaFetcher
from atende.server.senders import SendResult
from atende.settings import Settings
from atende.tenant import Tenant
from atende.tools.choices import Choice

if TYPE_CHECKING:
    from atende.reminders.notice import Notice


@dataclass(frozen=True, repr=False)
class ZapiCredentials:
    instance_id: str
    token: str
    client_token: str
    webhook_secret: str

    def __repr__(self) -> str:
        return f"ZapiCredentials(instance_id={self.instance_id!r}, secrets=***)"


class ZapiChannel:
    name = "zapi"

    def routes(self) -> APIRouter:
        from atende.server.channels.zapi.routes import router

        return router

    def read_credentials(self, tenant: Tenant, env: Mapping[str, str]
                         ) -> tuple[ZapiCredentials | None, str]:
        cfg = tenant.channels.zapi
        if cfg is None:
            return None, NOT_CONFIGURED
        values, status = read_env(env, {
            "instance_id": cfg.instance_id_env, "token": cfg.token_env,
            "client_token": cfg.client_token_env, "webhook_secret": cfg.webhook_secret_env,
        })
        return (ZapiCredentials(**values) if values is not None else None), status

    def sender(self, account: ZapiCredentials, settings: Settings, http: httpx.AsyncClient
               ) -> ZapiSender:
        return ZapiSender(http, base_url=settings.zapi_base_url, instance_id=account.instance_id,
                          token=account.token, client_token=account.client_token)

    async def fetch_media(self, fetcher: MediaFetcher, ref: MediaRef,
                          account: ZapiCredentials | None) -> DownloadedMedia:
        return await fetcher.fetch(ref, channel="zapi")  # the webhook's URL needs no credential

    def refusal(self, last_inbound_at: datetime | None, now: datetime) -> Refusal | None:
        return None  # WhatsApp Web has no customer-service window

    async def send_reply(self, sender: ZapiSender, to_phone: str, text: str,
                         choices: Sequence[Choice] = ()) -> SendResult:
        return await sender.send_text(to_phone, text, choices=choices)  # numbered lines

    async def send_notice(self, sender: ZapiSender, to_phone: str, notice: Notice, *,
                          window_open: bool) -> SendResult:
        return await sender.send_text(to_phone, notice.text)  # "Responda 1 ..., 0 ..." in it
