"""`atende reminders list|due|run|resume` and `atende report`: a clinic's reminders seen and
sent by hand, errors that name the option, and the month's figures."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atende.cli import app
from atende.clock import FrozenClock
from atende.memory import open_store
from atende.memory.records import NewAppointment
from atende.reminders.plan import plan
from atende.tenant import resolve_tenant

ROOT = Path(__file__).resolve().parent.parent
TENANT = resolve_tenant("clinica-exemplo", ROOT / "tenants")
BOOKED = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
START = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)  # Thursday 10:00 in São Paulo


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'atende.db'}"

    async def seed() -> None:
        store = open_store(url, clock=FrozenClock(BOOKED))
        await store.setup()
        await store.book_appointment(NewAppointment(
            TENANT.id, "ana-souza", "limpeza", "+5511987650001", START,
            START + timedelta(minutes=45)), reminders=plan(TENANT, START, BOOKED))
        await store.get_or_create_conversation(TENANT.id, "+5511987650001", "zapi")
        await store.set_clinic_flag(TENANT.id, "proactive_paused:quality", "quality FLAGGED")
        await store.close()

    asyncio.run(seed())
    return {"ATENDE_DATABASE_URL": url, "ATENDE_TENANTS_DIR": str(ROOT / "tenants")}


def run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=env)


def test_list_due_and_run(env: dict[str, str]) -> None:
    listed = run(env, "reminders", "list", "--tenant", "clinica-exemplo", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["confirmation", "before_48h", "before_12h"]
    due = run(env, "reminders", "due", "--tenant", "clinica-exemplo", "--now",
              "2026-03-10T10:00-03:00", "--json")
    assert [json.loads(line)["kind"] for line in due.stdout.splitlines()] == [
        "confirmation", "before_48h"]
    held = run(env, "reminders", "run", "--tenant", "clinica-exemplo", "--now",
               "2026-03-10T10:00-03:00", "--json")
    assert json.loads(held.stdout)["held"] == 2  # Meta flagged the number: nothing goes
    resumed = run(env, "reminders", "resume", "--tenant", "clinica-exemplo")
    assert "proactive_paused:quality cleared" in resumed.output
    sent = run(env, "reminders", "run", "--tenant", "clinica-exemplo", "--now",
               "2026-03-10T10:00-03:00", "--json")
    assert json.loads(sent.stdout)["queued"] == 2
    queued = run(env, "reminders", "list", "--tenant", "clinica-exemplo", "--status", "queued")
    assert queued.exit_code == 0 and "before_48h" in queued.output


@pytest.mark.parametrize(("args", "words"), [
    (("reminders", "list", "--tenant", "nao-existe"), "unknown tenant 'nao-existe'"),
    (("reminders", "list", "--tenant", "clinica-exemplo", "--status", "lost"), "--status"),
    (("reminders", "due", "--tenant", "clinica-exemplo", "--now", "amanhã"), "--now"),
    (("reminders", "run", "--tenant", "clinica-exemplo", "--now", "2026-03-10T10:00"), "offset"),
    (("report", "--tenant", "clinica-exemplo", "--since", "30x"), "--since"),
])
def test_bad_options_are_named(env: dict[str, str], args: tuple[str, ...], words: str) -> None:
    result = run(env, *args)
    assert result.exit_code == 2 and words in result.output


def test_report_counts_the_months_reminders(env: dict[str, str]) -> None:
    run(env, "reminders", "resume", "--tenant", "clinica-exemplo")
    run(env, "reminders", "run", "--tenant", "clinica-exemplo", "--now", "2026-03-10T10:00-03:00")

    async def answer() -> None:  # the outbox sent it, the patient confirmed
        store = open_store(env["ATENDE_DATABASE_URL"])
        for r in await store.list_reminders(TENANT.id, statuses=("queued",)):
            await store.reminder_settle(TENANT.id, r.id, "sent", from_statuses=("queued",))
        (appt,) = await store.list_appointments(TENANT.id)
        await store.confirm_appointment(TENANT.id, appt.id, patient_phone="+5511987650001")
        await store.close()

    asyncio.run(answer())
    report = run(env, "report", "--tenant", "clinica-exemplo", "--since", "3650d", "--json")
    figures = json.loads(report.stdout)
    assert figures["reminders_sent"] == 1 and figures["appointments_reminded"] == 1
    assert figures["confirmed"] == 1 and figures["confirmation_rate"] == 1.0
    text = run(env, "report", "--tenant", "clinica-exemplo", "--since", "3650d")
    assert "confirmadas: 1 (100.0 %)" in text.output
