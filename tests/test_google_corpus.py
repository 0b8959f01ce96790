"""Every file of tests/corpora/google_calendar/ read or answered as PROVIDER-FACTS says: error
reasons (410 full sync vs deleted, rate limits vs quota, 409, 401, 412), list pages and sync
tokens, cancelled items, all-day and recurring events, freeBusy offsets, watch shapes, push
headers, calendar lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from google_calendar_fake import CORPUS, FakeTokens, corpus

from atende.integrations.google import errors
from atende.integrations.google.base import NeedsReconnect
from atende.integrations.google.client import CalendarClient
from atende.integrations.google.events import (
    event_body,
    expiration,
    push_notice,
    read_item,
)
from atende.memory.records import Appointment, Patient
from helpers import example_tenant

SP = ZoneInfo("America/Sao_Paulo")
ERRORS = {
    "error_410_fullSyncRequired_docs.json": errors.FullSyncRequired,
    "error_410_updatedMinTooLongAgo_docs.json": errors.FullSyncRequired,
    "error_410_deleted_docs.json": errors.Gone,
    "error_403_rateLimitExceeded_docs.json": errors.RateLimited,
    "error_403_userRateLimitExceeded_docs.json": errors.RateLimited,
    "error_429_rateLimitExceeded_docs.json": errors.RateLimited,
    "error_403_quotaExceeded_calendar_usage_limits_docs.json": errors.QuotaExceeded,
    "error_409_duplicate_event_id_docs.json": errors.Duplicate,
    "error_401_authError_docs.json": errors.Unauthorized,
    "error_412_conditionNotMet_docs.json": errors.Precondition,
}
HANDLED = {*ERRORS, "error_410_fullSyncRequired_http_capture_compass.json",
           "events_list_page1_with_nextPageToken.json", "events_list_page2_last_page.json",
           "events_list_cancelled_items.json",
           "events_list_incremental_with_nextSyncToken_compass.json",
           "event_import_request.json", "event_insert_response.json",
           "events_watch_request.json", "events_watch_response.json",
           "freebusy_request.json", "freebusy_response.json",
           "push_notification_headers_exists_docs.json",
           "push_notification_headers_sync_docs.json",
           "calendar_list_page1_with_nextPageToken.json",
           "calendar_list_page2_last_page_primary.json",
           "calendar_list_with_nextSyncToken_compass.json"}


def test_every_corpus_file_has_a_test_here() -> None:
    assert {p.name for p in CORPUS.glob("*.json")} == HANDLED


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_each_documented_error_maps_by_its_reason(name: str) -> None:
    body = corpus(name)
    error = errors.classify(httpx.Response(body["error"]["code"], json=body))
    assert type(error) is ERRORS[name]
    assert error.reason == body["error"]["errors"][0]["reason"]


def test_a_recorded_410_on_watch_with_a_stale_token_means_full_sync() -> None:
    capture = corpus("error_410_fullSyncRequired_http_capture_compass.json")
    response = httpx.Response(capture["status"], json=capture["body"],
                              headers={"content-type": capture["headers"]["content-type"]})
    assert isinstance(errors.classify(response), errors.FullSyncRequired)
    assert "syncToken" in capture["request"]["url"]  # what made it stale


def _client(handler: Any, tokens: FakeTokens | None = None) -> tuple[CalendarClient, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return CalendarClient(http, tokens or FakeTokens(), base_url="https://fake.test/calendar/v3",
                          sleep=sleep), slept


async def test_rate_limits_back_off_honouring_retry_after_then_succeed() -> None:
    answers = [httpx.Response(403, json=corpus("error_403_rateLimitExceeded_docs.json")),
               httpx.Response(429, json=corpus("error_429_rateLimitExceeded_docs.json"),
                              headers={"Retry-After": "7"}),
               httpx.Response(500, json={"error": {"code": 500, "message": "Backend Error"}}),
               httpx.Response(200, json=corpus("freebusy_response.json"))]
    client, slept = _client(lambda request: answers.pop(0))
    await client.freebusy("t", ["MockAccount"], datetime(2018, 4, 1, 8, tzinfo=UTC),
                          datetime(2018, 4, 2, 14, tzinfo=UTC))
    assert slept == [1.0, 7.0, 4.0]  # exponential, but never sooner than Retry-After


async def test_quota_exceeded_is_not_hot_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            403, json=corpus("error_403_quotaExceeded_calendar_usage_limits_docs.json"))

    client, slept = _client(handler)
    with pytest.raises(errors.QuotaExceeded):
        await client.insert_event("t", "cal", {"id": "atd0"})
    assert calls == [1] and slept == []


async def test_a_401_gets_one_fresh_token_then_the_clinic_must_reconnect() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401, json=corpus("error_401_authError_docs.json"))

    client, _ = _client(handler)
    with pytest.raises(NeedsReconnect):
        await client.get_event("t", "cal", "e1")
    assert seen == ["Bearer ya29.fake-0", "Bearer ya29.fake-1"]
    # and the token never travels in the URL
    answers = [httpx.Response(401, json=corpus("error_401_authError_docs.json")),
               httpx.Response(200, json={"id": "e1"})]
    urls: list[str] = []

    def once_then_ok(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return answers.pop(0)

    client, _ = _client(once_then_ok)
    assert (await client.get_event("t", "cal", "e1"))["id"] == "e1"
    assert not any("ya29" in u for u in urls)


def test_list_pages_busy_time_in_any_offset_and_all_day_in_the_clinics_day() -> None:
    (timed,) = corpus("events_list_page1_with_nextPageToken.json")["items"]
    item = read_item(timed, SP)
    assert item.kind == "busy" and item.start == datetime(2018, 4, 1, 8, 30, tzinfo=UTC)
    assert item.end == datetime(2018, 4, 1, 9, 30, tzinfo=UTC)
    (all_day,) = corpus("events_list_page2_last_page.json")["items"]
    # a recurring master: singleEvents=true brings its instances one by one, so it adds nothing
    assert read_item(all_day, SP).kind == "skip"
    # one instance of it (as singleEvents returns it): the clinic's whole days, end exclusive
    instance = {k: v for k, v in all_day.items() if k != "recurrence"}
    item = read_item(instance, SP)
    assert item.kind == "busy"
    assert item.start == datetime(2018, 4, 20, tzinfo=SP) and item.end == datetime(2018, 4, 23, tzinfo=SP)
    # free time does not block
    assert read_item({**timed, "transparency": "transparent"}, SP).kind == "free"


def test_cancelled_items_carry_only_ids_and_free_their_time() -> None:
    items = [read_item(raw, SP) for raw in corpus("events_list_cancelled_items.json")]
    assert [(i.kind, i.event_id) for i in items] == [
        ("free", "tlf9q8uk5vjl2i2868q36dpi28_20130508T220000Z"),
        ("free", "0cu25g99pfkhlfarupevcjc297_20211123T170000Z")]


def test_an_incremental_page_mixes_an_updated_master_and_a_deleted_instance() -> None:
    page = corpus("events_list_incremental_with_nextSyncToken_compass.json")
    kinds = [(i.kind, i.event_id) for i in (read_item(raw, SP) for raw in page["items"])]
    assert kinds == [("skip", "5hni4sj3ql1669otmjg7sn1mok"),
                     ("free", "5hni4sj3ql1669otmjg7sn1mok_20250325T130000Z")]
    assert page["nextSyncToken"] and "nextPageToken" not in page


def _appointment() -> Appointment:
    start = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    return Appointment("0b7e6a1c-3f0e-4a51-9d55-6f1f1c2b9a10", "clinica-exemplo", "ana-souza",
                       "limpeza", "+5511987658888", start, start.replace(hour=14), "booked")


def test_the_event_of_a_booking_has_the_import_requests_shape_and_only_allowed_details() -> None:
    documented = corpus("event_import_request.json")
    tenant = example_tenant()
    patient = Patient(tenant_id=tenant.id, phone="+5511987658888", name="Maria Aparecida Silva",
                      stage="scheduled")
    body = event_body(tenant, _appointment(), patient)
    assert set(body["start"]) == set(documented["start"]) == {"dateTime", "timeZone"}
    assert body["start"] == {"dateTime": "2026-03-12T10:00:00-03:00",
                             "timeZone": "America/Sao_Paulo"}
    assert body["transparency"] == documented["transparency"] == "opaque"
    assert body["id"] == "atd0b7e6a1c3f0e4a519d556f1f1c2b9a10"
    assert set(body["id"]) <= set("abcdefghijklmnopqrstuv0123456789") and 5 <= len(body["id"])
    text = json.dumps(body, ensure_ascii=False)
    assert "Maria" in text and "8888" in text
    assert "Silva" not in text and "+5511987658888" not in text  # default: first name, last 4


async def test_insert_answers_in_the_calendars_offset_and_watch_expiry_as_ms() -> None:
    inserted = corpus("event_insert_response.json")
    client, _ = _client(lambda request: httpx.Response(200, json=inserted))
    answer = await client.insert_event("t", "MockAccount", corpus("event_import_request.json"))
    start = datetime.fromisoformat(answer["start"]["dateTime"])
    assert start == datetime(2018, 4, 1, 8, 30, tzinfo=UTC)  # +02:00 in, the same instant
    documented = corpus("events_watch_request.json")
    sent: list[dict[str, Any]] = []

    def watch(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=corpus("events_watch_response.json"))

    client, _ = _client(watch)
    answer = await client.watch("t", "my_calendar@gmail.com", channel_id=documented["id"],
                                address=documented["address"], token=documented["token"],
                                ttl_seconds=3600)
    assert {"id", "type", "address", "token"} <= set(sent[0]) and sent[0]["type"] == "web_hook"
    granted = datetime(2015, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert expiration(answer) == granted  # a number in the docs
    assert expiration({"expiration": "1426325213000"}) == granted  # a string in real answers


async def test_freebusy_request_shape_and_busy_in_another_offset() -> None:
    asked: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return httpx.Response(200, json=corpus("freebusy_response.json"))

    client, _ = _client(handler)
    answer = await client.freebusy("t", ["MockAccount"], datetime(2018, 4, 1, 8, tzinfo=UTC),
                                   datetime(2018, 4, 2, 14, tzinfo=UTC))
    assert asked == [corpus("freebusy_request.json")]
    first = answer["calendars"]["MockAccount"]["busy"][0]
    assert datetime.fromisoformat(first["start"]) == datetime(2018, 4, 1, 10, 30, tzinfo=UTC)


def test_push_headers_change_and_sync_with_a_human_readable_expiry() -> None:
    change = push_notice(corpus("push_notification_headers_exists_docs.json"))
    assert change is not None and change.state == "exists" and change.message_number == 10
    assert change.channel_id == "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"
    assert change.expires_at == datetime(2013, 11, 19, 1, 13, 52, tzinfo=UTC)  # not ms
    sync = push_notice(corpus("push_notification_headers_sync_docs.json"))
    assert sync is not None and sync.state == "sync" and sync.message_number == 1
    assert sync.expires_at is None  # the docs' placeholder is no date
    assert push_notice({"X-Goog-Channel-ID": "c"}) is None


async def test_calendar_lists_follow_pages_to_the_primary() -> None:
    pages = {None: corpus("calendar_list_page1_with_nextPageToken.json"),
             "Eh0KEmc6MDAwMDAwMTQyNjVlYWI3MhDond_S9JTaAg==":
                 corpus("calendar_list_page2_last_page_primary.json")}
    client, _ = _client(lambda r: httpx.Response(200, json=pages[r.url.params.get("pageToken")]))
    entries = await client.list_calendars("t")
    assert [(e["id"], e.get("primary", False)) for e in entries] == [
        ("averylongtvshowscalendarid@group.calendar.google.com", False), ("MockAccount", True)]
    one = corpus("calendar_list_with_nextSyncToken_compass.json")
    client, _ = _client(lambda r: httpx.Response(200, json=one))
    entries = await client.list_calendars("t")
    assert len(entries) == len(one["items"]) == 10
    assert sum(1 for e in entries if e.get("primary")) == 1
