"""The suite's numbers and its JSON report: pass^k (tau-bench), pass rate, tokens, estimated
cost, latency, and the exit-code gate."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from atende.evals.runner import RunOptions, ScenarioResult, TrialResult, is_live
from atende.evals.trajectory import TurnRecord

# USD per 1M tokens (input, output), OpenAI list prices: an estimate, check before you budget.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40),
}


def price_of(model: str | None) -> tuple[float, float]:
    """(input, output) USD per 1M tokens; 0 for offline, scripted, null or an unknown model."""
    if not model or not is_live(model):
        return 0.0, 0.0
    name = model.partition(":")[2]
    best = max((k for k in PRICES if name == k or name.startswith(k + "-")), key=len, default=None)
    return PRICES[best] if best else (0.0, 0.0)


def turn_cost(turn: TurnRecord) -> float:
    if turn.tokens_estimated:
        return 0.0  # the model reported no usage: offline, scripted, null, or a fallback turn
    price_in, price_out = price_of(turn.model)
    return (turn.tokens_in * price_in + turn.tokens_out * price_out) / 1_000_000


def pass_hat_k(results: Sequence[ScenarioResult]) -> dict[str, float]:
    """tau-bench's pass^k for k = 1..n: per scenario C(c, k) / C(n, k), averaged, over the
    trials of each scenario as written (its paraphrases count in `paraphrase_summary`)."""
    written = [[t.passed for t in r.trials if t.variant == 0] for r in results]
    n = min((len(w) for w in written), default=0)
    out: dict[str, float] = {}
    for k in range(1, n + 1):
        values = [math.comb(sum(w), k) / math.comb(len(w), k) for w in written]
        out[str(k)] = round(sum(values) / len(values), 4)
    return out


def paraphrase_summary(results: Sequence[ScenarioResult]) -> dict[str, Any] | None:
    """Robustness over wordings: for the scenarios with `paraphrases`, each wording (the first
    message as written, and each paraphrase) passes when all its trials pass; pass^k over those
    wordings, and the scenarios whose every wording passed. None without paraphrases."""
    worded = [r for r in results if r.loaded.scenario.paraphrases]
    if not worded:
        return None
    passed: dict[str, list[bool]] = {}
    for r in worded:
        by_variant: dict[int, bool] = {}
        for t in r.trials:
            by_variant[t.variant] = by_variant.get(t.variant, True) and t.passed
        passed[r.loaded.scenario.id] = [by_variant[v] for v in sorted(by_variant)]
    n = min(len(v) for v in passed.values())
    hat = {str(k): round(sum(math.comb(sum(v), k) / math.comb(len(v), k)
                             for v in passed.values()) / len(passed), 4)
           for k in range(1, n + 1)}
    failing = {sid: [i for i, ok in enumerate(v) if not ok] for sid, v in passed.items()}
    return {"scenarios": len(passed), "wordings": sum(len(v) for v in passed.values()),
            "pass_hat_k": hat, "all_wordings_passed": sum(all(v) for v in passed.values()),
            "failing_wordings": {sid: v for sid, v in failing.items() if v}}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def pass_rate(results: Sequence[ScenarioResult]) -> float:
    trials = [t for r in results for t in r.trials]
    return sum(t.passed for t in trials) / len(trials) if trials else 0.0


def gate(results: Sequence[ScenarioResult], min_pass_rate: float) -> tuple[bool, list[str]]:
    """Exit 0 only when every `critical` scenario passed every trial and the pass rate holds."""
    reasons = [f"critical scenario {r.loaded.scenario.id} passed {r.successes}/{len(r.trials)}"
               for r in results if r.loaded.scenario.critical and r.successes < len(r.trials)]
    rate = pass_rate(results)
    if rate < min_pass_rate:
        reasons.append(f"pass rate {rate:.3f} < --min-pass-rate {min_pass_rate}")
    return not reasons, reasons


def git_commit() -> dict[str, Any] | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def turn_json(turn: TurnRecord) -> dict[str, Any]:
    return {
        "user": turn.user, "transcript": turn.transcript, "assistant": turn.reply,
        "tool_calls": [{"name": c.name, "args": c.args, "ok": c.ok} for c in turn.tool_calls],
        "skipped": turn.skipped, "handoff": turn.handoff, "simulated": turn.simulated,
        "model": turn.model, "tokens_in": turn.tokens_in, "tokens_out": turn.tokens_out,
        "tokens_estimated": turn.tokens_estimated, "latency_ms": round(turn.latency_ms, 1),
        "error": turn.error,
    }


def trial_json(trial: TrialResult) -> dict[str, Any]:
    turns = trial.trajectory.turns
    return {
        "trial": trial.trial, "variant": trial.variant, "passed": trial.passed,
        "failed_checks": [c.to_json() for c in trial.failed],
        "checks": [c.to_json() for c in trial.checks],
        "notes": trial.notes, "cassette": trial.cassette, "seconds": round(trial.seconds, 3),
        "prompt_versions": trial.prompt_versions,
        "tokens_in": sum(t.tokens_in for t in turns), "tokens_out": sum(t.tokens_out for t in turns),
        "cost_usd": round(sum(turn_cost(t) for t in turns), 6),
        "transcript": [turn_json(t) for t in turns],
    }


def scenario_json(result: ScenarioResult) -> dict[str, Any]:
    s = result.loaded.scenario
    return {
        "id": s.id, "file": str(s.source), "where": s.where, "description": s.description,
        "tags": list(s.tags), "critical": s.critical, "tenant": result.loaded.tenant.id,
        "passed_trials": result.successes, "trials": [trial_json(t) for t in result.trials],
    }


def build_report(results: Sequence[ScenarioResult], options: RunOptions, *, paths: Sequence[str],
                 min_pass_rate: float, started: datetime, seconds: float) -> dict[str, Any]:
    trials = [t for r in results for t in r.trials]
    turns = [turn for t in trials for turn in t.trajectory.turns]
    latencies = [turn.latency_ms for turn in turns if turn.skipped is None]
    ok, reasons = gate(results, min_pass_rate)
    mode = "replay" if options.replay else "record" if options.record else (
        "live" if is_live(options.model) else "offline")
    notes = sorted({n for t in trials for n in t.notes})
    price_in, price_out = price_of(options.model)
    return {
        "suite": {
            "paths": list(paths), "model": options.model, "mode": mode,
            "trials_per_scenario": options.trials, "scenarios": len(results),
            "started_at": started.astimezone(UTC).isoformat(timespec="seconds"),
            "duration_s": round(seconds, 3),
            "pass_hat_k": pass_hat_k(results), "pass_rate": round(pass_rate(results), 4),
            "paraphrases": paraphrase_summary(results),
            "passed_trials": sum(t.passed for t in trials), "total_trials": len(trials),
            "scenarios_passed_all_trials": sum(r.successes == len(r.trials) for r in results),
            "critical_scenarios": sum(r.loaded.scenario.critical for r in results),
            "tokens_in": sum(t.tokens_in for t in turns),
            "tokens_out": sum(t.tokens_out for t in turns),
            "tokens_estimated": any(t.tokens_estimated for t in turns),
            "cost_usd": round(sum(turn_cost(t) for t in turns), 6),
            "price_usd_per_1m_tokens": {"input": price_in, "output": price_out},
            "latency_ms": {"p50": round(percentile(latencies, 50), 1),
                           "p95": round(percentile(latencies, 95), 1), "turns": len(latencies)},
            "prompt_versions": sorted({v for t in trials for v in t.prompt_versions}),
            "git": git_commit(), "notes": notes,
            "min_pass_rate": min_pass_rate, "gate": {"passed": ok, "reasons": reasons},
        },
        "scenarios": [scenario_json(r) for r in results],
    }
