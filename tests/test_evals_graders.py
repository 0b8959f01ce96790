"""Graders over crafted trajectories: end-state appointments (multiset, wildcards, `unchanged`),
the lead, the handoff, tool expectations and per-turn reply checks."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from atende.evals.graders import grade
from atende.evals.lint import Loaded, load_suite
from atende.evals.seed import Lead, Row
from atende.evals.trajectory import ToolCall, Trajectory, TurnRecord

ROOT = Path(__file__).resolve().parent.parent
ME, OTHER = "+5511987650001", "+5511987650002"


def scenario(tmp_path: Path, body: str, turns: str = '[{user: "oi"}]') -> Loaded:
    head = f"""\
    schema: 1
    id: s
    tenant: clinica-exemplo
    now: "2026-03-10T08:00:00-03:00"
    patient: {{phone: "+5511987650001", name: Maria}}
    turns: {turns}
    """
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(head) + textwrap.dedent(body), encoding="utf-8")
    suite = load_suite([path], ROOT / "tenants")
    assert [str(e) for e in suite.errors] == []
    return suite.scenarios[0]


def row(rid: str, local: str, *, patient: str = ME, pro: str = "ana-souza",
        service: str = "limpeza", status: str = "booked", minutes: int = 45) -> Row:
    start = datetime.fromisoformat(local + "-03:00")
    return Row(rid, "clinica-exemplo", patient, pro, service, start,
               start + timedelta(minutes=minutes), status)


def ran(**fields: Any) -> Trajectory:
    """A trajectory whose one scripted turn ran, unless `turns` says otherwise."""
    fields.setdefault("turns", [TurnRecord("oi", "Olá!")])
    return Trajectory(**fields)


def failed(loaded: Loaded, traj: Trajectory) -> dict[str, str]:
    return {c.name: c.detail for c in grade(loaded, traj) if not c.passed}


SEEDED = row("seed", "2026-03-11T09:00", patient=OTHER)

BOOKING = """\
expect:
  appointments:
    - {patient: self, professional: ana-souza, service: limpeza, start: "2026-03-11T08:00"}
    - {patient: "+5511987650002", service: limpeza, start: any}
  unchanged: true
