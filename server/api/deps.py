"""What every /api/v1 route shares: the admin check, the clinic named by `?tenant=`, and
domain errors as API errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Header, Query

from atende.errors import ConfigError, InvalidInput, NotFound
from atende.server.admin_auth import require_admin
from atende.server.app import ServicesDep
from atende.server.http_errors import ApiError
from atende.tenant import Tenant

TenantQuery = Annotated[str, Query(min_length=1, max_length=100,
                                   description="the clinic's id (its tenant file's name)")]


async def admin(services: ServicesDep,
                authorization: Annotated[str | None, Header()] = None) -> None:
    require_admin(services, authorization)


def clinic(services: ServicesDep, tenant: str) -> Tenant:
    """The clinic `tenant` names; 404 when there is none."""
    try:
        return services.tenants.get(tenant)
    except ConfigError:
        raise ApiError(404, "unknown_tenant", f"Não há clínica “{tenant}” aqui.",
                       hint="?tenant=<id do arquivo da clínica>") from None


@contextmanager
def answered() -> Iterator[None]:
    """Domain refusals as API errors: not found → 404, bad input → 422 (nothing was written)."""
    try:
        yield
    except NotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    except (InvalidInput, ValueError) as exc:
        raise ApiError(422, InvalidInput.code, str(exc)) from None
