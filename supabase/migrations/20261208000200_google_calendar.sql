-- The clinic's Google Calendars (integrations/google/): busy time mirrored from each
-- professional's calendars, each calendar's sync state (sync token, last finished sync), the
-- push channels watching them (the per-channel token kept only as its SHA-256), and the durable
-- jobs writing bookings there. The same tables as SQLite's v6 (memory/sqlite/migrations.py),
-- tenant-owned with row-level security as in 20261122000100_rls.sql.

CREATE TABLE IF NOT EXISTS public.calendar_busy (
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    professional_id text NOT NULL,
    calendar_id     text NOT NULL,
    event_id        text NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    summary         text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, calendar_id, event_id)
);
CREATE INDEX IF NOT EXISTS calendar_busy_by_time ON public.calendar_busy (tenant_id, starts_at);

CREATE TABLE IF NOT EXISTS public.calendar_sync (
    tenant_id   text NOT NULL CHECK (tenant_id <> ''),
    calendar_id text NOT NULL,
    sync_token  text,
    synced_at   timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, calendar_id)
);

CREATE TABLE IF NOT EXISTS public.calendar_channels (
    tenant_id   text NOT NULL CHECK (tenant_id <> ''),
    channel_id  text NOT NULL,
    calendar_id text NOT NULL,
    resource_id text NOT NULL,
    token_hash  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_id)
);

CREATE TABLE IF NOT EXISTS public.calendar_jobs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      text NOT NULL CHECK (tenant_id <> ''),
    appointment_id uuid NOT NULL REFERENCES public.appointments (id),
    action         text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    version        text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    next_at        timestamptz NOT NULL,
    last_error     text,
    done_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (appointment_id, action, version)
);
CREATE INDEX IF NOT EXISTS calendar_jobs_due ON public.calendar_jobs (tenant_id, next_at)
    WHERE done_at IS NULL;

-- atende_app exists: 20261122000100_rls.sql made it
SELECT public.atende_isolate('calendar_busy', 'calendar_sync', 'calendar_channels', 'calendar_jobs');
