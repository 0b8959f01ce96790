"""The outbox under a batch: a sender that stops mid-batch leaves in doubt only the sends it had
in flight (at most its `concurrency`), not every row it had listed; the rest still go, once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from atende.clock import FrozenClock
from atende.memory import open_store
from atende.memory.records import INTERRUPTED
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.server.senders import SendResult
from helpers import TUESDAY_NOW

TENANT = "clinica-exemplo"
ROWS = 40
SLOTS = 4


class GatedSender:
    """Z-API that holds every send until the gate opens; records what went out."""

    channel = "zapi"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.sent: list[str] = []

    async def send_text(self, to_phone: str, text: str, *, choices: Sequence[object] = ()
                        ) -> SendResult:
        self.in_flight += 1
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.sent.append(to_phone)
        return SendResult(provider_message_id=f"id-{len(self.sent)}")


async def test_a_sender_stopped_mid_batch_leaves_only_its_sends_in_flight_in_doubt(
        tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'atende.db'}")
    await store.setup()
    clock = FrozenClock(TUESDAY_NOW)
    phones = [f"+55119876{n:05d}" for n in range(ROWS)]
    for phone in phones:
        conversation = await store.get_or_create_conversation(TENANT, phone, "zapi")
        await store.add_message(conversation.id, direction="out", text="Lembrete", status="queued")
    first = GatedSender()
    outbox = OutboxWorker(store, lambda t, c: first, clock=clock, metrics=Metrics(),
                          concurrency=SLOTS)
    batch = asyncio.create_task(outbox.drain())
    for _ in range(200):
        if first.in_flight == SLOTS:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # room for a claim beyond the slots, if there were one
    assert first.in_flight == SLOTS
    batch.cancel()  # the process stops with its sends in hand
    await asyncio.gather(batch, return_exceptions=True)

    # the next start: only the sends in flight are in doubt (failed, never resent)
    assert await store.outbox_recover() == SLOTS
    later = clock.now() + timedelta(days=1)
    assert len(await store.outbox_due(later, limit=100)) == ROWS - SLOTS
    second = GatedSender()
    second.gate.set()
    await OutboxWorker(store, lambda t, c: second, clock=clock, metrics=Metrics()).drain()
    assert first.sent == [] and len(second.sent) == len(set(second.sent)) == ROWS - SLOTS
    statuses: dict[str, int] = {}
    for phone in phones:
        conversation = await store.get_or_create_conversation(TENANT, phone, "zapi")
        (message,) = await store.list_messages(conversation.id)
        key = message.status if message.error != INTERRUPTED else "interrupted"
        statuses[key] = statuses.get(key, 0) + 1
    assert statuses == {"sent": ROWS - SLOTS, "interrupted": SLOTS}
    await store.close()
