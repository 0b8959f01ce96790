"""Clinic configuration in the database: the validated `Tenant` stored as versions
(`Store.config_put`), YAML files as import/export, and `TenantWatcher`, which keeps a running
process's `TenantRegistry` on the version in force.

Which wins, the file or the database. The database, once a clinic is in it. At start-up
(`load_registry`) each `tenants/*.yaml` is imported when the database has no version of that
clinic (the quickstart needs no extra step), and again when it changed while the version in
force is still the one a start-up took from that same file (author `file:<name>.yaml`): editing
the YAML and restarting keeps working until someone changes the clinic another way. After a
change through the API, `atende tenants import` or a rollback, the file no longer overrides it:
a restart with an old file in the deployment must never undo an owner's edit silently; the
difference is logged, and `atende tenants import FILE` applies the file on purpose."""

from __future__ import annotations

import asyncio
import difflib
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
import yaml

from atende.errors import ConfigError
from atende.memory.records import TenantConfig
from atende.memory.store import Store
from atende.tenant import Tenant, TenantRegistry, load_tenant_file, validate_tenant

log = structlog.get_logger(__name__)
_NUMBERS = ("price", "discount_percent")  # Decimal, dumped as JSON strings
FILE_AUTHOR = "file:"  # + the file's name: a version a start-up took from tenants_dir


def document(tenant: Tenant) -> dict[str, Any]:
    """What a version stores: the validated clinic as JSON (defaults filled in; amounts in one
    spelling, "120" whether the file said 120, 120.0 or "120.00", so equal clinics compare equal)."""
    return _canonical(tenant.model_dump(mode="json"))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: format(Decimal(v).normalize(), "f") if k in _NUMBERS and isinstance(v, str)
                else _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def tenant_of(config: TenantConfig) -> Tenant:
    """The clinic of a stored version, validated again by today's model."""
    return validate_tenant(config.document, f"{config.tenant_id} v{config.version}")




def _compact(value: Any) -> Any:
    """Intervals back to "08:00-12:00" and prices as numbers, as people write the YAML."""
    if isinstance(value, dict):
        if set(value) == {"start", "end"} and all(isinstance(v, str) for v in value.values()):
            end = "24:00" if value["end"] == "23:59:59" else value["end"][:5]
            return f"{value['start'][:5]}-{end}"
        return {k: float(v) if k in _NUMBERS and isinstance(v, str) else _compact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def to_yaml(doc: dict[str, Any]) -> str:
    """A stored document as the YAML a clinic file holds (imports back to the same version)."""
    return yaml.safe_dump(_compact(doc), sort_keys=False, allow_unicode=True, width=100)


def yaml_diff(old: TenantConfig, new: TenantConfig) -> str:
    """A unified diff of two versions' YAML ("" when they are equal)."""
    return "".join(difflib.unified_diff(
        to_yaml(old.document).splitlines(keepends=True),
        to_yaml(new.document).splitlines(keepends=True),
        fromfile=f"{old.tenant_id} v{old.version}", tofile=f"{new.tenant_id} v{new.version}"))


async def save(store: Store, tenant: Tenant, *, author: str, note: str | None = None,
               rollback_of: int | None = None) -> tuple[TenantConfig, bool]:
    """Store `tenant` as the clinic's version in force (a new version only if it changed)."""
    return await store.config_put(tenant.id, document(tenant), author=author, note=note,
                                  rollback_of=rollback_of)


async def rollback(store: Store, tenant_id: str, version: int, *, author: str) -> TenantConfig:
    """A new version equal to `version`, recorded as its rollback; ConfigError if unknown."""
    old = await store.config_get(tenant_id, version)
    if old is None:
        raise ConfigError(f"no version {version} of {tenant_id}", field="version")
    saved, _ = await save(store, tenant_of(old), author=author, note=f"rollback to v{version}",
                          rollback_of=version)
    return saved


async def seed_from_dir(store: Store, folder: str | Path) -> list[TenantConfig]:
    """Import the folder's YAML files by the start-up rule above; the versions written."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError("tenants folder not found", source=str(folder))
    written = []
    for path in sorted(folder.glob("*.yaml")):
        tenant = load_tenant_file(path)
        author = FILE_AUTHOR + path.name
        active = await store.config_get(tenant.id)
        if active is not None and active.author != author:
            if active.document != document(tenant):
                log.warning("tenant_file_ignored", tenant=tenant.id, file=str(path),
                            version=active.version, author=active.author,
                            hint="the database wins; `atende tenants import FILE` applies it")
            continue
        saved, new = await save(store, tenant, author=author, note="imported at start-up")
        if new:
            written.append(saved)
    return written


async def load_registry(store: Store, folder: str | Path | None) -> TenantRegistry:
    """Every clinic's version in force, after importing `folder` (if given) by the rule above."""
    if folder is not None:
        await seed_from_dir(store, folder)
    heads = await store.config_heads()
    tenants = []
    for tenant_id in sorted(heads):
        config = await store.config_get(tenant_id)
        if config is not None:
            tenants.append(tenant_of(config))
    return TenantRegistry(tenants, {t.id: heads[t.id] for t in tenants})


class TenantWatcher:
    """Polls the versions in force (`Store.config_heads`, one tiny read) every `every` seconds
    and swaps a changed clinic into `registry`: every process sees a change within a poll,
    without a restart, on SQLite and across processes on Postgres."""

    def __init__(self, store: Store, registry: TenantRegistry, *, every: float = 2.0):
        self.store, self.registry, self.every = store, registry, every
        self._invalid: set[tuple[str, int]] = set()

    async def refresh(self) -> list[str]:
        """Load what changed since the last look; the clinics reloaded."""
        heads = await self.store.config_heads()
        changed = []
        for tenant_id, version in sorted(heads.items()):
            if self.registry.version(tenant_id) == version or (tenant_id, version) in self._invalid:
                continue
            config = await self.store.config_get(tenant_id, version)
            if config is None:
                continue
            try:
                tenant = tenant_of(config)
            except ConfigError as exc:  # stored by an older model: keep serving the last good one
                log.error("tenant_config_invalid", tenant=tenant_id, version=version, error=str(exc))
                self._invalid.add((tenant_id, version))
                continue
            self.registry.put(tenant, version)
            changed.append(tenant_id)
            log.info("tenant_config_reloaded", tenant=tenant_id, version=version)
        return changed

    async def run(self) -> None:
        """`refresh` forever; a failed look is logged and the next one runs."""
        from atende.loops import every

        await every(self.every, asyncio.Event(), self.refresh, failed="tenant_config_poll_failed")
