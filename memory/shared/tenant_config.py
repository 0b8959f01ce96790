"""Clinic configuration versions: the validated tenant document, one row per version, and a
head row per clinic naming the version in force (what every process polls). The SQL is
written once here (`script.Step`); each backend only supplies `_script` and the one
cross-clinic read (`_HEADS`)."""

from __future__ import annotations

from typing import Any

from ..records import TenantConfig
from .base import Scripted
from .script import Json, Step

_HEAD = ("INSERT INTO tenant_config_heads (tenant_id, version, updated_at)"
         " VALUES (:tenant_id, 0, :now) ON CONFLICT (tenant_id) DO NOTHING")
# the head row is the lock: concurrent writers of one clinic take their versions in turn
_BUMP = ("UPDATE tenant_config_heads SET version = version + 1, updated_at = :now"
         " WHERE tenant_id = :tenant_id")
_INSERT = ("INSERT INTO tenant_configs (tenant_id, version, document, author, note, rollback_of,"
           " created_at) SELECT tenant_id, version, :document, :author, :note, :rollback_of, :now"
           " FROM tenant_config_heads WHERE tenant_id = :tenant_id RETURNING *")


class TenantConfigs(Scripted):
    _HEADS = "SELECT tenant_id, version FROM tenant_config_heads"  # every clinic's (cross-tenant)

    async def config_put(self, tenant_id: str, document: dict[str, Any], *, author: str,
                         note: str | None = None, rollback_of: int | None = None
                         ) -> tuple[TenantConfig, bool]:
        active = await self.config_get(tenant_id)
        if active is not None and active.document == document and rollback_of is None:
            return active, False
        params = {"tenant_id": tenant_id, "document": Json(document), "author": author[:200],
                  "note": None if note is None else note[:500], "rollback_of": rollback_of,
                  "now": self._now()}
        rows = await self._script(tenant_id, [
            Step(_HEAD, params), Step(_BUMP, params, require=True),
            Step(_INSERT, params, require=True, returns=TenantConfig)])
        assert rows, "the head row exists: the bump and the insert find it"
        return rows[0], True

    async def config_get(self, tenant_id: str, version: int | None = None) -> TenantConfig | None:
        if version is None:
            where = "version = (SELECT version FROM tenant_config_heads WHERE tenant_id = :tenant_id)"
        else:
            where = "version = :version"
        rows = await self._script(tenant_id, [Step(
            f"SELECT * FROM tenant_configs WHERE tenant_id = :tenant_id AND {where}",
            {"tenant_id": tenant_id, "version": version}, returns=TenantConfig)])
        return rows[0] if rows else None

    async def config_history(self, tenant_id: str, *, limit: int = 100) -> list[TenantConfig]:
        return await self._script(tenant_id, [Step(
            "SELECT * FROM tenant_configs WHERE tenant_id = :tenant_id"
            " ORDER BY version DESC LIMIT :limit",
            {"tenant_id": tenant_id, "limit": max(limit, 0)}, returns=TenantConfig)]) or []

    async def config_heads(self) -> dict[str, int]:
        rows = await self._script("", [Step(self._HEADS, returns=dict)]) or []
        return {str(r["tenant_id"]): int(r["version"]) for r in rows if r["version"] > 0}
