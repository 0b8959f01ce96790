"""`atende transcripts export` and `atende replay`: stored conversations out as pseudonymised
JSONL, and back in through a new model or prompt (or as eval scenarios)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from atende.errors import AtendeError, ConfigError
from atende.evals.transcript_format import Transcript, read_transcripts
from atende.logs import configure_logging
from atende.settings import Settings
from atende.tenant import Tenant, resolve_tenant

if TYPE_CHECKING:
    from atende.evals.pseudonyms import Pseudonymizer
    from atende.evals.replay import Replayer, ReplayRun

transcripts_app = typer.Typer(help="Stored conversations as pseudonymised transcripts.",
                              no_args_is_help=True)
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@transcripts_app.command("export")
def export(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="the JSONL file (default: stdout)")] = None,
    phone: Annotated[str | None, typer.Option(help="only this patient's conversation")] = None,
    since: Annotated[str | None, typer.Option(
        help="only conversations with messages since: 7d, 12h, an ISO date or date-time")] = None,
) -> None:
    """Export conversations, one JSON object per line, with every phone number pseudonymised."""
    from atende.evals.pseudonyms import Pseudonymizer
    from atende.evals.transcripts import parse_since
    from atende.phones import normalize_phone

    settings = Settings()
    configure_logging("ERROR")
    now = datetime.now(UTC)
    try:
        clinic = resolve_tenant(tenant, settings.tenants_dir)
        e164 = normalize_phone(phone) if phone else None
        since_at = parse_since(since, now=now, tenant=clinic) if since else None
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    own = [clinic.phone or "", *clinic.channels.whatsapp_numbers]
    if clinic.channels.meta and clinic.channels.meta.display_phone_number:
        own.append(clinic.channels.meta.display_phone_number)
    key = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key else None
    pseudonyms, fresh = Pseudonymizer.from_key(key, keep=own)
    if fresh:
        err.print(f"pseudonym key of this export: {fresh} (set ATENDE_PSEUDONYM_KEY to it, or to "
                  "your own secret, to get the same pseudonyms in the next export)",
                  highlight=False, soft_wrap=True)
    lines = asyncio.run(_export(settings, clinic, pseudonyms, now, e164, since_at))
    text = "".join(t.to_line() + "\n" for t in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        part = output.with_name(output.name + ".part")
        part.write_text(text, encoding="utf-8")
        part.replace(output)
    turns = sum(len(t.agent_turns) for t in lines)
    err.print(f"{len(lines)} conversations, {turns} agent turns"
              + (f" → {output}" if output else ""), highlight=False)


async def _export(settings: Settings, clinic: Tenant, pseudonyms: Pseudonymizer, now: datetime,
                  phone: str | None, since: datetime | None) -> list[Transcript]:
    from atende.evals.transcripts import export_transcripts
    from atende.memory import open_store

    store = open_store(settings.database_url)
    await store.setup()
    try:
        return [t async for t in export_transcripts(store, clinic, pseudonyms, exported_at=now,
                                                    phone=phone, since=since)]
    finally:
        await store.close()


def _tenants(items: list[tuple[int, Transcript]], file: Path, settings: Settings
             ) -> list[tuple[int, Transcript, Tenant]]:
    known: dict[str, Tenant] = {}
    out = []
    for line, transcript in items:
        if transcript.tenant not in known:
            try:
                known[transcript.tenant] = resolve_tenant(transcript.tenant, settings.tenants_dir)
            except ConfigError as exc:
                raise ConfigError(f"tenant {transcript.tenant!r}: {exc}",
                                  source=f"{file}:{line}") from None
        out.append((line, transcript, known[transcript.tenant]))
    return out


def replay(
    file: Annotated[Path, typer.Argument(help="a file from `atende transcripts export`")],
    model: Annotated[str | None, typer.Option(
        help="the model to replay with: offline | openai:<model> | scripted:<file>")] = None,
    prompt_dir: Annotated[Path | None, typer.Option(
        help="prompt section templates to use instead of prompts/base")] = None,
    report: Annotated[Path | None, typer.Option(
        help="also write the diff: JSON, or HTML when the name ends in .html")] = None,
    as_scenario: Annotated[bool, typer.Option(
        "--as-scenario", help="write the conversations as eval scenarios instead")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="with --as-scenario: the YAML file (default: stdout)")] = None,
) -> None:
    """Re-generate every recorded agent turn and show what changed, turn by turn.

    Each turn starts from the recorded history; tools answer from the recorded results and a
    call nobody recorded gets a `not_recorded` error (the turn is then "diverged"). Nothing is
    written anywhere. Exit code 0 whatever the diff says; 2 for bad input.
    """
    settings = Settings()
    configure_logging("ERROR")
    try:
        items = _tenants(read_transcripts(file), file, settings)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if as_scenario:
        _write_scenarios(items, file, output)
        return
    if not model:
        raise _fail("--model is required: offline | openai:<model> | scripted:<file>")
    if model.startswith("openai:") and not settings.has_openai_key:
        raise _fail(f"--model {model} needs OPENAI_API_KEY")
    try:
        replayer = _replayer(model, prompt_dir, items, settings)
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    run = asyncio.run(_replay(replayer, items, str(file), model, prompt_dir))
    from atende.evals.replay_report import print_run, write_report

    print_run(run, Console(highlight=False, soft_wrap=False))
    if report is not None:
        write_report(run, report)
        err.print(f"report → {report}", highlight=False)


def _replayer(model: str, prompt_dir: Path | None, items: list[tuple[int, Transcript, Tenant]],
              settings: Settings) -> Replayer:
    from atende.agent.models.factory import load_chat_model
    from atende.evals.replay import Replayer, prompt_from_dir
    from atende.evals.runner import model_factory

    models = model_factory(model, settings)  # as evals run it: --model wins over the tenant's
    # a bad spec is bad input (exit 2), found before any turn runs
    load_chat_model(model, tenant=items[0][2], now=datetime.now(UTC), settings=settings)
    renderer = None
    if prompt_dir is not None:
        if not prompt_dir.is_dir():
            raise ConfigError("not a folder", source=str(prompt_dir), field="--prompt-dir")
        from atende.prompts.render import load_prompt

        for _, _, tenant in items:
            load_prompt(tenant, base_dir=prompt_dir)  # a broken template stops here, named
        renderer = prompt_from_dir(prompt_dir)
    return Replayer(models, system_prompt=renderer)


async def _replay(replayer: Replayer, items: list[tuple[int, Transcript, Tenant]], source: str,
                  model: str, prompt_dir: Path | None) -> ReplayRun:
    from atende.evals.replay import ReplayRun

    run = ReplayRun(source, model, str(prompt_dir) if prompt_dir else None)
    for line, transcript, tenant in items:
        run.conversations.append(await replayer.conversation(transcript, tenant, line=line))
    return run


def _write_scenarios(items: list[tuple[int, Transcript, Tenant]], file: Path,
                     output: Path | None) -> None:
    from atende.evals.as_scenario import scenarios_yaml

    pairs = [(t, tenant) for _, t, tenant in items]
    if not any(t.agent_turns for t, _ in pairs):
        raise _fail(f"{file}: no conversation has an agent turn to make a scenario of")
    text = scenarios_yaml(pairs, source=file.name)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"{len(pairs)} scenarios → {output}", highlight=False)
