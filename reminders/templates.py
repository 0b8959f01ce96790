"""The clinic's configured Meta templates against the ones Meta has approved
(`atende templates check`): GET /{waba-id}/message_templates, paged by cursor."""

from __future__ import annotations

import os
from typing import Any

import httpx

from atende.errors import ConfigError
from atende.server.channels.meta.sender import graph_call
from atende.settings import Settings
from atende.tenant import MetaTemplate, Tenant

MAX_PAGES = 50


def configured(tenant: Tenant) -> list[tuple[str, MetaTemplate]]:
    """(what it is used for, template) of every template the clinic's policy names."""
    policy = tenant.reminders
    found = [("lembrete", policy.meta_template)]
    if policy.waitlist.meta_template is not None:
        found.append(("lista de espera", policy.waitlist.meta_template))
    return found


async def approved(tenant: Tenant, settings: Settings, http: httpx.AsyncClient,
                   env: Any = None) -> dict[tuple[str, str], str]:
    """{(name, language): status} of every template on the clinic's WhatsApp Business Account."""
    from atende.server.channels import CHANNELS

    cfg = tenant.channels.meta
    if cfg is None or not cfg.waba_id:
        raise ConfigError("set channels.meta.waba_id to check templates",
                          source=f"tenants/{tenant.id}.yaml", field="channels.meta.waba_id")
    account, status = CHANNELS["meta"].read_credentials(tenant, os.environ if env is None else env)
    if account is None:
        raise ConfigError(f"Meta credentials: {status}", source=f"tenants/{tenant.id}.yaml",
                          field="channels.meta")
    url = (f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_api_version.strip('/')}/"
           f"{cfg.waba_id}/message_templates")
    params: dict[str, str] = {"fields": "name,language,status,category", "limit": "100"}
    found: dict[tuple[str, str], str] = {}
    for _ in range(MAX_PAGES):
        data = await graph_call(http, "GET", url, account.access_token, action="template list",
                                params=params)
        for item in data.get("data") or []:
            if isinstance(item, dict) and item.get("name") and item.get("language"):
                found[(str(item["name"]), str(item["language"]))] = str(item.get("status") or "?")
        after = ((data.get("paging") or {}).get("cursors") or {}).get("after")
        if not after or not (data.get("paging") or {}).get("next"):
            break
        params = {**params, "after": str(after)}  # the cursor, never Meta's `next` URL
    return found


async def check(tenant: Tenant, settings: Settings, http: httpx.AsyncClient,
                env: Any = None) -> list[dict[str, str]]:
    """One row per configured template: its status at Meta, or MISSING."""
    at_meta = await approved(tenant, settings, http, env)
    return [{"name": t.name, "language": t.language, "use": use,
             "status": at_meta.get((t.name, t.language), "MISSING")}
            for use, t in configured(tenant)]
