"""Calendly's webhook through the real app: only a fresh signature with the clinic's key is
accepted (anything else is 401 and stores nothing), invitees become appointments idempotently,
cancellations cancel them, and a reschedule's two webhooks pair up in either order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from calendly_harness import KEY, URL, App, calendly_app, corpus, signed, webhook
from test_logs import out  # noqa: F401 - the fixture that restores logging afterwards

from atende.integrations.calendly.signature import HEADER, calendly_signature
from atende.logs import configure_logging

NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
CREATED = corpus("webhook_invitee_created_docs.json")
CANCELED = corpus("webhook_invitee_canceled_docs.json")
DOCS_INVITEE = CREATED["payload"]["uri"]


async def everything(app: App) -> tuple[list, list]:
    appointments = await app.store.list_appointments("clinica-exemplo", statuses=None)
    return appointments, await app.store.list_poison("clinica-exemplo")


async def test_the_documented_invitee_created_books_once(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        first = await app.post(CREATED)
        again = await app.post(CREATED)  # Calendly redelivers
        appointments, poison = await everything(app)
    assert first.status_code == 200 and first.json()["outcome"] == "booked"
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    (appt,) = appointments
    assert (appt.source, appt.external_ref, appt.status) == ("calendly", DOCS_INVITEE, "booked")
    assert (appt.professional_id, appt.service_id) == ("ana-souza", "limpeza")
    # the sample's event ends when it starts: the service's 45 minutes are kept busy
    assert appt.start == datetime(2019, 8, 24, 14, 15, 22, tzinfo=UTC)
    assert appt.end - appt.start == timedelta(minutes=45)
    assert appt.patient_phone == "" and poison == []  # no phone given: no patient, still busy


async def test_the_documented_invitee_canceled_cancels_it_once(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        await app.post(CREATED)
        first = await app.post(CANCELED)
        again = await app.post(CANCELED)
        (appt,), _ = await everything(app)
        outbox = await app.store.outbox_due(NOW + timedelta(days=400))
    assert [first.json()["outcome"], again.json()["outcome"]] == ["cancelled", "duplicate"]
    assert (appt.status, appt.cancel_reason) == ("cancelled", "calendly: canceled by invitee")
    assert outbox == []  # Calendly tells its invitee; atende sends nothing


@pytest.mark.parametrize("case", ["tampered", "wrong key", "no header", "not the format",
                                  "two v1", "stale", "from the future", "unknown clinic"])
async def test_anything_but_a_fresh_signature_with_the_clinics_key_is_401(tmp_path, case):
    body, headers = signed(CREATED, NOW)
    url = URL
    if case == "tampered":
        body = body.replace(b"John Doe", b"Jane Doe")
    elif case == "wrong key":
        _, headers = signed(CREATED, NOW, key="not-the-signing-key")
    elif case == "no header":
        headers = {"Content-Type": "application/json"}
    elif case == "not the format":
        headers[HEADER] = "sha256=" + headers[HEADER].rpartition("v1=")[2]
    elif case == "two v1":
        headers[HEADER] += ",v1=" + "0" * 64
    elif case == "stale":  # a replay four minutes later
        _, headers = signed(CREATED, NOW - timedelta(minutes=4))
    elif case == "from the future":
        _, headers = signed(CREATED, NOW + timedelta(minutes=4))
    elif case == "unknown clinic":
        url = "/webhooks/calendly/nao-existe"
    async with calendly_app(tmp_path, NOW) as app:
        answer = await app.client.post(url, content=body, headers=headers)
        appointments, poison = await everything(app)
    assert answer.status_code == 401
    assert set(answer.json()) == {"request_id", "code", "message"}
    assert answer.json()["code"] == "invalid_signature"
    assert appointments == [] and poison == []
    assert KEY not in answer.text


async def test_a_signature_within_the_tolerance_is_accepted(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        late = await app.post(CREATED, at=NOW - timedelta(seconds=170))
        early = await app.post(CANCELED, at=NOW + timedelta(seconds=170))
    assert [late.status_code, early.status_code] == [200, 200]
    assert [late.json()["outcome"], early.json()["outcome"]] == ["booked", "cancelled"]


async def test_a_body_over_the_cap_is_refused_before_it_is_read(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        cap = app.services.settings.calendly_webhook_max_bytes
        body = b"{" + b" " * cap + b"}"
        headers = {HEADER: calendly_signature(body, KEY, int(NOW.timestamp())),
                   "Content-Type": "application/json"}
        answer = await app.client.post(URL, content=body, headers=headers)
        appointments, _ = await everything(app)
    assert answer.status_code == 413 and appointments == []


OLD = "https://api.calendly.com/scheduled_events/EV301/invitees/INV001"  # the SDK fixture's
NEW = "https://api.calendly.com/scheduled_events/EV301_NEW1/invitees/INV001"
THU_10 = "2026-03-12T13:00:00.000000Z"  # Thursday 10:00 in São Paulo
THU_10_15 = "2026-03-12T13:15:00.000000Z"  # moved by 15 minutes: overlaps the old time


def _rescheduled_away() -> dict:
    """The SDK fixture's rescheduled-away invitee (GET /invitees) as its webhook carries it."""
    invitee = corpus("invitee_get_rescheduled_canceled_koshilife.json")["resource"]
    body = webhook("invitee.canceled", uri=OLD, start=THU_10)
    body["payload"] = {**invitee, "scheduled_event": body["payload"]["scheduled_event"]}
    return body


