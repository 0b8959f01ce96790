"""Channel credentials per clinic: the tenant YAML names environment variables, read once here.

No secret lives in a file of the repo or in a log; `TenantChannels.status` says what is missing by
the variable's name, never by its value. Each channel reads its own (`Channel.read_credentials`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from atende.server.channels import CHANNELS
from atende.server.channels.base import NO_CREDENTIALS, Channel
from atende.tenant import Tenant, TenantRegistry

A = TypeVar("A")


@dataclass(frozen=True)
class TenantChannels:
    tenant_id: str
    accounts: dict[str, object] = field(default_factory=dict)  # channel → credentials, if complete
    # channel → "configured" | "not configured" | "missing environment variable X"
    status: dict[str, str] = field(default_factory=dict)


def resolve_channels(tenant: Tenant, env: Mapping[str, str],
                     channels: Mapping[str, Channel[Any, Any]] = CHANNELS) -> TenantChannels:
    accounts: dict[str, object] = {}
    status: dict[str, str] = {}
    for name, channel in channels.items():
        account, said = channel.read_credentials(tenant, env)
        if said != NO_CREDENTIALS:
            status[name] = said
        if account is not None:
            accounts[name] = account
    return TenantChannels(tenant.id, accounts=accounts, status=status)


class Credentials:
    """Every clinic's channel credentials."""

    def __init__(self, tenants: TenantRegistry, env: Mapping[str, str]):
        self.by_tenant = {t.id: resolve_channels(t, env) for t in tenants}

    def get(self, tenant_id: str) -> TenantChannels:
        return self.by_tenant.get(tenant_id) or TenantChannels(tenant_id)

    def account(self, tenant_id: str, channel: str, kind: type[A]) -> A | None:
        """The clinic's credentials on `channel`, when complete."""
        account = self.get(tenant_id).accounts.get(channel)
        return account if isinstance(account, kind) else None

    def accounts(self, channel: str, kind: type[A]) -> dict[str, A]:
        """tenant id → credentials, for every clinic with complete credentials on `channel`."""
        return {tenant_id: account for tenant_id, c in self.by_tenant.items()
                if isinstance(account := c.accounts.get(channel), kind)}
