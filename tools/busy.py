"""A professional's busy time as availability sees it: active appointments and blocks (time
off) from the store, as `scheduling.Busy`. One place, so everything that offers or re-checks a
slot (availability, booking, the waitlist) sees the same agenda."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from atende.memory.store import Store
from atende.tools.scheduling import Busy


async def busy_between(store: Store, tenant_id: str, start: datetime, end: datetime, *,
                       professional_ids: Sequence[str] | None = None,
                       exclude: str | None = None) -> list[Busy]:
    """Everything that takes [start, end) of `professional_ids` (all when None): active
    appointments (but `exclude`, the one being moved) and blocks, in one read."""
    spans = await store.busy_spans(tenant_id, start, end, professional_ids=professional_ids,
                                   exclude_appointment=exclude)
    return [Busy(s.professional_id, s.starts_at, s.ends_at, blocked=s.kind == "block")
            for s in spans]
