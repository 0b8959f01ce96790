"""`atende inbox`: what the webhooks received and could not store (mounted in atende/cli.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from atende.errors import AtendeError
from atende.memory.records import PoisonMessage
from atende.settings import Settings

inbox_app = typer.Typer(help="The inbox: messages the webhooks set aside.")


@inbox_app.command("poison")
def poison(
    tenant: Annotated[str | None, typer.Option(help="one clinic (default: every clinic)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Messages set aside because they could not be stored, newest first, with the reason."""
    from atende.memory import open_store
    from atende.server.poison import poison_json

    settings = Settings()

    async def run() -> list[PoisonMessage]:
        store = open_store(settings.database_url)
        await store.setup()
        try:
            return await store.list_poison(tenant, limit=limit)
        finally:
            await store.close()

    try:
        records = asyncio.run(run())
    except AtendeError as exc:
        Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(code=2) from None
    out = Console(highlight=False, soft_wrap=True)
    if as_json:
        for record in records:
            out.print(json.dumps(poison_json(record), ensure_ascii=False), markup=False)
        return
    if not records:
        out.print("no poison messages" + (f" for {tenant}" if tenant else ""), markup=False)
    for record in records:
        out.print(f"{record.received_at:%Y-%m-%d %H:%M:%S}Z  {record.tenant_id}  {record.channel}  "
                  f"{record.provider_message_id or '-'}  {record.reason}", markup=False)
