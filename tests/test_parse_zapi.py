"""parse_zapi on every file of the Z-API corpus, then echoes, identity, statuses and timestamps on
focused payloads."""

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

from atende.server.channels.zapi.parse import parse_zapi
from atende.server.inbound import (
    Ignored,
    InboundMessage,
    MediaRef,
    Poison,
    StatusUpdate,
    WebhookEvent,
)

T = "clinica-exemplo"
PHONE = "+5544999999999"  # the docs' number, also sent in its 12-digit form 554499999999
DOCS_ID = "A20DA9C0183A2D35A260F53F5D2B9244"
DOCS = {"contact_name": "name", "user_id": "81896604192873@lid"}
STORAGE = "https://f004.backblazeb2.com/file/temp-file-download/instances/A3A6B5E4950986E273273518478E01F9/"
OGG = "audio/ogg; codecs=opus"
INVALID_JSON = "received_text_from_ad_mongo_literals.INVALID_JSON.txt"
HTTP_CAPTURE = "real_webhook_http_capture_with_headers.json"  # {headers, body}: the body is the webhook
ARRAY_OF_POSTS = "message_status_legacy_2022_message_received.json"  # five POSTs stored as one array


def _corpus(provider: str) -> Path | None:
    """`tests/corpora/<provider>` when vendored, else $ATENDE_CORPORA or the shared checkout's."""
    here = Path(__file__).resolve().parent
    for base in (os.environ.get("ATENDE_CORPORA"), here / "corpora", here.parents[1] / "shared" / "corpora"):
        if base and (Path(base) / provider).is_dir():
            return Path(base) / provider
    return None


CORPUS = _corpus("zapi")


