"""Conflicts between the clinic's outside calendars (Google, Calendly) and atende's bookings,
for staff to settle:

    GET  /api/v1/calendar/conflicts?tenant=&all=false&limit=100  → open ones (all with all=true)
    POST /api/v1/calendar/conflicts/{conflict_id}/resolve?tenant= → the settled conflict"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from atende.server.api.deps import TenantQuery, answered, clinic
from atende.server.app import ServicesDep
from atende.tools.blocks import conflict_json

router = APIRouter(prefix="/calendar/conflicts", tags=["calendar"])


@router.get("")
async def listed(tenant: TenantQuery, services: ServicesDep,
                 include_resolved: Annotated[bool, Query(alias="all")] = False,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """The clinic's conflicts, earliest first: open ones, or all with `all=true`."""
    place = clinic(services, tenant)
    found = await services.atende.store.conflicts_list(place.id, open_only=not include_resolved,
                                                       limit=limit)
    return [conflict_json(c, place) for c in found]


@router.post("/{conflict_id}/resolve")
async def resolve(conflict_id: str, tenant: TenantQuery, services: ServicesDep
                  ) -> dict[str, Any]:
    """Mark a conflict settled (staff fixed the calendar or the booking); again: unchanged."""
    place = clinic(services, tenant)
    with answered():
        done = await services.atende.store.conflict_resolve(place.id, conflict_id)
    return conflict_json(done, place)
