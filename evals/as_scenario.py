"""Recorded conversations as eval scenarios (`atende replay FILE --as-scenario`): keep what
happened once as a regression test.

The patient's turns become `turns` (with `wait_minutes` so the clock moves as it did), `now`
is the first turn's time, and `expect` is what the recorded tools did: the appointments booked,
cancelled or moved (their final rows; rows the conversation found already there are seeded in
`given`), the writes as `tools.must`, the handoff, the lead's name and interest. Messages typed
by clinic staff and patient messages no turn answered cannot be expressed and are left out.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from atende.evals.pseudonyms import fake_e164
from atende.evals.runner import TURN_GAP_SECONDS
from atende.evals.transcript_format import AgentTurn, StaffMessage, Transcript
from atende.tenant import Tenant
from atende.tools.toolset import WRITE_ACTIONS

RULES = ["no_false_confirmation", "prices_grounded"]
# arguments the store makes up (appointment ids): a new run gets new ones, so they are not kept
_VOLATILE_ARGS = frozenset({"appointment_id"})
_ID_PART = re.compile(r"[^a-z0-9]+")


def scenario_id(transcript: Transcript) -> str:
    key = _ID_PART.sub("-", transcript.phone.lower().split("…")[-1]).strip("-")
    if not key:
        key = hashlib.sha256(transcript.phone.encode()).hexdigest()[:8]
    return f"replay-{transcript.tenant}-{key}"


class _Rows:
    """The patient's appointments as the recorded results show them: first seen, and now."""

    def __init__(self) -> None:
        self.given: dict[str, dict[str, Any]] = {}  # rows that existed before the conversation
        self.now: dict[str, dict[str, Any]] = {}

    def see(self, view: Any, *, before: Any = None, booked: bool = False) -> None:
        if not isinstance(view, dict) or not view.get("id"):
            return
        key = view["id"]
        if key not in self.now and not booked:
            first = before if isinstance(before, dict) else view
            self.given[key] = _row(first, status="booked" if before is None and
                                   view.get("status") == "cancelled" else None)
        self.now[key] = _row(view)


def _row(view: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    return {"patient": "self", "professional": view.get("professional_id"),
            "service": view.get("service_id"), "start": view.get("start"),
            "status": status or view.get("status") or "booked"}


def to_scenario(transcript: Transcript, tenant: Tenant, *, scenario_ref: str | None = None
                ) -> dict[str, Any] | None:
    """One scenario (a mapping of the scenario format), or None if no turn can be replayed."""
    agent = [t for t in transcript.agent_turns if t.text or t.transcripts]
    if not agent:
        return None
    rows = _Rows()
    must: list[dict[str, Any]] = []
    handoff = False
    lead: dict[str, Any] = {}
    for turn in agent:
        for call in turn.tool_calls:
            result = call.result or {}
            if not (call.ok and result.get("ok")):
                continue
            action = result.get("action")
            rows.see(result.get("appointment"), before=result.get("previous"),
                     booked=action == "booked")
            for view in result.get("appointments") or []:
                rows.see(view)
            if action in WRITE_ACTIONS:
                args = {k: v for k, v in call.args.items()
                        if k not in _VOLATILE_ARGS and v is not None}
                must.append({"name": call.name, **({"args": args} if args else {}), "ok": True})
            handoff = handoff or action == "handoff"
            patient = result.get("patient")
            if isinstance(patient, dict):
                lead.update({k: patient[k] for k in ("name", "interest") if patient.get(k)})
    tz = tenant.tz
    first = agent[0]
    staff = sum(isinstance(e, StaffMessage) for e in transcript.turns)
    silent = len(transcript.agent_turns) - len(agent)  # a voice note nobody could transcribe
    description = (f"Recorded conversation {transcript.phone}: {len(agent)} turns, model "
                   f"{first.model or '?'}, prompt {first.prompt_version or '?'}.")
    if staff:
        description += f" Staff messages left out: {staff}."
    if silent:
        description += f" Turns without text or transcript left out: {silent}."
    expect: dict[str, Any] = {"appointments": list(rows.now.values()), "unchanged": True,
                              "handoff": handoff}
    if must:
        expect["tools"] = {"must": must}
    if lead:
        expect["lead"] = lead
    expect["rules"] = list(RULES)
    scenario: dict[str, Any] = {
        "id": scenario_ref or scenario_id(transcript),
        "description": description,
        "tags": ["replay"],
        "tenant": transcript.tenant,
        "now": first.at.astimezone(tz).isoformat(timespec="seconds"),
        "patient": {"phone": fake_e164(transcript.phone)},
    }
    if rows.given:
        scenario["given"] = {"appointments": list(rows.given.values())}
    scenario["turns"] = [_turn(turn, previous) for turn, previous in
                         zip(agent, [None, *agent[:-1]], strict=True)]
    scenario["expect"] = expect
    return scenario


def _turn(turn: AgentTurn, previous: AgentTurn | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if turn.text:
        out["user"] = turn.text
    if turn.transcripts:
        out["audio"] = {"transcript": "\n".join(turn.transcripts)}
    if previous is not None:  # the runner moves the clock TURN_GAP_SECONDS by itself
        gap = (turn.at - previous.at).total_seconds() - TURN_GAP_SECONDS
        if gap > 0:
            out["wait_minutes"] = round(gap / 60, 2)
    return out


def scenarios_yaml(items: list[tuple[Transcript, Tenant]], *, source: str) -> str:
    """A suite file (`schema: 1`) with one scenario per replayable conversation."""
    scenarios: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for transcript, tenant in items:
        base = scenario_id(transcript)
        seen[base] = seen.get(base, 0) + 1
        ref = base if seen[base] == 1 else f"{base}-{seen[base]}"
        scenario = to_scenario(transcript, tenant, scenario_ref=ref)
        if scenario is not None:
            scenarios.append(scenario)
    header = (f"# Regression scenarios from recorded conversations ({source}), written by\n"
              "# `atende replay --as-scenario`. Phones are pseudonyms; edit freely.\n")
    body = yaml.safe_dump({"schema": 1, "scenarios": scenarios}, allow_unicode=True,
                          sort_keys=False, width=100)
    return header + body
