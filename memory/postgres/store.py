"""The Postgres (Supabase) `Store`: psycopg 3 on a connection pool, tenants kept apart by RLS.

    ATENDE_DATABASE_URL=postgresql://postgres:<password>@db.<ref>.supabase.co:5432/postgres

Supabase's connection strings work as they are: the direct one (above), the session pooler
(port 5432 on `*.pooler.supabase.com`) and the transaction pooler (port 6543). A transaction
pooler gives each transaction whichever server connection is free, so a statement prepared on
one is unknown on the next: on port 6543, or with `?pgbouncer=true` in the URL (the flag is
removed before connecting), the store and the checkpointer run with `prepare_threshold=None`
(no prepared statements). Nothing here needs session state: the tenant is set per transaction
and migrations lock with `pg_advisory_xact_lock`, so every mode is safe. Run migrations over the
direct connection or the session pooler, as the database owner.

Schema: the SQL files in `supabase/migrations/` (applied by `setup()` or `supabase db push`),
the same tables and rules as SQLite; no double booking is an exclusion constraint.

Tenant isolation. Every tenant-owned table has row-level security ENABLED and FORCED, with a
policy for the role `atende_app` that admits only rows whose `tenant_id` equals the
transaction's `app.tenant_id`; every transaction here begins by setting it
(`set_config('app.tenant_id', tenant, true)`). Connected as a role with BYPASSRLS (Supabase's
`postgres`) nothing is filtered and this is bookkeeping; connected as a login role that is a
member of `atende_app` (see the RLS migration for how to create one), a query that forgot its
tenant filter finds nothing of another clinic, and writes for another tenant are refused.

Cross-tenant work, done honestly. Some methods serve every clinic (`outbox_due`,
`outbox_recover`, `conversations_with_pending`, `dead_letters()`), or name a row only by its
uuid (`get_conversation(id)`, `outbox_claim(id)`, `finish_turn(id)`, ...). They do not widen
the policy with a wildcard tenant that any session could set. The RLS migration defines a few
SECURITY DEFINER functions owned by `atende_worker`, a NOLOGIN role with no members whose own
policy reads every tenant: `atende_<conversation|message|turn>_tenant(uuid)` tell which tenant
a row belongs to, after which the store names that tenant and runs the real query under the
policy; `atende_outbox_due`, `atende_pending_conversations`, `atende_dead_letters` and
`atende_outbox_recover` are the dispatcher's and senders' scans. Only `atende_app` may call them.
"""

from __future__ import annotations

from ..shared.calendar import CalendarCore
from ..shared.calendar_sync import CalendarSync
from ..shared.external import ExternalBookings
from ..shared.google import Google
from .appointments import AppointmentsMixin
from .base import POOLER_PORT, pg_conninfo
from .conversations import ConversationsMixin
from .inbox import InboxMixin
from .poison import PoisonMixin
from .proactive import ProactiveMixin
from .staff import StaffMixin

__all__ = ["POOLER_PORT", "PostgresStore", "pg_conninfo"]


class PostgresStore(ConversationsMixin, AppointmentsMixin, InboxMixin, PoisonMixin,
                  ProactiveMixin, CalendarCore, ExternalBookings, Google, StaffMixin,
                  CalendarSync):
    """`Store` on a Postgres database, safe for many processes at once.

    Each call is one transaction on a pooled connection (psycopg `AsyncConnectionPool`, opened
    on first use); races are settled by the database (unique indexes, an exclusion constraint,
    conditional updates and row locks), never by a check in Python. Each module subclasses its
`memory/shared/` mixin (the checks and error choices) and supplies the SQL behind it:

        base           the URL (pooler detection), the pool, tenant-scoped transactions
        migrations     supabase/migrations/*.sql, applied in order under an advisory lock
        rows           rows → records, ids, JSON
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

    Beside the store: `checkpoint.py` (LangGraph's saver, pruning) and `admin.py` (`atende db`).
    """
