"""`atende eval run|lint`: run scenario suites against a model and grade them; check the files."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atende.logs import configure_logging
from atende.settings import Settings

if TYPE_CHECKING:
    from atende.evals.lint import Loaded, Suite
    from atende.evals.runner import ScenarioResult, TrialResult

eval_app = typer.Typer(help="Evals: scenario suites graded on end state (pass^k over trials).",
                       no_args_is_help=True)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

PathsArg = Annotated[list[Path], typer.Argument(help="scenario files or folders (recursively)")]
TenantsOpt = Annotated[Path | None, typer.Option(
    help="folder of tenant YAMLs for tenant ids (default: ATENDE_TENANTS_DIR or tenants/)")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _load(paths: list[Path], tenants_dir: Path | None, settings: Settings) -> Suite:
    # the runner pulls in the whole agent: imported when a command runs, not at CLI start-up
    from atende.evals.lint import load_suite

    return load_suite(paths, tenants_dir or settings.tenants_dir)


@eval_app.command("lint")
def lint(paths: PathsArg, tenants_dir: TenantsOpt = None) -> None:
    """Check scenario files against evals/scenario.schema.json and the tenants they name."""
    suite = _load(paths, tenants_dir, Settings())
    for error in suite.errors:
        err.print(f"[red]✗[/] {error}")
    if suite.errors:
        err.print(f"{len(suite.errors)} problem(s) in {len(suite.files)} file(s)")
        raise typer.Exit(code=1)
    out.print(f"[green]✓[/] {len(suite.files)} file(s), {len(suite.scenarios)} scenario(s) ok")


def _check_model(spec: str, record: bool, replay: bool, settings: Settings) -> None:
    from atende.evals.runner import is_live

    kind, _, arg = spec.partition(":")
    if kind not in {"offline", "null", "scripted", "openai"} or (kind in {"scripted", "openai"}
                                                                 and not arg):
        raise _fail(f"--model {spec!r}: use offline | null | scripted:<file> | openai:<model>")
    if kind == "scripted" and not Path(arg).is_file():
        raise _fail(f"--model {spec!r}: no such script file")
    if record and replay:
        raise _fail("--record and --replay exclude each other")
    if (record or replay) and not is_live(spec):
        raise _fail("--record/--replay store HTTP exchanges of a live model: use --model openai:<model>")
    if is_live(spec) and not replay and not settings.has_openai_key:
        raise _fail(f"--model {spec} needs OPENAI_API_KEY (or --replay from cassettes)")


def _select(scenarios: list[Loaded], tags: list[str] | None, only: list[str] | None
            ) -> list[Loaded]:
    return [s for s in scenarios
            if (not tags or set(tags) & set(s.scenario.tags))
            and (not only or s.scenario.id in only)]


def _line(result: ScenarioResult) -> str:
    n, ok = len(result.trials), result.successes
    failed = sorted({c.name for t in result.trials for c in t.failed})
    mark = "[green]✓[/]" if ok == n else "[red]✗[/]"
    return f"{mark} {result.loaded.scenario.id} ({ok}/{n})" + (f": {', '.join(failed)}"
                                                               if failed else "")


def trials_of(loaded: Loaded, k: int) -> int:
    """A scenario's trials: k as written, plus one per paraphrase of its first message."""
    return k + len(loaded.scenario.paraphrases)


