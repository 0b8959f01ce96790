"""Provider-neutral webhook events: what Z-API and Meta payloads are parsed into."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["zapi", "meta"]
# Kinds the agent answers: text (incl. button/list replies, captions) and audio (voice notes).
# Everything else gets a short polite reply saying what the bot can read.
MessageKind = Literal[
    "text", "audio", "image", "video", "document", "sticker", "location", "contacts",
    "interactive", "button", "order", "unsupported",
]
ANSWERABLE_KINDS: frozenset[str] = frozenset({"text", "audio", "interactive", "button"})
ProviderStatus = Literal["sent", "delivered", "read", "played", "failed"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaRef(_Event):
    """Where to fetch a message's media: a URL (Z-API, expires in 30 days) or a Meta media id
    (resolve with GET /{media-id}, then download the short-lived URL with the same token)."""

    url: str | None = None
    media_id: str | None = None
    mime_type: str | None = None
    seconds: int | None = None  # duration, when the provider says
    size_bytes: int | None = None
    voice: bool = False  # a push-to-talk voice note
    filename: str | None = None


class InboundMessage(_Event):
    """One message a person sent to (or, with `from_me`, from) the clinic's WhatsApp number."""

    tenant_id: str
    channel: Channel
    phone: str = Field(description="the patient's phone in E.164, 9th digit restored; the chat key")
    provider_message_id: str
    timestamp: datetime = Field(description="the provider's timestamp, timezone-aware")
    kind: MessageKind
    text: str | None = None  # body, caption, or the title of a tapped button/list row
    media: MediaRef | None = None
    reply_to: str | None = None  # provider id of the quoted message
    choice_id: str | None = None  # id of the tapped button or list row
    contact_name: str | None = None  # the patient's WhatsApp profile name
    user_id: str | None = None  # Meta business-scoped user id / Z-API LID, when present
    from_me: bool = False  # typed by a person on the clinic's own phone (human takeover)
    forwarded: bool = False
    text_cut_from: int | None = None  # the text's length before it was cut to TEXT_MAX_CHARS
    referral: dict[str, str] | None = None  # click-to-WhatsApp ad attribution
    raw_type: str = ""  # the provider's own type label, for logs

    @property
    def conversation_key(self) -> str:
        """The LangGraph thread id and dispatcher key: `tenant:phone`."""
        return f"{self.tenant_id}:{self.phone}"


class StatusUpdate(_Event):
    """A delivery status for messages the clinic sent (ours or typed by a person)."""

    tenant_id: str
    channel: Channel
    provider_message_ids: list[str]
    status: ProviderStatus
    timestamp: datetime | None = None
    phone: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class Ignored(_Event):
    """A payload (or part of one) deliberately not handled, with the reason logged."""

    channel: Channel
    reason: str  # stable snake_case: "group_message", "reaction", "presence", "template_status"...
    detail: str = ""  # logged: never a phone number or a message body
    tenant_id: str | None = None
    provider_message_id: str | None = None  # the message or status ignored, when there is one


class AccountNotice(_Event):
    """Meta about the clinic's account rather than a conversation: a template approved, paused
    or rejected; the account restricted; the number's quality flagged. Proactive sends follow."""

    channel: Channel
    tenant_id: str
    topic: Literal["template", "account", "quality"]
    event: str  # Meta's own word: APPROVED, PAUSED, ACCOUNT_RESTRICTION, FLAGGED, ...
    template: str | None = None  # "name (language)" for a template
    detail: str = ""  # reason or restriction types; never a body


class Poison(_Event):
    """A message that arrived and cannot be stored as one (it fails validation, or the store
    refuses it): set aside with its reason, so the rest of the POST goes on and the provider,
    acknowledged, stops redelivering what would fail the same way every time."""

    channel: Channel
    tenant_id: str
    reason: str  # safe to log: field paths and error types, never a value
    provider_message_id: str | None = None
    excerpt: str = ""  # the raw item, redacted (`server/poison.py`)


WebhookEvent = InboundMessage | StatusUpdate | Ignored | Poison | AccountNotice
