"""The clinic's configuration, for its owners: the version in force, a new version (validated
by the same `Tenant` model as the YAML), the history, a diff of two versions, a rollback.
Reception and read-only accounts get 403 here (the console's configuration pages build on it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from atende.errors import ConfigError
from atende.memory.records import TenantConfig
from atende.prompts.render import check_prompts
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError
from atende.tenant import validate_tenant
from atende.tenant_db import rollback, save, tenant_of, yaml_diff

from .auth import StaffIdentity, TenantQuery, clinic_of, require

router = APIRouter(prefix="/api/v1/config", tags=["config"])
Owner = Annotated[StaffIdentity, require("owner")]
NO_VERSION = "Versão de configuração não encontrada."


def _summary(config: TenantConfig) -> dict[str, Any]:
    return {"version": config.version, "author": config.author, "note": config.note,
            "rollback_of": config.rollback_of, "created_at": config.created_at.isoformat()}


async def _version(services: ServicesDep, tenant_id: str, version: int | None) -> TenantConfig:
    config = await services.atende.store.config_get(tenant_id, version)
    if config is None:
        raise ApiError(404, "not_found", NO_VERSION)
    return config


async def _saved(services: ServicesDep, config: TenantConfig, changed: bool) -> dict[str, Any]:
    # this process at once; the others within a poll (TenantWatcher)
    services.tenants.put(tenant_of(config), config.version)
    return {**_summary(config), "changed": changed}


@router.get("", summary="The configuration in force")
async def get_config(identity: Owner, services: ServicesDep,
                     tenant: TenantQuery = None) -> dict[str, Any]:
    config = await _version(services, clinic_of(identity, services, tenant), None)
    return {**_summary(config), "tenant_id": config.tenant_id, "document": config.document}


@router.put("", summary="Save a new version (validated like the clinic YAML)")
async def put_config(identity: Owner, services: ServicesDep,
                     document: Annotated[dict[str, Any], Body(examples=[{"id": "clinica-exemplo"}])],
                     tenant: TenantQuery = None,
                     note: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
    tenant_id = clinic_of(identity, services, tenant)
    document = {"id": tenant_id, **document}
    try:
        if document["id"] != tenant_id:
            raise ConfigError("o id deve ser o da sua clínica", field="id")
        clinic = validate_tenant(document, "config")
        check_prompts(clinic)
    except ConfigError as exc:
        raise ApiError(422, "invalid_config", str(exc).removeprefix("config: "),
                       hint="Corrija o campo indicado e envie de novo; nada foi salvo.",
                       details={"field": exc.field} if exc.field else None) from None
    config, changed = await save(services.atende.store, clinic, author=identity.author, note=note)
    return await _saved(services, config, changed)


@router.get("/versions", summary="The history, newest first")
async def versions(identity: Owner, services: ServicesDep, tenant: TenantQuery = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    history = await services.atende.store.config_history(
        clinic_of(identity, services, tenant), limit=limit)
    return {"versions": [_summary(c) for c in history]}


@router.get("/diff", summary="What changed between two versions (a diff of their YAML)")
async def diff(identity: Owner, services: ServicesDep, a: Annotated[int, Query(ge=1)],
               b: Annotated[int, Query(ge=1)], tenant: TenantQuery = None) -> dict[str, Any]:
    tenant_id = clinic_of(identity, services, tenant)
    old, new = await _version(services, tenant_id, a), await _version(services, tenant_id, b)
    return {"a": a, "b": b, "diff": yaml_diff(old, new)}


@router.post("/rollback/{version}", summary="Bring back a version (as a new version)")
async def roll_back(identity: Owner, services: ServicesDep, version: int,
                    tenant: TenantQuery = None) -> dict[str, Any]:
    tenant_id = clinic_of(identity, services, tenant)
    await _version(services, tenant_id, version)
    try:
        config = await rollback(services.atende.store, tenant_id, version, author=identity.author)
    except ConfigError as exc:  # an old version today's model no longer accepts
        raise ApiError(422, "invalid_config", str(exc), details={"field": exc.field}) from None
    return await _saved(services, config, True)
