"""`atende blocks add|list|remove` and `atende calendar conflicts|resolve`: blocks in the
clinic's local time, errors naming the option (nothing written), conflicts settled by id."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atende.cli import app
from atende.memory import open_store

ROOT = Path(__file__).resolve().parent.parent
CLINIC = ("--tenant", "clinica-exemplo")
START = datetime(2027, 3, 12, 16, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ATENDE_DATABASE_URL": f"sqlite:///{tmp_path / 'atende.db'}",
            "ATENDE_TENANTS_DIR": str(ROOT / "tenants")}


def run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=env)


def rows(result) -> list[dict]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _stored(env: dict[str, str], tenant: str = "clinica-exemplo") -> list:
    async def read() -> list:
        store = open_store(env["ATENDE_DATABASE_URL"])
        await store.setup()
        try:
            return await store.blocks_between(tenant, START - timedelta(days=400),
                                              START + timedelta(days=800))
        finally:
            await store.close()

    return asyncio.run(read())


def test_add_list_and_remove_a_block(env: dict[str, str]) -> None:
    (made,) = rows(run(env, "blocks", "add", *CLINIC, "--professional", "ana-souza",
                       "--start", "2027-03-12T13:00", "--end", "2027-03-12T18:00",
                       "--reason", "congresso", "--json"))
    assert (made["start"], made["end"], made["created_by"]) == (
        "2027-03-12T13:00-03:00", "2027-03-12T18:00-03:00", "cli")
    run(env, "blocks", "add", *CLINIC, "--professional", "carla-mendes",
        "--start", "2027-03-13", "--end", "2027-03-14")
    both = rows(run(env, "blocks", "list", *CLINIC, "--from", "2027-03-01", "--to", "2027-04-01",
                    "--json"))
    assert [b["professional_id"] for b in both] == ["ana-souza", "carla-mendes"]
    anas = rows(run(env, "blocks", "list", *CLINIC, "--professional", "ana-souza",
                    "--from", "2027-03-01", "--to", "2027-04-01", "--json"))
    assert [b["id"] for b in anas] == [made["id"]]
    table = run(env, "blocks", "list", *CLINIC, "--from", "2027-03-01", "--to", "2027-04-01")
    assert "congresso" in table.output
    assert rows(run(env, "blocks", "remove", made["id"], *CLINIC, "--json"))[0]["id"] == made["id"]
    assert [b.professional_id for b in _stored(env)] == ["carla-mendes"]
    again = run(env, "blocks", "remove", made["id"], *CLINIC)
    assert again.exit_code == 2 and "ID:" in again.output and "bloqueio" in again.output


@pytest.mark.parametrize(("args", "words"), [
    (("--professional", "dr-ninguem", "--start", "2027-03-12T13:00", "--end", "2027-03-12T14:00"),
     "--professional"),
    (("--professional", "ana-souza", "--start", "amanhã", "--end", "2027-03-12T14:00"), "--start"),
    (("--professional", "ana-souza", "--start", "2027-03-12T13:00", "--end", "2027-03-12T12:00"),
     "--end"),
    (("--professional", "ana-souza", "--start", "2027-03-12T13:00", "--end", "2028-06-01"),
     "366"),
])
def test_a_bad_block_names_the_option_and_writes_nothing(env: dict[str, str],
                                                         args: tuple[str, ...], words: str) -> None:
    result = run(env, "blocks", "add", *CLINIC, *args)
    assert result.exit_code == 2 and words in result.output, result.output
    assert _stored(env) == []


def test_unknown_clinic_is_named(env: dict[str, str]) -> None:
    result = run(env, "blocks", "list", "--tenant", "nao-existe")
    assert result.exit_code == 2 and "nao-existe" in result.output


def test_conflicts_listed_and_resolved(env: dict[str, str]) -> None:
    async def seed() -> str:
        store = open_store(env["ATENDE_DATABASE_URL"])
        await store.setup()
        try:
            made = await store.conflict_add(
                "clinica-exemplo", source="google", external_id="evt-9",
                professional_id="ana-souza", starts_at=START, ends_at=START + timedelta(hours=1),
                appointment_id=None, summary="Evento “Reunião” sobrepõe uma consulta.")
            return made.id
        finally:
            await store.close()

    conflict_id = asyncio.run(seed())
    (row,) = rows(run(env, "calendar", "conflicts", *CLINIC, "--json"))
    assert row["id"] == conflict_id and row["start"] == "2027-03-12T13:00-03:00"
    assert "Reunião" in run(env, "calendar", "conflicts", *CLINIC).output
    assert rows(run(env, "calendar", "resolve", conflict_id, *CLINIC, "--json"))[0]["resolved_at"]
    assert rows(run(env, "calendar", "conflicts", *CLINIC, "--json")) == []
    assert len(rows(run(env, "calendar", "conflicts", *CLINIC, "--all", "--json"))) == 1
    missing = run(env, "calendar", "resolve", "nope", *CLINIC)
    assert missing.exit_code == 2 and "ID:" in missing.output and "conflito" in missing.output
