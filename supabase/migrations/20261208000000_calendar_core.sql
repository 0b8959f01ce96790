-- The clinic's calendar core: conflicts with outside calendars (a Google event or a Calendly
-- invitee overlapping an atende booking), recorded for the clinic to settle, and blocks (a
-- professional's time off), which availability respects. The same tables as SQLite's v6
-- (memory/sqlite/migrations.py), tenant-owned with row-level security as in
-- 20261122000100_rls.sql.

CREATE TABLE IF NOT EXISTS public.calendar_conflicts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    source          text NOT NULL CHECK (source IN ('google', 'calendly')),
    external_id     text NOT NULL CHECK (external_id <> ''),
    professional_id text,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    appointment_id  uuid,
    appointment_key text NOT NULL,  -- appointment_id or '': a redelivery is one row
    summary         text NOT NULL CHECK (summary <> ''),
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    UNIQUE (tenant_id, source, external_id, appointment_key)
);
CREATE INDEX IF NOT EXISTS calendar_conflicts_open ON public.calendar_conflicts (tenant_id, starts_at)
    WHERE resolved_at IS NULL;

CREATE TABLE IF NOT EXISTS public.blocks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    professional_id text NOT NULL CHECK (professional_id <> ''),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason          text NOT NULL DEFAULT '',
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS blocks_by_professional
    ON public.blocks (tenant_id, professional_id, starts_at);

-- atende_app exists: 20261122000100_rls.sql made it
-- One place for what every clinic table gets: atende_app may use it, each row only under its own
-- clinic (`app.tenant_id`), and Supabase's Data API roles get nothing. Later migrations call it.
CREATE OR REPLACE FUNCTION public.atende_isolate(VARIADIC tables text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t text;
    api_role text;
BEGIN
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO atende_app', t);
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON public.%I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I FOR ALL TO atende_app '
                       'USING (tenant_id = (SELECT current_setting(''app.tenant_id'', true))) '
                       'WITH CHECK (tenant_id = (SELECT current_setting(''app.tenant_id'', true)))', t);
        FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
                EXECUTE format('REVOKE ALL ON public.%I FROM %I', t, api_role);
            END IF;
        END LOOP;
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION public.atende_isolate(text[]) FROM PUBLIC;

SELECT public.atende_isolate('calendar_conflicts', 'blocks');