def at(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def msg(message_id: str, when: datetime, kind: str, *, phone: str = PHONE, raw_type: str | None = None,
        **fields: Any) -> InboundMessage:
    return InboundMessage(tenant_id=T, channel="zapi", phone=phone, provider_message_id=message_id,
                          timestamp=when, kind=kind, raw_type=raw_type or kind, **fields)


def status(ids: str | list[str], when: datetime | None, state: str, *, phone: str | None = PHONE,
           **fields: Any) -> StatusUpdate:
    return StatusUpdate(tenant_id=T, channel="zapi", status=state, timestamp=when, phone=phone,
                        provider_message_ids=[ids] if isinstance(ids, str) else ids, **fields)


@dataclass(frozen=True)
class Skip:
    """An expected `Ignored`: its reason and the message it names."""

    reason: str
    message_id: str | None = None


def shape(event: WebhookEvent) -> object:
    if isinstance(event, Ignored):
        assert event.tenant_id == T
        return Skip(event.reason, event.provider_message_id)
    return event


OLD_STAMP = at(2021, 9, 21, 14, 30, 45)  # the docs' status examples: momment 1632234645000

EXPECTED: dict[str, list[object]] = {
    "api_send_text_request.json": [Skip("unrecognized")],  # not webhooks: the send-text API
    "api_send_text_response.json": [Skip("unrecognized")],
    "connected_callback.json": [Skip("connected")],
    "delivery_callback_error.json": [
        status(DOCS_ID, at(2026, 4, 29, 20, 21, 31, 684000), "failed",
               error_message="Phone number does not exist")],
    "delivery_callback_legacy_2022_customid.json": [status(DOCS_ID, None, "sent")],  # no momment
    "delivery_callback_success.json": [
        status("A800FB3697F1DE58C48D", at(2026, 4, 29, 20, 20, 9, 341000), "sent")],
    "disconnected_callback.json": [Skip("disconnected")],
    "message_status_legacy_2022_message_received.json": [
        status("999999999999999999999", OLD_STAMP, "sent"),
        status("999999999999999999999", OLD_STAMP, "delivered"),
        status("999999999999999999999", OLD_STAMP, "read"),
        Skip("read_by_me", "999999999999999999999"),  # MESSAGE_READ-SELF
        status("999999999999999999999", OLD_STAMP, "played")],
    "message_status_played.json": [status("999999999999999999999", OLD_STAMP, "played")],
    "message_status_read.json": [status("999999999999999999999", OLD_STAMP, "read")],
    "message_status_read_by_me.json": [Skip("read_by_me", "999999999999999999999")],
    "message_status_received.json": [status("999999999999999999999", OLD_STAMP, "delivered")],
    "message_status_sent.json": [status("999999999999999999999", OLD_STAMP, "sent")],
    "presence_composing.json": [Skip("presence")],
    "real_connected_callback.json": [Skip("connected")],
    "real_message_status_group_read_participant.json": [
        Skip("group_status", "A553C93FA4C625159A2D395201791AA9")],
    "real_message_status_played.json": [
        status(["148EE2843EA2E21E827D47821EFA2463", "CE7EFA57A0769DD11F85BEC2CB828E74",
                "C7014722DBB93277C38DDD8FAD928ACD"], at(2025, 9, 6, 9, 55, 23), "played",
               phone="+5511900000006")],
    "real_message_status_read_batched_ids.json": [
        status(["A5C03EF08924ABEB8CB0329326A78DC4", "A5F7E53D80013A74D1982BB9AD7D9D33",
                "A59A9C4C9A8EE6889E20BFD9DE8D9AF5"], at(2025, 9, 9, 0, 16, 4), "read",
               phone="+5511900000012")],
    "real_message_status_read_by_me.json": [Skip("read_by_me")],  # five ids: none named
    "real_message_status_received.json": [  # 12-digit 551190000015: 9th digit restored
        status("A5A885568BA3AD91358295C1BAE0A092", at(2025, 9, 6, 13, 33, 34), "delivered",
               phone="+5511990000015")],
    "real_presence_composing.json": [Skip("presence")],
    "real_received_call_voice_notification.json": [Skip("call", "BFF8BD5E32827EFE46FAEF0982CF17C4")],
    "real_received_fromme_audio_forwarded.json": [
        msg("3A124E122ED13C2EE136", at(2025, 9, 8, 22, 56, 8), "audio", phone="+5511900000006",
            media=MediaRef(url=STORAGE + "3A124E122ED13C2EE136/REDACTED.ogg", mime_type=OGG, seconds=89),
            contact_name="Nome Exemplo 8", user_id="000000000000005@lid", from_me=True, forwarded=True)],
    "real_received_fromme_ptv.json": [
        msg("3EB0E5DE6C0BE379837C4B", at(2025, 9, 8, 16, 58, 13), "video", phone="+5511900000007",
            media=MediaRef(url=STORAGE + "3EB0E5DE6C0BE379837C4B/REDACTED.mp4", mime_type="video/mp4"),
            contact_name="Nome Exemplo 9", user_id="000000000000006@lid", from_me=True, raw_type="ptv")],
    "real_received_fromme_text_typed_on_phone.json": [  # a person on the clinic phone; chat = customer
        msg("A5E27BB3F40720F2C4ACAC815C1D0C4F", at(2025, 9, 9, 4, 1, 15), "text", phone="+5511990000003",
            text="Boa", reply_to="ACCA2933054CBACC7E44D6D5611D2F46", contact_name="Nome Exemplo 3",
            user_id="000000000000002@lid", from_me=True)],
    "real_received_group_audio_ptt.json": [Skip("group_message", "A5B21C9232649A9DC58F98C55829E95F")],
    "real_received_group_image.json": [Skip("group_message", "3EB09A5EDDEEB2CF595BEE28E9E78A269F30C090")],
    "real_received_group_notification_participant_invite.json": [Skip("group_message", "1555000009")],
    "real_received_group_text_reply.json": [Skip("group_message", "3EB03F23C9C8956E000D23")],
    "real_received_group_waiting_message.json": [Skip("group_message", "3EB09845F4BDDAFE763C09")],
    "real_received_live_location.json": [
        msg("AC2AA4B5413D8C963A96D79B4528AC0A", at(2025, 9, 8, 18, 22, 45), "location",
            phone="+5511990000011", contact_name="Nome Exemplo 18", user_id="000000000000008@lid",
            raw_type="liveLocation")],
    "real_received_private_audio_ptt.json": [
        msg("AC3B094AD7F9A3F9C6F7F90B9D8AA5C4", at(2025, 9, 8, 22, 45, 6), "audio", phone="+5511990000005",
            media=MediaRef(url=STORAGE + "AC3B094AD7F9A3F9C6F7F90B9D8AA5C4/REDACTED.ogg", mime_type=OGG,
                           seconds=89, voice=True),
            contact_name="Nome Exemplo 7", user_id="00000000000004@lid")],
    "real_received_private_document_pdf.json": [
        msg("3EB0C126E2E40E9DB35B59", at(2025, 9, 7, 9, 23, 3), "document", phone="+5511900000007",
            media=MediaRef(url=STORAGE + "3EB0C126E2E40E9DB35B59/REDACTED.pdf", mime_type="application/pdf",
                           filename="document.pdf"),
            contact_name="Nome Exemplo 10", user_id="000000000000006@lid")],
    HTTP_CAPTURE: [Skip("group_message", "3EB03F23C9C8956E000D23")],
    "received_audio_ptt_voice_note.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 54, 9), "audio",
            media=MediaRef(url="https://", mime_type=OGG, seconds=10, voice=True), **DOCS)],
    "received_broadcast_list_fromme.json": [Skip("broadcast", "702CC5F7E0A6BF4421")],
    "received_button_response.json": [
        msg(DOCS_ID, at(2021, 10, 19, 12, 9, 40), "interactive", text="Great", reply_to=DOCS_ID,
            choice_id="1", contact_name="Nome", user_id="81896604192873@lid",
            raw_type="buttonsResponseMessage")],
    "received_call_missed_voice.json": [Skip("call", "1779374011-59")],
    "received_call_voice.json": [Skip("call", "1679655074-84")],
    "received_contact_vcard.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 55, 25), "contacts", text="Cesar Baleco", raw_type="contact",
            **DOCS)],
    "received_document.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 55, 55), "document",
            media=MediaRef(url="https://", mime_type="application/pdf", filename="name.pdf"), **DOCS)],
    "received_event_in_group.json": [Skip("group_message", DOCS_ID)],
    "received_group_membership_request.json": [Skip("group_message", DOCS_ID)],
    "received_image.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 53, 48), "image",
            media=MediaRef(url="https://", mime_type="image/jpeg"), **DOCS)],
    INVALID_JSON: [],  # not JSON at all: the webhook answers 400 before parsing (test below)
    "received_list_response.json": [
        msg(DOCS_ID, at(2021, 10, 19, 12, 14, 43), "interactive", text="Z-API", reply_to=DOCS_ID,
            choice_id="1", contact_name="Nome", user_id="81896604192873@lid",
            raw_type="listResponseMessage")],
    "received_location.json": [msg(DOCS_ID, at(2021, 9, 21, 12, 56, 10), "location", **DOCS)],
    "received_poll_vote.json": [Skip("poll_vote", DOCS_ID)],
    "received_ptv_fromme.json": [  # fromMe without fromApi: typed by a person
        msg(DOCS_ID, at(2023, 7, 4, 18, 41, 14), "video",
            media=MediaRef(url="https://", mime_type="video/mp4"), contact_name="eu", from_me=True,
            forwarded=True)],
    "received_reaction.json": [Skip("reaction", DOCS_ID)],
    "received_status_reply_text.json": [Skip("status_reply", DOCS_ID)],
    "received_sticker.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 56, 22), "sticker",
            media=MediaRef(url="https://", mime_type="image/webp"), **DOCS)],
    "received_template_text.json": [  # senderName is just the number: no contact name
        msg("702CC5F7E0A6BF4421", at(2024, 2, 20, 19, 26, 33, 876000), "text",
            text="message title\nmessage text", user_id="81896604192873@lid", raw_type="hydratedTemplate")],
    "received_text.json": [msg(DOCS_ID, at(2021, 9, 21, 12, 50, 38), "text", text="test", **DOCS)],
    "received_text_from_ad_ctwa.json": [
        msg(DOCS_ID, at(2022, 7, 7, 16, 2, 32), "text", text="received message", **DOCS,
            referral={"title": "Title", "body": "ad text", "thumbnail_url": "https://", "source_type": "ad",
                      "source_id": "23722824350495506", "source_url": "https://",
                      "ctwa_clid": "Aff-niaAw7V94N8LGd79Vjr43TlJD4UnoBdpZJQ3LzABitbbG6wgKBSVOth4EN0I"
                                   "Dr9glsKWjm2LBaFrJG3Nb0ILxP49ZtossVBNzlS8cFXBvv2ow7gNw"})],
    "received_video.json": [
        msg(DOCS_ID, at(2021, 9, 21, 12, 54, 49), "video",
            media=MediaRef(url="https://", mime_type="video/mp4", seconds=13), **DOCS)],
    "received_waiting_message.json": [Skip("waiting_message", DOCS_ID)],
}


