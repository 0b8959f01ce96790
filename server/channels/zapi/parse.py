"""Z-API webhook bodies → provider-neutral events (`server/inbound.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from atende.server.inbound import (
    Ignored,
    InboundMessage,
    MediaRef,
    MessageKind,
    ProviderStatus,
    StatusUpdate,
    WebhookEvent,
)
from atende.server.payloads import (
    ZapiDelivery,
    ZapiMedia,
    ZapiReceived,
    ZapiStatus,
    clip_text,
    validate,
    whatsapp_phone,
)
from atende.server.poison import set_aside

_STATUSES: dict[str, ProviderStatus] = {  # current names, then the pre-2023 MESSAGE_* ones
    "SENT": "sent", "RECEIVED": "delivered", "READ": "read", "PLAYED": "played",
    "MESSAGE_SENT": "sent", "MESSAGE_RECEIVED": "delivered", "MESSAGE_READ": "read",
    "MESSAGE_PLAYED": "played",
}
# The clinic's phone read the *customer's* messages: not a receipt for anything we sent.
_READ_BY_ME = frozenset({"READ_BY_ME", "MESSAGE_READ-SELF"})
_ENVELOPE_OBJECTS = frozenset({"externalAdReply"})  # top-level objects that are not message content
_PHONE_LIKE = re.compile(r"[+\d\s().-]*")


class _Body(NamedTuple):
    kind: MessageKind
    raw_type: str
    text: str | None = None
    media: MediaRef | None = None
    choice_id: str | None = None


def parse_zapi(
    payload: dict[str, Any], tenant_id: str, *, instance_id: str | None = None
) -> list[WebhookEvent]:
    """The event of one Z-API webhook POST (Z-API sends one callback per request), as a list like
    `parse_meta`'s.

    Discriminates on `type`. With `instance_id`, a payload naming another `instanceId` is
    `Ignored("wrong_instance")`; one naming none (2022-era callbacks) is accepted. Never raises
    on a JSON object: anything not handled comes back as `Ignored` with a stable reason.
    """
    if not isinstance(payload, dict):
        return [_ignored(tenant_id, "unrecognized", "body is not a JSON object")]
    sender = payload.get("instanceId")
    if instance_id is not None and sender is not None and sender != instance_id:
        return [_ignored(tenant_id, "wrong_instance", "instanceId is not this tenant's instance")]
    kind = payload.get("type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        shown = f"type={kind[:40]}" if isinstance(kind, str) else "no type"
        return [_ignored(tenant_id, "unrecognized", shown)]
    return [handler(payload, tenant_id)]


def _received(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    msg = validate(ZapiReceived, payload)
    if isinstance(msg, str):  # a message in a form no store keeps: set aside, acknowledged
        return set_aside("zapi", tenant_id, payload, msg, id_key="messageId")

    def ignore(reason: str, detail: str = "") -> Ignored:
        return _ignored(tenant_id, reason, detail, msg.message_id)

    chat = (msg.phone or "").strip()  # the chat: the customer even on our own (fromMe) messages
    if msg.from_me and msg.from_api:
        return ignore("own_echo")  # the bot's own send coming back; answering it loops
    if msg.is_group or chat.endswith(("-group", "@g.us")):
        return ignore("group_message")
    if msg.broadcast or chat.endswith(("-broadcast", "@broadcast")):
        return ignore("broadcast")
    if msg.is_newsletter or chat.endswith("@newsletter"):
        return ignore("newsletter")
    if msg.is_status_reply:
        return ignore("status_reply")
    if msg.notification:  # calls and group/system events carry no content
        reason = "call" if msg.notification.startswith("CALL") else "notification"
        return ignore(reason, f"notification={msg.notification[:60]}")
    if msg.waiting_message:  # "waiting for this message": not decrypted yet, nothing to read
        return ignore("waiting_message")
    if msg.is_edit:  # same rule as Meta's `edit`: the original was already answered
        return ignore("edited")
    if payload.get("reaction") is not None:
        return ignore("reaction")
    if payload.get("pollVote") is not None:  # the bot sends no polls; votes can be re-cast
        return ignore("poll_vote")
    if chat.endswith("@lid"):  # a privacy id: no documented field carries the phone in a 1:1 chat
        return ignore("no_phone", "the chat is a @lid, not a phone number")
    phone = whatsapp_phone(chat)
    if phone is None:
        return ignore("invalid_phone", "phone is not a phone number")
    body = _content(msg, payload)
    if body is None:
        return ignore("unrecognized", "ReceivedCallback without content")
    text, cut_from = clip_text(body.text)
    return InboundMessage(
        tenant_id=tenant_id,
        channel="zapi",
        phone=phone,
        provider_message_id=msg.message_id,
        timestamp=msg.momment,
        kind=body.kind,
        text=text,
        text_cut_from=cut_from,
        media=body.media,
        reply_to=msg.reference_message_id,
        choice_id=body.choice_id,
        # on fromMe, senderName is the clinic and chatName the customer
        contact_name=_name(msg.chat_name if msg.from_me else msg.sender_name),
        user_id=_lid(msg),
        from_me=bool(msg.from_me),  # a person typed on the clinic's phone: human takeover
        forwarded=bool(msg.forwarded),
        referral=_referral(msg.external_ad_reply),
        raw_type=body.raw_type,
    )


def _content(msg: ZapiReceived, payload: dict[str, Any]) -> _Body | None:
    if msg.text is not None:
        return _Body("text", "text", text=msg.text.message)
    media: tuple[tuple[str, MessageKind, ZapiMedia | None], ...] = (
        ("audio", "audio", msg.audio), ("image", "image", msg.image), ("video", "video", msg.video),
        ("ptv", "video", msg.ptv), ("document", "document", msg.document),
        ("sticker", "sticker", msg.sticker),
    )
    for key, kind, item in media:
        if item is not None:
            ref = MediaRef(url=item.url, mime_type=item.mime_type, seconds=item.seconds,
                           voice=kind == "audio" and bool(item.ptt), filename=item.file_name)
            return _Body(kind, key, text=item.caption or None, media=ref)
    for key, place in (("location", msg.location), ("liveLocation", msg.live_location)):
        if place is not None:
            where = ", ".join(p for p in (place.name, place.address, place.caption) if p)
            return _Body("location", key, text=where or None)
    if msg.contact is not None:
        return _Body("contacts", "contact", text=msg.contact.display_name or None)
    if (button := msg.buttons_response_message) is not None:
        return _Body("interactive", "buttonsResponseMessage", text=button.message,
                     choice_id=button.button_id)
    if (row := msg.list_response_message) is not None:
        return _Body("interactive", "listResponseMessage", text=row.title or row.message,
                     choice_id=row.selected_row_id)
    if (template := msg.hydrated_template) is not None:  # another business's template message
        text = "\n".join(p for p in (template.title, template.message) if p)
        return _Body("text", "hydratedTemplate", text=text or None)
    # A kind Z-API added after this was written: a person sent something, answer politely.
    unknown = next((k for k, v in payload.items() if isinstance(v, dict) and k not in _ENVELOPE_OBJECTS),
                   None)
    return _Body("unsupported", unknown[:40]) if unknown else None


def _name(name: str | None) -> str | None:
    """A display name, or None when it is empty or just a phone number (Z-API's fallback)."""
    name = (name or "").strip()
    return None if _PHONE_LIKE.fullmatch(name) else name


def _lid(msg: ZapiReceived) -> str | None:
    # senderLid on our own message would be the clinic's LID, not the customer's.
    candidates: tuple[str | None, ...] = (msg.chat_lid, None if msg.from_me else msg.sender_lid)
    for lid in candidates:
        if lid and lid.endswith("@lid"):
            return lid
    return None


def _referral(ad: dict[str, Any] | None) -> dict[str, str] | None:
    """Click-to-WhatsApp attribution with Meta's snake_case keys (`ctwaClid` → `ctwa_clid`)."""
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in (ad or {}).items()
             if isinstance(v, str)}
    return snake or None


