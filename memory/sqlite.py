"""The embedded default `Store`: one SQLite file, stdlib sqlite3 run in worker threads."""

from __future__ import annotations

from ._sqlite_appointments import AppointmentsMixin
from ._sqlite_base import BUSY_TIMEOUT_S, sqlite_path
from ._sqlite_conversations import ConversationsMixin
from ._sqlite_inbox import InboxMixin
from ._sqlite_poison import PoisonMixin

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore", "sqlite_path"]


class SQLiteStore(ConversationsMixin, AppointmentsMixin, InboxMixin, PoisonMixin):
    """`Store` on one SQLite file in WAL mode, safe for many threads and processes at once.

    Each call runs in a worker thread on a pooled connection used by that thread alone; writes
    take the write lock up front (`BEGIN IMMEDIATE`), so every method is one atomic step; no
    double booking is a trigger's job. The parts, one module each:

        _sqlite_base           the file, connection pool, migrations, error mapping
        _sqlite_rows           transactions, row ↔ record mapping, validation
        _sqlite_conversations  patients, conversations, messages, human takeover, turns
        _sqlite_appointments   booking, cancelling, moving
        _sqlite_inbox          inbox (webhooks → dispatcher) and outbox (→ senders)
        _sqlite_poison         messages the webhooks set aside (→ ops)
    """
