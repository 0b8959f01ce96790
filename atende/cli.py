"""The `atende` command line: chat as a patient, check tenant files."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from atende.calendar_cli import blocks_app, calendar_app
from atende.cli_options import fail, parse_now
from atende.clock import FrozenClock
from atende.errors import AtendeError, ConfigError
from atende.evals.cli import eval_app
from atende.evals.transcripts_cli import replay, transcripts_app
from atende.logs import configure_logging
from atende.memory.db_cli import db_app
from atende.prompts.cli import prompt_app
from atende.prompts.render import check_prompts
from atende.reminders.cli import reminders_app, templates_app
from atende.reminders.cli import report as reminders_report
from atende.server.inbox_cli import inbox_app
from atende.server.worker_cli import worker
from atende.settings import Settings
from atende.tenant import TenantRegistry, load_tenant_file, resolve_tenant

app = typer.Typer(help="atende: a WhatsApp booking agent for clinics.", no_args_is_help=True)
tenants_app = typer.Typer(help="Clinic configuration files.")
app.add_typer(tenants_app, name="tenants")
conversations_app = typer.Typer(help="Conversations: hand them back to the bot.")
app.add_typer(conversations_app, name="conversations")
app.add_typer(db_app, name="db")
app.add_typer(inbox_app, name="inbox")
app.add_typer(eval_app, name="eval")
app.add_typer(prompt_app, name="prompt")
app.add_typer(transcripts_app, name="transcripts")
app.command("replay")(replay)
app.command("worker")(worker)
app.add_typer(reminders_app, name="reminders")
app.add_typer(templates_app, name="templates")
app.add_typer(blocks_app, name="blocks")
app.add_typer(calendar_app, name="calendar")
app.command("report")(reminders_report)
err = Console(stderr=True)
EXIT_WORDS = {"sair", "exit", "quit", "/sair", "/exit"}


_fail = fail
_parse_now = parse_now


@app.command()
def chat(
    tenant: Annotated[str, typer.Option(help="tenant id in the tenants folder, or a YAML path")]
    = "clinica-exemplo",
    phone: Annotated[str, typer.Option(help="the patient's phone")] = "+5511987650001",
    model: Annotated[str | None, typer.Option(help="offline | openai:<model> | scripted:<file>")]
    = None,
    now: Annotated[str | None, typer.Option(help="freeze the clinic's clock (ISO-8601)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show tool calls")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per turn")] = False,
) -> None:
    """Chat with the agent as a patient. Reads one message per line when stdin is piped."""
    settings = Settings()
    configure_logging("INFO" if verbose else "ERROR")
    # the chat shows each turn itself: the server's per-turn log lines would say it twice
    logging.getLogger("atende.server").setLevel(logging.WARNING)
    frozen = _parse_now(now)
    try:
        clinic = resolve_tenant(tenant, settings.tenants_dir)
        check_prompts(clinic)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    spec = model or clinic.model.name or settings.default_model()
    if model is None and not settings.has_openai_key and not clinic.model.name:
        err.print("No OPENAI_API_KEY set: using the offline model (a deterministic pt-BR policy).")
    try:
        asyncio.run(_chat(settings, clinic, phone, spec, frozen, verbose, as_json))
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


async def _chat(settings: Settings, clinic, phone: str, spec: str, frozen: datetime | None,
                verbose: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from atende.agent.runtime import open_atende
    from atende.agent.state import AudioInput
    from atende.server.channels.console.session import ConsoleSession

    out = Console(highlight=False, soft_wrap=True)
    interactive = sys.stdin.isatty() and not as_json
    clock = FrozenClock(frozen) if frozen else None
    async with open_atende(settings, model=spec, clock=clock) as atende:
        # the way a WhatsApp message goes: inbox, turn, outbox, then the console channel's sender
        session = ConsoleSession(atende, clinic)
        if interactive:
            out.print(f"[bold]{clinic.name}[/] — você é {phone}. Digite 'sair' para encerrar.")
        while True:
            try:
                line = out.input("[bold cyan]Você:[/] ") if interactive else sys.stdin.readline()
            except EOFError:
                break
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                break
            audio: list[AudioInput] = []
            if text.startswith("/audio "):
                path = Path(text.removeprefix("/audio ").strip())
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                except OSError as exc:
                    err.print(f"/audio: cannot read {path}: {exc.strerror}")
                    continue
                audio = [AudioInput(data=data, filename=path.name)]
                text = ""
            answer = await session.say(phone, text or None, audio)
            result = answer.result
            if result is None:
                continue
            if as_json:
                sys.stdout.write(json.dumps(result.to_json(line.strip()), ensure_ascii=False) + "\n")
                sys.stdout.flush()
                continue
            if verbose:
                for call in result.tool_calls:
                    mark = "[green]ok[/]" if call.ok else "[red]falhou[/]"
                    out.print(f"  [dim]→ {call.name}({json.dumps(call.args, ensure_ascii=False)})"
                              f"[/] {mark}")
            if result.skipped == "human":
                out.print("[dim](conversa com a equipe humana: o assistente está pausado)[/]")
                continue
            # what the console channel sent: the reply's bubbles, choices numbered under the last
            shown = "\n\n".join(answer.bubbles)
            if interactive:
                out.print(Panel(shown, title="atende", title_align="left", border_style="green"))
            else:
                out.print(f"atende: {shown}\n")


@tenants_app.command("check")
def tenants_check(
    paths: Annotated[list[Path] | None, typer.Argument(help="YAML files (default: all)")] = None,
) -> None:
    """Validate tenant files; errors name the file and the field."""
    settings = Settings()
    files = paths or sorted(Path(settings.tenants_dir).glob("*.yaml"))
    if not files:
        raise _fail(f"no tenant files in {settings.tenants_dir}")
    failed = False
    for path in files:
        try:
            tenant = load_tenant_file(path)
            check_prompts(tenant)
        except ConfigError as exc:
            failed = True
            err.print(f"[red]✗[/] {escape(str(exc))}", highlight=False)
        else:
            Console().print(f"[green]✓[/] {path}: {tenant.name} ({len(tenant.professionals)} "
                            f"professionals, {len(tenant.services)} services)", highlight=False)
    if failed:
        raise typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    model: Annotated[str | None, typer.Option(help="offline | openai:<model> | scripted:<file>")]
    = None,
) -> None:
    """Run the webhook server (Z-API and Meta); on SQLite also the turns and the sends (on
    Postgres they run in `atende worker` processes)."""
    import uvicorn

    from atende.server.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    if model is None and not settings.has_openai_key:
        err.print("No OPENAI_API_KEY set: using the offline model (a deterministic pt-BR policy).")
    try:
        for clinic in TenantRegistry.from_dir(settings.tenants_dir):
            check_prompts(clinic)  # a broken prompt template stops the server before it starts
        application = create_app(settings, model=model)
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=True)


@conversations_app.command("resume")
def conversations_resume(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    phone: Annotated[str, typer.Option(help="the patient's phone")],
) -> None:
    """Give a conversation a person took over back to the bot."""
    from atende.memory import open_store
    from atende.phones import normalize_phone

    settings = Settings()
    try:
        resolve_tenant(tenant, settings.tenants_dir)
        e164 = normalize_phone(phone)
    except AtendeError as exc:
        raise _fail(str(exc)) from None

    async def run() -> str | None:
        store = open_store(settings.database_url)
        await store.setup()
        try:
            conversation = await store.find_conversation(tenant, e164)
            if conversation is None:
                return None
            return (await store.resume_conversation(conversation.id)).status
        finally:
            await store.close()

    status = asyncio.run(run())
    if status is None:
        raise _fail(f"no conversation of {tenant} with {e164}")
    Console().print(f"{tenant} {e164}: {status} (the bot answers again)", highlight=False)


if __name__ == "__main__":
    app()
