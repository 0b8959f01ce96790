"""parse_meta on every file of the Meta corpus, then batching, tenant routing, statuses and
timestamps on focused payloads."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atende.server.channels.meta.parse import parse_meta
from atende.server.inbound import (
    Ignored,
    InboundMessage,
    MediaRef,
    Poison,
    StatusUpdate,
    WebhookEvent,
)
from atende.server.payloads import whatsapp_phone

T = "clinica-exemplo"
ISRAEL = "+972987654321"  # pywa's wa_id: unknown to phonenumbers, kept as +digits (see whatsapp_phone)
BINDA = "+1111111111111"  # the Java library's wa_id, same treatment
PYWA = {"contact_name": "Test Name", "user_id": "US.13491208655302741918"}
BINDA_ID = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA=="
AD = {"source_url": "AD_OR_POST_FB_URL", "source_id": "ADID", "source_type": "ad or post",
      "headline": "AD_TITLE", "body": "AD_DESCRIPTION", "media_type": "image or video",
      "image_url": "RAW_IMAGE_URL", "video_url": "RAW_VIDEO_URL", "thumbnail_url": "RAW_THUMBNAIL_URL"}
OGG = "audio/ogg; codecs=opus"


def _corpus(provider: str) -> Path | None:
    """`tests/corpora/<provider>` when vendored, else $ATENDE_CORPORA or the shared checkout's."""
    here = Path(__file__).resolve().parent
    for base in (os.environ.get("ATENDE_CORPORA"), here / "corpora", here.parents[1] / "shared" / "corpora"):
        if base and (Path(base) / provider).is_dir():
            return Path(base) / provider
    return None


CORPUS = _corpus("meta")


