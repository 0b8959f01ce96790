"""A professional's blocked time (time off, a blocked period), by clinic staff:

    POST   /api/v1/professionals/{id}/blocks?tenant=      {start, end, reason}  → 201 the block
    GET    /api/v1/professionals/{id}/blocks?tenant=&from=&to=                  → the blocks
    DELETE /api/v1/professionals/{id}/blocks/{block_id}?tenant=                 → the removed one

`start`/`end`/`from`/`to` are ISO-8601: without an offset they are the clinic's local time
(a bare date is its midnight). `from` defaults to now, `to` to 90 days after `from`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from atende.server.api.deps import TenantQuery, answered, clinic
from atende.server.app import ServicesDep
from atende.tools import blocks

router = APIRouter(prefix="/professionals/{professional_id}/blocks", tags=["blocks"])
When = Annotated[str, Field(min_length=1, max_length=64,
                            examples=["2026-03-12T13:00", "2026-03-12T13:00-03:00"])]


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: When
    end: When
    reason: Annotated[str, Field(max_length=500)] = ""  # for staff; patients never read it


@router.post("", status_code=201)
async def add(professional_id: str, body: BlockIn, tenant: TenantQuery,
              services: ServicesDep) -> dict[str, Any]:
    """Block the professional's time: never offered to patients, never bookable."""
    place = clinic(services, tenant)
    with answered():
        block = await blocks.add_block(services.atende.store, place, professional_id,
                                       start=body.start, end=body.end, reason=body.reason,
                                       created_by="api")
    return blocks.block_json(block, place)


@router.get("")
async def listed(professional_id: str, tenant: TenantQuery, services: ServicesDep,
                 since: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                 until: Annotated[str | None, Query(alias="to", max_length=64)] = None
                 ) -> list[dict[str, Any]]:
    """The professional's blocks overlapping [from, to), earliest first."""
    place = clinic(services, tenant)
    with answered():
        found = await blocks.list_blocks(services.atende.store, place, professional_id,
                                         start=since, end=until, now=services.atende.clock.now())
    return [blocks.block_json(b, place) for b in found]


@router.delete("/{block_id}")
async def remove(professional_id: str, block_id: str, tenant: TenantQuery,
                 services: ServicesDep) -> dict[str, Any]:
    """Unblock: the time is offered again."""
    place = clinic(services, tenant)
    with answered():
        block = await blocks.remove_block(services.atende.store, place, professional_id, block_id)
    return blocks.block_json(block, place)
