-- Poison messages: inbound messages a webhook set aside because they could not be stored (they
-- failed validation or the store refused them), kept with the reason for ops (`atende inbox
-- poison`, GET /admin/poison). The same table as SQLite's v4 (memory/migrations_sqlite.py), and
-- tenant-owned like the others: row-level security as in 20261122000100_rls.sql.

CREATE TABLE IF NOT EXISTS public.poison_messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the order they were kept
    tenant_id           text NOT NULL CHECK (tenant_id <> ''),
    channel             text NOT NULL,
    provider_message_id text,
    reason              text NOT NULL,
    excerpt             text NOT NULL DEFAULT '',  -- the raw item redacted and capped (ASCII JSON)
    received_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS poison_by_tenant ON public.poison_messages (tenant_id, received_at);
-- a redelivered poison message is one record
CREATE UNIQUE INDEX IF NOT EXISTS poison_provider_id
    ON public.poison_messages (tenant_id, channel, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- atende_app and atende_worker exist: 20261122000100_rls.sql made them
GRANT atende_worker TO CURRENT_USER;  -- to own the function below; revoked at the end

GRANT SELECT, INSERT, UPDATE, DELETE ON public.poison_messages TO atende_app;
ALTER TABLE public.poison_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.poison_messages FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.poison_messages;
CREATE POLICY tenant_isolation ON public.poison_messages FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

-- every tenant's poison records, newest first (ops, like atende_dead_letters)
GRANT SELECT ON public.poison_messages TO atende_worker;
DROP POLICY IF EXISTS worker_read ON public.poison_messages;
CREATE POLICY worker_read ON public.poison_messages FOR SELECT TO atende_worker USING (true);
CREATE OR REPLACE FUNCTION public.atende_poison_messages(p_limit integer)
    RETURNS SETOF public.poison_messages
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT * FROM public.poison_messages
        ORDER BY received_at DESC, seq DESC LIMIT greatest(p_limit, 0)
    $$;
GRANT CREATE ON SCHEMA public TO atende_worker;
ALTER FUNCTION public.atende_poison_messages(integer) OWNER TO atende_worker;
REVOKE CREATE ON SCHEMA public FROM atende_worker;
REVOKE ALL ON FUNCTION public.atende_poison_messages(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.atende_poison_messages(integer) TO atende_app;

-- not for Supabase's Data API roles (as every tenant table)
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('REVOKE ALL ON public.poison_messages FROM %I', api_role);
            EXECUTE format('REVOKE ALL ON FUNCTION public.atende_poison_messages(integer) FROM %I',
                           api_role);
        END IF;
    END LOOP;
END
$$;

REVOKE atende_worker FROM CURRENT_USER;
