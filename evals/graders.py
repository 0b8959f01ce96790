"""State-based graders: pure functions from (scenario, trajectory) to `Check`s.

The end state is what counts (tau-bench): the appointments table, the lead, the handoff.
Replies are checked only where a scenario asks, case- and accent-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from atende.evals.lint import Loaded
from atende.evals.rules import RULE_GRADERS
from atende.evals.scenario import AppointmentSpec, ReplyExpect, ToolExpect, ToolMatcher, local_start
from atende.evals.seed import Row, phone_of
from atende.evals.trajectory import Check, ToolCall, Trajectory
from atende.tenant import fold


def _row_matches(spec: AppointmentSpec, row: Row, loaded: Loaded) -> bool:
    tenant = loaded.tenant_by_id(spec.tenant)
    if row.tenant != tenant.id or row.status != spec.status:
        return False
    if row.patient != phone_of(spec.patient, loaded):
        return False
    if spec.service is not None and row.service != spec.service:
        return False
    if spec.professional is not None and row.professional != spec.professional:
        return False
    return spec.start is None or row.start == local_start(spec.start, tenant.tz)


def _augment(i: int, edges: list[list[int]], owner: dict[int, int], seen: set[int]) -> bool:
    for j in edges[i]:
        if j in seen:
            continue
        seen.add(j)
        if j not in owner or _augment(owner[j], edges, owner, seen):
            owner[j] = i
            return True
    return False


def match_rows(expected: Sequence[AppointmentSpec], rows: Sequence[Row], loaded: Loaded,
               prefer: set[int]) -> dict[int, int]:
    """A maximum matching expected → row (row index → expected index) that covers as many
    `prefer` rows (the new or changed ones) as possible: a wildcard never "uses up" a seeded,
    untouched row while a changed one is left over."""
    edges = [[j for j, row in enumerate(rows) if _row_matches(spec, row, loaded)]
             for spec in expected]
    owner: dict[int, int] = {}
    preferred = [[j for j in e if j in prefer] for e in edges]
    for i in range(len(expected)):
        _augment(i, preferred, owner, set())
    matched = set(owner.values())
    for i in range(len(expected)):  # augmenting paths keep every row that is already matched
        if i not in matched:
            _augment(i, edges, owner, set())
            matched = set(owner.values())
    return owner


def grade_appointments(loaded: Loaded, traj: Trajectory) -> list[Check]:
    expect = loaded.scenario.expect
    if expect.appointments is None and not expect.unchanged:
        return []
    expected = expect.appointments or ()
    tz_of: dict[str, tzinfo] = {t.id: t.tz for t in (loaded.tenant, *loaded.others)}
    seeded = {r.id: r for r in traj.seeded}
    touched = {j for j, r in enumerate(traj.final)
               if r.id not in seeded or not r.same_as(seeded[r.id])}
    owner = match_rows(expected, traj.final, loaded, touched)
    problems = [f"missing: {spec.describe()}" for i, spec in enumerate(expected)
                if i not in owner.values()]
    if expect.unchanged:
        problems += [f"{'changed' if traj.final[j].id in seeded else 'unexpected'}: "
                     f"{traj.final[j].describe(tz_of)}" for j in sorted(touched - owner.keys())]
        final_ids = {r.id for r in traj.final}
        problems += [f"deleted: {r.describe(tz_of)}" for r in traj.seeded if r.id not in final_ids]
    if problems:
        found = "; ".join(r.describe(tz_of) for r in traj.final) or "none"
        return [Check("appointments", False, f"{' | '.join(problems)} (rows: {found})")]
    return [Check("appointments", True)]


def grade_lead(loaded: Loaded, traj: Trajectory) -> list[Check]:
    wanted = loaded.scenario.expect.lead
    if wanted is None:
        return []
    lead = traj.leads_after.get((loaded.tenant.id, phone_of("self", loaded)))
    if lead is None:
        return [Check("lead", False, "the patient has no lead record")]
    wrong = []
    for key, value in wanted.items():
        actual = getattr(lead, key)
        same = actual == value if value is None or actual is None or key == "stage" \
            else fold(str(actual)) == fold(str(value))
        if not same:
            wrong.append(f"{key}: expected {value!r}, got {actual!r}")
    return [Check("lead", not wrong, "; ".join(wrong))]


def handed_off(traj: Trajectory) -> bool:
    return any(t.handoff for t in traj.turns) or (
        traj.status_after == "human" and traj.status_before != "human")


def grade_handoff(loaded: Loaded, traj: Trajectory) -> list[Check]:
    wanted = loaded.scenario.expect.handoff
    if wanted is None:
        return []
    got = handed_off(traj)
    return [Check("handoff", got == wanted, "" if got == wanted else
                  f"expected handoff={wanted}, got {got} (conversation {traj.status_after})")]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, str) and isinstance(actual, str):
        return fold(expected) == fold(actual)
    return bool(expected == actual)


def call_matches(matcher: ToolMatcher, call: ToolCall) -> bool:
    return (call.name == matcher.name and (matcher.ok is None or call.ok == matcher.ok)
            and _same(matcher.args, call.args))


def grade_tools(expect: ToolExpect | None, calls: Sequence[ToolCall], prefix: str) -> list[Check]:
    if expect is None:
        return []
    made = ", ".join(f"{c.name}{'' if c.ok else '(failed)'}" for c in calls) or "none"
    checks = []
    for m in expect.must:
        hit = any(call_matches(m, c) for c in calls)
        checks.append(Check(f"{prefix}tools.must", hit, "" if hit else
                            f"no call {m.describe()} (calls: {made})"))
    for m in expect.must_not:
        bad = [c for c in calls if call_matches(m, c)]
        checks.append(Check(f"{prefix}tools.must_not", not bad, "" if not bad else
                            f"called {m.describe()}: {bad[0].args}"))
    return checks


def grade_reply(expect: ReplyExpect | None, reply: str | None, prefix: str) -> list[Check]:
    """Reply checks; strings fold case and accents, regexes see the reply as written."""
    if expect is None:
        return []
    text = reply or ""
    folded = fold(text)
    shown = repr(text[:160] + ("…" if len(text) > 160 else ""))
    checks: list[Check] = []

    def add(name: str, ok: bool, why: str) -> None:
        checks.append(Check(f"{prefix}{name}", ok, "" if ok else f"{why} in {shown}"))

    if expect.silent is not None:
        quiet = not text.strip()
        add("silent", quiet == expect.silent, "expected no reply" if expect.silent
            else "expected a reply")
    if expect.contains_any:
        add("contains_any", any(fold(s) in folded for s in expect.contains_any),
            f"none of {list(expect.contains_any)}")
    if expect.contains_all:
        missing = [s for s in expect.contains_all if fold(s) not in folded]
        add("contains_all", not missing, f"missing {missing}")
    if expect.not_contains:
        found = [s for s in expect.not_contains if fold(s) in folded]
        add("not_contains", not found, f"found {found}")
    if expect.regex is not None:
        add("regex", re.search(expect.regex, text) is not None, f"no match for /{expect.regex}/")
    if expect.not_regex is not None:
        add("not_regex", re.search(expect.not_regex, text) is None,
            f"match for /{expect.not_regex}/")
    return checks


def grade_turns(loaded: Loaded, traj: Trajectory) -> list[Check]:
    checks: list[Check] = []
    scripted = [t for t in traj.turns if not t.simulated]
    for i, turn in enumerate(traj.turns):
        if turn.error:
            checks.append(Check(f"turns[{i}].error", False, turn.error))
    for i, (spec, turn) in enumerate(zip(loaded.scenario.turns, scripted, strict=False)):
        prefix = f"turns[{i}]."
        checks += grade_reply(spec.expect, turn.reply, prefix)
        if spec.expect is not None and spec.expect.sent is not None:
            count = len(turn.sent)
            checks.append(Check(f"{prefix}sent", count == spec.expect.sent,
                                "" if count == spec.expect.sent else
                                f"expected {spec.expect.sent} proactive messages, got {count}: "
                                f"{[text[:60] for _, text in turn.sent]}"))
        checks += grade_tools(spec.expect.tools if spec.expect else None, turn.tool_calls, prefix)
    if len(scripted) < len(loaded.scenario.turns):
        checks.append(Check("turns", False, f"only {len(scripted)} of "
                                            f"{len(loaded.scenario.turns)} turns ran"))
    return checks


def grade_rules(loaded: Loaded, traj: Trajectory) -> list[Check]:
    return [RULE_GRADERS[name](loaded, traj) for name in loaded.scenario.expect.rules]


GRADERS: list[Callable[[Loaded, Trajectory], list[Check]]] = [
    grade_turns,
    grade_appointments,
    grade_lead,
    grade_handoff,
    lambda loaded, traj: grade_tools(loaded.scenario.expect.tools, traj.calls, ""),
    lambda loaded, traj: grade_reply(loaded.scenario.expect.replies, "\n".join(traj.replies),
                                     "replies."),
    grade_rules,
]


def grade(loaded: Loaded, traj: Trajectory) -> list[Check]:
    """Every check the scenario asks for; the trial passes when all pass."""
    return [check for grader in GRADERS for check in grader(loaded, traj)]

