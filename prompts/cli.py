"""`atende prompt render|diff`: a tenant's system prompt as the model gets it, and its overrides."""

from __future__ import annotations

import asyncio
import difflib
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from atende.agent.tokens import count_text, encoding_for
from atende.errors import AtendeError
from atende.memory.records import Patient
from atende.prompts.render import RenderedSection, join_sections, load_prompt
from atende.prompts.values import turn_values
from atende.settings import Settings
from atende.tenant import Tenant, resolve_tenant

prompt_app = typer.Typer(help="The system prompt: render it, compare a tenant's overrides.",
                         no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="tenant id, or a YAML path")]
NowOpt = Annotated[str | None, typer.Option(help="the turn's time, ISO-8601 with offset "
                                                 "(default: now)")]
PhoneOpt = Annotated[str | None, typer.Option(help="render for this patient (record and upcoming "
                                                   "appointments from the database)")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--now: not an ISO-8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise _fail("--now: give an offset, e.g. 2026-03-10T09:00-03:00")
    return parsed


async def _turn_data(settings: Settings, tenant: Tenant, phone: str, now: datetime
                     ) -> tuple[Patient, list[dict[str, Any]]]:
    from atende.memory import open_store
    from atende.tools.booking import my_appointments
    from atende.tools.scope import Scope

    store = open_store(settings.database_url)
    await store.setup()
    try:
        patient = await store.get_patient(tenant.id, phone) or Patient(tenant.id, phone)
        scope = Scope(tenant=tenant, store=store, patient_phone=phone, conversation_id="",
                      turn_id="", now=now)
        return patient, (await my_appointments(scope))["appointments"]
    finally:
        await store.close()


def _values(tenant: Tenant, now: str | None, phone: str | None) -> dict[str, Any]:
    """The turn the context node would build: the patient's record, or a new contact."""
    moment = _parse_now(now)
    if phone is None:
        return turn_values(tenant, Patient(tenant.id, "+5500000000000"), [], moment)
    from atende.phones import normalize_phone

    e164 = normalize_phone(phone)
    patient, appointments = asyncio.run(_turn_data(Settings(), tenant, e164, moment))
    return turn_values(tenant, patient, appointments, moment)


def _summary(tenant: Tenant, sections: list[RenderedSection], text: str, version: str) -> str:
    model = tenant.model.name
    width = max(len(s.name) for s in sections)
    lines = [f"{'section':<{width}}  tokens  templates"]
    for s in sections:
        lines.append(f"{s.name:<{width}}  {count_text(s.text, model):>6}  {' + '.join(s.origins)}")
    lines.append(f"{'total':<{width}}  {count_text(text, model):>6}  "
                 f"(budget {tenant.prompt.max_tokens}; tiktoken {encoding_for(model).name})")
    lines.append(f"version {version}")
    return "\n".join(lines)


@prompt_app.command("render")
def render(tenant: TenantOpt, now: NowOpt = None, phone: PhoneOpt = None) -> None:
    """Print the tenant's system prompt for one turn; tokens per section, total and version
    go to stderr (so `> prompt.txt` keeps the prompt alone)."""
    try:
        clinic = resolve_tenant(tenant, Settings().tenants_dir)
        prompt = load_prompt(clinic)
        sections = prompt.render_sections(_values(clinic, now, phone))
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    text = join_sections(sections)
    sys.stdout.write(text)
    typer.echo("\n" + _summary(clinic, sections, text, prompt.version), err=True)


@prompt_app.command("diff")
def diff(
    tenant: TenantOpt,
    against: Annotated[str, typer.Option(help='"base" (no overrides) or another tenant id, '
                                              "whose templates render this tenant's data")]
    = "base",
    now: NowOpt = None,
    phone: PhoneOpt = None,
) -> None:
    """Unified diff of the prompt rendered by `--against`'s templates and by the tenant's, on the
    same turn data."""
    settings = Settings()
    try:
        clinic = resolve_tenant(tenant, settings.tenants_dir)
        if against == "base":
            other = load_prompt(clinic, base_only=True)
        else:
            other = load_prompt(resolve_tenant(against, settings.tenants_dir))
        mine = load_prompt(clinic)
        values = _values(clinic, now, phone)
        before, after = other.render(values), mine.render(values)
    except AtendeError as exc:
        raise _fail(str(exc)) from None
    lines = list(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"{against} ({other.version})", tofile=f"{clinic.id} ({mine.version})"))
    sys.stdout.write("".join(lines) if lines else
                     f"no differences: {clinic.id} renders the same prompt as {against}\n")
