"""The JSON report rendered for people and CI: one self-contained HTML page (no scripts, no CDN)
and JUnit XML (one testcase per scenario)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import escape
from typing import Any

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:6px;vertical-align:top}
th{background:#f4f4f4;text-align:left}.pass{color:#0a7d2c;font-weight:600}.fail{color:#b00020;font-weight:600}
.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
.turn{margin:6px 0;padding:6px;border-left:3px solid #ccc}.user{border-color:#3a7bd5}
.bot{border-color:#0a7d2c;background:#f7fbf7}
pre{white-space:pre-wrap;margin:2px 0;font:13px/1.4 ui-monospace,monospace}
.calls{font-size:12px;color:#555}.checks li{margin:2px 0}.summary td{border:none;padding:2px 12px 2px 0}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _checks(trial: dict[str, Any]) -> str:
    if not trial["failed_checks"]:
        return ""
    items = "".join(f"<li><b>{_e(c['name'])}</b>: {_e(c['detail'])}</li>"
                    for c in trial["failed_checks"])
    return f"<ul class='checks'>{items}</ul>"


def _transcript(trial: dict[str, Any]) -> str:
    out = []
    for i, turn in enumerate(trial["transcript"]):
        said = "\n".join(x for x in (turn["user"], turn["transcript"] and f"[áudio] {turn['transcript']}")
                         if x)
        who = "paciente (simulado)" if turn["simulated"] else "paciente"
        out.append(f"<div class='turn user'><b>{i}. {who}</b><pre>{_e(said)}</pre></div>")
        calls = "".join(
            f"<div>→ {_e(c['name'])}({_e(json.dumps(c['args'], ensure_ascii=False))}) "
            f"{'ok' if c['ok'] else 'FALHOU'}</div>" for c in turn["tool_calls"])
        reply = turn["assistant"]
        if reply is None:
            reply = f"({turn['skipped'] or 'sem resposta'})"
        meta = (f"{_e(turn['model'])} · {turn['tokens_in']}/{turn['tokens_out']} tokens"
                f"{' (est.)' if turn['tokens_estimated'] else ''} · {turn['latency_ms']} ms")
        error = f"<div class='fail'>{_e(turn['error'])}</div>" if turn["error"] else ""
        out.append(f"<div class='turn bot'><b>atende</b> <span class='calls'>{meta}</span>"
                   f"<div class='calls'>{calls}</div><pre>{_e(reply)}</pre>{error}</div>")
    return "".join(out)


def _row(scenario: dict[str, Any]) -> str:
    marks = " ".join(f"<span class='{'pass' if t['passed'] else 'fail'}'>"
                     f"{'✓' if t['passed'] else '✗'}</span>" for t in scenario["trials"])
    tags = "".join(f"<span class='tag'>{_e(t)}</span>" for t in scenario["tags"])
    failed = sorted({c["name"] for t in scenario["trials"] for c in t["failed_checks"]})
    details = "".join(
        f"<details><summary>trial {t['trial']}: {'passed' if t['passed'] else 'failed'}"
        f"</summary>{_checks(t)}{''.join(f'<p>{_e(n)}</p>' for n in t['notes'])}"
        f"{_transcript(t)}</details>" for t in scenario["trials"])
    return (f"<tr><td><b>{_e(scenario['id'])}</b><div class='calls'>{_e(scenario['description'])}"
            f"</div>{details}</td><td>{tags}</td><td>{marks}</td>"
            f"<td>{'<br>'.join(_e(f) for f in failed)}</td></tr>")


def render_html(report: dict[str, Any]) -> str:
    suite = report["suite"]
    passk = ", ".join(f"pass^{k} {v:.2f}" for k, v in suite["pass_hat_k"].items())
    git = suite.get("git") or {}
    gate = "passed" if suite["gate"]["passed"] else "failed: " + "; ".join(suite["gate"]["reasons"])
    summary = [
        ("model", suite["model"]), ("mode", suite["mode"]), ("scenarios", suite["scenarios"]),
        ("pass rate", f"{suite['pass_rate']:.2%} ({suite['passed_trials']}/{suite['total_trials']})"),
        ("pass^k", passk), ("tokens in/out", f"{suite['tokens_in']} / {suite['tokens_out']}"
                            + (" (estimated)" if suite["tokens_estimated"] else "")),
        ("cost (USD, est.)", f"{suite['cost_usd']:.4f}"),
        ("latency p50/p95", f"{suite['latency_ms']['p50']} / {suite['latency_ms']['p95']} ms"),
        ("prompt versions", ", ".join(suite["prompt_versions"])),
        ("commit", f"{git.get('commit', '?')}{' (dirty)' if git.get('dirty') else ''}"),
        ("gate", gate), ("notes", "; ".join(suite["notes"])),
    ]
    rows = "".join(f"<tr><td><b>{_e(k)}</b></td><td>{_e(v)}</td></tr>" for k, v in summary)
    body = "".join(_row(s) for s in report["scenarios"])
    return (
        "<!doctype html><html lang='pt-BR'><head><meta charset='utf-8'>"
        f"<title>atende evals: {_e(suite['model'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>atende evals</h1><table class='summary'>{rows}</table><h2>Scenarios</h2>"
        "<table><tr><th>scenario</th><th>tags</th><th>trials</th><th>failed checks</th></tr>"
        f"{body}</table></body></html>\n"
    )


def render_junit(report: dict[str, Any]) -> str:
    suite = report["suite"]
    scenarios = report["scenarios"]
    failures = sum(not all(t["passed"] for t in s["trials"]) for s in scenarios)
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", name="atende-evals", tests=str(len(scenarios)),
                         failures=str(failures), errors="0", time=str(suite["duration_s"]))
    props = ET.SubElement(node, "properties")
    for key in ("model", "mode", "pass_rate"):
        ET.SubElement(props, "property", name=key, value=str(suite[key]))
    for s in scenarios:
        seconds = sum(t["seconds"] for t in s["trials"])
        case = ET.SubElement(node, "testcase", classname=s["file"], name=s["id"],
                             time=f"{seconds:.3f}")
        failed = [t for t in s["trials"] if not t["passed"]]
        if failed:
            lines = [f"trial {t['trial']}: {c['name']}: {c['detail']}"
                     for t in failed for c in t["failed_checks"]]
            summary = "; ".join(sorted({c["name"] for t in failed for c in t["failed_checks"]}))
            element = ET.SubElement(case, "failure", message=f"{len(failed)}/{len(s['trials'])} "
                                                             f"trials failed: {summary}")
            element.text = "\n".join(lines)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
