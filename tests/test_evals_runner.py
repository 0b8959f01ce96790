"""`atende eval run` end to end on real SQLite files: the smoke suite passes with the offline
model, the null model fails everything that must write, reports say why, exit codes gate CI."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atende.cli import app
from atende.evals.lint import load_suite
from atende.evals.report import gate, pass_hat_k, percentile, price_of
from atende.evals.runner import RunOptions, ScenarioResult, TrialResult, run_suite
from atende.evals.trajectory import Check, Trajectory
from atende.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ROOT / "tenants"
SMOKE = ROOT / "evals" / "suites" / "smoke"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ATENDE_MODEL", "ATENDE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATENDE_TENANTS_DIR", str(TENANTS))


def settings() -> Settings:
    return Settings(_env_file=None, tenants_dir=TENANTS)  # type: ignore[call-arg]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", "run", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_the_smoke_suite_passes_offline_with_two_trials_and_full_reports(tmp_path: Path) -> None:
    code, output = invoke(str(SMOKE), "--trials", "2", "--report", str(tmp_path / "r.json"),
                          "--html", str(tmp_path / "r.html"), "--junit", str(tmp_path / "r.xml"))
    assert code == 0, output
    assert "gate passed" in output and "smoke-book-limpeza-amanha-manha (2/2)" in output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    suite = report["suite"]
    assert suite["model"] == "offline" and suite["pass_hat_k"] == {"1": 1.0, "2": 1.0}
    assert suite["pass_rate"] == 1.0 and suite["gate"] == {"passed": True, "reasons": []}
    assert suite["tokens_in"] > 0 and suite["tokens_estimated"] and suite["cost_usd"] == 0
    assert suite["prompt_versions"] and suite["latency_ms"]["p95"] >= suite["latency_ms"]["p50"] > 0
    assert "simulated patient skipped: offline is not a live model" in suite["notes"]
    book = next(s for s in report["scenarios"] if s["id"] == "smoke-book-limpeza-amanha-manha")
    first, second = book["trials"]
    # every trial starts from a fresh database: both book the same 08:00 slot
    assert [t["tool_calls"] for t in first["transcript"]] == \
        [t["tool_calls"] for t in second["transcript"]]
    offer, booked = first["transcript"]
    assert offer["user"] == "Oi, quero marcar uma limpeza amanhã de manhã"
    assert "1. qua 11/03 às 08:00 com Dra. Ana Souza" in offer["assistant"]
    assert booked["tool_calls"] == [{"name": "book_appointment", "ok": True,
                                     "args": {"slot_id": "ana-souza|limpeza|2026-03-11T08:00"}}]
    assert {c["name"] for c in first["checks"]} >= {"appointments", "lead", "rule:prices_grounded"}
    voice = next(s for s in report["scenarios"] if s["id"] == "smoke-cancel-by-voice-note")
    assert voice["trials"][0]["transcript"][0]["transcript"] == "queria cancelar minha consulta"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count("<details>") == 2 * len(report["scenarios"]) and "<script" not in html
    assert "http" not in html.split("<body>")[1].lower()  # self-contained: no CDN, no links
    cases = ET.parse(tmp_path / "r.xml").getroot().findall("./testsuite/testcase")
    assert len(cases) == len(report["scenarios"]) and not any(c.find("failure") is not None
                                                             for c in cases)


async def test_the_null_model_fails_every_scenario_that_must_write() -> None:
    suite = load_suite([SMOKE], TENANTS)
    writes = [s for s in suite.scenarios if s.scenario.writes]
    assert len(writes) >= 4 and all("write" in s.scenario.tags for s in writes)
    results = await run_suite(writes, RunOptions(model="null", trials=1, settings=settings()))
    for result in results:
        (trial,) = result.trials
        assert not trial.passed, result.loaded.scenario.id
        assert "appointments" in {c.name for c in trial.failed}
        assert all(not turn.tool_calls for turn in trial.trajectory.turns)


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


FAILING = """\
schema: 1
scenarios:
  - id: asks-price
    tags: [{tag}]
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {{phone: "+5511987650001"}}
    turns:
      - user: "<b>quanto</b> custa a limpeza? & <script>alert(1)</script>"
        expect: {{contains_any: ["R$ 999,00"]}}
  - id: greets
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {{phone: "+5511987650001"}}
    turns: [{{user: "oi"}}]