def at(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def msg(message_id: str, when: datetime, kind: str, *, phone: str = ISRAEL, raw_type: str | None = None,
        **fields: Any) -> InboundMessage:
    return InboundMessage(tenant_id=T, channel="meta", phone=phone, provider_message_id=message_id,
                          timestamp=when, kind=kind, raw_type=raw_type or kind, **fields)


def status(message_id: str, when: datetime, state: str, *, phone: str | None = ISRAEL,
           **fields: Any) -> StatusUpdate:
    return StatusUpdate(tenant_id=T, channel="meta", provider_message_ids=[message_id], status=state,
                        timestamp=when, phone=phone, **fields)


@dataclass(frozen=True)
class Skip:
    """An expected `Ignored`: its reason, the message it names, the tenant it was resolved to."""

    reason: str
    message_id: str | None = None
    tenant_id: str | None = T


def shape(event: WebhookEvent) -> object:
    if isinstance(event, Ignored):
        return Skip(event.reason, event.provider_message_id, event.tenant_id)
    return event


def resolve_all(phone_number_id: str | None, display: str | None) -> str | None:
    return T


NOT_A_WEBHOOK: list[object] = [Skip("unrecognized", tenant_id=None)]  # Graph responses and outbound bodies

EXPECTED: dict[str, list[object]] = {
    "account_update_restriction.json": [Skip("account_update", tenant_id=None)],
    # placeholders ("PHONE_NUMBER") are not numbers; the same file with real numbers: test_batch_*
    "batch_one_entry_two_changes_two_texts.json": [Skip("invalid_phone", "wamid.ID")] * 2,
    "button_template_quick_reply.json": [
        msg("wamid.xsidjw", at(2023, 10, 25, 21, 23, 47), "button", text="title",
            reply_to="wamid.xyzxyz==", choice_id="callback_data", **PYWA)],
    "button_template_quick_reply_no_context.json": [
        msg("wamid.xsidjx", at(2023, 10, 25, 21, 23, 47), "button", text="title",
            choice_id="callback_data", **PYWA)],
    "button_template_quick_reply_pt.json": [
        msg(BINDA_ID, at(2023, 1, 6, 16, 47, 33), "button", phone=BINDA, text="SIM", reply_to=BINDA_ID,
            choice_id="SIM", contact_name="Mauricio Binda")],
    "button_with_referral_and_referred_product.json": [  # integer timestamp here
        msg("wamid.ID", at(2022, 11, 23, 20, 2, 58), "button", phone="+16315551234", text="No",
            reply_to="wamid.ID", choice_id="No-Button-Payload", forwarded=True, referral=AD)],
    "graph_error_100_invalid_parameter_empty_template_text_capture.json": NOT_A_WEBHOOK,
    "graph_error_130429_throughput.json": NOT_A_WEBHOOK,
    "graph_error_132000_param_count_mismatch_capture.json": NOT_A_WEBHOOK,
    "graph_error_132001_template_not_in_language_capture.json": NOT_A_WEBHOOK,
    "graph_get_media_response.json": NOT_A_WEBHOOK,
    "graph_send_message_response.json": NOT_A_WEBHOOK,
    "interactive_button_reply.json": [
        msg("wamid.xyzxyz", at(2023, 10, 25, 20, 45, 30), "interactive", text="title",
            reply_to="wamid.xyzxyz", choice_id="callback_data", raw_type="interactive:button_reply", **PYWA)],
    "interactive_list_reply.json": [
        msg("wamid.zyzxyz", at(2023, 10, 25, 20, 48, 25), "interactive", text="title",
            reply_to="wamid.xyzxyz", choice_id="callback_data", raw_type="interactive:list_reply", **PYWA)],
    "interactive_list_reply_with_description.json": [
        msg("wamid.zyzxyz", at(2023, 10, 25, 20, 48, 25), "interactive", text="title",
            reply_to="wamid.xyzxyz", choice_id="callback_data", raw_type="interactive:list_reply", **PYWA)],
    "interactive_nfm_reply_flow_completion.json": [
        msg("wamid.wegrchytvwcggt==", at(2023, 12, 13, 21, 21, 13), "interactive",
            text="comment_text: Comment Text; delivery_rating: 4; purchase_rating: 2; "
                 "recommend_radio: 0; cs_rating: 0",
            reply_to="wamid.gvwegfretge==", choice_id="AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
            raw_type="interactive:nfm_reply", **PYWA)],
    "metadocs_msg_text_overview_example.json": [
        msg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", at(2025, 6, 8, 20, 59, 43),
            "text", phone="+16505551234", text="Does it come in another color?",
            contact_name="Sheena Nelson")],
    "msg_audio_b.json": [
        msg("wamid.HBzk5zNkE1NNzAzgNNTUyNMDkzIYFDNFNhjMyNjcUCABQjA1NzcDY0M0AA==", at(2023, 1, 6, 19, 24, 30),
            "audio", phone=BINDA, media=MediaRef(media_id="827776106019109", mime_type=OGG, voice=True),
            contact_name="Mauricio Binda")],
    "msg_audio_file.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 16, 58, 29), "audio",
            media=MediaRef(media_id="1234567890987654321", mime_type=OGG), forwarded=True, **PYWA)],
    "msg_audio_voice_note.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 16, 57, 53), "audio",
            media=MediaRef(media_id="1234567890987654321", mime_type=OGG, voice=True), **PYWA)],
    "msg_contacts_multiple.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 17, 1), "contacts",
            text="Chandler Bing, Monica, Rachel Green", **PYWA)],
    # the old shape of a deleted message is indistinguishable from an unsupported one
    "msg_deleted_as_unsupported_131051.json": [
        msg(BINDA_ID, at(2023, 1, 6, 17, 29, 34), "unsupported", phone=BINDA, contact_name="Mauricio Binda")],
    "msg_document.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 1, 6), "document", text="caption",
            media=MediaRef(media_id="1234567890987654321", mime_type="application/pdf",
                           filename="filename.pdf"),
            forwarded=True, **PYWA)],
    "msg_edit_image_caption.json": [
        Skip("edited", "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=")],
    "msg_image.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 16, 56, 19), "image",
            media=MediaRef(media_id="65463453", mime_type="image/jpeg"), **PYWA)],
    "msg_image_b.json": [
        msg("wamid.HBgODE0NDQwANNTTBGRjkUyNzkzNhUCABIYFDNF5NzAzMDkQjBEQ3NjdBA==", at(2023, 1, 6, 19, 15, 25),
            "image", phone=BINDA, media=MediaRef(media_id="8472976218001204", mime_type="image/jpeg"),
            contact_name="Mauricio Binda")],
    "msg_image_with_url.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 16, 56, 19), "image",
            media=MediaRef(url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453"
                               "&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw",
                           media_id="65463453", mime_type="image/jpeg"), **PYWA)],
    "msg_interactive_with_value_errors_131000.json": [
        msg("wamid.wegrchytvwcggt=", at(2023, 11, 20, 18, 38, 14), "unsupported",
            reply_to="wamid.gvwegfretge==", raw_type="interactive", **PYWA),
        Skip("provider_error")],
    "msg_location_current.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 15, 57), "location", forwarded=True, **PYWA)],
    "msg_location_named_place.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 15, 57), "location",
            text="Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025", forwarded=True, **PYWA)],
    "msg_order.json": [msg("wamid.xyzxyz", at(2023, 10, 11, 17, 17, 48), "order", **PYWA)],
    "msg_reaction.json": [Skip("reaction", "wamid.xyzxyz")],
    "msg_reaction_removed_empty_emoji.json": [Skip("reaction", "wamid.xyzxyz")],
    "msg_reaction_removed_no_emoji.json": [Skip("reaction", "wamid.xyzxyz")],
    "msg_revoke_deleted.json": [Skip("deleted", "<WHATSAPP_MESSAGE_ID>")],
    "msg_sticker_animated.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 3, 5), "sticker",
            media=MediaRef(media_id="1234567890987654321", mime_type="image/webp"), **PYWA)],
    "msg_sticker_static.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 2, 40), "sticker",
            media=MediaRef(media_id="1234567890987654321", mime_type="image/webp"), **PYWA)],
    "msg_text.json": [msg("wamid.xyzxyz", at(2023, 10, 11, 16, 53, 43), "text", text="Body Text", **PYWA)],
    "msg_text_bsuid_only_no_from.json": [Skip("no_phone", "wamid.ID")],
    "msg_text_ctwa_referral.json": [
        msg("wamid.ID", at(2023, 10, 11, 17, 23, 20), "text", text="BODY",
            referral={**AD, "ctwa_clid": "CTWA_CLID"}, **PYWA)],
    "msg_text_forwarded.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 20, 15), "text", text="forwarded text", forwarded=True,
            **PYWA)],
    "msg_text_frequently_forwarded.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 22, 48), "text", text="text forwarded many times",
            forwarded=True, **PYWA)],
    "msg_text_reply_with_context.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 19, 6), "text", text="replied text",
            reply_to="wamid.xyzxyz==", **PYWA)],
    "msg_type_unknown_131051.json": [Skip("invalid_phone", "wamid.ID")],  # real numbers: test_unknown_type
    "msg_unsupported_131051.json": [msg("wamid.xyzxyz", at(2023, 10, 11, 17, 18, 26), "unsupported", **PYWA)],
    "msg_unsupported_with_subtype.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 18, 26), "unsupported", raw_type="unsupported:pool",
            **PYWA)],
    "msg_video_forwarded.json": [
        msg("wamid.xyzxyz", at(2023, 10, 11, 17, 12, 42), "video", text="caption",
            media=MediaRef(media_id="765756756", mime_type="video/mp4"), forwarded=True, **PYWA)],
    "out_request_interactive_buttons.json": NOT_A_WEBHOOK,
    "out_request_interactive_list.json": NOT_A_WEBHOOK,
    "out_request_mark_as_read.json": NOT_A_WEBHOOK,
    "out_request_template_body_params.json": NOT_A_WEBHOOK,
    "out_request_template_image_header.json": NOT_A_WEBHOOK,
    "out_request_text.json": NOT_A_WEBHOOK,
    "smb_message_echo_text.json": [Skip("invalid_phone", "<WHATSAPP_MESSAGE_ID>")],  # real: test_echo_*
    "status_delivered.json": [status("wamid.xyzxyz", at(2023, 10, 25, 20, 49, 5), "delivered")],
    "status_delivered_authentication_category.json": [
        status("wamid.ID", at(2023, 6, 1, 13, 37, 53), "delivered", phone=None)],
    "status_delivered_business_initiated.json": [
        status(BINDA_ID, at(2023, 1, 6, 15, 51, 57), "delivered", phone=BINDA)],
    "status_failed_130472_experiment.json": [
        status("wamid.xyzxyz", at(2023, 7, 15, 0, 20, 58), "failed", error_code="130472",
               error_message="User's number is part of an experiment: Failed to send message because "
                             "this user's phone number is part of an experiment")],
    "status_failed_131047_reengagement.json": [
        status("wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=", at(2023, 4, 28, 3, 18, 7),
               "failed", phone="+5511111111111", error_code="131047",
               error_message="Re-engagement message: Message failed to send because more than 24 hours "
                             "have passed since the customer last replied to this number.")],
    "status_failed_131053_media_upload.json": [
        status("wamid.HBgNNTUyNzk5NzAUZBQTI3MzRGRDA3MjgzMDkzNhUCABEYEjNCR2OQA=", at(2023, 3, 2, 18, 56, 12),
               "failed", phone=BINDA, error_code="131053",
               error_message="Media upload error: Unsupported Video mime type text/html. "
                             "Please use one of video/3gpp, video/mp4.")],
    "status_played_voice.json": [status("wamid.xyzxyz", at(2023, 7, 15, 0, 20, 58), "played")],
    "status_read.json": [status("wamid.xyzxyz", at(2023, 7, 15, 0, 20, 58), "read")],
    "status_read_group_recipient.json": [Skip("group_status", "<WHATSAPP_MESSAGE_ID>")],
    "status_read_minimal.json": [status(BINDA_ID, at(2023, 1, 6, 15, 51, 57), "read", phone=BINDA)],
    "status_read_user_initiated_int_expiration.json": [
        status("wamid.ID", at(2022, 11, 23, 20, 2, 58), "read", phone=None)],
    "status_sent_business_initiated.json": [
        status(BINDA_ID, at(2023, 1, 6, 15, 51, 57), "sent", phone=BINDA)],
    "status_sent_service.json": [status("wamid.xyzxyz", at(2023, 10, 25, 20, 49, 5), "sent")],
    "status_sent_with_biz_opaque_callback_data.json": [
        status("wamid.xyzxyz", at(2023, 10, 25, 20, 49, 5), "sent")],
    "system_customer_identity_changed.json": [Skip("system_event", "wamid.xyzxyz")],
    "system_user_changed_number.json": [Skip("system_event", "wamid.xyzxyz==")],
    "template_create_request_utility_quick_reply_pywa.json": NOT_A_WEBHOOK,
    "template_status_approved.json": [Skip("template_status", tenant_id=None)],
    "template_status_rejected.json": [Skip("template_status", tenant_id=None)],
    "user_preferences_marketing_resume.json": [Skip("user_preferences", tenant_id=None)],
}


