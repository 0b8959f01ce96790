"""`Scope`: who and when a tool acts for — injected from the turn, never chosen by the model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from atende.memory.store import Store
from atende.tenant import Tenant
from atende.tools.calendars import LOCAL, CalendarBackend


@dataclass(frozen=True)
class Scope:
    tenant: Tenant
    store: Store
    patient_phone: str
    conversation_id: str
    turn_id: str
    now: datetime  # aware; the turn's frozen "now"
    calendar: CalendarBackend = LOCAL  # the clinic's calendars besides the database

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.tenant.tz)

    @property
    def today(self) -> date:
        return self.local_now.date()
