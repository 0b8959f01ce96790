"""A reminder through the outbox on Meta: a template error from the corpus fails that reminder
with its reason (no retry), flags the template on the clinic's /health, and the next reminder
of another appointment still goes; an asynchronous 131047 (status webhook) fails it too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from atende.clock import FrozenClock
from atende.memory import open_store
from atende.memory.records import NewAppointment
from atende.memory.store import Store
from atende.reminders.outcomes import TEMPLATE_FAILING, delivery
from atende.reminders.plan import plan
from atende.reminders.runner import ReminderRunner
from atende.server.channels.meta.sender import MetaSender
from atende.server.metrics import Metrics
from atende.server.outbox import OutboxWorker
from atende.tenant import TenantRegistry, resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests/corpora/meta"
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
NOW = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # Tuesday 10:00 in São Paulo
PATIENTS = ("+5511987650201", "+5511987650202")
OK = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.ok"}]}


def corpus(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


async def due_reminder(store: Store, phone: str, professional: str) -> str:
    """An appointment whose 48-hour reminder is due now; the patient last wrote two days ago
    (outside Meta's window: a template it must be)."""
    start = NOW + timedelta(hours=48)
    appt = await store.book_appointment(NewAppointment(
        TENANT.id, professional, "limpeza", phone, start, start + timedelta(minutes=45)),
        reminders=plan(TENANT, start, NOW - timedelta(days=2), confirmation=False))
    await store.inbox_add(TENANT.id, phone, channel="meta", provider_message_id=f"wamid.{phone}",
                          provider_ts=NOW - timedelta(days=2), kind="text", text="oi")
    return appt.id


async def reminder_of(store: Store, appointment_id: str) -> Any:
    (row,) = await store.list_reminders(TENANT.id, appointment_id=appointment_id,
                                        statuses=("queued", "sent", "failed"))
    return row


@pytest.mark.parametrize(("error", "problem"), [
    ("graph_error_132000_param_count_mismatch_capture.json", "template_parameters"),
    ("graph_error_132001_template_not_in_language_capture.json", "template_missing"),
    ("graph_error_100_invalid_parameter_empty_template_text_capture.json", "template_parameters"),
])
async def test_a_template_error_fails_that_reminder_flags_the_template_and_the_next_still_goes(
        tmp_path: Path, error: str, problem: str) -> None:
    clock = FrozenClock(NOW)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", clock=clock)
    await store.setup()
    answers = [httpx.Response(400, json=corpus(error)), httpx.Response(200, json=OK)]
    sent: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return answers.pop(0)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    sender = MetaSender(http, graph_url="https://graph.facebook.com", api_version="v21.0",
                        phone_number_id="1122334455667", access_token="EAAGsecret")
    first = await due_reminder(store, PATIENTS[0], "ana-souza")
    metrics = Metrics()
    outbox = OutboxWorker(store, lambda t, c: sender if c == "meta" else None, clock=clock,
                          metrics=metrics)
    runner = ReminderRunner(store, TenantRegistry([TENANT]), clock=clock, metrics=metrics)
    assert (await runner.tick()).queued == 1
    await outbox.drain()
    failed = await reminder_of(store, first)
    assert failed.status == "failed" and str(corpus(error)["error"]["code"]) in (failed.reason or "")
    flags = await store.clinic_flags(TENANT.id)
    assert flags[TEMPLATE_FAILING + "lembrete_consulta"].startswith(problem)  # on /health
    # the next reminder, of another appointment, still goes; a template through clears the flag
    second = await due_reminder(store, PATIENTS[1], "carla-mendes")
    assert (await runner.tick()).queued == 1
    await outbox.drain()
    assert [body["type"] for body in sent] == ["template", "template"]  # the first not retried
    went = await reminder_of(store, second)
    assert went.status == "sent" and went.provider_message_id == "wamid.ok"
    assert await store.clinic_flags(TENANT.id) == {}
    await store.close()


async def test_an_asynchronous_131047_fails_the_reminder_it_carried(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}", clock=clock)
    await store.setup()
    await due_reminder(store, PATIENTS[0], "ana-souza")
    await ReminderRunner(store, TenantRegistry([TENANT]), clock=clock).tick()
    (message,) = await store.outbox_due(NOW)
    claimed = await store.outbox_claim(message.id)
    assert claimed is not None
    await store.outbox_result(message.id, status="sent", provider_message_id="wamid.late")
    status = corpus("status_failed_131047_reengagement.json")["entry"][0]["changes"][0]["value"]
    error = status["statuses"][0]["errors"][0]
    assert await store.apply_status(TENANT.id, "wamid.late", "failed",
                                    error=f"{error['code']}: {error['title']}")
    found = await store.find_outbound(TENANT.id, "wamid.late")
    assert found is not None
    await delivery(store, found, "failed", f"{error['code']}: {error['title']}")
    (row,) = [r for r in await store.list_reminders(TENANT.id) if r.message_id == message.id]
    assert row.status == "failed" and "131047" in (row.reason or "")
    await store.close()
