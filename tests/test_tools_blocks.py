"""A professional's blocked time through the tools (real graph, scripted model, real SQLite
file): never offered, never bookable or a reschedule target, the refusal in pt-BR; a removed
block frees the time again."""

from __future__ import annotations

from datetime import datetime

from atende.agent.context import ModelChain
from atende.agent.models.scripted import ScriptedChatModel, call
from helpers import SwitchableModel, atende_on, say

CLINIC = "clinica-exemplo"
THU_AFTERNOON = (datetime.fromisoformat("2026-03-12T13:00-03:00"),
                 datetime.fromisoformat("2026-03-12T17:00-03:00"))


async def _tool(app, model, tool_name, **args):
    model.chain = ModelChain("scripted", ScriptedChatModel([call(tool_name, **args), "Ok."]))
    return (await say(app, "ok")).tool_calls[0]


async def _offered(app, model, when="quinta à tarde", **args):
    found = await _tool(app, model, "check_availability", service="limpeza", when=when, **args)
    assert found.ok, found.result
    return found.result


async def test_a_blocked_afternoon_is_never_offered_and_other_times_are(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        before = await _offered(app, model, professional="Ana")
        assert before["slots"] and not before["alternative"]
        block = await app.store.block_add(CLINIC, "ana-souza", starts_at=THU_AFTERNOON[0],
                                          ends_at=THU_AFTERNOON[1], reason="congresso")
        anyone = await _offered(app, model)
        assert anyone["slots"], "Carla still works that afternoon"
        assert {s["professional_id"] for s in anyone["slots"]} == {"carla-mendes"}
        ana = await _offered(app, model, professional="Ana")
        # nothing that afternoon: the next free times come instead, none inside the block
        assert ana["alternative"] and ana["slots"]
        assert all(not s["start"].startswith("2026-03-12") for s in ana["slots"])
        assert "congresso" not in str(ana)  # the reason is for staff only
        morning = await _offered(app, model, when="quinta de manhã", professional="Ana")
        assert morning["slots"] and not morning["alternative"]
        await app.store.block_remove(CLINIC, block.id)
        again = await _offered(app, model, professional="Ana")
        assert [s["slot_id"] for s in again["slots"]] == [s["slot_id"] for s in before["slots"]]


async def test_booking_or_moving_into_a_block_is_refused_in_portuguese(tmp_path):
    model = SwitchableModel()
    async with atende_on(tmp_path, model=model) as app:
        slot_id = (await _offered(app, model, professional="Ana"))["slots"][0]["slot_id"]
        morning = (await _offered(app, model, when="quinta de manhã", professional="Ana")
                   )["slots"][0]["slot_id"]
        booked = await _tool(app, model, "book_appointment", slot_id=morning)
        assert booked.ok
        await app.store.block_add(CLINIC, "ana-souza", starts_at=THU_AFTERNOON[0],
                                  ends_at=THU_AFTERNOON[1])
        refused = await _tool(app, model, "book_appointment", slot_id=slot_id)
        assert not refused.ok and refused.result["code"] == "slot_unavailable"
        assert "bloqueado" in refused.result["message"]
        moved = await _tool(app, model, "reschedule_appointment",
                            appointment_id=booked.result["appointment"]["id"], slot_id=slot_id)
        assert not moved.ok and "bloqueado" in moved.result["message"]
        (row,) = await app.store.list_appointments(CLINIC)
    assert row.id == booked.result["appointment"]["id"]
    assert row.start == datetime.fromisoformat(booked.result["appointment"]["start"])  # not moved
