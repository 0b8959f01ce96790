"""A professional's busy time as availability sees it: active appointments, blocks (time
off) and the busy time mirrored from the clinic's calendars (`calendar_busy`, Google) from the
store, as `scheduling.Busy`. One place, so everything that offers or re-checks a
slot (availability, booking, the waitlist) sees the same agenda."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from atende.memory.store import Store
from atende.tools.scheduling import Busy


async def busy_between(store: Store, tenant_id: str, start: datetime, end: datetime, *,
                       professional_ids: Sequence[str] | None = None,
                       exclude: str | None = None, outside: bool = False) -> list[Busy]:
    """Everything that takes [start, end) of `professional_ids` (all when None): active
    appointments (but `exclude`, the one being moved) and blocks, in one read; and
    (`outside`: the clinic has an outside calendar) that calendar's busy time as last mirrored
    (whether the copy can be trusted is the calendar backend's call: `tools/calendars.py`)."""
    spans = await store.busy_spans(tenant_id, start, end, professional_ids=professional_ids,
                                   exclude_appointment=exclude)
    busy = [Busy(s.professional_id, s.starts_at, s.ends_at, blocked=s.kind == "block")
            for s in spans]
    if outside:  # only clinics with an outside calendar pay for the read
        busy += [Busy(b.professional_id, b.starts_at, b.ends_at) for b in await store.calendar_busy(
            tenant_id, start=start, end=end, professional_ids=professional_ids)]
    return busy
