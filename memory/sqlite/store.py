"""The embedded default `Store`: one SQLite file, stdlib sqlite3 run in worker threads."""

from __future__ import annotations

from ..shared.calendar import CalendarCore
from ..shared.calendar_sync import CalendarSync
from ..shared.external import ExternalBookings
from ..shared.google import Google
from .appointments import AppointmentsMixin
from .base import BUSY_TIMEOUT_S, sqlite_path
from .conversations import ConversationsMixin
from .inbox import InboxMixin
from .poison import PoisonMixin
from .proactive import ProactiveMixin
from .staff import StaffMixin

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore", "sqlite_path"]


class SQLiteStore(ConversationsMixin, AppointmentsMixin, InboxMixin, PoisonMixin,
                  ProactiveMixin, CalendarCore, ExternalBookings, Google, StaffMixin,
                  CalendarSync):
    """`Store` on one SQLite file in WAL mode, safe for many threads and processes at once.

    Each call runs in a worker thread on a pooled connection used by that thread alone; writes
    take the write lock up front (`BEGIN IMMEDIATE`), so every method is one atomic step; no
    double booking is a trigger's job. Each module subclasses its `memory/shared/` mixin (the
checks and error choices) and supplies the SQL behind it:

        base           the file, connection pool, migrations, error mapping
        migrations     the schema, one entry a version
        rows           transactions, instants and JSON as text, rows → records
        conversations  patients, conversations, messages, human takeover, turns
        appointments   booking, cancelling, moving (outside bookings: shared/external.py)
        inbox          inbox (webhooks → dispatcher) and outbox (→ senders)
        poison         messages the webhooks set aside (→ ops)
        proactive      reminders, the waitlist, clinic flags (scripts of shared/proactive.py);
                       its `_script` also runs shared/calendar.py (conflicts, blocks) and
                       shared/external.py (appointments Calendly booked)
        (shared/google.py, Google connections and calendars: scripts only, no module here)
        staff          clinic configuration versions, staff, tokens, login attempts (scripts
                       of shared/tenant_config.py and shared/staff.py)
        (shared/calendar_sync.py, Google busy time, push channels, calendar jobs: the same)
    """
