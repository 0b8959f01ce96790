"""Every file of the Calendly corpus, read as atende reads it: the documented webhooks, the SDK
fixtures' invitee (rescheduled away) and scheduled-events list through the API client on a
MockTransport, and the OAuth refresh and invalid_grant answers; the signature's format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from calendly_harness import CORPUS, corpus

from atende.integrations.calendly.client import CalendlyClient, CalendlyError, CalendlyReconnect
from atende.integrations.calendly.mapping import invitee_phone
from atende.integrations.calendly.parse import invitee_of, parse_webhook
from atende.integrations.calendly.signature import calendly_signature, signature_parts, verified

NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
TOKEN = "calendly-access-token-xyz"


def test_every_corpus_file_has_a_test():
    named = {p.name for p in CORPUS.glob("*.json")}
    here = open(__file__, encoding="utf-8").read()
    assert named and all(name in here for name in named), named


def test_the_documented_webhooks_parse_with_their_invitee_and_event():
    for name, event in (("webhook_invitee_created_docs.json", "invitee.created"),
                        ("webhook_invitee_canceled_docs.json", "invitee.canceled")):
        hook = parse_webhook(corpus(name))
        invitee = invitee_of(hook)
        assert hook.event == event and hook.about_invitee
        assert invitee.uri.endswith("/invitees/AAAAAAAAAAAAAAAA") and not invitee.rescheduled
        assert invitee.scheduled_event.start_time == datetime(2019, 8, 24, 14, 15, 22, 123456,
                                                              tzinfo=UTC)
        assert invitee.scheduled_event.event_type.endswith("/event_types/GBGBDCAADAEDCRZ2")
        assert invitee_phone(invitee) is None  # no SMS number, no questions
    canceled = invitee_of(parse_webhook(corpus("webhook_invitee_canceled_docs.json")))
    assert canceled.cancellation.canceler_type == "invitee"


def _api(handler) -> CalendlyClient:
    return CalendlyClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_the_rescheduled_invitee_from_the_api():
    uri = "https://api.calendly.com/scheduled_events/EV301/invitees/INV001"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=corpus("invitee_get_rescheduled_canceled_koshilife.json"))

    invitee = await _api(handler).invitee(TOKEN, uri)
    assert str(seen[0].url) == uri and seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert (invitee.status, invitee.rescheduled) == ("canceled", True)
    assert invitee.new_invitee.endswith("EV301_NEW1/invitees/INV001")
    assert invitee.old_invitee.endswith("EV301_OLD1/invitees/INV001")
    # "12345678" is no phone; the answer to the phone question (+81, Japan) is
    assert invitee_phone(invitee) == "+817012345678"
    assert [qa.position for qa in invitee.questions_and_answers] == [0, 1, 2, 3, 4]


async def test_the_token_never_goes_to_a_host_that_is_not_calendlys():
    sent: list[httpx.Request] = []
    client = _api(lambda r: sent.append(r) or httpx.Response(200, json={}))
    with pytest.raises(CalendlyError):
        await client.invitee(TOKEN, "https://evil.example/scheduled_events/E/invitees/I")
    assert sent == []


async def test_the_scheduled_events_list_follows_its_pages():
    page = corpus("scheduled_events_list_koshilife.json")
    first = json.loads(json.dumps(page))
    first["pagination"]["next_page"] = "https://api.calendly.com/scheduled_events?page_token=P2"
    first["collection"] = first["collection"][:1]
    second = json.loads(json.dumps(page))
    second["collection"] = second["collection"][1:]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=second if "page_token" in str(request.url) else first)

    events = await _api(handler).scheduled_events(
        TOKEN, user="https://api.calendly.com/users/U001")
    assert [(e.status, e.name) for e in events] == [("canceled", "30 Minute Meeting"),
                                                    ("active", "15 Minute Meeting")]
    assert events[0].cancellation.canceler_type == "invitee"
    assert events[1].end_time - events[1].start_time == timedelta(minutes=15)


async def test_a_refresh_returns_the_rotated_refresh_token():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        assert b"grant_type=refresh_token" in request.content
        return httpx.Response(200, json=corpus("oauth_refresh_token_response_koshilife.json"))

    tokens = await _api(handler).refresh(client_id="id", client_secret="secret",
                                         refresh_token="OLD_REFRESH_TOKEN", now=NOW)
    assert tokens.refresh_token == "NEW_REFRESH_TOKEN" and tokens.access_token == "NEW_TOKEN"
    assert tokens.expires_at == NOW + timedelta(hours=2)
    assert "NEW_TOKEN" not in repr(tokens) and "NEW_REFRESH_TOKEN" not in repr(tokens)


async def test_invalid_grant_means_the_clinic_must_reconnect():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=corpus("oauth_error_400_invalid_grant_koshilife.json"))

    with pytest.raises(CalendlyReconnect) as info:
        await _api(handler).refresh(client_id="id", client_secret="secret",
                                    refresh_token="OLD_REFRESH_TOKEN", now=NOW)
    assert info.value.code == "invalid_grant" and "OLD_REFRESH_TOKEN" not in str(info.value)


@pytest.mark.parametrize("header", [
    None, "", "t=1,v1=abc", "v1=" + "a" * 64, "t=abc,v1=" + "a" * 64,
    "t=1,v1=" + "a" * 64 + ",t=2", "t=1;v1=" + "a" * 64, "t=1,v0=" + "a" * 64,
])
def test_a_malformed_signature_header_is_no_signature(header):
    assert signature_parts(header) is None
    assert not verified(b"{}", header, "key", now=NOW, tolerance_seconds=180)


def test_the_signature_is_over_t_dot_body_and_parts_may_come_in_any_order():
    body, t = b'{"event":"invitee.created"}', int(NOW.timestamp())
    header = calendly_signature(body, "key", t)
    stamp, v1 = header.split(",")
    assert verified(body, f"{v1}, {stamp}", "key", now=NOW, tolerance_seconds=180)
    assert not verified(body + b" ", header, "key", now=NOW, tolerance_seconds=180)
    assert not verified(body, header, "key", now=NOW + timedelta(seconds=181),
                        tolerance_seconds=180)