"""


def test_exit_code_gates_on_critical_scenarios_and_the_pass_rate(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, FAILING.format(tag="critical"))
    code, output = invoke(str(path), "--min-pass-rate", "0.5", "--html", str(tmp_path / "r.html"),
                          "--junit", str(tmp_path / "r.xml"))
    assert code == 1 and "gate failed: critical scenario asks-price passed 0/1" in output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;quanto&lt;/b&gt;" in html and "&amp;" in html
    failure = ET.parse(tmp_path / "r.xml").getroot().find("./testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "1/1 trials failed: turns[0].contains_any"
    assert "R$ 999,00" in (failure.text or "")

    path = scenario_file(tmp_path, FAILING.format(tag="info"))
    assert invoke(str(path), "--min-pass-rate", "0.5")[0] == 0  # 1 of 2 passed, not critical
    code, output = invoke(str(path))  # the default --min-pass-rate is 1.0
    assert code == 1 and "pass rate 0.500 < --min-pass-rate 1.0" in output


def test_max_pass_is_the_check_a_null_agent_must_fail(tmp_path: Path) -> None:
    """`--max-pass 0`: exit 1 as soon as one scenario passes (the null agent stays silent while
    a person has the chat, so a scenario that expects only silence measures nothing)."""
    path = scenario_file(tmp_path, FAILING.format(tag="critical") + """\
  - id: silent-while-human
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {phone: "+5511987650001"}
    given: {conversation: {status: human, until: "2026-03-10T08:30"}}
    turns:
      - user: "quero marcar uma limpeza amanhã de manhã"
        expect: {silent: true}