@pytest.mark.parametrize("order", ["canceled first", "created first"])
async def test_a_reschedule_pairs_its_two_webhooks_in_either_order(tmp_path, order):
    away = _rescheduled_away()
    booked = webhook("invitee.created", uri=OLD, start=THU_10,  # as the invitee first booked
                     questions_and_answers=away["payload"]["questions_and_answers"],
                     text_reminder_number=away["payload"]["text_reminder_number"])
    assert away["payload"]["rescheduled"] and away["payload"]["new_invitee"] == NEW
    moved = webhook("invitee.created", uri=NEW, start=THU_10_15, old_invitee=OLD)
    pair = [away, moved] if order == "canceled first" else [moved, away]
    async with calendly_app(tmp_path, NOW) as app:
        assert (await app.post(booked)).json()["outcome"] == "booked"
        answers = [await app.post(p) for p in pair]
        redelivered = [await app.post(p) for p in (*pair, booked)]
        appointments, _ = await everything(app)
        active = await app.store.list_appointments("clinica-exemplo")
        outbox = await app.store.outbox_due(NOW + timedelta(days=30))
    assert all(a.status_code == 200 for a in answers + redelivered)
    assert [r.json()["outcome"] for r in redelivered] == ["duplicate"] * 3
    # one appointment at the new time; the old one cancelled as a reschedule, not by the patient
    assert [(a.external_ref, a.start) for a in active] == [
        (NEW, datetime(2026, 3, 12, 13, 15, tzinfo=UTC))]
    old = next(a for a in appointments if a.external_ref == OLD)
    assert (old.status, old.cancel_reason) == ("cancelled", "calendly: rescheduled")
    assert len(appointments) == 2 and outbox == []
    # the phone the invitee typed in a question (+81 …) made them a patient; the SMS number
    # "12345678" is no phone at all
    assert old.patient_phone == "+817012345678"


