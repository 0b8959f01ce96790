"""Where a clinic's agenda lives besides atende's database: the `CalendarBackend` seam booking
calls, chosen by `tenant.calendar.backend`. `local` (here) adds nothing; `google` is
`integrations/google/backend.py`.

    availability  ─► busy(...)          busy time the clinic's calendars hold, and the
                                        professionals whose calendars cannot be read now
    book/move     ─► check_slot(...)    a live look right before the write (no slot lock exists)
    after commit  ─► booked / cancelled / rescheduled   queue writing it there (never inline:
                                        a slow calendar delays the event, not the reply)

The database still referees double booking; a calendar only adds busy time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from atende.memory.records import Appointment
from atende.tenant import Tenant
from atende.tools.scheduling import Busy

if TYPE_CHECKING:
    from atende.tools.scope import Scope


@dataclass(frozen=True)
class BusyTime:
    """Busy time from the clinic's calendars, and who cannot be offered at all: professional id
    → why (their calendar cannot be read and the local copy is too old: not "free")."""

    busy: list[Busy] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


class CalendarBackend(Protocol):
    async def busy(self, scope: Scope, start: datetime, end: datetime,
                   professional_ids: Sequence[str]) -> BusyTime:
        """Busy time overlapping [start, end) of these professionals."""

    async def check_slot(self, scope: Scope, professional_id: str, start: datetime,
                         end: datetime) -> None:
        """Right before a booking or a move is written: `SlotUnavailable` (pt-BR) if the
        professional's calendar is busy then, or cannot be read and its copy is too old."""

    async def booked(self, scope: Scope, appt: Appointment) -> None:
        """After the booking committed."""

    async def cancelled(self, scope: Scope, appt: Appointment) -> None:
        """After the cancellation committed."""

    async def rescheduled(self, scope: Scope, appt: Appointment, previous: Appointment) -> None:
        """After the move committed (`appt` at its new time)."""


class LocalCalendar:
    """The clinic's agenda is atende's database alone: nothing to add."""

    async def busy(self, scope: Scope, start: datetime, end: datetime,
                   professional_ids: Sequence[str]) -> BusyTime:
        return BusyTime()

    async def check_slot(self, scope: Scope, professional_id: str, start: datetime,
                         end: datetime) -> None:
        return None

    async def booked(self, scope: Scope, appt: Appointment) -> None:
        return None

    async def cancelled(self, scope: Scope, appt: Appointment) -> None:
        return None

    async def rescheduled(self, scope: Scope, appt: Appointment, previous: Appointment) -> None:
        return None


LOCAL = LocalCalendar()


def local_calendars(tenant: Tenant) -> CalendarBackend:
    """The backend of a deployment without calendar integrations: `local` for every clinic."""
    return LOCAL


def unreadable_note(tenant: Tenant, unreadable: dict[str, str]) -> str:
    """What the patient is told about professionals whose agenda cannot be read (pt-BR)."""
    if not unreadable:
        return ""
    names = [tenant.professional_name(p) for p in sorted(unreadable)]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " e " + names[-1]
    return (f"No momento não consigo consultar a agenda de {who}, então não vou oferecer "
            "horários sem ter certeza de que estão livres. Posso chamar alguém da equipe "
            "para agendar com você.")
