"""Channel credentials per clinic: the tenant YAML names environment variables, read once here.

No secret lives in a file of the repo or in a log; `ChannelStatus` says what is missing by the
variable's name, never by its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from atende.tenant import Tenant, TenantRegistry


@dataclass(frozen=True, repr=False)
class ZapiCredentials:
    instance_id: str
    token: str
    client_token: str
    webhook_secret: str

    def __repr__(self) -> str:
        return f"ZapiCredentials(instance_id={self.instance_id!r}, secrets=***)"


@dataclass(frozen=True, repr=False)
class MetaCredentials:
    phone_number_id: str
    display_phone_number: str | None
    access_token: str
    app_secret: str
    verify_token: str

    def __repr__(self) -> str:
        return f"MetaCredentials(phone_number_id={self.phone_number_id!r}, secrets=***)"


@dataclass(frozen=True)
class TenantChannels:
    tenant_id: str
    zapi: ZapiCredentials | None = None
    meta: MetaCredentials | None = None
    # channel → "configured" | "not configured" | "missing environment variable X"
    status: dict[str, str] = field(default_factory=dict)


def _read(env: Mapping[str, str], names: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    values = {key: env.get(name, "").strip() for key, name in names.items()}
    missing = [names[key] for key, value in values.items() if not value]
    return values, missing


def resolve_channels(tenant: Tenant, env: Mapping[str, str]) -> TenantChannels:
    status: dict[str, str] = {}
    zapi = meta = None
    if tenant.channels.zapi is None:
        status["zapi"] = "not configured"
    else:
        cfg = tenant.channels.zapi
        values, missing = _read(env, {
            "instance_id": cfg.instance_id_env, "token": cfg.token_env,
            "client_token": cfg.client_token_env, "webhook_secret": cfg.webhook_secret_env,
        })
        if missing:
            status["zapi"] = "missing environment variable " + ", ".join(missing)
        else:
            zapi = ZapiCredentials(**values)
            status["zapi"] = "configured"
    if tenant.channels.meta is None:
        status["meta"] = "not configured"
    else:
        mcfg = tenant.channels.meta
        values, missing = _read(env, {
            "access_token": mcfg.access_token_env, "app_secret": mcfg.app_secret_env,
            "verify_token": mcfg.verify_token_env,
        })
        if missing:
            status["meta"] = "missing environment variable " + ", ".join(missing)
        else:
            meta = MetaCredentials(phone_number_id=mcfg.phone_number_id,
                                   display_phone_number=mcfg.display_phone_number, **values)
            status["meta"] = "configured"
    return TenantChannels(tenant.id, zapi=zapi, meta=meta, status=status)


class Credentials:
    """Every clinic's channel credentials, and the lookups the webhooks need."""

    def __init__(self, tenants: TenantRegistry, env: Mapping[str, str]):
        self.by_tenant = {t.id: resolve_channels(t, env) for t in tenants}
        self._meta_numbers: dict[str, str] = {}
        for tenant_id, channels in self.by_tenant.items():
            if channels.meta:
                self._meta_numbers[channels.meta.phone_number_id] = tenant_id
                if channels.meta.display_phone_number:
                    digits = "".join(ch for ch in channels.meta.display_phone_number if ch.isdigit())
                    self._meta_numbers.setdefault(digits, tenant_id)

    def get(self, tenant_id: str) -> TenantChannels:
        return self.by_tenant.get(tenant_id) or TenantChannels(tenant_id)

    def meta_tenant(self, phone_number_id: str | None, display_phone: str | None) -> str | None:
        """The clinic that owns a Meta number (by phone_number_id, else the display number)."""
        if phone_number_id and phone_number_id in self._meta_numbers:
            return self._meta_numbers[phone_number_id]
        digits = "".join(ch for ch in (display_phone or "") if ch.isdigit())
        return self._meta_numbers.get(digits) if digits else None

    def meta_app_secrets(self) -> dict[str, str]:
        """tenant id → Meta app secret (a POST is verified before we know its tenant)."""
        return {tid: c.meta.app_secret for tid, c in self.by_tenant.items() if c.meta}

    def meta_verify_tokens(self) -> list[str]:
        return [c.meta.verify_token for c in self.by_tenant.values() if c.meta]
