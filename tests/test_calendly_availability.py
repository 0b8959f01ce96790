"""A Calendly booking is busy time: the patient asking on WhatsApp is never offered it, through
the real `check_availability` tool, graph and SQLite store; cancelled in Calendly, it is free
again."""

from __future__ import annotations

from datetime import datetime, timedelta

from calendly_harness import tenant_data, webhook

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from atende.integrations.calendly.mapping import apply
from atende.integrations.calendly.parse import invitee_of, parse_webhook
from atende.tenant import Tenant
from helpers import SwitchableModel, atende_on, say

TENANT = Tenant.model_validate({"id": "clinica-exemplo", **tenant_data()})
INVITEE = "https://api.calendly.com/scheduled_events/WED/invitees/I9"
# Wednesday 2026-03-11, 09:00-09:45 in São Paulo
START, END = "2026-03-11T12:00:00.000000Z", "2026-03-11T12:45:00.000000Z"


async def _ana_slots(app, model) -> list[datetime]:
    model.chain = ModelChain("scripted", ScriptedChatModel([
        call("check_availability", service="limpeza", when="amanhã de manhã",
             professional="Dra. Ana"), "Horários:"]))
    (availability,) = (await say(app, "quero limpeza amanhã de manhã com a dra ana")).tool_calls
    assert availability.ok, availability.result
    return [datetime.fromisoformat(s["start"]) for s in availability.result["slots"]
            if s["professional_id"] == "ana-souza"]


async def _calendly(app, event: str) -> str:
    hook = parse_webhook(webhook(event, uri=INVITEE, start=START, end=END))
    return (await apply(app.store, TENANT, hook.event, invitee_of(hook))).outcome


async def test_a_calendly_booking_is_never_offered_and_is_free_again_once_cancelled(tmp_path):
    model = SwitchableModel()
    busy_from = datetime.fromisoformat(START)
    busy_to = datetime.fromisoformat(END)

    def overlapping(slots: list[datetime]) -> list[datetime]:
        return [s for s in slots if s < busy_to and s + timedelta(minutes=45) > busy_from]

    async with atende_on(tmp_path, model=model) as app:
        before = await _ana_slots(app, model)
        assert await _calendly(app, "invitee.created") == "booked"
        during = await _ana_slots(app, model)
        assert await _calendly(app, "invitee.canceled") == "cancelled"
        after = await _ana_slots(app, model)
    assert overlapping(before), before  # Wednesday 09:00 was on offer
    assert during and overlapping(during) == []
    assert overlapping(after) == overlapping(before)
