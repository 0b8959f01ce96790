"""Blocking a professional's time (time off, a blocked period) and reading the clinic's calendar
conflicts, as the API and the CLI do it: one place for the checks (a professional of this
clinic, local times in the clinic's timezone, a sane period) and for the JSON they answer."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from atende.errors import InvalidInput, NotFound
from atende.memory.records import BLOCK_MAX, Block, CalendarConflict
from atende.memory.store import Store
from atende.tenant import Professional, Tenant

LIST_DAYS = 90  # what a listing covers when no end is given


def professional_of(tenant: Tenant, professional_id: str) -> Professional:
    """The clinic's professional with that id; `NotFound` (pt-BR) otherwise."""
    try:
        return tenant.professional(professional_id)
    except KeyError:
        known = ", ".join(p.id for p in tenant.professionals)
        raise NotFound(f"Não encontrei o profissional “{professional_id}” nesta clínica "
                       f"(profissionais: {known}).") from None


def local_instant(field: str, value: datetime | date | str, tenant: Tenant) -> datetime:
    """`value` as an aware instant: ISO text or a datetime; without an offset it is the clinic's
    local time; a bare date is that day's midnight there. `InvalidInput` naming `field`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"{field}: não é uma data/hora ISO-8601 (ex.: 2026-03-12T13:00): "
                               f"{value!r}") from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    return value.replace(tzinfo=tenant.tz) if value.tzinfo is None else value


def check_block(start: datetime, end: datetime) -> None:
    """`InvalidInput` (pt-BR, naming the field) unless [start, end) is a period one may block."""
    if end <= start:
        raise InvalidInput("end: o fim do bloqueio precisa ser depois do início.")
    if end - start > BLOCK_MAX:
        raise InvalidInput(f"end: um bloqueio dura no máximo {BLOCK_MAX.days} dias.")


async def add_block(store: Store, tenant: Tenant, professional_id: str, *,
                    start: datetime | str, end: datetime | str, reason: str = "",
                    created_by: str | None = None) -> Block:
    """Block the professional's time from `start` to `end` (local times in the clinic's zone
    unless they carry an offset)."""
    pro = professional_of(tenant, professional_id)
    starts_at, ends_at = local_instant("start", start, tenant), local_instant("end", end, tenant)
    check_block(starts_at, ends_at)
    return await store.block_add(tenant.id, pro.id, starts_at=starts_at, ends_at=ends_at,
                                 reason=reason, created_by=created_by)


async def list_blocks(store: Store, tenant: Tenant, professional_id: str | None, *,
                      start: datetime | str | None, end: datetime | str | None,
                      now: datetime) -> list[Block]:
    """The professional's blocks (every professional's with None) overlapping [start, end):
    by default from `now` for `LIST_DAYS` days."""
    only = None if professional_id is None else [professional_of(tenant, professional_id).id]
    since = now if start is None else local_instant("from", start, tenant)
    until = since + timedelta(days=LIST_DAYS) if end is None else local_instant("to", end, tenant)
    if until <= since:
        raise InvalidInput("to: o fim do período precisa ser depois do início.")
    return await store.blocks_between(tenant.id, since, until, only)


async def remove_block(store: Store, tenant: Tenant, professional_id: str, block_id: str
                       ) -> Block:
    """Remove one of the professional's blocks; `NotFound` for another professional's or
    another clinic's."""
    pro = professional_of(tenant, professional_id)
    return await store.block_remove(tenant.id, block_id, professional_id=pro.id)


def _local(moment: datetime | None, tenant: Tenant) -> str | None:
    return None if moment is None else moment.astimezone(tenant.tz).isoformat(timespec="minutes")


def block_json(block: Block, tenant: Tenant) -> dict[str, Any]:
    return {"id": block.id, "professional_id": block.professional_id,
            "professional": tenant.professional_name(block.professional_id),
            "start": _local(block.starts_at, tenant), "end": _local(block.ends_at, tenant),
            "reason": block.reason, "created_by": block.created_by,
            "created_at": block.created_at.isoformat()}


def conflict_json(conflict: CalendarConflict, tenant: Tenant) -> dict[str, Any]:
    return {"id": conflict.id, "source": conflict.source, "external_id": conflict.external_id,
            "professional_id": conflict.professional_id,
            "start": _local(conflict.starts_at, tenant), "end": _local(conflict.ends_at, tenant),
            "appointment_id": conflict.appointment_id, "summary": conflict.summary,
            "created_at": conflict.created_at.isoformat(),
            "resolved_at": None if conflict.resolved_at is None else conflict.resolved_at.isoformat()}
