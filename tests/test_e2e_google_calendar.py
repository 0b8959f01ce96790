"""End to end with the offline model on the console path (`atende chat`'s `ConsoleSession`)
and the fake Calendar API: a push for a staff event → that time is no longer offered → a
booking creates the event with the derived id → staff delete it → the appointment is cancelled
and the patient is told. And when Dra. Ana's calendar cannot be read, the patient hears why and
is offered a person."""

from __future__ import annotations

import pytest
from google_harness import CAL_ANA, google_on

from atende.integrations.google.events import event_id
from atende.server.channels.console.session import ConsoleSession
from helpers import ANA


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_push_offer_book_event_then_staff_delete_cancels_and_tells(tmp_path, request,
                                                                          backend):
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    async with google_on(tmp_path, database_url=url) as h:
        session = ConsoleSession(h.app, h.tenant)
        await h.google.tick()  # first sync, channels
        # the receptionist blocks Dra. Ana's first hour on Wednesday in Google
        h.fake.put(CAL_ANA, {"id": "bloqueio1", "summary": "Reunião",
                             "start": {"dateTime": "2026-03-11T08:00:00-03:00"},
                             "end": {"dateTime": "2026-03-11T09:00:00-03:00"}})
        assert (await h.push(h.notice(CAL_ANA))).json()["outcome"] == "sync_scheduled"
        await h.google.scheduler.idle()

        offer = await session.say(ANA, "Oi, quero marcar uma limpeza amanhã de manhã")
        text = "\n".join(offer.bubbles)
        assert "08:00" not in text and "08:30" not in text, text
        assert "09:00" in text, text
        booked = await session.say(ANA, "a primeira")
        assert any("agendad" in b.lower() for b in booked.bubbles), booked.bubbles
        (appt,) = await h.app.store.list_appointments(h.tenant.id)
        assert appt.start.astimezone(h.tenant.tz).strftime("%H:%M") == "09:00"

        assert (await h.google.drain()).done == 1
        assert event_id(appt.id) in h.fake.live(CAL_ANA)
        await session.tick()  # the booking confirmation

        h.fake.remove(CAL_ANA, event_id(appt.id))
        await h.push(h.notice(CAL_ANA, number=11))
        await h.google.scheduler.idle()
        assert (await h.app.store.get_appointment(h.tenant.id, appt.id)).status == "cancelled"
        told = [text for phone, text in await session.tick() if phone == ANA]
        assert len(told) == 1 and "cancelou" in told[0] and "09:00" in told[0], told


async def test_an_unreadable_calendar_is_said_and_a_person_offered(tmp_path):
    async with google_on(tmp_path) as h:
        session = ConsoleSession(h.app, h.tenant)
        h.fake.unreadable = {CAL_ANA}  # never synced, and freeBusy cannot read it
        answer = await session.say(ANA, "Oi, quero marcar uma limpeza amanhã de manhã")
        text = "\n".join(answer.bubbles)
        assert "não consigo consultar a agenda de Dra. Ana Souza" in text, text
        assert "11/03 às" not in text and "com Dra. Ana Souza" not in text
        assert "com Dra. Carla Mendes" in text  # whoever can be read is still offered
        answer = await session.say(ANA, "quero com a Dra. Ana, amanhã de manhã")
        text = "\n".join(answer.bubbles)
        assert "não consigo consultar a agenda de Dra. Ana Souza" in text, text
        assert "equipe" in text and "às" not in text.split("equipe")[-1]
        await session.say(ANA, "sim")
        conversation = await h.app.store.find_conversation(h.tenant.id, ANA)
        assert conversation is not None and conversation.status == "human"
