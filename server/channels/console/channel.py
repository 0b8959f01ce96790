"""The console channel: no webhook and no credentials; a voice note travels inside its message
(a `data:` URL), and a reply is shown as numbered lines, like Z-API sends it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from atende.server.channels.base import NO_CREDENTIALS, Refusal
from atende.server.channels.console.sender import ConsoleSender
from atende.server.media import DownloadedMedia, MediaFetcher, MediaUnavailable
from atende.server.senders import SendResult

if TYPE_CHECKING:
    import httpx
    from fastapi import APIRouter

    from atende.reminders.notice import Notice
    from atende.server.inbound import MediaRef
    from atende.settings import Settings
    from atende.tenant import Tenant
    from atende.tools.choices import Choice


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


class ConsoleChannel:
    name = "console"

    def routes(self) -> APIRouter | None:
        return None  # nothing arrives over HTTP

    def read_credentials(self, tenant: Tenant, env: Mapping[str, str]) -> tuple[None, str]:
        return None, NO_CREDENTIALS

    def sender(self, account: object, settings: Settings, http: httpx.AsyncClient
               ) -> ConsoleSender:
        return ConsoleSender()

    async def fetch_media(self, fetcher: MediaFetcher | None, ref: MediaRef,
                          account: object | None) -> DownloadedMedia:
        head, _, body = (ref.url or "").partition(",")
        if not head.startswith("data:") or not head.endswith(";base64"):
            raise MediaUnavailable("console media travels in its message", reason="no_source")
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise MediaUnavailable("console media is not base64", reason="no_source") from None
        mime = head.removeprefix("data:").removesuffix(";base64") or "audio/ogg"
        return DownloadedMedia(data=data, mime_type=mime, filename=ref.filename or "audio.ogg")

    def refusal(self, last_inbound_at: datetime | None, now: datetime) -> Refusal | None:
        return None

    async def send_reply(self, sender: ConsoleSender, to_phone: str, text: str,
                         choices: Sequence[Choice] = ()) -> SendResult:
        return await sender.send_text(to_phone, text, choices=choices)  # numbered lines

    async def send_notice(self, sender: ConsoleSender, to_phone: str, notice: Notice, *,
                          window_open: bool) -> SendResult:
        return await sender.send_text(to_phone, notice.text)  # as Z-API: the text with 1 / 2 / 0