def load(name: str) -> dict[str, Any]:
    if CORPUS is None:
        pytest.skip("Meta corpus not found: vendor it in tests/corpora/meta or set ATENDE_CORPORA")
    payload: dict[str, Any] = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    return payload


def with_numbers(name: str, **replace: str) -> dict[str, Any]:
    """A corpus file with its placeholder values swapped for real ones."""
    text = json.dumps(load(name))
    for old, new in replace.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    payload: dict[str, Any] = json.loads(text)
    return payload


# --- the corpus ------------------------------------------------------------------------------


def test_every_corpus_file_has_an_expectation() -> None:
    if CORPUS is None:
        pytest.skip("Meta corpus not found")
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str) -> None:
    events = parse_meta(load(name), resolve_all)
    assert [shape(e) for e in events] == EXPECTED[name]


def _sensitive(node: object, key: str = "") -> Iterator[str]:
    """Phone numbers and message texts in a payload (error descriptions excluded)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in ("errors", "error_data"):
                yield from _sensitive(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _sensitive(item, key)
    elif isinstance(node, str) and len(node) >= 4 and key in (
        "from", "to", "wa_id", "recipient_id", "display_phone_number", "body", "caption", "text",
        "title", "name", "formatted_name", "address", "phone", "payload", "description",
    ):
        yield node


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ignored_details_never_carry_phones_or_texts(name: str) -> None:
    payload = load(name)
    secrets = set(_sensitive(payload))
    for event in parse_meta(payload, resolve_all):
        if isinstance(event, Ignored):
            assert not [s for s in secrets if s in event.detail], event.detail


DELETE = object()


def mangled(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Copies of `payload` with one value swapped for each wrong type, or its key deleted."""

    def paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        if path:
            yield path
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            yield from paths(child, (*path, key))

    for path in list(paths(payload)):
        for replacement in (DELETE, None, 0, -1, 10**30, "x", "", [], {}, True, 1.5):
            copied = copy.deepcopy(payload)
            parent = copied
            for key in path[:-1]:
                parent = parent[key]
            if replacement is not DELETE:
                parent[path[-1]] = replacement
            elif isinstance(parent, dict):
                del parent[path[-1]]
            yield copied


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_never_raises_on_a_mangled_corpus_file(name: str) -> None:
    for payload in mangled(load(name)):
        events = parse_meta(payload, resolve_all)
        assert events and all(isinstance(e, InboundMessage | StatusUpdate | Ignored | Poison)
                              for e in events)


