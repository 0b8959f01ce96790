"""The waitlist offers a freed slot to the first patient who asked for it and could book it,
one at a time: not to one who wants another professional or period, nor to one already busy
then; an expired hold moves it on. The clinic's sending caps hold reminders back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from atende.clock import FrozenClock
from atende.memory import open_store
from atende.memory.records import NewAppointment
from atende.reminders import waitlist
from atende.reminders.plan import plan
from atende.reminders.runner import ReminderRunner
from atende.tenant import ProactiveLimits, TenantRegistry, resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # Tuesday 08:00 in São Paulo
SLOT = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)  # Thursday 10:00 (morning)
OTHER_PRO, BUSY, AFTERNOON, FITS, NEXT = (f"+55119876503{n:02d}" for n in range(1, 6))


async def test_the_slot_goes_to_the_first_who_could_book_it_then_the_next(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}", clock=clock)
    await store.setup()
    await store.book_appointment(NewAppointment(  # BUSY has something else at that hour
        TENANT.id, "carla-mendes", "avaliacao", BUSY, SLOT, SLOT + timedelta(minutes=30)))
    for phone, professional, period in ((OTHER_PRO, "carla-mendes", None), (BUSY, None, None),
                                        (AFTERNOON, None, "tarde"), (FITS, None, None),
                                        (NEXT, None, None)):
        await store.get_or_create_conversation(TENANT.id, phone, "zapi")
        await store.waitlist_add(TENANT.id, phone, service_id="limpeza",
                                 professional_id=professional, period=period)  # type: ignore[arg-type]
    offered = await waitlist.offer_slot(store, TENANT, "ana-souza", SLOT, NOW)
    assert offered is not None and offered.patient_phone == FITS
    assert offered.offer_expires_at == NOW + timedelta(minutes=TENANT.reminders.waitlist.hold_minutes)
    (message,) = await store.outbox_due(NOW)
    assert "Vagou um horário de Limpeza" in (message.text or "") and "10:00" in (message.text or "")
    # the hold runs out: the next patient who could book it gets it
    clock.advance(minutes=31)
    report = await ReminderRunner(store, TenantRegistry([TENANT]), clock=clock).tick()
    assert (report.expired, report.offers) == (1, 1)
    held = await store.waitlist_offered(TENANT.id, NEXT, clock.now())
    assert held is not None and held.offer_start_at == SLOT
    statuses = {w.patient_phone: w.status for w in await store.waitlist_list(TENANT.id)}
    assert statuses == {OTHER_PRO: "waiting", BUSY: "waiting", AFTERNOON: "waiting",
                        FITS: "expired", NEXT: "offered"}
    await store.close()


async def test_the_clinics_caps_hold_reminders_back_for_a_later_tick(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}", clock=clock)
    await store.setup()
    capped = TENANT.model_copy(update={"reminders": TENANT.reminders.model_copy(
        update={"limits": ProactiveLimits(per_minute=2, per_hour=100)})})
    for i in range(5):
        start = SLOT + timedelta(minutes=60 * i)
        await store.book_appointment(NewAppointment(
            TENANT.id, "ana-souza", "limpeza", f"+55119876504{i:02d}", start,
            start + timedelta(minutes=45)), reminders=plan(TENANT, start, NOW))  # 5 confirmations
    runner = ReminderRunner(store, TenantRegistry([capped]), clock=clock)
    first = await runner.tick()
    assert (first.queued, first.held) == (2, 3)
    assert (await runner.tick()).queued == 0  # the same minute: still capped
    clock.advance(minutes=1, seconds=1)
    assert (await runner.tick()).queued == 2
    await store.close()


async def test_a_freed_slot_inside_a_block_is_offered_to_nobody(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}", clock=FrozenClock(NOW))
    await store.setup()
    await store.get_or_create_conversation(TENANT.id, FITS, "zapi")
    await store.waitlist_add(TENANT.id, FITS, service_id="limpeza")
    # Dra. Ana took Thursday morning off: the time one of her patients frees stays hers
    block = await store.block_add(TENANT.id, "ana-souza", starts_at=SLOT - timedelta(hours=2),
                                  ends_at=SLOT + timedelta(hours=2))
    assert await waitlist.offer_slot(store, TENANT, "ana-souza", SLOT, NOW) is None
    assert await store.outbox_due(NOW) == []
    await store.block_remove(TENANT.id, block.id)
    offered = await waitlist.offer_slot(store, TENANT, "ana-souza", SLOT, NOW)
    assert offered is not None and offered.patient_phone == FITS
    await store.close()