def load(name: str) -> Any:
    if CORPUS is None:
        pytest.skip("Z-API corpus not found: vendor it in tests/corpora/zapi or set ATENDE_CORPORA")
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def bodies(name: str) -> list[dict[str, Any]]:
    """The webhook bodies a corpus file stands for."""
    raw = load(name)
    if name == HTTP_CAPTURE:
        return [raw["body"]]
    return raw if name == ARRAY_OF_POSTS else [raw]


def parse_all(name: str, **kw: Any) -> list[WebhookEvent]:
    return [event for body in bodies(name) for event in parse_zapi(body, T, **kw)]


def received(name: str = "received_text.json", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {**load(name), **changes}
    return body


# --- the corpus ------------------------------------------------------------------------------


def test_every_corpus_file_has_an_expectation() -> None:
    if CORPUS is None:
        pytest.skip("Z-API corpus not found")
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {INVALID_JSON}))
def test_corpus_file(name: str) -> None:
    assert [shape(e) for e in parse_all(name)] == EXPECTED[name]


def test_the_mongo_literal_doc_example_is_not_json() -> None:
    """Z-API's docs published this ad example with NumberLong(...) literals; the webhook route
    rejects such a body with 400 `invalid_json` before any parser sees it."""
    if CORPUS is None:
        pytest.skip("Z-API corpus not found")
    with pytest.raises(json.JSONDecodeError):
        json.loads((CORPUS / INVALID_JSON).read_text(encoding="utf-8"))