# --- batching and tenants --------------------------------------------------------------------


def test_batch_yields_every_message_of_every_change_in_order() -> None:
    """Two changes in one entry (Meta batches); the sender's 12-digit Brazilian wa_id (no 9th
    digit) comes out as the 13-digit E.164 number."""
    payload = with_numbers("batch_one_entry_two_changes_two_texts.json", PHONE_NUMBER="551199998888")
    events = parse_meta(payload, resolve_all)
    common = {"phone": "+5511999998888", "contact_name": "NAME"}
    assert events == [
        msg("wamid.ID", at(2022, 11, 23, 20, 2, 58), "text", text="MESSAGE_BODY", **common),
        msg("wamid.ID", at(2022, 11, 23, 20, 2, 59), "text", text="MESSAGE_BODY2", **common),
    ]


def test_batch_of_entries_and_of_items_in_one_change() -> None:
    batch = with_numbers("batch_one_entry_two_changes_two_texts.json", PHONE_NUMBER="551199998888")
    value = batch["entry"][0]["changes"][1]["value"]
    value["messages"].append({**value["messages"][0], "id": "wamid.THIRD", "text": {"body": "3"}})
    value["statuses"] = [{"id": "wamid.OURS", "status": "read", "timestamp": "1669233780",
                          "recipient_id": "551199998888"}]
    batch["entry"].append(load("msg_text.json")["entry"][0])
    events = parse_meta(batch, resolve_all)
    assert [(type(e).__name__, getattr(e, "text", None)) for e in events] == [
        ("InboundMessage", "MESSAGE_BODY"), ("InboundMessage", "MESSAGE_BODY2"), ("InboundMessage", "3"),
        ("StatusUpdate", None), ("InboundMessage", "Body Text"),
    ]


