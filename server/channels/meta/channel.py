"""The Meta WhatsApp Cloud API channel: its credentials and what the shared code asks of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from fastapi import APIRouter

from atende.server.channels.base import NOT_CONFIGURED, Refusal, read_env
from atende.server.channels.meta.sender import MetaSender
from atende.server.channels.meta.window import window_open
from atende.server.inbound import MediaRef
from atende.server.media import DownloadedMedia, MediaFetcher
from atende.server.senders import SendError, SendResult
from atende.settings import Settings
from atende.tenant import Tenant
from atende.tools.choices import Choice

if TYPE_CHECKING:
    from atende.reminders.notice import Notice

OUTSIDE_WINDOW = Refusal(
    outcome="outside_window",
    error="outside_24h_window: free text needs an open customer-service window")


@dataclass(frozen=True, repr=False)
class MetaCredentials:
    phone_number_id: str
    display_phone_number: str | None
    access_token: str
    app_secret: str
    verify_token: str

    def __repr__(self) -> str:
        return f"MetaCredentials(phone_number_id={self.phone_number_id!r}, secrets=***)"


class MetaChannel:
    name = "meta"

    def routes(self) -> APIRouter:
        from atende.server.channels.meta.routes import router

        return router

    def read_credentials(self, tenant: Tenant, env: Mapping[str, str]
                         ) -> tuple[MetaCredentials | None, str]:
        cfg = tenant.channels.meta
        if cfg is None:
            return None, NOT_CONFIGURED
        values, status = read_env(env, {
            "access_token": cfg.access_token_env, "app_secret": cfg.app_secret_env,
            "verify_token": cfg.verify_token_env,
        })
        if values is None:
            return None, status
        return MetaCredentials(phone_number_id=cfg.phone_number_id,
                               display_phone_number=cfg.display_phone_number, **values), status

    def sender(self, account: MetaCredentials, settings: Settings, http: httpx.AsyncClient
               ) -> MetaSender:
        return MetaSender(http, graph_url=settings.meta_graph_url,
                          api_version=settings.meta_api_version,
                          phone_number_id=account.phone_number_id,
                          access_token=account.access_token)

    async def fetch_media(self, fetcher: MediaFetcher, ref: MediaRef,
                          account: MetaCredentials | None) -> DownloadedMedia:
        # without a token the fetcher refuses with a ConfigError: Meta serves no media anonymously
        return await fetcher.fetch(ref, channel="meta",
                                   access_token=account.access_token if account else None)

    def refusal(self, last_inbound_at: datetime | None, now: datetime) -> Refusal | None:
        return None if window_open(last_inbound_at, now) else OUTSIDE_WINDOW

    async def send_reply(self, sender: MetaSender, to_phone: str, text: str,
                         choices: Sequence[Choice] = ()) -> SendResult:
        return await sender.send_text(to_phone, text, choices=choices)  # a list to tap

    async def send_notice(self, sender: MetaSender, to_phone: str, notice: Notice, *,
                          window_open: bool) -> SendResult:
        if window_open:  # buttons to tap (numbered text when they do not fit)
            return await sender.send_text(to_phone, notice.body if notice.buttons else notice.text,
                                          choices=notice.buttons)
        if notice.template is None:
            raise SendError("outside the 24-hour window and no template is configured for "
                            f"{notice.kind}", retryable=False, code="no_template")
        return await sender.send_template(to_phone, notice.template)
