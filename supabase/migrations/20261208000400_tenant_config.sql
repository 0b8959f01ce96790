-- Clinic configuration in the database, with versions; the clinic's staff, their API tokens and
-- login sessions, and login attempts (rate limiting). The same tables as SQLite's v6
-- (memory/sqlite/migrations.py); tenant-owned tables have row-level security as in
-- 20261122000100_rls.sql. Each turn records the configuration version it ran with.

CREATE TABLE IF NOT EXISTS public.tenant_configs (
    tenant_id   text NOT NULL CHECK (tenant_id <> ''),
    version     integer NOT NULL CHECK (version > 0),
    document    jsonb NOT NULL,
    author      text NOT NULL CHECK (author <> ''),
    note        text,
    rollback_of integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);

-- the version in force per clinic: one tiny row each, what every process polls
CREATE TABLE IF NOT EXISTS public.tenant_config_heads (
    tenant_id  text PRIMARY KEY CHECK (tenant_id <> ''),
    version    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.staff_users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text NOT NULL CHECK (tenant_id <> ''),
    email         text NOT NULL UNIQUE CHECK (email <> '' AND email = lower(email)),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'reception', 'readonly')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS staff_users_by_tenant ON public.staff_users (tenant_id, email);

CREATE TABLE IF NOT EXISTS public.staff_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    text NOT NULL CHECK (tenant_id <> ''),
    staff_id     uuid NOT NULL REFERENCES public.staff_users (id),
    kind         text NOT NULL CHECK (kind IN ('api', 'session')),
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS staff_tokens_by_staff ON public.staff_tokens (tenant_id, staff_id);

-- before a login names a clinic: keyed by email and address, not tenant-owned
CREATE TABLE IF NOT EXISTS public.login_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL,
    ip         text NOT NULL,
    ok         boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_attempts_recent ON public.login_attempts (email, ip, created_at);

ALTER TABLE public.turns ADD COLUMN IF NOT EXISTS config_version integer;

-- atende_app and atende_worker exist: 20261122000100_rls.sql made them
GRANT atende_worker TO CURRENT_USER;  -- to own the functions below; revoked at the end

SELECT public.atende_isolate('tenant_configs', 'tenant_config_heads', 'staff_users', 'staff_tokens');
-- login attempts are counted before anyone's clinic is known (per e-mail and address): no clinic
-- column, so atende_app sees them all; the Data API roles still see none
GRANT SELECT, INSERT, UPDATE, DELETE ON public.login_attempts TO atende_app;
ALTER TABLE public.login_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.login_attempts FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.login_attempts;
CREATE POLICY tenant_isolation ON public.login_attempts FOR ALL TO atende_app USING (true) WITH CHECK (true);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON public.login_attempts FROM anon;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        REVOKE ALL ON public.login_attempts FROM authenticated;
    END IF;
END
$$;
GRANT USAGE ON SEQUENCE public.login_attempts_id_seq TO atende_app;

-- atende_worker reads, across clinics, only what the functions below answer
GRANT SELECT ON public.tenant_config_heads, public.staff_users, public.staff_tokens TO atende_worker;
DROP POLICY IF EXISTS worker_read ON public.tenant_config_heads;
CREATE POLICY worker_read ON public.tenant_config_heads FOR SELECT TO atende_worker USING (true);
DROP POLICY IF EXISTS worker_read ON public.staff_users;
CREATE POLICY worker_read ON public.staff_users FOR SELECT TO atende_worker USING (true);
DROP POLICY IF EXISTS worker_read ON public.staff_tokens;
CREATE POLICY worker_read ON public.staff_tokens FOR SELECT TO atende_worker USING (true);

-- every clinic's version in force (what each process polls to reload a changed configuration)
CREATE OR REPLACE FUNCTION public.atende_config_heads() RETURNS SETOF public.tenant_config_heads
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT * FROM public.tenant_config_heads ORDER BY tenant_id $$;

-- the clinic of a staff email (a login names no clinic); nothing else about the account
CREATE OR REPLACE FUNCTION public.atende_staff_email_tenant(p_email text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT tenant_id FROM public.staff_users WHERE email = lower(p_email) $$;

-- the clinic of a token, by its sha256 (a bearer token or session cookie names no clinic)
CREATE OR REPLACE FUNCTION public.atende_staff_token_tenant(p_hash text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT tenant_id FROM public.staff_tokens WHERE token_hash = p_hash $$;

GRANT CREATE ON SCHEMA public TO atende_worker;
ALTER FUNCTION public.atende_config_heads() OWNER TO atende_worker;
ALTER FUNCTION public.atende_staff_email_tenant(text) OWNER TO atende_worker;
ALTER FUNCTION public.atende_staff_token_tenant(text) OWNER TO atende_worker;
REVOKE CREATE ON SCHEMA public FROM atende_worker;

REVOKE ALL ON FUNCTION public.atende_config_heads(), public.atende_staff_email_tenant(text),
    public.atende_staff_token_tenant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.atende_config_heads(), public.atende_staff_email_tenant(text),
    public.atende_staff_token_tenant(text) TO atende_app;

-- not for Supabase's Data API roles
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.atende_config_heads(),'
                           ' public.atende_staff_email_tenant(text),'
                           ' public.atende_staff_token_tenant(text) FROM %I', api_role);
        END IF;
    END LOOP;
END
$$;

REVOKE atende_worker FROM CURRENT_USER;