def test_tenant_is_resolved_per_change_from_its_metadata() -> None:
    payload = with_numbers("batch_one_entry_two_changes_two_texts.json", PHONE_NUMBER="551199998888")
    payload["entry"][0]["changes"][1]["value"]["metadata"] = {
        "display_phone_number": "5511955550000", "phone_number_id": "999000"}
    calls: list[tuple[str | None, str | None]] = []

    def resolve(phone_number_id: str | None, display: str | None) -> str | None:
        calls.append((phone_number_id, display))
        return {"PHONE_NUMBER_ID": "clinica-a"}.get(phone_number_id or "")

    events = parse_meta(payload, resolve)
    assert calls == [("PHONE_NUMBER_ID", "551199998888"), ("999000", "5511955550000")]
    first, second = events
    assert isinstance(first, InboundMessage) and first.tenant_id == "clinica-a"
    assert isinstance(second, Ignored) and second.reason == "unknown_number"
    assert second.detail == "phone_number_id=999000; 1 messages, 0 statuses"  # not the display number


def test_unknown_phone_number_id_ignores_the_whole_change() -> None:
    events = parse_meta(load("status_read.json"), lambda pnid, display: None)
    assert [shape(e) for e in events] == [Skip("unknown_number", tenant_id=None)]


# --- fields and routing ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["smb_message_echoes", "message_echoes"])
def test_echo_is_the_clinic_writing_and_the_chat_is_the_recipient(field: str) -> None:
    payload = with_numbers("smb_message_echo_text.json", **{"<WHATSAPP_USER_PHONE_NUMBER>": "5521987654321"})
    payload["entry"][0]["changes"][0]["field"] = field
    assert parse_meta(payload, resolve_all) == [
        msg("<WHATSAPP_MESSAGE_ID>", at(2023, 10, 11, 16, 53, 43), "text", phone="+5521987654321",
            text="Test message", user_id="<BSUID>", from_me=True)]


