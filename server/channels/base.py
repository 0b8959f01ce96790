"""The `Channel` protocol: what the webhooks, the outbox and the turns ask of a messaging channel.

A channel owns everything that differs between providers: its webhook routes (verification and
parsing into `server/inbound.py` events), reading its per-clinic credentials, building its sender,
downloading its media, whether a reply may go out now, and how a reply is shown. Shared code looks
a channel up by name in `CHANNELS` (`server/channels/__init__.py`) and never names one itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import httpx
    from fastapi import APIRouter

    from atende.reminders.notice import Notice
    from atende.server.inbound import MediaRef
    from atende.server.media import DownloadedMedia, MediaFetcher
    from atende.server.senders import Sender, SendResult
    from atende.settings import Settings
    from atende.tenant import Tenant
    from atende.tools.choices import Choice

AccountT = TypeVar("AccountT")  # the channel's credentials for one clinic
SenderT = TypeVar("SenderT", bound="Sender")

NOT_CONFIGURED = "not configured"
CONFIGURED = "configured"
NO_CREDENTIALS = ""  # a channel that needs none (the console): left off /health


@dataclass(frozen=True)
class Refusal:
    """Why a reply may not go out now: `outcome` labels the sends metric, `error` is stored."""

    outcome: str
    error: str


class Channel(Protocol[AccountT, SenderT]):
    name: str  # as stored on conversations and messages, and in metric labels

    def routes(self) -> APIRouter | None:
        """The channel's webhook routes, mounted under /webhooks; None when nothing arrives over
        HTTP (the console)."""
        ...

    def read_credentials(self, tenant: Tenant, env: Mapping[str, str]) -> tuple[AccountT | None, str]:
        """The clinic's credentials (None unless complete) and a status for /health:
        "configured", "not configured" or "missing environment variable X" (never a value);
        `NO_CREDENTIALS` for a channel that needs none."""
        ...

    def sender(self, account: AccountT, settings: Settings, http: httpx.AsyncClient) -> SenderT:
        """The clinic's sender on this channel; `http` is owned by the caller."""
        ...

    async def fetch_media(self, fetcher: MediaFetcher, ref: MediaRef, account: AccountT | None
                          ) -> DownloadedMedia:
        """A received message's media (raises `MediaUnavailable`)."""
        ...

    def refusal(self, last_inbound_at: datetime | None, now: datetime) -> Refusal | None:
        """Why free text may not be sent to this patient now, or None when it may."""
        ...

    async def send_reply(self, sender: SenderT, to_phone: str, text: str,
                         choices: Sequence[Choice] = ()) -> SendResult:
        """One bubble of the agent's reply, and the options it offers (as data), shown as this
        channel shows them best (Meta: a list the patient taps; Z-API and the console: numbered
        lines)."""
        ...

    async def send_notice(self, sender: SenderT, to_phone: str, notice: Notice, *,
                          window_open: bool) -> SendResult:
        """A message atende writes first (a reminder, a slot offer), as this channel can: Meta
        inside the 24-hour window with tappable buttons, outside it as the approved template
        (`SendError` code "no_template" when the clinic configured none); Z-API as text."""
        ...


def read_env(env: Mapping[str, str], names: dict[str, str]) -> tuple[dict[str, str] | None, str]:
    """`{key: value}` of the environment variables `names` maps keys to, with the status; None
    when any is unset or blank (the status names the missing variables, never a value)."""
    values = {key: env.get(name, "").strip() for key, name in names.items()}
    missing = [names[key] for key, value in values.items() if not value]
    if missing:
        return None, "missing environment variable " + ", ".join(missing)
    return values, CONFIGURED
