"""Reminders on Postgres with two `atende worker` processes, one SIGKILLed mid-batch (issue 10's
"Done when"): 200 reminders due at once, Z-API played by `ProviderStub` on 127.0.0.1, the
workers' clock frozen through `ATENDE_CLOCK_FILE`, a replacement worker started after the kill.

What a clinic would notice: no patient gets a reminder twice, and none is lost — every
reminder ends `sent` with exactly one message at the provider, except the sends the killed
worker had in flight (at most `SEND_CONCURRENCY`: the outbox claims a row only when it can go
out at once). Such a send may or may not have reached the provider before the kill; nobody can
tell, so it is never resent (a duplicate is worse than a gap the clinic can see) and its
reminder ends `failed` with `INTERRUPTED` as the reason — not `sent`, and not left `queued`.
The stub records a request on arrival (then answers 50 ms late), so an interrupted send the
patient did get shows there, once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import Processes, child_env, query, wait_for, workers_up
from provider_stub import ProviderStub, ZapiAccount
from server_harness import ENV, ZAPI_INSTANCE, make_tenants_dir

from atende.memory import open_store
from atende.memory.records import INTERRUPTED, NewAppointment
from atende.reminders.plan import plan
from atende.server.outbox import SEND_CONCURRENCY
from atende.tenant import load_tenant_file

pytestmark = pytest.mark.slow

TENANT = "clinica-exemplo"
REMINDERS = 200
KILL_AFTER = 40  # sends the stub has seen when one worker is SIGKILLed
NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # the batch's minute: 12:00 in São Paulo
BEFORE = NOW - timedelta(hours=30)  # the workers start here: nothing is due yet
SEND_LEASE_S = 3.0  # a killed worker's sends in hand are failed after this
PROFESSIONALS = ("ana-souza", "bruno-lima")


def _tenants(tmp_path: Path) -> Path:
    """The example clinic on Z-API only, every reminder due at once allowed out."""
    folder = make_tenants_dir(tmp_path)
    path = folder / f"{TENANT}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["channels"].pop("meta")
    data["reminders"].update(booking_confirmation=False, quiet_hours=None,
                             limits={"per_minute": 10_000, "per_hour": 100_000})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return folder


def _phone(n: int) -> str:
    return f"+55119877{n:05d}"


async def _book(url: str, tenants: Path) -> None:
    """200 appointments 20 h to 37 h after NOW, booked three days before: each one's 48 h
    reminder is due at NOW (or before), its 12 h reminder later."""
    tenant = load_tenant_file(tenants / f"{TENANT}.yaml")
    store = open_store(url)
    await store.setup()
    try:
        for n in range(REMINDERS):
            start = NOW + timedelta(hours=20, minutes=10 * (n // len(PROFESSIONALS)))
            await store.book_appointment(
                NewAppointment(TENANT, PROFESSIONALS[n % len(PROFESSIONALS)], "avaliacao",
                               _phone(n), start, start + timedelta(minutes=10)),
                reminders=plan(tenant, start, NOW - timedelta(days=3)))
    finally:
        await store.close()


def _open(url: str) -> int:
    [row] = query(url, "SELECT count(*) AS n FROM reminders"
                       " WHERE kind = 'before_48h' AND status IN ('pending', 'queued')")
    return int(row["n"])


def test_two_workers_send_each_reminder_once_despite_a_sigkill(postgres_url: str,
                                                               tmp_path: Path) -> None:
    tenants = _tenants(tmp_path)
    asyncio.run(_book(postgres_url, tenants))
    clock = tmp_path / "clock.txt"
    clock.write_text(BEFORE.isoformat(), "utf-8")
    account = ZapiAccount(ZAPI_INSTANCE, ENV["CLINICA_EXEMPLO_ZAPI_TOKEN"],
                          ENV["CLINICA_EXEMPLO_ZAPI_CLIENT_TOKEN"])
    worker = ("worker", "--model", "offline", "--concurrency", "2", "--stalled-after", "10",
              "--send-lease", str(SEND_LEASE_S), "--reminders-every", "0.5")
    with ProviderStub(zapi=account) as stub:
        stub.slow(0.05)
        procs = Processes(tmp_path, {**child_env(postgres_url, stub, tenants),
                                     "ATENDE_CLOCK_FILE": str(clock)})
        try:
            victim, survivor = (procs.start(f"worker{n}", *worker) for n in range(2))
            wait_for(lambda: workers_up(postgres_url) == 2, "the workers to register", 60.0, procs)
            assert stub.requests == []  # nothing was due before the clock moved
            started = time.monotonic()
            clock.write_text(NOW.isoformat(), "utf-8")  # 200 reminders are due now
            while len(stub.requests) < KILL_AFTER:
                assert time.monotonic() - started < 30, procs.logs()
                time.sleep(0.005)
            victim.send_signal(signal.SIGKILL)
            at_kill = len(stub.requests)
            procs.start("replacement", *worker)
            wait_for(lambda: _open(postgres_url) == 0, "every reminder settled", 60.0, procs)
            elapsed = time.monotonic() - started
            time.sleep(0.5)  # room for a duplicate already on the wire to arrive
            assert victim.wait(timeout=5) == -signal.SIGKILL
            assert survivor.poll() is None, procs.logs()
        finally:
            procs.stop()
        arrived = stub.requests
    assert at_kill < REMINDERS  # the kill landed mid-batch
    interrupted = _check(postgres_url, arrived)
    print(f"\n{REMINDERS} reminders, 2 workers (one SIGKILLed after {at_kill} sends) and a "
          f"replacement: settled in {elapsed:.1f} s; {len(interrupted)} sends interrupted, "
          f"{sum(1 for r in interrupted if r['arrived'])} of them had reached the provider")


def _check(url: str, arrived: list[Any]) -> list[dict[str, Any]]:
    reminders = query(url, """
        SELECT r.*, a.patient_phone, m.text, m.status AS message_status, m.error
        FROM reminders r JOIN appointments a ON a.id = r.appointment_id
        LEFT JOIN messages m ON m.id = r.message_id WHERE r.kind = 'before_48h'""")
    assert len(reminders) == REMINDERS
    assert {r["patient_phone"] for r in reminders} == {_phone(n) for n in range(REMINDERS)}
    later = query(url, "SELECT DISTINCT status FROM reminders WHERE kind = 'before_12h'")
    assert later == [{"status": "pending"}]  # not due yet: untouched

    # never twice: no patient got more than one message, and only our patients got any
    assert all(r.ok and r.provider == "zapi" for r in arrived)
    per_phone = Counter("+" + (r.to or "") for r in arrived)
    assert max(per_phone.values()) == 1, per_phone.most_common(3)
    assert set(per_phone) <= {r["patient_phone"] for r in reminders}
    by_phone = {"+" + (r.to or ""): r for r in arrived}

    # none lost: each reminder sent exactly once, with its own text and the provider's id ...
    interrupted = []
    for row in reminders:
        request = by_phone.get(row["patient_phone"])
        if row["status"] == "sent":
            assert row["message_status"] == "sent", row
            assert request is not None and request.text == row["text"], row
            assert row["provider_message_id"] == request.answer["messageId"], row
            continue
        # ... or a send the killed worker had in flight: failed, never resent, and said so
        assert (row["status"], row["reason"]) == ("failed", INTERRUPTED), row
        assert (row["message_status"], row["error"]) == ("failed", INTERRUPTED), row
        assert request is None or request.text == row["text"], row
        interrupted.append({**row, "arrived": request is not None})
    assert len(interrupted) <= SEND_CONCURRENCY, len(interrupted)
    outbound = query(url, "SELECT count(*) AS n FROM messages WHERE direction = 'out'")
    assert outbound == [{"n": REMINDERS}]  # one message per reminder, none queued twice
    return interrupted
