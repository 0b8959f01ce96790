"""How a replay is shown: side by side in the terminal (rich), as JSON, or as one HTML file."""

from __future__ import annotations

import difflib
import html
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from atende.evals.replay import CallChange, ReplayRun, TurnReplay

_TOKENS = re.compile(r"\s+|\S+\s*")  # words with their trailing space
_STATUS_STYLE = {"unchanged": "green", "changed": "yellow", "diverged": "magenta", "error": "red"}


def _words(a: str, b: str) -> list[tuple[str, str, str]]:
    """(op, old, new) over words: equal, delete, insert or replace."""
    old, new = _TOKENS.findall(a), _TOKENS.findall(b)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [(op, "".join(old[i1:i2]), "".join(new[j1:j2]))
            for op, i1, i2, j1, j2 in matcher.get_opcodes()]


def _args(args: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in (args or {}).items())


def _side_meta(model: str | None, prompt_version: str | None) -> str:
    return f"{model or '—'} · prompt {prompt_version or '—'}"


def _call_text(call: CallChange) -> tuple[str, str]:
    left = f"{call.name}({_args(call.recorded_args)})" if call.change != "added" else ""
    right = f"{call.name}({_args(call.new_args)})" if call.change != "removed" else ""
    return left, right


# -- terminal -------------------------------------------------------------------------------------

_CALL_STYLE = {"same": "dim", "args": "yellow", "added": "green", "removed": "red"}


def _reply_texts(turn: TurnReplay) -> tuple[Text, Text]:
    old, new = Text(), Text()
    for op, a, b in _words(turn.recorded.reply or "", turn.new.reply or ""):
        if op == "equal":
            old.append(a)
            new.append(b)
            continue
        old.append(a, style="red strike")
        new.append(b, style="bold green")
    return old, new


def turn_panel(turn: TurnReplay) -> Panel:
    """One turn side by side: recorded on the left, new on the right."""
    table = Table(show_header=True, expand=True, box=None, pad_edge=False)
    table.add_column("recorded", ratio=1, overflow="fold")
    table.add_column("new", ratio=1, overflow="fold")
    old, new = _reply_texts(turn)
    table.add_row(old, new if not turn.error else Text(turn.error, style="red"))
    for call in turn.calls:
        left, right = _call_text(call)
        style = _CALL_STYLE[call.change]
        mark = {"same": "=", "args": "~", "added": "+", "removed": "-"}[call.change]
        table.add_row(Text(f"{mark} {left}" if left else "", style=style),
                      Text(f"{mark} {right}" if right else "", style=style))
    for miss in turn.not_recorded:
        table.add_row("", Text(f"! not recorded: {miss['name']}({_args(miss['args'])})",
                               style="magenta"))
    table.add_row(Text(_side_meta(turn.recorded.model, turn.recorded.prompt_version), style="dim"),
                  Text(_side_meta(turn.new.model, turn.new.prompt_version), style="dim"))
    title = (f"turn {turn.index} · {turn.at:%Y-%m-%d %H:%M}Z · "
             f"[{_STATUS_STYLE[turn.status]}]{turn.status}[/]")
    said = Text(f"paciente: {turn.patient}", style="cyan")
    return Panel(Group(said, table), title=title, title_align="left",
                 border_style=_STATUS_STYLE[turn.status])


def print_run(run: ReplayRun, console: Console) -> None:
    """Every conversation's turns (unchanged ones as one line), then the totals."""
    for conversation in run.conversations:
        console.rule(escape(f"line {conversation.line} · {conversation.tenant} · "
                            f"{conversation.phone}"))
        for turn in conversation.turns:
            if turn.status == "unchanged":
                calls = len(turn.calls)
                console.print(f"[green]✓[/] turn {turn.index} unchanged ({calls} tool "
                              f"call{'' if calls == 1 else 's'})", highlight=False)
            else:
                console.print(turn_panel(turn))
    s = run.summary()
    console.print(f"{s['turns']} turns: [green]{s['unchanged']} unchanged[/], "
                  f"[yellow]{s['changed']} changed[/], [magenta]{s['diverged']} diverged[/], "
                  f"[red]{s['error']} errors[/] (model {run.model})", highlight=False)


# -- JSON -----------------------------------------------------------------------------------------


