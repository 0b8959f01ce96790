"""A professional's busy time as availability sees it: active appointments, blocks (time
off) and the busy time mirrored from the clinic's calendars (`calendar_busy`, Google) from the
store, as `scheduling.Busy`. One place, so everything that offers or re-checks a
slot (availability, booking, the waitlist) sees the same agenda."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from atende.memory.store import Store
from atende.tools.scheduling import Busy

# appointments are found by their start: one starting this long before the window may reach in
_LONGEST_APPOINTMENT = timedelta(hours=12)


async def blocked(store: Store, tenant_id: str, start: datetime, end: datetime,
                  professional_ids: Sequence[str] | None = None) -> list[Busy]:
    """The blocks overlapping [start, end), as busy time marked `blocked`."""
    return [Busy(b.professional_id, b.starts_at, b.ends_at, blocked=True)
            for b in await store.blocks_between(tenant_id, start, end, professional_ids)]


async def busy_between(store: Store, tenant_id: str, start: datetime, end: datetime, *,
                       professional_ids: Sequence[str] | None = None,
                       exclude: str | None = None, outside: bool = False) -> list[Busy]:
    """Everything that takes [start, end) of `professional_ids` (all when None): active
    appointments (but `exclude`, the one being moved), blocks, and (`outside`: the clinic has
    an outside calendar) that calendar's busy time as last mirrored (whether the copy can be
    trusted is the calendar backend's call: `tools/calendars.py`)."""
    appts, blocks = await asyncio.gather(
        store.list_appointments(tenant_id, start_from=start - _LONGEST_APPOINTMENT, start_to=end),
        blocked(store, tenant_id, start, end, professional_ids))
    wanted = None if professional_ids is None else set(professional_ids)
    busy = [Busy(a.professional_id, a.start, a.end) for a in appts
            if a.id != exclude and (wanted is None or a.professional_id in wanted)] + blocks
    if outside:  # only clinics with an outside calendar pay for the read
        busy += [Busy(b.professional_id, b.starts_at, b.ends_at) for b in await store.calendar_busy(
            tenant_id, start=start, end=end, professional_ids=professional_ids)]
    return busy