def test_username_only_user_has_no_phone_and_is_ignored_with_the_user_id() -> None:
    [event] = parse_meta(load("msg_text_bsuid_only_no_from.json"), resolve_all)
    assert isinstance(event, Ignored)
    assert (event.reason, event.detail, event.provider_message_id) == (
        "no_phone", "user_id=BSUID_123", "wamid.ID")


def test_missing_from_falls_back_to_the_contact_wa_id() -> None:
    payload = load("msg_text.json")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    [event] = parse_meta(payload, resolve_all)
    assert isinstance(event, InboundMessage) and event.phone == ISRAEL


def test_unknown_type_is_unsupported_so_the_bot_answers() -> None:
    payload = with_numbers("msg_type_unknown_131051.json", PHONE_NUMBER="5511987654321")
    assert parse_meta(payload, resolve_all) == [
        msg("wamid.ID", at(2022, 11, 23, 20, 2, 58), "unsupported", phone="+5511987654321",
            raw_type="unknown")]


def test_value_level_errors_are_reported_with_their_code() -> None:
    events = parse_meta(load("msg_interactive_with_value_errors_131000.json"), resolve_all)
    error = events[-1]
    assert isinstance(error, Ignored)
    assert error.detail == "code=131000 Something went wrong: Unsupported webhook payload"


def test_flow_reply_that_is_not_json_falls_back_to_its_body() -> None:
    payload = load("interactive_nfm_reply_flow_completion.json")
    flow = payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]
    flow["response_json"] = "{"
    [event] = parse_meta(payload, resolve_all)
    assert isinstance(event, InboundMessage) and (event.text, event.choice_id) == ("Sent", None)


@pytest.mark.parametrize(("field", "reason"), [
    ("message_template_status_update", "template_status"),
    ("account_update", "account_update"),
    ("calls", "unhandled_field"),
    ("history", "unhandled_field"),
])
def test_other_fields_are_ignored_not_errors(field: str, reason: str) -> None:
    payload = load("template_status_approved.json")
    payload["entry"][0]["changes"][0]["field"] = field
    assert [shape(e) for e in parse_meta(payload, resolve_all)] == [Skip(reason, tenant_id=None)]