def _status(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    status = validate(ZapiStatus, payload)
    if isinstance(status, str):
        return _ignored(tenant_id, "unrecognized", status)
    only_id = status.ids[0] if len(status.ids) == 1 else None
    count = f"{len(status.ids)} ids"
    if status.status in _READ_BY_ME:
        return _ignored(tenant_id, "read_by_me", count, only_id)
    if status.is_group or (status.phone or "").endswith("-group"):  # the bot never writes to groups
        return _ignored(tenant_id, "group_status", count, only_id)
    known = _STATUSES.get(status.status)
    if known is None or not status.ids:
        return _ignored(tenant_id, "unrecognized", f"status={status.status[:30]}; {count}", only_id)
    return StatusUpdate(
        tenant_id=tenant_id,
        channel="zapi",
        provider_message_ids=status.ids,
        status=known,
        timestamp=status.momment,
        phone=whatsapp_phone(status.phone),
    )


def _delivery(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    """Z-API handed our message to WhatsApp ("sent"), or could not ("failed"); not a delivery."""
    delivery = validate(ZapiDelivery, payload)
    if isinstance(delivery, str):
        return _ignored(tenant_id, "unrecognized", delivery)
    failed = bool(delivery.error or delivery.error_code)
    return StatusUpdate(
        tenant_id=tenant_id,
        channel="zapi",
        provider_message_ids=[delivery.message_id],
        status="failed" if failed else "sent",
        timestamp=delivery.momment,
        phone=whatsapp_phone(delivery.phone),
        error_code=delivery.error_code,
        error_message=delivery.error or None,
    )


def _presence(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    status = payload.get("status")
    return _ignored(tenant_id, "presence", f"status={status[:20]}" if isinstance(status, str) else "")


def _connected(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    return _ignored(tenant_id, "connected")


def _disconnected(payload: dict[str, Any], tenant_id: str) -> WebhookEvent:
    error = payload.get("error")
    return _ignored(tenant_id, "disconnected", error[:100] if isinstance(error, str) else "")


_HANDLERS: dict[str, Callable[[dict[str, Any], str], WebhookEvent]] = {
    "ReceivedCallback": _received,
    "MessageStatusCallback": _status,
    "DeliveryCallback": _delivery,
    "PresenceChatCallback": _presence,
    "ConnectedCallback": _connected,
    "DisconnectedCallback": _disconnected,
}


def _ignored(tenant_id: str, reason: str, detail: str = "", message_id: str | None = None) -> Ignored:
    return Ignored(channel="zapi", reason=reason, detail=detail[:200], tenant_id=tenant_id,
                   provider_message_id=message_id)
