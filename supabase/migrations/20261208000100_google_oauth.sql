-- Google per clinic: one OAuth connection per clinic (refresh and access tokens encrypted by the
-- application: ciphertext only here), the states of consent flows (single use: a conditional
-- update sets used_at once), and the calendars associated with professionals. The same tables
-- as SQLite's v6 (memory/sqlite/migrations.py), tenant-owned with row-level security as in
-- 20261122000100_rls.sql.

CREATE TABLE IF NOT EXISTS public.google_connections (
    tenant_id         text PRIMARY KEY CHECK (tenant_id <> ''),
    status            text NOT NULL DEFAULT 'connected' CHECK (
        status IN ('connected', 'needs_reconnect')),
    refresh_token_enc text NOT NULL CHECK (refresh_token_enc <> ''),
    access_token_enc  text,
    expires_at        timestamptz,
    scopes            text NOT NULL DEFAULT '',
    reason            text,
    lease_until       timestamptz,  -- a refresh under way in some process until then
    connected_at      timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.google_oauth_states (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL CHECK (tenant_id <> ''),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS google_oauth_states_by_tenant
    ON public.google_oauth_states (tenant_id, expires_at);

CREATE TABLE IF NOT EXISTS public.google_calendars (
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    calendar_id     text NOT NULL CHECK (calendar_id <> ''),
    professional_id text NOT NULL CHECK (professional_id <> ''),
    summary         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, calendar_id)
);

-- atende_app exists: 20261122000100_rls.sql made it
-- tokens never leave the server: not even Supabase's Data API roles may read these
SELECT public.atende_isolate('google_connections', 'google_oauth_states', 'google_calendars');