"""


def test_the_expected_rows_with_nothing_else_pass(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, BOOKING)
    traj = ran(seeded=[SEEDED], final=[SEEDED, row("new", "2026-03-11T08:00")])
    assert failed(loaded, traj) == {}


@pytest.mark.parametrize(("final", "why"), [
    ([SEEDED], "missing: limpeza ana-souza 2026-03-11T08:00 booked self"),
    ([SEEDED, row("new", "2026-03-11T08:30")], "missing: limpeza ana-souza 2026-03-11T08:00"),
    ([SEEDED, row("new", "2026-03-11T08:00", status="cancelled")], "missing: limpeza"),
    ([SEEDED, row("new", "2026-03-11T08:00", pro="carla-mendes")], "missing: limpeza"),
    ([SEEDED, row("new", "2026-03-11T08:00"), row("x", "2026-03-12T08:00")],
     "unexpected: limpeza ana-souza 2026-03-12T08:00 booked +5511987650001"),
    ([row("seed", "2026-03-11T09:00", patient=OTHER, status="cancelled"),
      row("new", "2026-03-11T08:00")], "missing: limpeza any-professional any-start booked"),
])
def test_wrong_end_states_fail_and_say_why(tmp_path: Path, final: list[Row], why: str) -> None:
    loaded = scenario(tmp_path, BOOKING)
    problems = failed(loaded, ran(seeded=[SEEDED], final=final))
    assert why in problems["appointments"]


def test_unchanged_catches_a_seeded_row_nobody_listed(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, """\
    expect:
      appointments: [{patient: self, service: limpeza}]
      unchanged: true
    """)
    moved = row("seed", "2026-03-11T10:00", patient=OTHER)
    problems = failed(loaded, ran(seeded=[SEEDED], final=[moved, row("n", "2026-03-11T08:00")]))
    assert problems["appointments"].startswith("changed: limpeza ana-souza 2026-03-11T10:00")
    gone = failed(loaded, ran(seeded=[SEEDED], final=[row("n", "2026-03-11T08:00")]))
    assert "deleted: limpeza ana-souza 2026-03-11T09:00" in gone["appointments"]
    # without `unchanged` only the listed rows are asked for
    loose = scenario(tmp_path, "expect:\n  appointments: [{patient: self, service: limpeza}]\n")
    assert failed(loose, ran(seeded=[SEEDED], final=[moved, row("n", "2026-03-11T08:00")])) == {}


def test_a_wildcard_does_not_hide_a_new_row_behind_an_untouched_one(tmp_path: Path) -> None:
    """Two rows fit `{patient: self, service: limpeza}`: the seeded one nobody touched and a new
    one. The matcher must pair the expectation with the new row, leaving the seeded one
    "unchanged", not report the new one as unexpected."""
    loaded = scenario(tmp_path, """\
    given:
      appointments: [{patient: self, professional: ana-souza, service: limpeza, start: "2026-03-11T09:00"}]
    expect:
      appointments: [{patient: self, service: limpeza, start: any}]
      unchanged: true
    """)
    mine = row("seed", "2026-03-11T09:00")
    traj = ran(seeded=[mine], final=[mine, row("new", "2026-03-12T14:00")])
    assert failed(loaded, traj) == {}


def test_multiset_two_identical_expectations_need_two_rows(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, """\
    expect:
      appointments: [{patient: self, service: limpeza}, {patient: self, service: limpeza}]
    """)
    one = ran(final=[row("a", "2026-03-11T08:00")])
    two = ran(final=[row("a", "2026-03-11T08:00"), row("b", "2026-03-12T08:00")])
    assert "appointments" in failed(loaded, one) and failed(loaded, two) == {}


def test_nothing_changed(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, "expect: {appointments: [], unchanged: true}\n")
    assert failed(loaded, ran(seeded=[SEEDED], final=[SEEDED])) == {}
    assert "unexpected" in failed(loaded, ran(final=[row("n", "2026-03-11T08:00")]))[
        "appointments"]


def test_lead_and_handoff(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, """\
    expect: {lead: {name: maria, stage: scheduled, interest: null}, handoff: false}
    """)
    good = Lead("clinica-exemplo", ME, "Maria", "scheduled", None)
    traj = ran(leads_after={("clinica-exemplo", ME): good}, status_after="active")
    assert failed(loaded, traj) == {}
    traj.leads_after[("clinica-exemplo", ME)] = Lead("clinica-exemplo", ME, "Maria", "engaged",
                                                      "limpeza")
    traj.status_after = "human"
    problems = failed(loaded, traj)
    assert problems["lead"] == ("stage: expected 'scheduled', got 'engaged'; "
                                "interest: expected None, got 'limpeza'")
    assert problems["handoff"] == "expected handoff=False, got True (conversation human)"


def test_handoff_comes_from_the_run_not_from_a_conversation_already_paused(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, "expect: {handoff: true}\n")
    paused = ran(status_before="human", status_after="human")
    assert "handoff" in failed(loaded, paused)
    asked = ran(turns=[TurnRecord("atendente", "Já chamo", handoff=True)],
                       status_after="human")
    assert failed(loaded, asked) == {}


def test_tools_must_and_must_not_match_arguments_as_subsets(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, """\
    expect:
      tools:
        must: [{name: check_availability, args: {service: Limpeza}, ok: true}]
        must_not: [{name: cancel_appointment}]
    """)
    check = ToolCall("check_availability", {"service": "limpeza", "when": "amanhã"}, True)
    assert failed(loaded, ran(turns=[TurnRecord("x", "y", [check])])) == {}
    wrong = ToolCall("check_availability", {"service": "canal"}, True)
    cancel = ToolCall("cancel_appointment", {"appointment_id": "a1"}, False)
    problems = failed(loaded, ran(turns=[TurnRecord("x", "y", [wrong, cancel])]))
    assert problems["tools.must"].startswith("no call check_availability(service='Limpeza') ok=True")
    assert problems["tools.must_not"] == "called cancel_appointment: {'appointment_id': 'a1'}"


def test_reply_checks_per_turn_fold_case_and_accents(tmp_path: Path) -> None:
    turns = """
      - user: a
        expect: {contains_any: [AGENDADO], contains_all: [limpeza, "11/03"], not_contains: [cancelado],
                 regex: "\\\\d{2}:\\\\d{2}", not_regex: "sábado"}
      - user: b
        expect: {silent: true}
    """
    loaded = scenario(tmp_path, 'expect: {replies: {not_contains: ["R$ 999"]}}\n', turns)
    good = [TurnRecord("a", "Pronto, está agendadO: Limpeza em 11/03 às 08:00."),
            TurnRecord("b", None, skipped="human")]
    assert failed(loaded, ran(turns=good)) == {}
    bad = [TurnRecord("a", "Sua LIMPEZA foi cancelada no sábado, R$ 999"),
           TurnRecord("b", "Oi de novo")]
    problems = failed(loaded, ran(turns=bad))
    assert set(problems) == {"turns[0].contains_any", "turns[0].contains_all", "turns[0].regex",
                             "turns[0].not_regex", "turns[1].silent", "replies.not_contains"}
    assert problems["turns[0].contains_all"].startswith("missing ['11/03'] in 'Sua LIMPEZA")


def test_a_turn_that_crashed_or_never_ran_fails(tmp_path: Path) -> None:
    loaded = scenario(tmp_path, "")
    crashed = TurnRecord("oi", None, error="ScriptExhausted: boom", crashed=True)
    assert failed(loaded, ran(turns=[crashed])) == {"turns[0].error": "ScriptExhausted: boom"}
    assert failed(loaded, Trajectory()) == {"turns": "only 0 of 1 turns ran"}