async def test_a_cancellation_before_its_booking_keeps_the_booking_from_happening(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        canceled = webhook("invitee.canceled", uri=OLD, start=THU_10)
        first = await app.post(canceled)
        late = await app.post(webhook("invitee.created", uri=OLD, start=THU_10))
        active = await app.store.list_appointments("clinica-exemplo")
    assert [first.json()["outcome"], late.json()["outcome"]] == ["cancelled", "duplicate"]
    assert active == []


async def test_a_phone_makes_the_invitee_a_patient_with_their_name(tmp_path):
    async with calendly_app(tmp_path, NOW) as app:
        body = webhook("invitee.created", uri=NEW, start=THU_10, name="Maria Silva",
                       text_reminder_number="+55 (11) 98765-0009")
        assert (await app.post(body)).json()["outcome"] == "booked"
        patient = await app.store.get_patient("clinica-exemplo", "+5511987650009")
        (mine,) = await app.store.list_appointments("clinica-exemplo",
                                                    patient_phone="+5511987650009")
    assert (patient.name, patient.source) == ("Maria Silva", "calendly")
    assert mine.external_ref == NEW


async def test_an_unmapped_event_type_or_a_broken_invitee_is_kept_for_ops_and_acknowledged(
        tmp_path):
    unmapped = webhook("invitee.created", uri=NEW, start=THU_10)
    unmapped["payload"]["scheduled_event"].update(
        event_type="https://api.calendly.com/event_types/OTHER", name="Outro evento")
    broken = webhook("invitee.created", uri=OLD, start=THU_10)
    del broken["payload"]["scheduled_event"]["start_time"]
    other = {"event": "routing_form_submission.created", "created_at": CREATED["created_at"],
             "created_by": CREATED["created_by"], "payload": {"uri": "x"}}
    async with calendly_app(tmp_path, NOW) as app:
        answers = [await app.post(p) for p in (unmapped, broken, other)]
        not_json = await app.client.post(URL, content=signed(b"{nope", NOW)[0],
                                          headers=signed(b"{nope", NOW)[1])
        appointments, poison = await everything(app)
    assert [a.json()["outcome"] for a in answers] == ["unmapped", "poison", "ignored"]
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_json"
    assert appointments == []
    assert sorted(p.provider_message_id for p in poison) == sorted([NEW, OLD])
    assert all(p.channel == "calendly" for p in poison)
    assert any("start_time" in p.reason for p in poison)


async def test_an_event_type_mapped_by_name_books_that_professional(tmp_path):
    body = webhook("invitee.created", uri=NEW, start=THU_10)
    body["payload"]["scheduled_event"].update(
        event_type="https://api.calendly.com/event_types/CARLA", name="avaliacao com a dra. carla")
    async with calendly_app(tmp_path, NOW) as app:
        await app.post(body)
        (appt,) = await app.store.list_appointments("clinica-exemplo")
    assert (appt.professional_id, appt.service_id) == ("carla-mendes", "avaliacao")
    assert appt.end - appt.start == timedelta(minutes=30)


async def test_a_calendly_booking_over_an_agent_booking_is_a_conflict_never_lost(tmp_path):
    from atende.memory.records import NewAppointment

    async with calendly_app(tmp_path, NOW) as app:
        mine = await app.store.book_appointment(NewAppointment(
            "clinica-exemplo", "ana-souza", "limpeza", "+5511987650001",
            datetime(2026, 3, 12, 13, 30, tzinfo=UTC), datetime(2026, 3, 12, 14, 15, tzinfo=UTC)))
        body = webhook("invitee.created", uri=NEW, start=THU_10)
        first = await app.post(body)
        again = await app.post(body)
        active = await app.store.list_appointments("clinica-exemplo")
        conflicts = await app.store.conflicts_list("clinica-exemplo")
    assert [first.status_code, again.status_code] == [200, 200]
    assert [first.json()["outcome"], again.json()["outcome"]] == ["conflict", "conflict"]
    assert [a.id for a in active] == [mine.id]  # the database still referees
    (conflict,) = conflicts  # a redelivery records it once
    assert (conflict.source, conflict.external_id, conflict.appointment_id) == (
        "calendly", NEW, mine.id)
    assert conflict.professional_id == "ana-souza"
    assert "12/03/2026 às 10:00" in conflict.summary and "Dra. Ana Souza" in conflict.summary


async def test_the_signing_key_never_reaches_a_log_line(tmp_path, out):  # noqa: F811
    configure_logging("DEBUG", json=True, stream=out)
    async with calendly_app(tmp_path, NOW) as app:
        await app.post(CREATED)
        body, headers = signed(CREATED, NOW, key="wrong")
        await app.client.post(URL, content=body, headers=headers)
        await app.post(webhook("invitee.created", uri=NEW, start=THU_10,
                               text_reminder_number="+55 11 98765-0009"))
    text = out.getvalue()
    assert text and KEY not in text
    assert "98765-0009" not in text and "11987650009" not in text


async def test_a_round_robin_event_type_books_the_professional_who_hosts_it(tmp_path):
    from calendly_harness import KEY_ENV, SAMPLE_EVENT_TYPE

    calendly = {"signing_key_env": KEY_ENV, "event_types": [
        {"event_type": SAMPLE_EVENT_TYPE, "host": "ana@clinica.test", "service": "limpeza",
         "professional": "ana-souza"},
        {"event_type": SAMPLE_EVENT_TYPE, "host": "USER@example.com", "service": "limpeza",
         "professional": "carla-mendes"}]}
    by_carla = webhook("invitee.created", uri=OLD, start=THU_10)  # the sample's host
    by_ana = webhook("invitee.created", uri=NEW, start=THU_10)
    by_ana["payload"]["scheduled_event"]["event_memberships"][0].update(
        user="https://api.calendly.com/users/ANA", user_email="ana@clinica.test")
    by_someone = webhook("invitee.created", uri=NEW + "X", start=THU_10)
    by_someone["payload"]["scheduled_event"]["event_memberships"][0].update(
        user="https://api.calendly.com/users/NEW", user_email="new@clinica.test")
    async with calendly_app(tmp_path, NOW, calendly=calendly) as app:
        outcomes = [(await app.post(p)).json()["outcome"] for p in (by_carla, by_ana, by_someone)]
        active = await app.store.list_appointments("clinica-exemplo")
    assert outcomes == ["booked", "booked", "unmapped"]
    assert {a.external_ref: a.professional_id for a in active} == {
        NEW: "ana-souza", OLD: "carla-mendes"}
