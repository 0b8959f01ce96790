"""`atende tenants`: check clinic files, and the clinic configuration in the database (import,
export, history, diff, rollback). The database holds the version in force (see tenant_db.py)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from atende.cli_options import fail, with_store
from atende.errors import ConfigError
from atende.memory.store import Store
from atende.prompts.render import check_prompts
from atende.settings import Settings
from atende.tenant import Tenant, load_tenant_file
from atende.tenant_db import rollback, save, to_yaml, yaml_diff

tenants_app = typer.Typer(help="Clinic configuration: files and the versions in the database.")
err = Console(stderr=True)
out = Console(highlight=False)


def _author() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container): still say where it came from
        return "cli"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(path.glob("*.yaml"))
        if not found:
            raise fail(f"no tenant files in {path}")
        return found
    return [path]


@tenants_app.command("check")
def tenants_check(
    paths: Annotated[list[Path] | None, typer.Argument(help="YAML files (default: all)")] = None,
) -> None:
    """Validate tenant files; errors name the file and the field."""
    settings = Settings()
    files = paths or sorted(Path(settings.tenants_dir).glob("*.yaml"))
    if not files:
        raise fail(f"no tenant files in {settings.tenants_dir}")
    failed = False
    for path in files:
        try:
            tenant = load_tenant_file(path)
            check_prompts(tenant)
        except ConfigError as exc:
            failed = True
            err.print(f"[red]✗[/] {escape(str(exc))}", highlight=False)
        else:
            out.print(f"[green]✓[/] {path}: {tenant.name} ({len(tenant.professionals)} "
                      f"professionals, {len(tenant.services)} services)")
    if failed:
        raise typer.Exit(code=1)


@tenants_app.command("import")
def tenants_import(
    path: Annotated[Path, typer.Argument(help="a clinic YAML file, or a folder of them")],
    note: Annotated[str | None, typer.Option(help="why (kept with the version)")] = None,
) -> None:
    """Make each file its clinic's configuration in force: a new version when it changed. Every
    file is checked first; one wrong file imports nothing."""
    tenants: list[tuple[Path, Tenant]] = []
    for file in _files(path):
        try:
            tenant = load_tenant_file(file, named_by_id=False)
            check_prompts(tenant)
        except ConfigError as exc:
            raise fail(str(exc)) from None
        tenants.append((file, tenant))

    async def work(store: Store) -> list[str]:
        lines = []
        for file, tenant in tenants:
            saved, new = await save(store, tenant, author=_author(),
                                    note=note or f"imported from {file.name}")
            lines.append(f"{tenant.id}: " + (f"version {saved.version} (new)" if new
                                             else f"unchanged (version {saved.version})"))
        return lines

    for line in with_store(Settings(), work):
        out.print(line)


@tenants_app.command("export")
def tenants_export(
    tenant: Annotated[str, typer.Argument(help="tenant id")],
    version: Annotated[int | None, typer.Option(help="a version (default: the one in force)")]
    = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")]
    = None,
) -> None:
    """Print a version as clinic YAML (importing it back gives the same version)."""
    config = with_store(Settings(), lambda store: store.config_get(tenant, version))
    if config is None:
        raise fail(f"{tenant} has no version {version}" if version else f"{tenant} is not in "
                   "the database (atende tenants import FILE)")
    text = to_yaml(config.document)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"{tenant} version {config.version} → {output}", highlight=False)


@tenants_app.command("history")
def tenants_history(tenant: Annotated[str, typer.Argument(help="tenant id")]) -> None:
    """The clinic's configuration versions, newest first: when, who, why."""
    versions = with_store(Settings(), lambda store: store.config_history(tenant))
    if not versions:
        raise fail(f"{tenant} is not in the database")
    table = Table("version", "when (UTC)", "author", "note")
    for i, config in enumerate(versions):
        note = config.note or ""
        if config.rollback_of is not None and "rollback" not in note:
            note = f"rollback to v{config.rollback_of} {note}".strip()
        table.add_row(f"{config.version}{' (in force)' if i == 0 else ''}",
                      f"{config.created_at:%Y-%m-%d %H:%M:%S}", escape(config.author), escape(note))
    out.print(table)


@tenants_app.command("diff")
def tenants_diff(
    tenant: Annotated[str, typer.Argument(help="tenant id")],
    a: Annotated[int, typer.Argument(help="the older version")],
    b: Annotated[int, typer.Argument(help="the newer version")],
) -> None:
    """What changed between two versions, as a diff of their YAML."""
    async def work(store: Store) -> str:
        old, new = await store.config_get(tenant, a), await store.config_get(tenant, b)
        missing = [str(v) for v, c in ((a, old), (b, new)) if c is None]
        if missing or old is None or new is None:
            raise ConfigError(f"{tenant} has no version {', '.join(missing)}")
        return yaml_diff(old, new)

    text = with_store(Settings(), work)
    typer.echo(text or f"versions {a} and {b} are the same", nl=bool(not text))


@tenants_app.command("rollback")
def tenants_rollback(
    tenant: Annotated[str, typer.Argument(help="tenant id")],
    version: Annotated[int, typer.Argument(help="the version to bring back")],
) -> None:
    """Bring back an earlier version: a new version equal to it, recorded as a rollback."""
    saved = with_store(Settings(), lambda store: rollback(store, tenant, version, author=_author()))
    out.print(f"{tenant}: version {saved.version} (= version {version}) is in force")
