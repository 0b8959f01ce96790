"""Booking with a clinic on Google Calendar, against the fake API: the event is written after
the commit by a durable job (derived id, a retried insert's 409 is success, Google down delays
the event and never the reply); staff moving or deleting it moves or cancels the appointment
and tells the patient; a live check closes the race; an unreadable calendar is not free."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from google_harness import CAL_ANA, CAL_CARLA, Harness, google_on

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.errors import SlotUnavailable
from atende.integrations.google.events import event_id
from atende.server.channels.console.session import ConsoleSession
from atende.tools import booking
from helpers import ANA, SwitchableModel

WED = "2026-03-11T{}:00-03:00"
ERROR_500 = {"error": {"code": 500, "message": "Backend Error",
                       "errors": [{"domain": "global", "reason": "backendError"}]}}


async def ana_slot(h: Harness, at: str = "10:00") -> str:
    result = await booking.check_availability(h.scope(), "limpeza", f"quarta às {at}", "Dra. Ana")
    return next(s["slot_id"] for s in result["slots"] if s["start"][11:16] == at)


async def book_ana(h: Harness, at: str = "10:00") -> dict:
    await h.app.store.get_or_create_conversation(h.tenant.id, ANA, "console")
    return (await booking.book(h.scope(), await ana_slot(h, at)))["appointment"]


async def test_a_booking_becomes_an_event_with_the_derived_id_after_the_commit(tmp_path):
    async with google_on(tmp_path) as h:
        appt = await book_ana(h)
        assert h.fake.live(CAL_ANA) == {}  # nothing written inside the booking
        (job,) = await h.app.store.calendar_jobs(h.tenant.id, appointment_id=appt["id"])
        assert job.action == "create" and job.done_at is None
        report = await h.google.drain()
        assert report.done == 1
        event = h.fake.live(CAL_ANA)[event_id(appt["id"])]
        assert event["start"]["dateTime"] == "2026-03-11T10:00:00-03:00"
        assert "8765" not in event["summary"] or "final 0001" in event["summary"]
        assert h.fake.live(CAL_CARLA) == {}
        # our own event coming back in a sync is the appointment, not busy time
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        assert await h.app.store.calendar_busy(h.tenant.id, start=h.clock.now(),
                                               end=h.clock.now() + timedelta(days=3)) == []
        assert (await h.app.store.get_appointment(h.tenant.id, appt["id"])).status == "booked"


async def test_google_down_delays_the_event_never_the_reply_and_it_lands_once(tmp_path):
    model = SwitchableModel()
    async with google_on(tmp_path, model=model) as h:
        session = ConsoleSession(h.app, h.tenant)
        await h.google.tick()  # a fresh copy: the booking may go on while Google is down
        slot = await ana_slot(h)
        model.chain = ModelChain("scripted", ScriptedChatModel([
            call("book_appointment", slot_id=slot), "Pronto, agendado!"]))
        h.fake.forced = [httpx.Response(500, json=ERROR_500)] * 20
        answer = await session.say(ANA, "quero esse")
        assert answer.bubbles == ["Pronto, agendado!"] and answer.result.tool_calls[0].ok
        h.fake.forced = [httpx.Response(500, json=ERROR_500)] * 4  # one job run's retries
        report = await h.google.drain()
        assert report.retried == 1 and h.fake.live(CAL_ANA) == {}
        (job,) = await h.app.store.calendar_jobs(h.tenant.id)
        assert job.last_error and "500" in job.last_error and job.done_at is None
        assert (await h.google.drain()).done == 0  # not due yet: backoff
        # the next try lands, but its answer is lost on the way back
        h.clock.advance(minutes=1)
        real = h.fake.__call__

        def lose_answer(request: httpx.Request) -> httpx.Response:
            real(request)
            return httpx.Response(503, json=ERROR_500)

        h.google.client.http._transport = httpx.MockTransport(lose_answer)  # type: ignore[attr-defined]
        h.google.client.attempts = 1
        await h.google.drain()
        h.google.client.http._transport = httpx.MockTransport(h.fake)  # type: ignore[attr-defined]
        h.clock.advance(minutes=5)
        report = await h.google.drain()  # the retry meets 409: the first one landed
        assert report.done == 1
        assert len(h.fake.live(CAL_ANA)) == 1
        inserts = [r for r in h.fake.calls("POST", CAL_ANA) if r.url.path.endswith("/events")]
        assert len(inserts) >= 3  # the failed one, the lost answer, the 409
        assert len({r.content for r in inserts}) == 1  # every try sent the same event id
        h.clock.advance(hours=2)
        assert (await h.google.drain()).done == 0


async def test_cancel_and_move_by_the_patient_update_the_event(tmp_path):
    async with google_on(tmp_path) as h:
        appt = await book_ana(h)
        await h.google.drain()
        moved = await booking.reschedule(h.scope(), appt["id"], await ana_slot(h, "11:00"))
        assert moved["ok"]
        await h.google.drain()
        event = h.fake.live(CAL_ANA)[event_id(appt["id"])]
        assert event["start"]["dateTime"] == "2026-03-11T11:00:00-03:00"
        await booking.cancel(h.scope(), appt["id"])
        await h.google.drain()
        assert h.fake.live(CAL_ANA) == {}
        jobs = await h.app.store.calendar_jobs(h.tenant.id, appointment_id=appt["id"])
        assert sorted(j.action for j in jobs) == ["create", "delete", "update"]
        assert all(j.done_at for j in jobs)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_staff_moving_or_deleting_our_event_moves_or_cancels_and_tells_the_patient(
        tmp_path, request, backend):
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    async with google_on(tmp_path, database_url=url) as h:
        session = ConsoleSession(h.app, h.tenant)
        appt = await book_ana(h)
        await h.google.drain()
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        await session.tick()  # the booking confirmation goes out first
        h.fake.move(CAL_ANA, event_id(appt["id"]), datetime.fromisoformat(WED.format("14:00")),
                    datetime.fromisoformat(WED.format("14:45")))
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        now = await h.app.store.get_appointment(h.tenant.id, appt["id"])
        assert now.start == datetime.fromisoformat(WED.format("14:00")) and now.active
        sent = [text for phone, text in await session.tick() if phone == ANA]
        assert any("remarcou" in t and "14:00" in t and "10:00" in t for t in sent), sent
        h.fake.remove(CAL_ANA, event_id(appt["id"]))
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        now = await h.app.store.get_appointment(h.tenant.id, appt["id"])
        assert now.status == "cancelled" and "Google" in (now.cancel_reason or "")
        sent = [text for phone, text in await session.tick() if phone == ANA]
        assert any("cancelou" in t and "14:00" in t for t in sent), sent
        # the cancellation's own delete job meets an event already gone: done, not retried
        await h.google.sync_calendar(h.tenant.id, CAL_ANA)
        assert not [t for p, t in await session.tick() if p == ANA]  # told once


async def test_the_live_check_refuses_a_slot_staff_just_took(tmp_path):
    async with google_on(tmp_path) as h:
        await h.google.tick()  # the local copy is fresh
        slot = await ana_slot(h, "10:00")
        # staff book the time in Google; no push arrived yet
        h.fake.put(CAL_ANA, {"id": "walkin", "summary": "Encaixe",
                             "start": {"dateTime": WED.format("09:30")},
                             "end": {"dateTime": WED.format("10:30")}})
        with pytest.raises(SlotUnavailable, match="acabou de ser ocupado"):
            await booking.book(h.scope(), slot)
        assert await h.app.store.list_appointments(h.tenant.id) == []
        # our own appointments in freeBusy do not block a move next to them
        await book_ana(h, "11:00")
        await h.google.drain()  # its event is in Google: freeBusy shows 11:00-11:45 busy
        start = datetime.fromisoformat(WED.format("11:15"))
        await h.google.backend.check_slot(h.scope(), "ana-souza", start,
                                          start + timedelta(minutes=45))
        with pytest.raises(SlotUnavailable):  # the walk-in still blocks
            await h.google.backend.check_slot(h.scope(), "ana-souza", start - timedelta(hours=1),
                                              start - timedelta(minutes=15))


async def test_an_unreadable_calendar_with_a_stale_copy_offers_nobody_and_says_so(tmp_path):
    async with google_on(tmp_path) as h:
        await h.google.tick()
        h.clock.advance(minutes=31)  # the copy is older than stale_after_minutes (30)
        h.fake.unreadable = {CAL_ANA}  # freeBusy answers `errors` for Dra. Ana's calendar
        result = await booking.check_availability(h.scope(), "limpeza", "quarta", None)
        assert result["slots"] and {s["professional_id"] for s in result["slots"]} == {
            "carla-mendes"}
        assert "não consigo consultar a agenda de Dra. Ana Souza" in result["note"]
        assert result["calendar_unreadable"] == ["Dra. Ana Souza"]
        only_ana = await booking.check_availability(h.scope(), "limpeza", "quarta", "Dra. Ana")
        assert only_ana["slots"] == [] and "chamar alguém da equipe" in only_ana["note"]
        # the clinic's connection is gone: nobody with a calendar is offered
        h.tokens.gone = True
        none = await booking.check_availability(h.scope(), "limpeza", "quarta", None)
        assert none["slots"] == [] and "Dra. Ana Souza e Dra. Carla Mendes" in none["note"]


async def test_a_fresh_copy_serves_availability_while_google_is_down(tmp_path):
    async with google_on(tmp_path) as h:
        h.fake.put(CAL_ANA, {"id": "reuniao", "start": {"dateTime": WED.format("09:00")},
                             "end": {"dateTime": WED.format("10:00")}})
        await h.google.tick()
        h.fake.forced = [httpx.Response(500, json=ERROR_500)] * 50
        result = await booking.check_availability(h.scope(), "limpeza", "quarta de manhã",
                                                  "Dra. Ana")
        starts = [s["start"][11:16] for s in result["slots"]]
        assert starts and "09:00" not in starts and "calendar_unreadable" not in result
        # and the live check falls back to the fresh copy instead of refusing
        await h.app.store.get_or_create_conversation(h.tenant.id, ANA, "console")
        booked = await booking.book(h.scope(), result["slots"][0]["slot_id"])
        assert booked["ok"]


async def test_a_failing_google_costs_a_waiting_patient_one_quick_try(tmp_path):
    async with google_on(tmp_path) as h:
        h.fake.forced = [httpx.Response(500, json=ERROR_500)] * 50  # never synced: stale
        first = await booking.check_availability(h.scope(), "limpeza", "quarta", None)
        assert first["slots"] == [] and "não consigo consultar" in first["note"]
        assert len(h.fake.calls("POST", "/freeBusy")) == 1  # no backoff while the patient waits
        await booking.check_availability(h.scope(), "limpeza", "quinta", None)
        assert len(h.fake.calls("POST", "/freeBusy")) == 1  # it just failed: not asked again
        h.clock.advance(seconds=31)
        await booking.check_availability(h.scope(), "limpeza", "quinta", None)
        assert len(h.fake.calls("POST", "/freeBusy")) == 2
