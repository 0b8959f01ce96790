"""`atende eval run --record` against a local OpenAI stand-in writes a scrubbed cassette per
trial; `--replay` gives the same result from it with the stand-in gone and the network blocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from openai_standin import OpenAIStandIn
from typer.testing import CliRunner
from vcr_config import block_network, find_leaks

from atende.cli import app

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-standin-0123456789abcdef"
SCENARIO = """\
schema: 1
id: standin-price
tenant: clinica-exemplo
now: "2026-03-10T08:00:00-03:00"
patient: {phone: "+5511987650001"}
turns:
  - user: "quanto custa a limpeza? meu número é +55 11 98765-0001"
    expect: {contains_all: ["R$ 180,00"]}
expect:
  appointments: []
  unchanged: true
  tools: {must: [{name: list_services, args: {query: limpeza}, ok: true}]}
  rules: [prices_grounded, no_false_confirmation]
"""


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ATENDE_MODEL", "ATENDE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATENDE_TENANTS_DIR", str(ROOT / "tenants"))
    path = tmp_path / "suite" / "price.yaml"
    path.parent.mkdir()
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", "run", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def trial(report: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(report.read_text(encoding="utf-8"))["scenarios"][0]["trials"][0]


def test_record_then_replay_with_the_network_blocked(suite: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIStandIn() as standin:
        monkeypatch.setenv("OPENAI_BASE_URL", standin.url)
        code, output = run(str(suite), "--model", "openai:gpt-4o-mini", "--record",
                           "--report", str(tmp_path / "recorded.json"))
    assert code == 0, output
    # the agent asked for a tool, then answered: two exchanges, with the real key on the wire
    assert [r["path"] for r in standin.requests] == ["/v1/chat/completions"] * 2
    assert {r["authorization"] for r in standin.requests} == {f"Bearer {KEY}"}
    assert "3333-4444" in json.dumps(standin.requests[0]["body"], ensure_ascii=False)

    cassette = suite.parent / "cassettes" / "standin-price-t1.yaml"
    text = cassette.read_text(encoding="utf-8")
    assert find_leaks(text) == []
    assert KEY not in text and "authorization" not in text.lower()
    assert "3333-4444" not in text and "98765-0001" not in text  # the clinic's and the patient's
    assert "+5500000000001" in text or "5500000000001" in text
    assert len(yaml.safe_load(text)["interactions"]) == 2

    recorded = trial(tmp_path / "recorded.json")
    assert recorded["passed"], recorded["failed_checks"]
    assert recorded["transcript"][0]["assistant"] == "A limpeza custa R$ 180,00. Quer agendar um horário?"
    assert recorded["tokens_in"] == 240 and recorded["cost_usd"] > 0

    # replay: the stand-in is gone, no key, and every socket is refused
    monkeypatch.delenv("OPENAI_API_KEY")
    attempts = block_network(monkeypatch)
    code, output = run(str(suite), "--model", "openai:gpt-4o-mini", "--replay",
                       "--report", str(tmp_path / "replayed.json"))
    assert code == 0, output
    assert attempts == []
    replayed = trial(tmp_path / "replayed.json")
    for key in ("passed", "checks", "tokens_in", "tokens_out", "cost_usd"):
        assert replayed[key] == recorded[key], key
    strip = [{k: v for k, v in t.items() if k != "latency_ms"} for t in recorded["transcript"]]
    assert [{k: v for k, v in t.items() if k != "latency_ms"} for t in replayed["transcript"]] == strip
    assert json.loads((tmp_path / "replayed.json").read_text())["suite"]["mode"] == "replay"


def test_replay_without_a_recording_or_beyond_it_fails_loudly(suite: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    code, _ = run(str(suite), "--model", "openai:gpt-4o-mini", "--replay",
                  "--report", str(tmp_path / "r.json"))
    assert code == 1
    (check,) = trial(tmp_path / "r.json")["failed_checks"]
    assert check["name"] == "cassette" and "run with --record" in check["detail"]

    with OpenAIStandIn() as standin, monkeypatch.context() as live:
        live.setenv("OPENAI_API_KEY", KEY)
        live.setenv("OPENAI_BASE_URL", standin.url)
        assert run(str(suite), "--model", "openai:gpt-4o-mini", "--record")[0] == 0
    # a recording of one exchange cannot answer a turn that needs two: the turn fails with
    # vcrpy's own error, never a silent fallback to the offline model
    tape = suite.parent / "cassettes" / "standin-price-t1.yaml"
    data = yaml.safe_load(tape.read_text(encoding="utf-8"))
    data["interactions"] = data["interactions"][:1]
    tape.write_text(yaml.safe_dump(data), encoding="utf-8")
    attempts = block_network(monkeypatch)
    code, _ = run(str(suite), "--model", "openai:gpt-4o-mini", "--replay",
                  "--report", str(tmp_path / "r.json"))
    assert code == 1 and attempts == []
    failed = {c["name"]: c["detail"] for c in trial(tmp_path / "r.json")["failed_checks"]}
    assert failed["turns[0].error"] == (
        "CannotOverwriteExistingCassetteException: Can't play back this request: it matches 1 "
        "recorded interaction, but that has already been played back.")


SIMULATED = """\
schema: 1
id: standin-simulated
tenant: clinica-exemplo
now: "2026-03-10T08:00:00-03:00"
patient: {phone: "+5511987650001"}
user:
  persona: "Paciente curioso."
  instructions: "Pergunte o preço da limpeza; quando souber, agradeça e encerre."
  max_turns: 4
expect:
  appointments: []
  unchanged: true
  replies: {contains_all: ["R$ 180,00"]}
  tools: {must: [{name: list_services, ok: true}]}
"""


def test_a_simulated_patient_talks_until_it_stops_and_replays_the_same(
        suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.write_text(SIMULATED, encoding="utf-8")
    code, output = run(str(suite), "--report", str(tmp_path / "offline.json"))
    assert code == 1  # offline: the simulated part is skipped, so nothing is asked
    assert "simulated patient skipped: offline is not a live model" in output

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIStandIn() as standin:
        monkeypatch.setenv("OPENAI_BASE_URL", standin.url)
        code, output = run(str(suite), "--model", "openai:gpt-4o-mini", "--record",
                           "--report", str(tmp_path / "recorded.json"))
    assert code == 0, output
    recorded = trial(tmp_path / "recorded.json")
    said = [(t["user"], t["simulated"]) for t in recorded["transcript"]]
    assert said == [("quanto custa a limpeza?", True), ("Obrigado!", True)]
    assert recorded["transcript"][0]["assistant"] == (
        "A limpeza custa R$ 180,00. Quer agendar um horário?")

    monkeypatch.delenv("OPENAI_API_KEY")
    block_network(monkeypatch)
    code, output = run(str(suite), "--model", "openai:gpt-4o-mini", "--replay",
                       "--report", str(tmp_path / "replayed.json"))
    assert code == 0, output
    replayed = trial(tmp_path / "replayed.json")
    assert [t["user"] for t in replayed["transcript"]] == ["quanto custa a limpeza?", "Obrigado!"]
