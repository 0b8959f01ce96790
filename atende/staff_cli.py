"""`atende staff`: a clinic's staff accounts and their API tokens (shown once, stored hashed)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from atende.cli_options import fail, with_store
from atende.clock import SystemClock
from atende.errors import InvalidInput
from atende.memory.records import STAFF_ROLES, StaffRole
from atende.memory.store import Store
from atende.passwords import MIN_PASSWORD, hash_password, new_token
from atende.settings import Settings
from atende.tenant_db import load_registry

staff_app = typer.Typer(help="Clinic staff: accounts (owner, reception, readonly) and API tokens.")
out = Console(highlight=False)
Tenant = Annotated[str, typer.Argument(help="tenant id")]
Email = Annotated[str, typer.Argument(help="the staff member's e-mail (their login)")]
Password = Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                       envvar="ATENDE_STAFF_PASSWORD",
                                       help=f"at least {MIN_PASSWORD} characters")]


def _password_hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD} characters")
    return hash_password(password)


async def _member(store: Store, tenant: str, email: str):  # type: ignore[no-untyped-def]
    user = await store.staff_by_email(email)
    if user is None or user.tenant_id != tenant:
        raise InvalidInput(f"{tenant} has no staff member {email}")
    return user


@staff_app.command("add")
def staff_add(tenant: Tenant, email: Email,
              name: Annotated[str, typer.Option(help="how the console greets them")],
              role: Annotated[str, typer.Option(help=" | ".join(STAFF_ROLES))] = "reception",
              password: Password = "") -> None:
    """Create a staff account of the clinic."""
    if role not in STAFF_ROLES:
        raise typer.BadParameter(f"one of {', '.join(STAFF_ROLES)}", param_hint="--role")

    async def work(store: Store) -> str:
        registry = await load_registry(store, Settings().tenants_dir)  # a fresh install: seed
        registry.get(tenant)  # a ConfigError naming the clinics there are
        digest = await asyncio.to_thread(_password_hash, password)
        user = await store.staff_add(tenant, email, name=name, role=_role(role),
                                     password_hash=digest)
        return f"{user.email} ({user.role}) added to {tenant}"

    out.print(with_store(Settings(), work))


def _role(value: str) -> StaffRole:
    return next(r for r in STAFF_ROLES if r == value)


@staff_app.command("list")
def staff_list(tenant: Tenant) -> None:
    """The clinic's staff accounts and their tokens in use."""
    async def work(store: Store) -> Table:
        table = Table("e-mail", "name", "role", "API tokens (id: name, last used)")
        for user in await store.staff_list(tenant):
            tokens = [t for t in await store.staff_tokens(tenant, staff_id=user.id)
                      if t.kind == "api" and t.revoked_at is None]
            used = ", ".join(f"{t.id[:8]}: {t.name} "
                             f"({t.last_used_at:%Y-%m-%d %H:%M} UTC)" if t.last_used_at
                             else f"{t.id[:8]}: {t.name} (never)" for t in tokens)
            table.add_row(escape(user.email), escape(user.name), user.role, escape(used))
        return table

    out.print(with_store(Settings(), work))


@staff_app.command("reset-password")
def staff_reset_password(tenant: Tenant, email: Email, password: Password = "") -> None:
    """Set a new password (their open sessions end)."""
    async def work(store: Store) -> None:
        user = await _member(store, tenant, email)
        await store.staff_set_password(tenant, user.id,
                                       await asyncio.to_thread(_password_hash, password))

    with_store(Settings(), work)
    out.print(f"{email}: new password set; open sessions ended")


@staff_app.command("token-create")
def staff_token_create(tenant: Tenant, email: Email,
                       name: Annotated[str, typer.Option(help="what uses it, e.g. 'n8n'")],
                       days: Annotated[int | None, typer.Option(min=1, max=3650,
                                                                help="expires after (days)")]
                       = None) -> None:
    """Create an API token acting as this staff member; it is printed once, never stored."""
    secret, digest = new_token()

    async def work(store: Store) -> str:
        user = await _member(store, tenant, email)
        expires = None if days is None else SystemClock().now() + timedelta(days=days)
        token = await store.staff_token_add(tenant, user.id, kind="api", name=name,
                                            token_hash=digest, expires_at=expires)
        return token.id

    token_id = with_store(Settings(), work)
    Console(stderr=True).print(f"token {token_id} for {email} ({name}); copy it now, it is not "
                               "shown again:", highlight=False)
    typer.echo(secret)


@staff_app.command("token-revoke")
def staff_token_revoke(tenant: Tenant,
                       token_id: Annotated[str, typer.Argument(help="the token's id (or its "
                                                                     "first 8 characters)")]
                       ) -> None:
    """Revoke an API token at once."""
    async def work(store: Store) -> bool:
        matches = [t for t in await store.staff_tokens(tenant)
                   if t.id == token_id or (len(token_id) >= 8 and t.id.startswith(token_id))]
        if len(matches) != 1:
            raise InvalidInput(f"{tenant} has no token {token_id}" if not matches
                               else f"{token_id} names several tokens; give the whole id")
        return await store.staff_token_revoke(tenant, matches[0].id, SystemClock().now())

    if not with_store(Settings(), work):
        raise fail(f"token {token_id} was already revoked")
    out.print(f"token {token_id} revoked")