def _sensitive(node: object, key: str = "") -> Iterator[str]:
    """Phone numbers, LIDs and message texts in a payload."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _sensitive(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _sensitive(item, key)
    elif isinstance(node, str) and len(node) >= 4 and key in (
        "phone", "participantPhone", "connectedPhone", "participant", "chatLid", "senderLid",
        "participantLid", "message", "caption", "title", "body", "chatName", "senderName", "displayName",
        "notificationParameters", "value",
    ):
        yield node


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {INVALID_JSON}))
def test_ignored_details_never_carry_phones_or_texts(name: str) -> None:
    for body in bodies(name):
        secrets = set(_sensitive(body))
        for event in parse_zapi(body, T):
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


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {INVALID_JSON}))
def test_never_raises_on_a_mangled_corpus_file(name: str) -> None:
    for body in bodies(name):
        for payload in mangled(body):
            events = parse_zapi(payload, T, instance_id="A3A6B5E4950986E273273518478E01F9")
            assert len(events) == 1
            assert isinstance(events[0], InboundMessage | StatusUpdate | Ignored | Poison)


# --- who wrote it ----------------------------------------------------------------------------


def test_bot_echo_is_ignored_but_a_person_on_the_clinic_phone_is_a_message() -> None:
    typed = load("real_received_fromme_text_typed_on_phone.json")
    [by_person] = parse_zapi(typed, T)
    [by_bot] = parse_zapi({**typed, "fromApi": True}, T)
    assert isinstance(by_person, InboundMessage) and by_person.from_me
    assert by_person.phone == "+5511990000003"  # the customer (chat), not the clinic (connectedPhone)
    assert by_person.contact_name == "Nome Exemplo 3"  # chatName; senderName is the clinic
    assert shape(by_bot) == Skip("own_echo", "A5E27BB3F40720F2C4ACAC815C1D0C4F")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"phone": "120363019502650977-group"}, "group_message"),
    ({"isGroup": True}, "group_message"),
    ({"phone": "1774895799-broadcast"}, "broadcast"),
    ({"phone": "120363000000000009@newsletter"}, "newsletter"),
    ({"isNewsletter": True}, "newsletter"),
    ({"isStatusReply": True}, "status_reply"),
    ({"waitingMessage": True}, "waiting_message"),
    ({"isEdit": True}, "edited"),
    ({"notification": "CALL_MISSED_VIDEO"}, "call"),
    ({"notification": "GROUP_PARTICIPANT_LEAVE"}, "notification"),
    ({"phone": "999999999999@lid"}, "no_phone"),
    ({"phone": "name"}, "invalid_phone"),
])
def test_what_the_bot_does_not_answer(changes: dict[str, Any], reason: str) -> None:
    [event] = parse_zapi(received(**changes), T)
    assert shape(event) == Skip(reason, DOCS_ID)
    assert "999999999999" not in event.detail  # a LID looks like a phone: keep it out of logs too


def test_unknown_content_kind_is_unsupported_so_the_bot_answers() -> None:
    body = received(text=None, product={"productId": "1"})
    del body["text"]
    [event] = parse_zapi(body, T)
    assert isinstance(event, InboundMessage) and (event.kind, event.raw_type) == ("unsupported", "product")


def test_no_content_at_all_is_unrecognized() -> None:
    body = received()
    del body["text"]
    [event] = parse_zapi(body, T)
    assert shape(event) == Skip("unrecognized", DOCS_ID)


# --- instance check --------------------------------------------------------------------------


def test_a_callback_from_another_instance_is_ignored() -> None:
    [mine] = parse_zapi(received(), T, instance_id=DOCS_ID)
    [other] = parse_zapi(received(), T, instance_id="ANOTHER-INSTANCE")
    assert isinstance(mine, InboundMessage)
    assert shape(other) == Skip("wrong_instance")
    assert DOCS_ID not in other.detail


@pytest.mark.parametrize("instance", [DELETE, None])
def test_a_callback_naming_no_instance_is_accepted(instance: object) -> None:
    body = load("delivery_callback_success.json")
    del body["instanceId"]
    if instance is None:
        body["instanceId"] = None
    [event] = parse_zapi(body, T, instance_id="mine")
    assert isinstance(event, StatusUpdate) and event.status == "sent"


@pytest.mark.parametrize("payload", [
    {}, {"type": "SomethingNewCallback"}, {"type": 3}, {"phone": "5544999999999"},
    {"type": "MessageStatusCallback", "status": "READ"},
])
def test_unknown_shapes_are_unrecognized(payload: dict[str, Any]) -> None:
    [event] = parse_zapi(payload, T)
    assert isinstance(event, Ignored) and event.reason == "unrecognized"


@pytest.mark.parametrize(("fields", "reason"), [
    ({"messageId": ""}, "ZapiReceived messageId: string_too_short"),
    ({"messageId": None}, "ZapiReceived messageId: string_type"),
    ({"momment": -62135596800000}, "ZapiReceived momment: value_error (timestamp out of range)"),
    ({"text": {"message": "oi \ud800"}},
     "ZapiReceived text.message: value_error (a lone surrogate or a NUL character)"),
    ({"senderName": "Ana\x00"},
     "ZapiReceived senderName: value_error (a lone surrogate or a NUL character)"),
])
def test_a_received_callback_no_store_can_keep_is_set_aside(fields: dict[str, Any], reason: str) -> None:
    [event] = parse_zapi(received(**fields), T)
    assert isinstance(event, Poison) and (event.tenant_id, event.reason) == (T, reason)
    assert "\ud800" not in event.excerpt and "\x00" not in event.excerpt


def test_a_json_array_is_not_a_callback() -> None:
    [event] = parse_zapi(load(ARRAY_OF_POSTS), T)
    assert isinstance(event, Ignored) and event.reason == "unrecognized"


# --- statuses and timestamps -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "state"), [
    ("SENT", "sent"), ("RECEIVED", "delivered"), ("READ", "read"), ("PLAYED", "played"),
    ("MESSAGE_SENT", "sent"), ("MESSAGE_RECEIVED", "delivered"), ("MESSAGE_READ", "read"),
    ("MESSAGE_PLAYED", "played"),
])
def test_status_names_map_to_provider_statuses(raw: str, state: str) -> None:
    [event] = parse_zapi({**load("message_status_sent.json"), "status": raw}, T)
    assert event == status("999999999999999999999", OLD_STAMP, state)


@pytest.mark.parametrize("raw", ["READ_BY_ME", "MESSAGE_READ-SELF", "DELETED", ""])
def test_statuses_that_are_not_receipts_for_our_messages_are_ignored(raw: str) -> None:
    [event] = parse_zapi({**load("message_status_sent.json"), "status": raw}, T)
    assert isinstance(event, Ignored) and event.reason in {"read_by_me", "unrecognized"}
    assert event.reason == ("read_by_me" if "READ" in raw else "unrecognized")


def test_delivery_failure_carries_the_error_code() -> None:
    body = {**load("delivery_callback_error.json"), "errorCode": "SHADOW_BAN"}
    [event] = parse_zapi(body, T)
    assert isinstance(event, StatusUpdate)
    assert (event.status, event.error_code, event.error_message) == (
        "failed", "SHADOW_BAN", "Phone number does not exist")


def test_momment_is_epoch_milliseconds_to_the_millisecond() -> None:
    [event] = parse_zapi(received(momment=1757390383001), T)
    assert isinstance(event, InboundMessage)
    assert event.timestamp == datetime(2025, 9, 9, 3, 59, 43, 1000, tzinfo=UTC)


def test_momment_in_seconds_is_not_guessed() -> None:
    """Z-API sends milliseconds; a seconds value is read as ms (1970), never silently rescaled."""
    [event] = parse_zapi(received(momment=1757390383), T)
    assert isinstance(event, InboundMessage)
    assert event.timestamp == datetime(1970, 1, 21, 8, 9, 50, 383000, tzinfo=UTC)


@pytest.mark.parametrize("momment", ["1757390383001", 1757390383001.0])
def test_momment_as_string_or_float_is_accepted(momment: object) -> None:
    [event] = parse_zapi(received(momment=momment), T)
    assert isinstance(event, InboundMessage) and event.timestamp == at(2025, 9, 9, 3, 59, 43, 1000)


def test_twelve_digit_brazilian_number_gets_its_ninth_digit() -> None:
    [event] = parse_zapi(received(phone="551187654321"), T)
    assert isinstance(event, InboundMessage) and event.phone == "+5511987654321"
