"""`atende eval lint`: scenario files are checked against the JSON Schema and the tenants they
name, and every problem names the file and the field."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from atende.cli import app
from atende.evals.lint import SCHEMA_PATH, load_suite

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ROOT / "tenants"
SMOKE = ROOT / "evals" / "suites" / "smoke"

# The format as the issue specifies it, verbatim, with the second tenant it names.
SPEC_EXAMPLE = ROOT / "tests" / "fixtures" / "evals_spec" / "spec_example.yaml"

ONE = """\
schema: 1
id: one
tenant: clinica-exemplo
now: "2026-03-10T08:00:00-03:00"
patient: {phone: "+5511987650001"}
turns: [{user: "oi"}]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # errors show paths relative to the working directory


def lint(tmp_path: Path, text: str, name: str = "x.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return [str(e) for e in load_suite([path], TENANTS).errors]


def test_the_shipped_schema_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_the_spec_example_and_a_one_scenario_file_lint_clean(tmp_path: Path) -> None:
    shutil.copytree(SPEC_EXAMPLE.parent, tmp_path, dirs_exist_ok=True)
    (tmp_path / "one.yaml").write_text(ONE, encoding="utf-8")
    suite = load_suite([tmp_path], TENANTS)  # the folder: fixtures/ is not read as scenarios
    assert [str(e) for e in suite.errors] == []
    assert sorted(s.scenario.id for s in suite.scenarios) == ["book-limpeza-amanha-manha", "one"]
    (book,) = [s for s in suite.scenarios if s.scenario.id != "one"]
    assert [t.id for t in book.others] == ["clinica-marcador"]
    assert book.scenario.turns[1].transcript == "queria cancelar minha consulta"
    assert book.scenario.expect.appointments[0].patient == "self"


def test_the_smoke_suite_lints_clean() -> None:
    suite = load_suite([SMOKE], TENANTS)
    assert [str(e) for e in suite.errors] == []
    assert len(suite.scenarios) >= 6


@pytest.mark.parametrize(("mutation", "expected"), [
    (("regex: \"\\\\d\"", "regex: 3"),
     "x.yaml: scenarios[0].turns[0].expect.regex: 3 is not of type 'string'"),
    (("contains_any", "contains_anything"),
     "x.yaml: scenarios[0].turns[0].expect.contains_anything: unknown field"),
    (("2026-03-10T08:00:00-03:00", "2026-03-10 08:00"),
     "x.yaml: scenarios[0].now: '2026-03-10 08:00' is not ISO-8601 date-time WITH an offset"),
    (("2026-03-10T08:00:00-03:00", "2026-13-10T08:00:00-03:00"),
     "x.yaml: scenarios[0].now: not an ISO date-time"),
    (("tenant: clinica-exemplo", "tenant: clinica-nenhuma"),
     "x.yaml: scenarios[0].tenant: unknown tenant 'clinica-nenhuma'"),
    (("- {patient: \"+5511987650002\", professional: ana-souza",
      "- {patient: \"+5511987650002\", professional: ana-sousa"),
     "x.yaml: scenarios[0].given.appointments[0].professional: unknown professional 'ana-sousa'"),
    (("[{patient: self, professional: ana-souza, service: limpeza,",
      "[{patient: self, professional: ana-souza, service: limpesa,"),
     "x.yaml: scenarios[0].expect.appointments[0].service: unknown service 'limpesa'"),
    (("[{patient: self, professional: ana-souza, service: limpeza,",
      "[{patient: self, professional: ana-souza, service: canal,"),
     "x.yaml: scenarios[0].expect.appointments[0].service: ana-souza does not do canal"),
    (("start: \"2026-03-11T10:00\"", "start: \"2026-03-11T25:00\""),
     "x.yaml: scenarios[0].expect.appointments[0].start: not an ISO date-time"),
    (("name: book_appointment", "name: book_apointment"),
     "x.yaml: scenarios[0].expect.tools.must[0].name: unknown tool 'book_apointment'"),
    (("regex: \"\\\\d\"", "regex: \"(\""),
     "x.yaml: scenarios[0].turns[0].expect.regex: not a valid regular expression"),
    (("phone: \"+5511987650001\"", "phone: \"+5511000\""),
     "x.yaml: scenarios[0].patient.phone: '+5511000' is not a phone number"),
    (("rules: [prices_grounded]", "rules: [prices_are_grounded]"),
     "x.yaml: scenarios[0].expect.rules[0]: 'prices_are_grounded' is not one of"),
    (("- user: \"oi\"", "- wait_minutes: 1"),
     "x.yaml: scenarios[0].turns[0]: {'wait_minutes': 1, 'expect': {'contains_any': ['x'], "
     "'regex': '\\\\d'}} is not valid: a turn needs `user` (text) or `audio`"),
])
def test_problems_name_the_file_and_the_field(tmp_path: Path, mutation: tuple[str, str],
                                             expected: str) -> None:
    base = """\
    schema: 1
    scenarios:
      - id: a
        tenant: clinica-exemplo
        now: "2026-03-10T08:00:00-03:00"
        patient: {phone: "+5511987650001"}
        given:
          appointments:
            - {patient: "+5511987650002", professional: ana-souza, service: limpeza,
               start: "2026-03-11T09:00"}
        turns:
          - user: "oi"
            expect: {contains_any: ["x"], regex: "\\\\d"}
        expect:
          appointments: [{patient: self, professional: ana-souza, service: limpeza,
                          start: "2026-03-11T10:00"}]
          tools: {must: [{name: book_appointment}]}
          rules: [prices_grounded]
    """
    old, new = mutation
    assert old in base, old
    errors = lint(tmp_path, base.replace(old, new, 1))
    assert any(e.startswith(expected) for e in errors), errors


def test_duplicate_ids_and_double_booked_seeds_are_reported(tmp_path: Path) -> None:
    text = """\
    schema: 1
    scenarios:
      - id: same
        tenant: clinica-exemplo
        now: "2026-03-10T08:00:00-03:00"
        patient: {phone: "+5511987650001"}
        given:
          appointments:
            - {patient: self, professional: ana-souza, service: limpeza, start: "2026-03-11T09:00"}
            - {patient: "+5511987650002", professional: ana-souza, service: avaliacao,
               start: "2026-03-11T09:30"}
            - {patient: "+5511987650002", professional: ana-souza, service: avaliacao,
               start: "2026-03-11T09:00", status: cancelled}
        turns: [{user: "oi"}]
      - id: same
        tenant: clinica-exemplo
        now: "2026-03-10T08:00:00-03:00"
        patient: {phone: "+5511987650001"}
        turns: [{user: "oi"}]
    """
    errors = lint(tmp_path, text)
    assert errors == [
        "x.yaml: scenarios[0].given.appointments[1]: overlaps given.appointments[0] of the same "
        "professional (the database refuses double booking)",
        "x.yaml: scenarios[1].id: duplicate id 'same' (first in x.yaml: scenarios[0].id)",
    ]


def test_rows_of_another_tenant_need_it_in_given_tenants(tmp_path: Path) -> None:
    errors = lint(tmp_path, ONE + "given:\n  patients: [{phone: \"+5511987650002\", tenant: outra}]\n")
    assert errors == ["x.yaml: given.patients[0].tenant: unknown tenant 'outra'"]


def test_not_yaml_and_missing_schema_version(tmp_path: Path) -> None:
    assert lint(tmp_path, "schema: 1\nscenarios: [\n")[0].startswith("x.yaml: line 3")
    assert lint(tmp_path, ONE.replace("schema: 1\n", "")) == [
        "x.yaml: 'schema' is a required property"]


def test_cli_lint_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATENDE_TENANTS_DIR", str(TENANTS))
    (tmp_path / "good.yaml").write_text(ONE, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(ONE.replace("now:", "nao:"), encoding="utf-8")
    runner = CliRunner()
    good = runner.invoke(app, ["eval", "lint", "good.yaml"])
    assert good.exit_code == 0 and "1 scenario(s) ok" in good.output
    bad = runner.invoke(app, ["eval", "lint", "good.yaml", "bad.yaml"])
    assert bad.exit_code == 1
    assert "bad.yaml: nao: unknown field" in bad.output
    assert "bad.yaml: 'now' is a required property" in bad.output


def test_seeded_blocks_name_a_professional_of_the_clinic_and_end_after_they_start(
        tmp_path: Path) -> None:
    base = """\
    schema: 1
    id: b
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {phone: "+5511987650001"}
    given:
      blocks:
        - {professional: ana-souza, start: "2026-03-12T13:00", end: "2026-03-12T17:00"}
    turns: [{user: "oi"}]
    """
    assert lint(tmp_path, base) == []
    unknown = lint(tmp_path, base.replace("ana-souza", "ana-sousa"))
    assert any(e.startswith("x.yaml: given.blocks[0].professional: unknown professional "
                            "'ana-sousa'") for e in unknown), unknown
    backwards = lint(tmp_path, base.replace('end: "2026-03-12T17:00"', 'end: "2026-03-12T12:00"'))
    assert any(e.startswith("x.yaml: given.blocks[0].end: must be after start")
               for e in backwards), backwards
    extra = lint(tmp_path, base.replace("end: ", "motivo: x, end: "))
    assert any("given.blocks[0].motivo: unknown field" in e for e in extra), extra