@contextmanager
def _progress(total: int, k: int) -> Iterator[Callable[[ScenarioResult, TrialResult], None]]:
    """Per-trial callback: a rich progress bar on a terminal; one line per scenario always."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=out) if out.is_terminal else None
    task = bar.add_task("evals", total=total) if bar is not None else None

    def step(result: ScenarioResult, trial: TrialResult) -> None:
        if bar is not None and task is not None:
            bar.update(task, advance=1, description=result.loaded.scenario.id)
        if len(result.trials) == trials_of(result.loaded, k):
            out.print(_line(result))

    if bar is None:
        yield step
        return
    with bar:
        yield step


@eval_app.command("run")
def run(
    paths: PathsArg,
    model: Annotated[str, typer.Option(help="offline | null | scripted:<file> | openai:<model>")]
    = "offline",
    trials: Annotated[int, typer.Option("--trials", "-k", min=1, max=50,
                                        help="trials per scenario (pass^1..pass^k)")] = 1,
    report: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    html: Annotated[Path | None, typer.Option(help="write a self-contained HTML report")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML (one testcase/scenario)")]
    = None,
    min_pass_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help=(
        "exit 1 below this fraction of passed trials (critical scenarios must always pass)"))]
    = 1.0,
    max_pass: Annotated[int | None, typer.Option(min=0, help=(
        "the check a null agent must fail: exit 1 when more than this many scenarios pass a "
        "trial (replaces the pass-rate gate; `--model null --max-pass 0` in CI)"))] = None,
    record: Annotated[bool, typer.Option("--record", help=(
        "store every HTTP exchange as <suite>/cassettes/<id>-t<trial>.yaml (scrubbed)"))] = False,
    replay: Annotated[bool, typer.Option("--replay", help=(
        "answer HTTP from those cassettes, network blocked"))] = False,
    tag: Annotated[list[str] | None, typer.Option(help="only scenarios with this tag (repeat)")]
    = None,
    only: Annotated[list[str] | None, typer.Option(help="only this scenario id (repeat)")] = None,
    tenants_dir: TenantsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log warnings and info")]
    = False,
) -> None:
    """Run scenarios K times each, grade the end state, report; exit 0 only if the gate holds."""
    from atende.evals.report import build_report
    from atende.evals.report_html import render_html, render_junit
    from atende.evals.runner import RunOptions, run_suite

    settings = Settings()
    configure_logging("INFO" if verbose else "CRITICAL")
    _check_model(model, record, replay, settings)
    suite = _load(paths, tenants_dir, settings)
    if suite.errors:
        for error in suite.errors:
            err.print(f"[red]✗[/] {error}")
        raise _fail(f"{len(suite.errors)} problem(s) in the scenario files (see `atende eval lint`)")
    chosen = _select(suite.scenarios, tag, only)
    if not chosen:
        raise _fail("no scenario matches --tag/--only")
    options = RunOptions(model=model, trials=trials, record=record, replay=replay,
                         settings=settings)
    started, clock = datetime.now(UTC), time.perf_counter()
    with _progress(sum(trials_of(c, trials) for c in chosen), trials) as step:
        results = asyncio.run(run_suite(chosen, options, step))
    data = build_report(results, options, paths=[str(p) for p in paths],
                        min_pass_rate=min_pass_rate, started=started,
                        seconds=time.perf_counter() - clock)
    for path, text in ((report, lambda: json.dumps(data, ensure_ascii=False, indent=2) + "\n"),
                       (html, lambda: render_html(data)), (junit, lambda: render_junit(data))):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
    _summary(data, gate=max_pass is None)
    if max_pass is not None:
        if not _max_pass_held(data, max_pass):
            raise typer.Exit(code=1)
    elif not data["suite"]["gate"]["passed"]:
        raise typer.Exit(code=1)


def _max_pass_held(data: dict, max_pass: int) -> bool:  # type: ignore[type-arg]
    """At most `max_pass` scenarios passed a trial (a null agent must pass none: a scenario it
    passes measures nothing)."""
    passing = [s["id"] for s in data["scenarios"] if s["passed_trials"] > 0]
    held = len(passing) <= max_pass
    verdict = "[green]max-pass held:[/]" if held else "[red]max-pass failed:[/]"
    out.print(f"{verdict} {len(passing)} scenario(s) passed a trial (at most {max_pass})"
              + (f": {', '.join(passing)}" if passing else ""))
    return held


def _summary(data: dict, *, gate: bool = True) -> None:  # type: ignore[type-arg]
    suite = data["suite"]
    passk = " ".join(f"pass^{k}={v:.2f}" for k, v in suite["pass_hat_k"].items())
    est = " (estimated)" if suite["tokens_estimated"] else ""
    out.print(f"{suite['scenarios']} scenarios × {suite['trials_per_scenario']} trials, "
              f"{suite['model']}: {passk}, pass rate {suite['pass_rate']:.2%}; tokens "
              f"{suite['tokens_in']}/{suite['tokens_out']}{est}, ${suite['cost_usd']:.4f}; "
              f"latency p50 {suite['latency_ms']['p50']} ms, p95 {suite['latency_ms']['p95']} ms")
    worded = suite.get("paraphrases")
    if worded:
        hat = " ".join(f"pass^{k}={v:.2f}" for k, v in worded["pass_hat_k"].items())
        out.print(f"paraphrases: {worded['all_wordings_passed']}/{worded['scenarios']} scenarios "
                  f"pass every wording ({worded['wordings']} wordings; over wordings {hat})")
        for sid, failing in worded["failing_wordings"].items():
            out.print(f"[red]✗ wording[/] {sid}: " + ", ".join(
                "as written" if i == 0 else f"paraphrase {i}" for i in failing))
    for note in suite["notes"]:
        out.print(f"note: {note}")
    if not gate:
        return
    if suite["gate"]["passed"]:
        out.print("[green]gate passed[/]")
    else:
        for reason in suite["gate"]["reasons"]:
            out.print(f"[red]gate failed:[/] {reason}")