""")
    code, output = invoke(str(path), "--model", "null", "--max-pass", "0", "--only", "asks-price")
    assert code == 0 and "max-pass held: 0 scenario(s)" in output and "gate failed" not in output
    code, output = invoke(str(path), "--model", "null", "--max-pass", "0")
    assert code == 1
    assert "max-pass failed: 2 scenario(s) passed a trial (at most 0): greets, silent-while-human" \
        in output
    assert invoke(str(path), "--model", "null", "--max-pass", "2")[0] == 0


async def test_a_pause_with_an_end_lets_the_bot_answer_after_it() -> None:
    suite = load_suite([ROOT / "evals" / "suites" / "core"], TENANTS)
    (loaded,) = [s for s in suite.scenarios
                 if s.scenario.id == "handoff-conversa-com-humano-fica-em-silencio"]
    (result,) = await run_suite([loaded], RunOptions(model="offline", trials=1,
                                                     settings=settings()))
    first, second, after = result.trials[0].trajectory.turns
    assert first.skipped == second.skipped == "human" and not first.tool_calls
    assert after.skipped is None and "qua 11/03 às 08:00" in (after.reply or "")


def test_invalid_files_and_options_exit_2_without_running(tmp_path: Path) -> None:
    bad = scenario_file(tmp_path, FAILING.format(tag="info").replace("tenant:", "tenent:", 1))
    code, output = invoke(str(bad))
    assert code == 2 and "scenarios[0].tenent: unknown field" in output
    good = scenario_file(tmp_path, FAILING.format(tag="info"))
    assert invoke(str(good), "--record")[0] == 2  # nothing to record with the offline model
    code, output = invoke(str(good), "--model", "openai:gpt-4o-mini")
    assert code == 2 and "needs OPENAI_API_KEY" in output
    assert invoke(str(good), "--model", "gpt-4o")[0] == 2


def test_a_scripted_model_runs_across_turns_and_the_rules_catch_its_shortcut(tmp_path: Path) -> None:
    """The script books a real, free slot without ever checking availability: the booking
    lands, so the end state passes, but book_only_offered_slots does not."""
    script = tmp_path / "script.yaml"
    script.write_text(textwrap.dedent("""\
        - {tool: book_appointment, args: {slot_id: "ana-souza|limpeza|2026-03-11T08:00"}}
        - {reply: "Pronto, está agendado: qua 11/03 às 08:00."}
        - {reply: "De nada!"}
    """), encoding="utf-8")
    path = scenario_file(tmp_path, """\
        schema: 1
        id: shortcut
        tenant: clinica-exemplo
        now: "2026-03-10T08:00:00-03:00"
        patient: {phone: "+5511987650001"}
        turns: [{user: "marca limpeza amanhã 8h"}, {user: "obrigado"}]
        expect:
          appointments: [{patient: self, service: limpeza, start: "2026-03-11T08:00"}]
          unchanged: true
          rules: [book_only_offered_slots, no_false_confirmation]
    """)
    code, output = invoke(str(path), "--model", f"scripted:{script}", "--report",
                          str(tmp_path / "r.json"))
    assert code == 1, output
    (trial,) = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["scenarios"][0]["trials"]
    assert [c["name"] for c in trial["failed_checks"]] == ["rule:book_only_offered_slots"]
    assert [t["assistant"] for t in trial["transcript"]] == [
        "Pronto, está agendado: qua 11/03 às 08:00.", "De nada!"]


def _result(successes: int, trials: int, *, critical: bool = False) -> ScenarioResult:
    suite = load_suite([SMOKE / "price.yaml"], TENANTS)
    loaded = suite.scenarios[0]
    if not critical:
        loaded = type(loaded)(type(loaded.scenario)(**{**loaded.scenario.__dict__, "tags": ()}),
                              loaded.tenant)
    outcomes = [TrialResult(i, [Check("x", i <= successes)], Trajectory())
                for i in range(1, trials + 1)]
    return ScenarioResult(loaded, outcomes)


def test_pass_hat_k_is_the_tau_bench_estimator() -> None:
    results = [_result(4, 4), _result(2, 4), _result(0, 4)]
    # C(c,k)/C(n,k): k=1 -> (1 + .5 + 0)/3; k=2 -> (1 + 1/6 + 0)/3; k=4 -> (1 + 0 + 0)/3
    assert pass_hat_k(results) == {"1": 0.5, "2": 0.3889, "3": 0.3333, "4": 0.3333}
    assert gate(results, 0.5) == (True, [])
    assert gate([*results, _result(3, 4, critical=True)], 0.0)[1] == [
        "critical scenario smoke-price-limpeza passed 3/4"]


def test_percentiles_and_prices() -> None:
    assert percentile([], 50) == 0 and percentile([10, 20, 30, 40], 50) == 20
    assert percentile([10, 20, 30, 40], 95) == 40
    assert price_of("openai:gpt-4o-mini") == (0.15, 0.60)
    assert price_of("openai:gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("openai:gpt-4o") == (2.50, 10.00)
    assert price_of("offline") == price_of("null") == price_of("openai:llama-3") == (0.0, 0.0)


PARAPHRASED = """\
schema: 1
scenarios:
  - id: price-worded-four-ways
    tags: [critical]
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {phone: "+5511987650001"}
    turns:
      - user: "quanto custa a limpeza?"
        expect: {contains_any: ["R$ 180,00"]}
    paraphrases: ["qnto ta a limpeza", "Qual o valor da limpeza, por gentileza?", "%s"]
"""


def test_paraphrases_run_as_extra_trials_and_gate_like_them(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, PARAPHRASED % "limpeza é quanto?")
    code, output = invoke(str(path), "--trials", "2", "--report", str(tmp_path / "r.json"))
    assert code == 0, output
    assert "price-worded-four-ways (5/5)" in output
    assert "paraphrases: 1/1 scenarios pass every wording (4 wordings" in output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    trials = report["scenarios"][0]["trials"]
    assert [(t["trial"], t["variant"]) for t in trials] == [(1, 0), (2, 0), (3, 1), (4, 2), (5, 3)]
    assert trials[4]["transcript"][0]["user"] == "limpeza é quanto?"
    assert report["suite"]["pass_hat_k"] == {"1": 1.0, "2": 1.0}  # as written
    assert report["suite"]["paraphrases"]["pass_hat_k"]["4"] == 1.0

    # a wording the agent can't read fails the critical gate, and the report names it
    path = scenario_file(tmp_path, PARAPHRASED % "vassoura azul")
    code, output = invoke(str(path))
    assert code == 1 and "critical scenario price-worded-four-ways passed 3/4" in output
    assert "✗ wording price-worded-four-ways: paraphrase 3" in output


def test_a_paraphrase_must_reword_a_typed_first_message(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, PARAPHRASED % "Quanto custa a limpeza?")
    code, output = invoke(str(path))
    assert code == 2 and "a paraphrase repeats the first message" in output
