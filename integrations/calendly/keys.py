"""Each clinic's Calendly signing key, read once from the environment variable its tenant file
names; a clinic that configures Calendly without its key is a start-up error (naming the
variable, never a value)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atende.errors import ConfigError
from atende.tenant import Tenant, TenantRegistry


@dataclass(frozen=True)
class CalendlyAccount:
    tenant: Tenant
    signing_key: str

    def __repr__(self) -> str:  # never the key, in a log or a traceback
        return f"CalendlyAccount(tenant={self.tenant.id!r})"


def calendly_accounts(tenants: TenantRegistry, env: Mapping[str, str]) -> dict[str, CalendlyAccount]:
    """tenant id → its Calendly account, for every clinic with a `calendar.calendly` section;
    `ConfigError` when its signing key's variable is unset or empty."""
    accounts: dict[str, CalendlyAccount] = {}
    for tenant in tenants:
        config = tenant.calendar.calendly
        if config is None:
            continue
        key = env.get(config.signing_key_env, "").strip()
        if not key:
            raise ConfigError(f"missing environment variable {config.signing_key_env} (the "
                              "Calendly webhook signing key)", source=f"tenant {tenant.id}",
                              field="calendar.calendly.signing_key_env")
        accounts[tenant.id] = CalendlyAccount(tenant, key)
    return accounts
