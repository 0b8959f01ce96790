"""Meta WhatsApp Cloud API webhook bodies → provider-neutral events (`server/inbound.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from atende.server.inbound import (
    AccountNotice,
    Ignored,
    InboundMessage,
    MediaRef,
    MessageKind,
    ProviderStatus,
    StatusUpdate,
    WebhookEvent,
)
from atende.server.payloads import (
    MetaChange,
    MetaContact,
    MetaContext,
    MetaEntry,
    MetaFlowReply,
    MetaMessage,
    MetaMetadata,
    MetaNotification,
    MetaStatus,
    MetaSubtype,
    MetaValue,
    clip_text,
    validate,
    whatsapp_phone,
)
from atende.server.poison import set_aside

Resolver = Callable[[str | None, str | None], str | None]
"""`resolve(phone_number_id, display_phone_number)`: the tenant id owning that number, or None."""
AccountResolver = Callable[[str | None], str | None]
"""`resolve_account(waba_id)`: the tenant id owning that WhatsApp Business Account, or None."""
_ACCOUNT_TOPICS = {"message_template_status_update": "template", "account_update": "account",
                   "phone_number_quality_update": "quality"}

_ECHO_FIELDS = frozenset({"smb_message_echoes", "message_echoes"})
_OTHER_FIELDS = {  # changes[].field values that reach the same URL and are not conversations
    "message_template_status_update": "template_status",
    "message_template_quality_update": "template_status",
    "template_category_update": "template_status",
    "account_update": "account_update",
    "user_preferences": "user_preferences",
}
_STATUSES: dict[str, ProviderStatus] = {
    "sent": "sent", "delivered": "delivered", "read": "read", "played": "played", "failed": "failed",
}
_MEDIA_KINDS: dict[str, MessageKind] = {
    "image": "image", "video": "video", "audio": "audio", "document": "document", "sticker": "sticker",
}


class _Body(NamedTuple):
    kind: MessageKind
    text: str | None = None
    media: MediaRef | None = None
    choice_id: str | None = None


def parse_meta(payload: dict[str, Any], resolve: Resolver,
               resolve_account: AccountResolver | None = None) -> list[WebhookEvent]:
    """Every message, echo and status of one webhook POST, in payload order.

    Meta batches: all `entry[]` × `changes[]` × `messages[]`/`statuses[]` are read. Routing is on
    `changes[].field`; the tenant is resolved per change from `value.metadata`. Never raises on a
    JSON object: anything not handled comes back as `Ignored` with a stable reason.
    """
    note = validate(MetaNotification, payload)
    if isinstance(note, str):
        return [_unrecognized(note)]
    if note.object != "whatsapp_business_account":
        return [_unrecognized(f"object={note.object[:40]}")]
    events: list[WebhookEvent] = []
    for raw_entry in note.entry:
        entry = validate(MetaEntry, raw_entry)
        if isinstance(entry, str):
            events.append(_unrecognized(entry))
            continue
        waba = str(entry.id) if entry.id is not None else None
        for raw_change in entry.changes:
            notice = _account_notice(raw_change, waba, resolve_account)
            events.extend([notice] if notice is not None else _change(raw_change, resolve))
    return events or [_unrecognized("no entry with changes")]


def _account_notice(raw: object, waba: str | None, resolve_account: AccountResolver | None
                    ) -> AccountNotice | None:
    """A template, account or quality update of a clinic's account, or None (not one, or not
    a clinic of ours: then it is ignored like any other field)."""
    if not isinstance(raw, dict) or resolve_account is None:
        return None
    topic = _ACCOUNT_TOPICS.get(str(raw.get("field") or ""))
    value = raw.get("value")
    if topic is None or not isinstance(value, dict):
        return None
    tenant_id = resolve_account(waba)
    event = value.get("event") or value.get("current_limit") or ""
    if tenant_id is None or not isinstance(event, str) or not event:
        return None
    template = None
    if topic == "template":
        name, language = value.get("message_template_name"), value.get("message_template_language")
        template = f"{name} ({language})" if isinstance(name, str) else None
    detail = value.get("reason") or ""
    info = value.get("restriction_info")
    if isinstance(info, list):
        detail = ", ".join(str(i.get("restriction_type")) for i in info if isinstance(i, dict))
    return AccountNotice(channel="meta", tenant_id=tenant_id, topic=topic,  # type: ignore[arg-type]
                         event=event[:60], template=template, detail=str(detail)[:200])


def _change(raw: object, resolve: Resolver) -> list[WebhookEvent]:
    change = validate(MetaChange, raw)
    if isinstance(change, str):
        return [_unrecognized(change)]
    field = change.field or ""
    if field != "messages" and field not in _ECHO_FIELDS:
        event = change.value.get("event")
        detail = f"field={field[:60]}" + (f"; event={event[:40]}" if isinstance(event, str) else "")
        return [Ignored(channel="meta", reason=_OTHER_FIELDS.get(field, "unhandled_field"), detail=detail)]
    value = validate(MetaValue, change.value)
    if isinstance(value, str):
        return [_unrecognized(value)]
    number = value.metadata or MetaMetadata()
    tenant_id = resolve(number.phone_number_id, number.display_phone_number)
    echo = field in _ECHO_FIELDS
    messages = (value.message_echoes or value.messages) if echo else value.messages
    if tenant_id is None:  # one event per change: the items are not ours to read
        detail = (f"phone_number_id={number.phone_number_id}; "
                  f"{len(messages)} messages, {len(value.statuses)} statuses")
        return [Ignored(channel="meta", reason="unknown_number", detail=detail[:200])]
    contacts = [c for c in map(_as_contact, value.contacts) if c is not None]
    events = [_message(raw, contacts, tenant_id, echo=echo) for raw in messages]
    events += [_status(raw, tenant_id) for raw in value.statuses]
    events += [
        Ignored(channel="meta", reason="provider_error", tenant_id=tenant_id,
                detail=f"code={error.code} {error.describe()}"[:200])
        for error in value.errors
    ]
    return events or [_unrecognized(f"field={field}: no messages, statuses or errors", tenant_id)]


class _Contact(NamedTuple):
    """A `value.contacts[]` item; one no store can keep (`problem`) still has its ids, so its
    messages can be set aside with the reason instead of stored under a broken name."""

    contact: MetaContact
    problem: str | None = None


def _as_contact(raw: object) -> _Contact | None:
    contact = validate(MetaContact, raw)
    if not isinstance(contact, str):
        return _Contact(contact)
    ids = {k: v for k, v in raw.items() if k in ("wa_id", "user_id")} if isinstance(raw, dict) else {}
    bare = validate(MetaContact, ids)
    return None if isinstance(bare, str) else _Contact(bare, contact)


def _message(raw: object, contacts: list[_Contact], tenant_id: str, *, echo: bool) -> WebhookEvent:
    msg = validate(MetaMessage, raw)
    if isinstance(msg, str):  # a message in a form no store keeps: set aside, the batch goes on
        return set_aside("meta", tenant_id, raw, msg, id_key="id")

    def ignore(reason: str, detail: str = "") -> Ignored:
        return Ignored(channel="meta", reason=reason, detail=detail[:200], tenant_id=tenant_id,
                       provider_message_id=msg.id)

    skipped = _skipped(msg)
    if skipped:
        return ignore(*skipped)
    # An echo is the clinic writing to the customer: the chat is `to`, not `from`.
    peer, peer_user_id = (msg.to, msg.to_user_id) if echo else (msg.sender, msg.from_user_id)
    found = _contact(contacts, peer, peer_user_id)
    if found and found.problem:
        return set_aside("meta", tenant_id, raw, f"contacts[]: {found.problem}", id_key="id")
    contact = found.contact if found else None
    user_id = peer_user_id or (contact.user_id if contact else None)
    peer = peer or (contact.wa_id if contact else None)
    if not peer:  # a username-only (BSUID) user: the phone is the chat key and we have none
        return ignore("no_phone", f"user_id={user_id}" if user_id else "no from and no wa_id")
    phone = whatsapp_phone(peer)
    if phone is None:
        return ignore("invalid_phone", f"{'to' if echo else 'from'} is not a phone number")
    body = _content(msg)
    text, cut_from = clip_text(body.text)
    context = msg.context or MetaContext()
    referral = {k: v for k, v in (msg.referral or {}).items() if isinstance(v, str)}
    return InboundMessage(
        tenant_id=tenant_id,
        channel="meta",
        phone=phone,
        provider_message_id=msg.id,
        timestamp=msg.timestamp,
        kind=body.kind,
        text=text,
        text_cut_from=cut_from,
        media=body.media,
        reply_to=context.id,
        choice_id=body.choice_id,
        contact_name=contact.profile.name if contact and contact.profile else None,
        user_id=user_id,
        from_me=echo,
        forwarded=bool(context.forwarded or context.frequently_forwarded),
        referral=referral or None,
        raw_type=_raw_type(msg),
    )


def _skipped(msg: MetaMessage) -> tuple[str, str] | None:
    """(reason, detail) for message types that are events about other messages, not messages."""
    subs = {"reaction": msg.reaction, "system": msg.system, "revoke": msg.revoke, "edit": msg.edit}
    sub = subs.get(msg.type) or MetaSubtype()
    if msg.type == "reaction":
        return "reaction", f"on={sub.message_id}" + ("" if sub.emoji else "; removed")
    if msg.type == "system":  # user_changed_number, customer_identity_changed
        return "system_event", f"type={sub.type}"
    if msg.type == "revoke":
        return "deleted", f"original={sub.original_message_id}"
    if msg.type == "edit":  # the original was already answered: a new turn would answer twice
        return "edited", f"original={sub.original_message_id}"
    return None


def _contact(contacts: list[_Contact], wa_id: str | None, user_id: str | None) -> _Contact | None:
    for found in contacts:
        contact = found.contact
        if (wa_id and contact.wa_id == wa_id) or (user_id and contact.user_id == user_id):
            return found
    # A message with neither `from` nor `from_user_id` can only belong to a lone contact.
    return contacts[0] if wa_id is None and user_id is None and len(contacts) == 1 else None


def _content(msg: MetaMessage) -> _Body:
    kind = msg.type
    if kind == "text" and msg.text:
        return _Body("text", text=msg.text.body)
    if kind in _MEDIA_KINDS:
        media = {"image": msg.image, "video": msg.video, "audio": msg.audio,
                 "document": msg.document, "sticker": msg.sticker}[kind]
        if media and (media.id or media.url):
            ref = MediaRef(media_id=media.id, url=media.url, mime_type=media.mime_type,
                           voice=kind == "audio" and bool(media.voice), filename=media.filename)
            return _Body(_MEDIA_KINDS[kind], text=media.caption or None, media=ref)
    if kind == "location" and msg.location:
        place = ", ".join(p for p in (msg.location.name, msg.location.address) if p)
        return _Body("location", text=place or None)
    if kind == "contacts":
        names = [c.name.formatted_name for c in msg.contacts or [] if c.name and c.name.formatted_name]
        return _Body("contacts", text=", ".join(names) or None)
    if kind == "interactive" and msg.interactive:
        tap = msg.interactive
        reply = {"button_reply": tap.button_reply, "list_reply": tap.list_reply}.get(tap.type or "")
        if reply:
            return _Body("interactive", text=reply.title, choice_id=reply.id)
        if tap.type == "nfm_reply" and tap.nfm_reply:
            return _flow_answers(tap.nfm_reply)
    if kind == "button" and msg.button:  # a template's quick-reply button, not `interactive`
        return _Body("button", text=msg.button.text, choice_id=msg.button.payload)
    if kind == "order":
        return _Body("order", text=(msg.order.text if msg.order else None) or None)
    # unsupported/unknown (131051), new types, or a known type without its body: the patient did
    # something, so the bot answers politely instead of staying silent.
    return _Body("unsupported")


def _flow_answers(reply: MetaFlowReply) -> _Body:
    """A completed WhatsApp Flow: the form's answers as `field: value` lines for the model to read,
    with the `flow_token` we set when sending the Flow as the choice id."""
    try:
        answers = json.loads(reply.response_json or "")
    except (ValueError, RecursionError):
        answers = None
    if not isinstance(answers, dict):
        return _Body("interactive", text=reply.body)
    token = answers.pop("flow_token", None)
    text = "; ".join(
        f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in answers.items()
    )
    return _Body("interactive", text=text or reply.body, choice_id=token if isinstance(token, str) else None)


def _raw_type(msg: MetaMessage) -> str:
    sub = msg.interactive.type if msg.interactive else msg.unsupported.type if msg.unsupported else None
    return f"{msg.type}:{sub}" if sub else msg.type


def _status(raw: object, tenant_id: str) -> WebhookEvent:
    status = validate(MetaStatus, raw)
    if isinstance(status, str):
        return _unrecognized(status, tenant_id)
    if status.recipient_type == "group":  # the bot never writes to groups
        return Ignored(channel="meta", reason="group_status", tenant_id=tenant_id,
                       provider_message_id=status.id)
    known = _STATUSES.get(status.status)
    if known is None:
        return Ignored(channel="meta", reason="unrecognized", detail=f"status={status.status[:30]}",
                       tenant_id=tenant_id, provider_message_id=status.id)
    error = status.errors[0] if status.errors else None
    return StatusUpdate(
        tenant_id=tenant_id,
        channel="meta",
        provider_message_ids=[status.id],
        status=known,
        timestamp=status.timestamp,
        phone=whatsapp_phone(status.recipient_id),
        error_code=error.code if error else None,
        error_message=(error.describe() or None) if error else None,
    )


def _unrecognized(detail: str, tenant_id: str | None = None) -> Ignored:
    return Ignored(channel="meta", reason="unrecognized", detail=detail[:200], tenant_id=tenant_id)
