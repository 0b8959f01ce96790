"""Raw Meta and Z-API webhook bodies as lenient pydantic models, and the conversions both parsers share.

Parsers validate piece by piece (the envelope, then each message or status on its own), so one
malformed message costs only itself. Models ignore unknown keys and make nearly everything optional:
providers add and drop fields without notice, and what a parser needs but cannot find becomes an
`Ignored` event, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from atende.errors import InvalidInput
from atende.phones import normalize_phone

M = TypeVar("M", bound=BaseModel)
_WA_DIGITS = re.compile(r"[1-9][0-9]{6,14}")  # E.164: country code first, at most 15 digits
# Text no store can keep: lone UTF-16 surrogates (not encodable as UTF-8) and NUL (Postgres text)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A provider's timestamp outside these years is no provider's clock: before the epoch (year 1,
# year 68) it fails the store's checks, past 2100 it would sort a message out of place forever.
# Z-API seconds read as milliseconds (1970) stay readable: that is Z-API's mistake to see.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
TEXT_MAX_CHARS = 4096  # WhatsApp's own limit for a text message (and a caption)
TEXT_CUT_MARKER = "\n[…mensagem cortada: passou do limite de 4096 caracteres do WhatsApp]"
ID_MAX_CHARS = 256  # wamids are ~60 characters, Z-API ids ~32; a key, so it must stay small


def _epoch(per_second: int) -> Callable[[object], datetime]:
    """A validator reading whole epoch units (a number or a digit string) as an aware UTC datetime."""

    def convert(value: object) -> datetime:
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected whole epoch units as a number or a digit string")
        whole, part = divmod(value, per_second)
        try:  # integer arithmetic: 1757390383001 ms must not become .000999 s
            moment = datetime.fromtimestamp(whole, tz=UTC) + timedelta(
                microseconds=part * 1_000_000 // per_second
            )
        except (OverflowError, OSError, ValueError):
            raise ValueError("timestamp out of range") from None
        if not EARLIEST <= moment < LATEST:
            raise ValueError("timestamp out of range")
        return moment

    return convert


MessageId = Annotated[str, Field(min_length=1, max_length=ID_MAX_CHARS)]
EpochSeconds = Annotated[datetime, BeforeValidator(_epoch(1))]  # Meta: "1697043223" or 1697043223
EpochMillis = Annotated[datetime, BeforeValidator(_epoch(1000))]  # Z-API `momment`


def whatsapp_phone(raw: str | None) -> str | None:
    """The E.164 form of a WhatsApp id (digits with country code, no plus), 9th digit restored;
    None for anything else (`…@lid`, `…-group`, placeholders).

    A digit string phonenumbers does not know is kept as `+digits`: WhatsApp verified that number
    by SMS, so a stale numbering table must not drop a patient's message."""
    digits = (raw or "").strip().removeprefix("+")
    if not _WA_DIGITS.fullmatch(digits):
        return None
    try:
        return normalize_phone("+" + digits)  # always international: the id carries its country code
    except InvalidInput:
        return "+" + digits


def clip_text(text: str | None) -> tuple[str | None, int | None]:
    """`text` within WhatsApp's 4,096 characters, and its length before, when it had to be cut.

    A longer text never came from WhatsApp; it is cut with a marker at the end, so the model
    knows it is reading part of a message, and never runs through the model whole."""
    if text is None or len(text) <= TEXT_MAX_CHARS:
        return text, None
    return text[: TEXT_MAX_CHARS - len(TEXT_CUT_MARKER)] + TEXT_CUT_MARKER, len(text)


def validate(model: type[M], raw: object) -> M | str:
    """`raw` as `model`, or a one-line reason safe to log (field paths and error types, no values)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        where = "; ".join(
            f"{'.'.join(str(p)[:40] for p in e['loc']) or '(top)'}: {_kind(e)}" for e in problems[:3]
        )
        return f"{model.__name__} {where}"[:200]


def _kind(error: Any) -> str:
    """The error's type; for the ValueErrors our validators raise, their message too (it names
    what is wrong, never the value)."""
    if error["type"] != "value_error":
        return str(error["type"])
    return f"value_error ({str(error['msg']).removeprefix('Value error, ')})"


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Refuse strings no store can keep, in a field or one level inside a list or dict (the
        raw containers of items, validated item by item later, are not searched)."""
        if isinstance(value, str):
            strings: list[Any] = [value]
        elif isinstance(value, list):
            strings = value
        elif isinstance(value, dict):
            strings = [*value, *value.values()]
        else:
            return value
        if any(isinstance(s, str) and _UNSTORABLE.search(s) for s in strings):
            raise ValueError("a lone surrogate or a NUL character")
        return value


# --- Meta WhatsApp Cloud API -----------------------------------------------------------------


class MetaErrorData(_Raw):
    details: str | None = None


class MetaError(_Raw):
    code: str | None = None
    title: str | None = None
    message: str | None = None
    details: str | None = None  # some payloads put it here instead of under error_data
    error_data: MetaErrorData | None = None

    def describe(self) -> str:
        """`title: details`, whichever of them Meta sent."""
        details = self.error_data.details if self.error_data else None
        parts = [p for p in (self.title or self.message, details or self.details) if p]
        return ": ".join(dict.fromkeys(parts))


class MetaMedia(_Raw):
    id: str | None = None
    url: str | None = None  # newer webhooks; still needs the Bearer token and expires
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None


class MetaText(_Raw):
    body: str | None = None


class MetaLocation(_Raw):
    name: str | None = None
    address: str | None = None


class MetaCardName(_Raw):
    formatted_name: str | None = None


class MetaCard(_Raw):
    name: MetaCardName | None = None


