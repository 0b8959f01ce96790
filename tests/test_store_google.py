"""The `Store` contract for a clinic's Google connection, on every backend (SQLite, Postgres, and
Postgres held to row-level security): a consent state works once and not after it expires; one
refresh lease at a time however many callers race; a refresh without a refresh token keeps the
stored one; disconnect takes the calendars with it; clinics never see each other's rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from atende.memory.records import CalendarLink
from atende.memory.store import Store

CLINIC, OTHER = "clinica-exemplo", "outra-clinica"
LATER = datetime(2099, 1, 1, tzinfo=UTC)
PAST = datetime(2000, 1, 1, tzinfo=UTC)


async def connect(store: Store, tenant: str = CLINIC, refresh: str | None = "enc-refresh-1"):  # type: ignore[no-untyped-def]
    return await store.google_connect(tenant, refresh_token_enc=refresh, access_token_enc="enc-access-1",
                                      expires_at=LATER, scopes="https://www.googleapis.com/auth/calendar")


async def test_a_state_works_once_for_its_clinic_and_never_after_expiry(store: Store) -> None:
    await store.google_state_open(CLINIC, "s-1", LATER)
    results = await asyncio.gather(*(store.google_state_use(CLINIC, "s-1") for _ in range(6)))
    assert results.count(True) == 1
    await store.google_state_open(CLINIC, "s-2", LATER)
    assert not await store.google_state_use(OTHER, "s-2")  # another clinic's state
    assert await store.google_state_use(CLINIC, "s-2")
    await store.google_state_open(CLINIC, "s-old", PAST)
    assert not await store.google_state_use(CLINIC, "s-old")
    assert not await store.google_state_use(CLINIC, "never-issued")


async def test_a_new_consent_flow_closes_the_clinics_earlier_one(store: Store) -> None:
    await store.google_state_open(CLINIC, "first", LATER)
    await store.google_state_open(CLINIC, "second", LATER)
    assert not await store.google_state_use(CLINIC, "first")
    assert await store.google_state_use(CLINIC, "second")


async def test_connect_without_a_refresh_token_needs_one_stored(store: Store) -> None:
    assert await connect(store, refresh=None) is None
    assert await store.google_connection(CLINIC) is None
    first = await connect(store)
    assert first is not None and first.status == "connected" and first.expires_at == LATER
    again = await connect(store, refresh=None)
    assert again is not None and again.refresh_token_enc == "enc-refresh-1"
    assert await store.google_connection(OTHER) is None


async def test_one_refresh_lease_at_a_time_and_a_refresh_keeps_the_refresh_token(store: Store) -> None:
    await connect(store)
    claims = await asyncio.gather(*(store.google_refresh_claim(CLINIC, LATER) for _ in range(6)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].refresh_token_enc == "enc-refresh-1"
    new_expiry = datetime(2098, 6, 1, 12, 0, tzinfo=UTC)
    assert await store.google_refreshed(CLINIC, access_token_enc="enc-access-2", refresh_token_enc=None,
                                        expires_at=new_expiry, scopes="")
    row = await store.google_connection(CLINIC)
    assert row is not None
    assert (row.access_token_enc, row.refresh_token_enc, row.expires_at, row.lease_until) == (
        "enc-access-2", "enc-refresh-1", new_expiry, None)
    assert row.scopes == "https://www.googleapis.com/auth/calendar"
    # an access token Google refused counts as expired from now on
    await store.google_access_refused(CLINIC)
    refused = await store.google_connection(CLINIC)
    assert refused is not None and refused.expires_at is not None and refused.expires_at < LATER
    assert refused.access_token_enc == "enc-access-2"
    # a lease that ran out can be taken again; a released one too
    assert await store.google_refresh_claim(CLINIC, PAST + timedelta(days=1)) is not None
    assert await store.google_refresh_claim(CLINIC, LATER) is not None
    await store.google_refresh_release(CLINIC)
    assert await store.google_refresh_claim(CLINIC, LATER) is not None


async def test_needs_reconnect_drops_the_access_token_and_stops_refreshes(store: Store) -> None:
    await connect(store)
    assert await store.google_needs_reconnect(CLINIC, "invalid_grant: Bad Request")
    assert not await store.google_needs_reconnect(CLINIC, "again")
    row = await store.google_connection(CLINIC)
    assert row is not None and row.status == "needs_reconnect" and row.access_token_enc is None
    assert row.reason == "invalid_grant: Bad Request"
    assert await store.google_refresh_claim(CLINIC, LATER) is None
    assert not await store.google_refreshed(CLINIC, access_token_enc="x", refresh_token_enc=None,
                                            expires_at=LATER, scopes="")
    back = await connect(store, refresh="enc-refresh-2")
    assert back is not None and (back.status, back.reason) == ("connected", None)


async def test_calendars_are_replaced_and_disconnect_deletes_everything(store: Store) -> None:
    await connect(store)
    await connect(store, OTHER)
    first = [CalendarLink(CLINIC, "a@group.calendar.google.com", "ana-souza", "Ana"),
             CalendarLink(CLINIC, "b@group.calendar.google.com", "bruno-lima", None)]
    assert [c.calendar_id for c in await store.google_calendars_set(CLINIC, first)] == [
        "a@group.calendar.google.com", "b@group.calendar.google.com"]
    await store.google_calendars_set(OTHER, [CalendarLink(OTHER, "x", "p", None)])
    stored = await store.google_calendars_set(CLINIC, [CalendarLink(CLINIC, "c", "ana-souza", "C")])
    assert [(c.calendar_id, c.professional_id, c.summary) for c in stored] == [("c", "ana-souza", "C")]
    assert stored[0].created_at is not None
    await store.google_state_open(CLINIC, "open", LATER)
    gone = await store.google_disconnect(CLINIC)
    assert gone is not None and gone.refresh_token_enc == "enc-refresh-1"
    assert await store.google_connection(CLINIC) is None
    assert await store.google_calendars(CLINIC) == []
    assert not await store.google_state_use(CLINIC, "open")
    assert await store.google_disconnect(CLINIC) is None
    assert [c.calendar_id for c in await store.google_calendars(OTHER)] == ["x"]
    assert await store.google_connection(OTHER) is not None