def run_json(run: ReplayRun) -> dict[str, Any]:
    return {
        "source": run.source, "model": run.model, "prompt_dir": run.prompt_dir,
        "summary": run.summary(),
        "conversations": [{
            "line": c.line, "tenant": c.tenant, "phone": c.phone,
            "turns": [{
                "index": t.index, "at": t.at.isoformat(), "status": t.status,
                "patient": t.patient, "reply_changed": t.reply_changed,
                "recorded": asdict(t.recorded), "new": asdict(t.new),
                "tool_calls": [asdict(call) for call in t.calls],
                "not_recorded": t.not_recorded, "error": t.error,
            } for t in c.turns],
        } for c in run.conversations],
    }


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.3em 0 1.4em}
td,th{border:1px solid #ddd;padding:.4em .6em;vertical-align:top;white-space:pre-wrap;
word-wrap:break-word}
th{background:#f5f5f5;text-align:left}
del{background:#fdd;color:#900}ins{background:#dfd;color:#060;text-decoration:none}
.s-unchanged{color:#080}.s-changed{color:#a60}.s-diverged{color:#a0a}.s-error{color:#c00}
.same{color:#888}.args{color:#a60}.added{color:#060}.removed{color:#900}
.meta{color:#888;font-size:12px}.said{color:#046}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _reply_html(turn: TurnReplay) -> tuple[str, str]:
    old, new = [], []
    for op, a, b in _words(turn.recorded.reply or "", turn.new.reply or ""):
        if op == "equal":
            old.append(_e(a))
            new.append(_e(b))
            continue
        if a:
            old.append(f"<del>{_e(a)}</del>")
        if b:
            new.append(f"<ins>{_e(b)}</ins>")
    return "".join(old), "".join(new)


def _turn_html(turn: TurnReplay) -> str:
    old, new = _reply_html(turn)
    if turn.error:
        new = f'<span class="s-error">{_e(turn.error)}</span>'
    rows = [f"<tr><td>{old}</td><td>{new}</td></tr>"]
    for call in turn.calls:
        left, right = _call_text(call)
        rows.append(f'<tr class="{call.change}"><td>{_e(left)}</td><td>{_e(right)}</td></tr>')
    for miss in turn.not_recorded:
        rows.append(f'<tr><td></td><td class="s-diverged">not recorded: {_e(miss["name"])}('
                    f'{_e(_args(miss["args"]))})</td></tr>')
    rows.append(f'<tr class="meta"><td>{_e(_side_meta(turn.recorded.model, turn.recorded.prompt_version))}'
                f'</td><td>{_e(_side_meta(turn.new.model, turn.new.prompt_version))}</td></tr>')
    return (f'<h3>turn {turn.index} · {_e(turn.at.isoformat())} · '
            f'<span class="s-{turn.status}">{turn.status}</span></h3>'
            f'<p class="said">paciente: {_e(turn.patient)}</p>'
            f"<table><tr><th>recorded</th><th>new</th></tr>{''.join(rows)}</table>")


def run_html(run: ReplayRun) -> str:
    """A self-contained page (inline CSS, no scripts); every recorded or generated text escaped."""
    s = run.summary()
    parts = [f"<h2>line {c.line} · {_e(c.tenant)} · {_e(c.phone)}</h2>"
             + "".join(_turn_html(t) for t in c.turns) for c in run.conversations]
    return ("<!DOCTYPE html>\n<html lang=\"pt-BR\"><head><meta charset=\"utf-8\">"
            f"<title>atende replay · {_e(run.source)}</title><style>{_CSS}</style></head><body>"
            f"<h1>Replay of {_e(run.source)} with {_e(run.model)}</h1>"
            f"<p>{s['turns']} turns: {s['unchanged']} unchanged, {s['changed']} changed, "
            f"{s['diverged']} diverged, {s['error']} errors"
            + (f"; prompts from {_e(run.prompt_dir)}" if run.prompt_dir else "") + "</p>"
            + "".join(parts) + "</body></html>\n")


def write_report(run: ReplayRun, path: Path) -> None:
    """JSON, or HTML when the name ends in .html / .htm."""
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(run_html(run), encoding="utf-8")
    else:
        path.write_text(json.dumps(run_json(run), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