class MetaReply(_Raw):
    id: str | None = None
    title: str | None = None


class MetaFlowReply(_Raw):
    response_json: str | None = None
    body: str | None = None


class MetaInteractive(_Raw):
    type: str | None = None
    button_reply: MetaReply | None = None
    list_reply: MetaReply | None = None
    nfm_reply: MetaFlowReply | None = None


class MetaButton(_Raw):
    payload: str | None = None
    text: str | None = None


class MetaOrder(_Raw):
    text: str | None = None


class MetaSubtype(_Raw):
    type: str | None = None
    message_id: str | None = None  # reaction
    emoji: str | None = None  # reaction; "" or absent = removed
    original_message_id: str | None = None  # revoke, edit


class MetaContext(_Raw):
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class MetaMessage(_Raw):
    """One of `value.messages[]` (or `value.message_echoes[]`)."""

    id: MessageId
    timestamp: EpochSeconds
    type: str
    sender: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    to: str | None = None  # echoes: the customer
    to_user_id: str | None = None
    context: MetaContext | None = None
    referral: dict[str, Any] | None = None
    text: MetaText | None = None
    image: MetaMedia | None = None
    video: MetaMedia | None = None
    audio: MetaMedia | None = None
    document: MetaMedia | None = None
    sticker: MetaMedia | None = None
    location: MetaLocation | None = None
    contacts: list[MetaCard] | None = None
    interactive: MetaInteractive | None = None
    button: MetaButton | None = None
    order: MetaOrder | None = None
    reaction: MetaSubtype | None = None
    system: MetaSubtype | None = None
    unsupported: MetaSubtype | None = None
    revoke: MetaSubtype | None = None
    edit: MetaSubtype | None = None


class MetaStatus(_Raw):
    """One of `value.statuses[]`."""

    id: MessageId
    status: str
    timestamp: EpochSeconds | None = None
    recipient_id: str | None = None
    recipient_type: str | None = None
    errors: list[MetaError] = Field(default_factory=list)


class MetaProfile(_Raw):
    name: str | None = None


class MetaContact(_Raw):
    wa_id: str | None = None
    user_id: str | None = None
    profile: MetaProfile | None = None


class MetaMetadata(_Raw):
    phone_number_id: str | None = None
    display_phone_number: str | None = None


class MetaValue(_Raw):
    """`changes[].value` of the `messages` and `*message_echoes` fields; items stay raw until parsed."""

    metadata: MetaMetadata | None = None
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    message_echoes: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)
    errors: list[MetaError] = Field(default_factory=list)


class MetaChange(_Raw):
    field: str | None = None
    value: dict[str, Any] = Field(default_factory=dict)


class MetaEntry(_Raw):
    id: str | int | None = None  # the WhatsApp Business Account
    changes: list[Any] = Field(default_factory=list)


class MetaNotification(_Raw):
    object: str
    entry: list[Any]


# --- Z-API -----------------------------------------------------------------------------------


class _Camel(_Raw):
    model_config = ConfigDict(alias_generator=to_camel)


class ZapiText(_Camel):
    message: str | None = None


class ZapiMedia(_Camel):
    url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "audioUrl", "imageUrl", "videoUrl", "ptvUrl", "documentUrl", "stickerUrl"
        ),
    )
    mime_type: str | None = None
    caption: str | None = None
    file_name: str | None = None
    seconds: int | None = None
    ptt: bool | None = None


class ZapiLocation(_Camel):
    name: str | None = None
    address: str | None = None
    caption: str | None = None


class ZapiContact(_Camel):
    display_name: str | None = None


class ZapiButtonReply(_Camel):
    button_id: str | None = None
    message: str | None = None


class ZapiListReply(_Camel):
    selected_row_id: str | None = None
    title: str | None = None
    message: str | None = None


class ZapiTemplate(_Camel):
    title: str | None = None
    message: str | None = None


class ZapiReceived(_Camel):
    """A `ReceivedCallback`: `phone` is the chat (the customer even when `fromMe`)."""

    message_id: MessageId
    momment: EpochMillis
    phone: str | None = None
    from_me: bool | None = None
    from_api: bool | None = None
    is_group: bool | None = None
    is_newsletter: bool | None = None
    broadcast: bool | None = None
    is_status_reply: bool | None = None
    waiting_message: bool | None = None
    is_edit: bool | None = None
    forwarded: bool | None = None
    notification: str | None = None
    chat_name: str | None = None
    sender_name: str | None = None
    chat_lid: str | None = None
    sender_lid: str | None = None
    reference_message_id: str | None = None
    external_ad_reply: dict[str, Any] | None = None
    text: ZapiText | None = None
    audio: ZapiMedia | None = None
    image: ZapiMedia | None = None
    video: ZapiMedia | None = None
    ptv: ZapiMedia | None = None
    document: ZapiMedia | None = None
    sticker: ZapiMedia | None = None
    location: ZapiLocation | None = None
    live_location: ZapiLocation | None = None
    contact: ZapiContact | None = None
    buttons_response_message: ZapiButtonReply | None = None
    list_response_message: ZapiListReply | None = None
    hydrated_template: ZapiTemplate | None = None


class ZapiStatus(_Camel):
    """A `MessageStatusCallback`: one status for one or more of our messages."""

    status: str
    ids: list[MessageId]
    momment: EpochMillis | None = None
    phone: str | None = None
    is_group: bool | None = None


class ZapiDelivery(_Camel):
    """A `DeliveryCallback`: the message left Z-API for WhatsApp (or failed to)."""

    message_id: MessageId
    momment: EpochMillis | None = None
    phone: str | None = None
    error: str | None = None
    error_code: str | None = None