@pytest.mark.parametrize("payload", [
    {}, {"object": "page", "entry": []}, {"object": "whatsapp_business_account", "entry": []},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]},
    {"object": "whatsapp_business_account", "entry": "nope"},
])
def test_unknown_shapes_are_unrecognized(payload: dict[str, Any]) -> None:
    [event] = parse_meta(payload, resolve_all)
    assert isinstance(event, Ignored) and event.reason == "unrecognized"


# --- statuses and timestamps -----------------------------------------------------------------


def _status_payload(**status_fields: Any) -> dict[str, Any]:
    item = {"id": "wamid.OURS", "timestamp": "1698266945", "recipient_id": "5511987654321", **status_fields}
    value = {"metadata": {"phone_number_id": "1", "display_phone_number": "2"}, "statuses": [item]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "waba", "changes": [{"field": "messages", "value": value}]}]}


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "played", "failed"])
def test_every_meta_status_maps_to_itself(state: str) -> None:
    [event] = parse_meta(_status_payload(status=state), resolve_all)
    assert event == status("wamid.OURS", at(2023, 10, 25, 20, 49, 5), state, phone="+5511987654321")


@pytest.mark.parametrize("state", ["deleted", "warning", "READ"])
def test_an_unknown_status_is_ignored(state: str) -> None:
    [event] = parse_meta(_status_payload(status=state), resolve_all)
    assert shape(event) == Skip("unrecognized", "wamid.OURS")


def test_failed_status_without_errors_has_no_error_fields() -> None:
    [event] = parse_meta(_status_payload(status="failed"), resolve_all)
    assert isinstance(event, StatusUpdate) and (event.error_code, event.error_message) == (None, None)


@pytest.mark.parametrize("stamp", ["1697043223", 1697043223, " 1697043223 ", 1697043223.0])
def test_timestamp_is_epoch_seconds_as_string_or_number(stamp: object) -> None:
    payload = load("msg_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = stamp
    [event] = parse_meta(payload, resolve_all)
    assert isinstance(event, InboundMessage)
    assert event.timestamp == datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)
    assert event.timestamp.utcoffset() is not None


@pytest.mark.parametrize("stamp", ["yesterday", "", None, "1.5e9", 10**20, True, -62135596800,
                                   -59042995200, 4102444800])
def test_unreadable_timestamp_sets_that_message_aside_only(stamp: object) -> None:
    """Year 1, year 68 and 2100 included: no provider's clock, and no store keeps them."""
    payload = with_numbers("batch_one_entry_two_changes_two_texts.json", PHONE_NUMBER="551199998888")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = stamp
    first, second = parse_meta(payload, resolve_all)
    assert isinstance(first, Poison) and first.provider_message_id == "wamid.ID"
    assert first.reason.startswith("MetaMessage timestamp: value_error (")
    assert "MESSAGE_BODY" not in first.excerpt
    assert isinstance(second, InboundMessage) and second.text == "MESSAGE_BODY2"


# --- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "phone"), [
    ("551199998888", "+5511999998888"),  # 12-digit Brazilian mobile: 9th digit restored
    ("5511999998888", "+5511999998888"),
    ("+5521987654321", "+5521987654321"),
    ("551133334444", "+551133334444"),  # a landline keeps 8 digits
    ("972987654321", "+972987654321"),  # unknown to phonenumbers, but WhatsApp verified it
    ("16505551234", "+16505551234"),  # 11 digits: a US number, never read as a Brazilian DDD 16
    ("PHONE_NUMBER", None), ("999999999999@lid", None), ("120363000000000001-group", None),
    ("0123456789", None), ("1234567890123456", None), ("", None), (None, None),
])
def test_whatsapp_phone(raw: str | None, phone: str | None) -> None:
    assert whatsapp_phone(raw) == phone
