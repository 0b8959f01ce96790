"""Inbound from Google Calendar against the fake API: push notifications authenticated and
debounced into one incremental sync, pages followed, 410 → full resync, channels renewed before
they expire; staff's events become busy time availability respects."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from google_harness import CAL_ANA, CAL_CARLA, Harness, google_on

from atende.tools import booking

WED = "2026-03-11T{}:00-03:00"


def staff_event(event_id: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"id": event_id, "summary": "Dentista da Dra. Ana",
            "start": {"dateTime": WED.format(start), "timeZone": "America/Sao_Paulo"},
            "end": {"dateTime": WED.format(end), "timeZone": "America/Sao_Paulo"}, **extra}


async def ana_wednesday_morning(h: Harness) -> list[str]:
    """The starts (HH:MM) offered with Dra. Ana on Wednesday morning."""
    result = await booking.check_availability(h.scope(), "limpeza", "quarta de manhã",
                                              "Dra. Ana")
    return [s["start"][11:16] for s in result["slots"]]


async def test_a_pushed_staff_event_is_no_longer_offered_and_a_burst_is_one_sync(tmp_path):
    async with google_on(tmp_path) as h:
        assert (await h.google.tick())["channels"] == 2  # first sync, one channel per calendar
        before = await ana_wednesday_morning(h)
        assert "09:00" in before
        h.fake.put(CAL_ANA, staff_event("dentista1", "09:00", "11:00"))
        lists = len(h.fake.calls("GET", "/events"))
        answers = [await h.push(h.notice(CAL_ANA, number=n)) for n in range(10, 15)]
        assert [a.status_code for a in answers] == [200] * 5
        assert [a.json()["outcome"] for a in answers] == ["sync_scheduled"] + [
            "sync_already_scheduled"] * 4
        await h.google.scheduler.idle()
        assert len(h.fake.calls("GET", "/events")) == lists + 1  # five notices, one sync
        after = await ana_wednesday_morning(h)
        assert not [t for t in after if "08:15" < t < "11:00"]  # nothing overlapping 09-11
        assert "11:00" in after or "08:00" in after


async def test_transparent_and_cancelled_events_free_their_time(tmp_path):
    async with google_on(tmp_path) as h:
        h.fake.put(CAL_ANA, staff_event("livre", "09:00", "10:00", transparency="transparent"))
        h.fake.put(CAL_ANA, staff_event("reuniao", "10:00", "11:00"))
        await h.google.tick()
        rows = await h.app.store.calendar_busy(h.tenant.id, start=h.clock.now(),
                                               end=h.clock.now() + timedelta(days=3))
        assert [r.event_id for r in rows] == ["reuniao"]
        h.fake.remove(CAL_ANA, "reuniao")
        await h.push(h.notice(CAL_ANA))
        await h.google.scheduler.idle()
        assert await h.app.store.calendar_busy(h.tenant.id, start=h.clock.now(),
                                               end=h.clock.now() + timedelta(days=3)) == []
        assert "10:00" in await ana_wednesday_morning(h)


async def test_every_page_is_followed_and_the_token_kept_only_from_the_last(tmp_path):
    async with google_on(tmp_path, page_size=2) as h:
        for n in range(5):
            h.fake.put(CAL_ANA, {**staff_event(f"e{n}", "13:00", "14:00"),
                                 "start": {"dateTime": f"2026-03-1{n + 1}T13:00:00-03:00"},
                                 "end": {"dateTime": f"2026-03-1{n + 1}T14:00:00-03:00"}})
        report = await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        assert report is not None and report.full and report.pages == 3 and report.busy == 5
        pages = [r.url.params.get("pageToken") for r in h.fake.calls("GET", CAL_ANA)]
        assert pages == [None, "2", "4"]
        (state,) = [s for s in await h.app.store.calendar_sync_states(h.tenant.id)
                    if s.calendar_id == CAL_ANA]
        assert state.sync_token == f"s{h.fake.seq}"
        # the next one is incremental: the token, no time bound
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        last = h.fake.calls("GET", CAL_ANA)[-1].url.params
        assert last.get("syncToken") == state.sync_token and "timeMin" not in last


async def test_a_410_drops_the_calendars_copy_and_syncs_it_all_again(tmp_path):
    async with google_on(tmp_path) as h:
        h.fake.put(CAL_ANA, staff_event("velho", "09:00", "10:00"))
        h.fake.put(CAL_CARLA, staff_event("da-carla", "10:00", "11:00"))
        await h.google.tick()
        # Google lost our token, and meanwhile an event vanished without a trace
        del h.fake.events[CAL_ANA]["velho"]
        h.fake.put(CAL_ANA, staff_event("novo", "11:00", "12:00"))
        h.fake.forgotten_before = h.fake.seq + 1
        report = await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        assert report is not None and report.full
        asked = [r.url.params for r in h.fake.calls("GET", CAL_ANA)][-2:]
        assert asked[0].get("syncToken") and asked[1].get("syncToken") is None
        rows = await h.app.store.calendar_busy(h.tenant.id, start=h.clock.now(),
                                               end=h.clock.now() + timedelta(days=3))
        assert sorted(r.event_id for r in rows) == ["da-carla", "novo"]  # Carla's untouched


async def test_wrong_or_unknown_channels_are_refused_and_nothing_is_done(tmp_path):
    async with google_on(tmp_path) as h:
        await h.google.tick()
        lists = len(h.fake.calls("GET", "/events"))
        wrong = await h.push(h.notice(CAL_ANA, token="not-the-token"))
        assert wrong.status_code == 401 and wrong.json()["code"] == "bad_channel_token"
        assert "request_id" in wrong.json() and "token" not in wrong.json()["message"].lower()[:3]
        forged = h.notice(CAL_ANA)
        forged["X-Goog-Resource-ID"] = "another-resource"
        assert (await h.push(forged)).status_code == 401
        unknown = h.notice(CAL_ANA)
        unknown["X-Goog-Channel-ID"] = f"{h.tenant.id}-0123456789abcdef0123"
        assert (await h.push(unknown)).status_code == 404
        other_clinic = h.notice(CAL_ANA)
        other_clinic["X-Goog-Channel-ID"] = "clinica-que-nao-existe-0123456789abcdef"
        assert (await h.push(other_clinic)).status_code == 404
        assert (await h.push({"X-Goog-Resource-State": "exists"})).status_code == 400
        first = await h.push(h.notice(CAL_ANA, state="sync", number=1))
        assert first.status_code == 200 and first.json()["outcome"] == "sync_acknowledged"
        await asyncio.sleep(0.1)
        assert len(h.fake.calls("GET", "/events")) == lists  # not one sync for any of them


async def test_channels_are_replaced_before_they_expire_and_old_ones_stopped(tmp_path):
    async with google_on(tmp_path) as h:
        await h.google.tick()
        first = {c.channel_id for c in await h.app.store.calendar_channels(h.tenant.id)}
        assert len(first) == 2 and all(c.startswith(h.tenant.id + "-") for c in first)
        stored = await h.app.store.calendar_channels(h.tenant.id)
        assert all(len(c.token_hash) == 64 for c in stored)  # only the token's hash is kept
        assert not {c["token"] for c in h.fake.channels.values()} & {c.token_hash for c in stored}
        h.clock.advance(days=3)
        assert (await h.google.tick())["channels"] == 0  # far from expiry: kept
        old_notice = h.notice(CAL_ANA)
        h.clock.advance(days=3, hours=12)  # a week's channel, 12 hours left
        assert (await h.google.tick())["channels"] == 2
        now = {c.channel_id for c in await h.app.store.calendar_channels(h.tenant.id)}
        assert len(now) == 2 and not now & first
        assert set(h.fake.stopped) == first
        assert (await h.push(old_notice)).status_code == 404  # the old one is forgotten
        assert (await h.push(h.notice(CAL_ANA))).status_code == 200
        # a channel Google says is gone is forgotten
        gone = await h.push(h.notice(CAL_CARLA, state="not_exists"))
        assert gone.json()["outcome"] == "channel_gone"
        assert len(await h.app.store.calendar_channels(h.tenant.id)) == 1
        # the clinic disconnects: every channel stopped
        assert await h.google.disconnect(h.tenant.id) == 1
        assert await h.app.store.calendar_channels(h.tenant.id) == []


async def test_a_notice_during_a_sync_runs_exactly_one_more(tmp_path):
    async with google_on(tmp_path) as h:
        await h.google.tick()
        started, release = asyncio.Event(), asyncio.Event()
        runs: list[datetime] = []
        real = h.google.syncer.sync

        async def slow(*args, **kw):
            runs.append(h.clock.now())
            started.set()
            await release.wait()
            return await real(*args, **kw)

        h.google.syncer.sync = slow  # type: ignore[method-assign]
        await h.push(h.notice(CAL_ANA))
        await started.wait()
        outcomes = [(await h.push(h.notice(CAL_ANA, number=n))).json()["outcome"]
                    for n in (11, 12, 13)]
        assert outcomes == ["sync_scheduled", "sync_already_scheduled", "sync_already_scheduled"]
        release.set()
        await h.google.scheduler.idle()
        assert len(runs) == 2


async def test_a_staff_event_over_a_booking_is_a_conflict_the_clinic_can_list(tmp_path):
    from datetime import datetime as dt

    from atende.integrations.google.events import event_id
    from helpers import BIA

    async with google_on(tmp_path) as h:
        await h.google.tick()
        ten = next(s for s in (await booking.check_availability(
            h.scope(), "limpeza", "quarta às 10:00", "Dra. Ana"))["slots"]
            if s["start"][11:16] == "10:00")
        appt = (await booking.book(h.scope(), ten["slot_id"]))["appointment"]
        eleven = next(s for s in (await booking.check_availability(
            h.scope(BIA), "limpeza", "quarta às 11:00", "Dra. Ana"))["slots"]
            if s["start"][11:16] == "11:00")
        other = (await booking.book(h.scope(BIA), eleven["slot_id"]))["appointment"]
        await h.google.drain()
        # the receptionist types a meeting over Maria's 10:00 in Google
        h.fake.put(CAL_ANA, staff_event("reuniao", "09:30", "10:30", summary="Reunião"))
        await h.push(h.notice(CAL_ANA))
        await h.google.scheduler.idle()
        (conflict,) = await h.app.store.conflicts_list(h.tenant.id)
        assert conflict.source == "google" and conflict.external_id == "reuniao"
        assert conflict.appointment_id == appt["id"] and conflict.professional_id == "ana-souza"
        assert "“Reunião”" in conflict.summary and "10:00" in conflict.summary
        # the booking stands (the database referees); the event is still busy time
        assert (await h.app.store.get_appointment(h.tenant.id, appt["id"])).active
        # staff drag Maria's event onto Bia's 11:00: a conflict, nothing moved
        h.fake.move(CAL_ANA, event_id(appt["id"]), dt.fromisoformat(WED.format("11:00")),
                    dt.fromisoformat(WED.format("11:45")))
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        moved = await h.app.store.get_appointment(h.tenant.id, appt["id"])
        assert moved.start == dt.fromisoformat(WED.format("10:00"))
        conflicts = await h.app.store.conflicts_list(h.tenant.id)
        assert len(conflicts) == 2
        assert any("movida" in c.summary and c.appointment_id == appt["id"] for c in conflicts)
        assert (await h.app.store.get_appointment(h.tenant.id, other["id"])).active


async def test_a_calendar_no_longer_associated_stops_counting(tmp_path):
    from google_harness import ASSOCIATIONS

    async with google_on(tmp_path) as h:
        h.fake.put(CAL_CARLA, staff_event("da-carla", "10:00", "11:00"))
        h.fake.put(CAL_ANA, staff_event("da-ana", "10:00", "11:00"))
        await h.google.tick()
        window = {"start": h.clock.now(), "end": h.clock.now() + timedelta(days=3)}
        assert len(await h.app.store.calendar_busy(h.tenant.id, **window)) == 2
        ASSOCIATIONS.remove((CAL_CARLA, "carla-mendes"))
        try:
            counts = await h.google.tick()
        finally:
            ASSOCIATIONS.append((CAL_CARLA, "carla-mendes"))
        assert counts["forgotten"] == 1
        assert [r.event_id for r in await h.app.store.calendar_busy(h.tenant.id, **window)] == [
            "da-ana"]
        assert [c.calendar_id for c in await h.app.store.calendar_channels(h.tenant.id)] == [
            CAL_ANA]
        # disconnecting drops the rest
        await h.google.disconnect(h.tenant.id)
        assert await h.app.store.calendar_busy(h.tenant.id, **window) == []
        assert await h.app.store.calendar_sync_states(h.tenant.id) == []


async def test_a_freed_slot_busy_in_google_is_not_offered_to_the_waitlist(tmp_path):
    from atende.reminders import waitlist
    from helpers import BIA

    async with google_on(tmp_path) as h:
        h.fake.put(CAL_ANA, staff_event("reuniao", "10:00", "11:00"))
        await h.google.tick()
        await h.app.store.get_or_create_conversation(h.tenant.id, BIA, "console")
        await h.app.store.waitlist_add(h.tenant.id, BIA, service_id="limpeza")
        start = datetime.fromisoformat(WED.format("10:00"))
        offered = await waitlist.offer_slot(h.app.store, h.tenant, "ana-souza", start,
                                            h.clock.now())
        assert offered is None  # the slot is Dra. Ana's meeting in Google
        free = datetime.fromisoformat(WED.format("14:00"))
        assert await waitlist.offer_slot(h.app.store, h.tenant, "ana-souza", free,
                                         h.clock.now()) is not None
