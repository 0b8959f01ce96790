-- Tenant isolation: two roles, row-level security on every tenant-owned table, and the few
-- cross-tenant functions the dispatcher and the senders need.
--
-- The rule. patients, conversations, messages, appointments and turns each carry tenant_id.
-- RLS is ENABLED and FORCED on them (FORCE: the table owner is held to the policies too, unless
-- it has BYPASSRLS or is a superuser), and the one policy for the app lets a transaction see and
-- write only the rows of the tenant it names with
--     SELECT set_config('app.tenant_id', '<tenant>', true)   -- true: for this transaction only
-- which the store runs first in every transaction. With no tenant named, no row matches.
--
-- The roles (created here, NOLOGIN: nobody connects as them directly).
--   atende_app     least privilege for the running app: DML on the tenant tables (under the
--                  policy), the checkpointer tables, EXECUTE on the functions below.
--                  Grant it to the login role the app connects with (see "On Supabase").
--   atende_worker  owns the SECURITY DEFINER functions below and nothing else; it has no members,
--                  so its all-tenant read policy is reachable only through those functions.
--
-- Cross-tenant work. A few `Store` methods are not tenant-scoped by signature: the dispatcher
-- and senders work for every clinic at once (outbox_due, outbox_recover, dead_letters() with no
-- tenant, conversations_with_pending), and some calls name a row only by its uuid
-- (get_conversation(id), outbox_claim(id), finish_turn(id), ...). Rather than a wildcard tenant
-- setting that any session could set, or a second login for the worker, each such need is one
-- narrow function, owned by atende_worker and granted to atende_app only:
--   atende_conversation_tenant(uuid), atende_message_tenant(uuid), atende_turn_tenant(uuid)
--       the tenant a row belongs to (nothing else: the caller must already know the uuid);
--       the store then names that tenant and runs the real query under the policy;
--   atende_pending_conversations(), atende_outbox_due(now, limit), atende_dead_letters(limit)
--       the rows the dispatcher and senders scan, all tenants;
--   atende_outbox_recover(error, lease)
--       `sending` outbound rows whose claim is older than the lease (all, at a single sender's
--       start-up) become `failed`: the one cross-tenant write; its policy admits exactly that
--       transition, and atende_worker may update no other column.
--
-- On Supabase. Run the migrations as `postgres` (`supabase db push`, or `atende db migrate`
-- with the direct connection string). `postgres` may bypass RLS, so an app connecting as it is
-- not held to the policies; to run the app under them, create a login role and give it atende_app:
--     CREATE ROLE atende_service LOGIN PASSWORD '<a long random secret>' IN ROLE atende_app;
-- then connect as it: postgresql://atende_service:<secret>@db.<ref>.supabase.co:5432/postgres
-- (through the pooler the user is atende_service.<ref>). The Data API roles (anon,
-- authenticated) get no access to any table or function here.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'atende_app') THEN
        CREATE ROLE atende_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'atende_worker') THEN
        CREATE ROLE atende_worker NOLOGIN;
    END IF;
EXCEPTION
    -- roles belong to the whole server: another database's setup may have just made them
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The migrating role (the tables' owner) is held to the policies too, through atende_app, so
-- an owner without BYPASSRLS can run the app itself. It is made a member of atende_worker only
-- while this file runs: to own and replace the functions, and not to see every tenant later.
GRANT atende_app TO CURRENT_USER;
GRANT atende_worker TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO atende_app, atende_worker;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.patients, public.conversations, public.messages, public.appointments, public.turns
    TO atende_app;
GRANT SELECT ON public.atende_schema_migrations TO atende_app;

-- the tenant policy, on every tenant-owned table

ALTER TABLE public.patients ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.patients FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.patients;
CREATE POLICY tenant_isolation ON public.patients FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

ALTER TABLE public.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.conversations FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.conversations;
CREATE POLICY tenant_isolation ON public.conversations FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

ALTER TABLE public.messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.messages FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.messages;
CREATE POLICY tenant_isolation ON public.messages FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

ALTER TABLE public.appointments ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.appointments FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.appointments;
CREATE POLICY tenant_isolation ON public.appointments FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

ALTER TABLE public.turns ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.turns FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON public.turns;
CREATE POLICY tenant_isolation ON public.turns FOR ALL TO atende_app
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true)))
    WITH CHECK (tenant_id = (SELECT current_setting('app.tenant_id', true)));

-- atende_worker: reads every tenant's conversations, messages and turns, and fails interrupted
-- sends; nothing else (column privileges bound the update further)

GRANT SELECT ON public.conversations, public.messages, public.turns TO atende_worker;
GRANT UPDATE (status, error, next_attempt_at) ON public.messages TO atende_worker;

DROP POLICY IF EXISTS worker_read ON public.conversations;
CREATE POLICY worker_read ON public.conversations FOR SELECT TO atende_worker USING (true);
DROP POLICY IF EXISTS worker_read ON public.messages;
CREATE POLICY worker_read ON public.messages FOR SELECT TO atende_worker USING (true);
DROP POLICY IF EXISTS worker_read ON public.turns;
CREATE POLICY worker_read ON public.turns FOR SELECT TO atende_worker USING (true);
DROP POLICY IF EXISTS worker_recover ON public.messages;
CREATE POLICY worker_recover ON public.messages FOR UPDATE TO atende_worker
    USING (direction = 'out' AND status = 'sending')
    WITH CHECK (direction = 'out' AND status = 'failed');

-- the cross-tenant functions (search_path empty and every name qualified: a definer function
-- must not resolve names through the caller's search_path)

CREATE OR REPLACE FUNCTION public.atende_conversation_tenant(p_id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT tenant_id FROM public.conversations WHERE id = p_id $$;

CREATE OR REPLACE FUNCTION public.atende_message_tenant(p_id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT tenant_id FROM public.messages WHERE id = p_id $$;

CREATE OR REPLACE FUNCTION public.atende_turn_tenant(p_id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT tenant_id FROM public.turns WHERE id = p_id $$;

-- conversations with pending inbound messages, longest waiting first (the dispatcher, at start)
CREATE OR REPLACE FUNCTION public.atende_pending_conversations() RETURNS SETOF public.conversations
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT c.* FROM public.conversations AS c JOIN (
            SELECT conversation_id, min(provider_ts) AS oldest, min(seq) AS first
            FROM public.messages WHERE state = 'pending' GROUP BY conversation_id
        ) AS p ON p.conversation_id = c.id
        ORDER BY p.oldest, p.first
    $$;

-- queued outbound rows that are due, in the order they were queued (the senders)
CREATE OR REPLACE FUNCTION public.atende_outbox_due(p_now timestamptz, p_limit integer)
    RETURNS SETOF public.messages
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT * FROM public.messages m
        WHERE direction = 'out' AND status = 'queued'
          AND (next_attempt_at IS NULL OR next_attempt_at <= p_now)
          -- while a bubble is being sent (by any worker) the next one waits its turn
          AND NOT EXISTS (SELECT 1 FROM public.messages s
                          WHERE s.conversation_id = m.conversation_id
                            AND s.direction = 'out' AND s.status = 'sending')
        ORDER BY seq LIMIT greatest(p_limit, 0)
    $$;

-- outbound rows that failed or died, newest first, every tenant (ops)
CREATE OR REPLACE FUNCTION public.atende_dead_letters(p_limit integer) RETURNS SETOF public.messages
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT * FROM public.messages
        WHERE direction = 'out' AND status IN ('failed', 'dead')
        ORDER BY seq DESC LIMIT greatest(p_limit, 0)
    $$;

-- rows left `sending` by a sender that died are failed, not resent (they may have gone out):
-- every one (p_lease NULL: the one sender's start-up), or those claimed more than p_lease ago
-- by the database's clock (a claim from before claimed_at was recorded counts as expired)
CREATE OR REPLACE FUNCTION public.atende_outbox_recover(p_error text, p_lease interval)
    RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = ''
    AS $$
        WITH failed AS (
            UPDATE public.messages SET status = 'failed', error = p_error, next_attempt_at = NULL
            WHERE direction = 'out' AND status = 'sending'
              AND (p_lease IS NULL OR claimed_at IS NULL OR claimed_at <= now() - p_lease)
            RETURNING 1
        )
        SELECT count(*)::integer FROM failed
    $$;

-- A new owner needs CREATE on the schema at the moment ownership moves; not afterwards.
GRANT CREATE ON SCHEMA public TO atende_worker;
ALTER FUNCTION public.atende_conversation_tenant(uuid) OWNER TO atende_worker;
ALTER FUNCTION public.atende_message_tenant(uuid) OWNER TO atende_worker;
ALTER FUNCTION public.atende_turn_tenant(uuid) OWNER TO atende_worker;
ALTER FUNCTION public.atende_pending_conversations() OWNER TO atende_worker;
ALTER FUNCTION public.atende_outbox_due(timestamptz, integer) OWNER TO atende_worker;
ALTER FUNCTION public.atende_dead_letters(integer) OWNER TO atende_worker;
ALTER FUNCTION public.atende_outbox_recover(text, interval) OWNER TO atende_worker;
REVOKE CREATE ON SCHEMA public FROM atende_worker;

-- Functions are executable by PUBLIC unless revoked; only the app may call these.
REVOKE ALL ON FUNCTION
    public.atende_conversation_tenant(uuid), public.atende_message_tenant(uuid),
    public.atende_turn_tenant(uuid), public.atende_pending_conversations(),
    public.atende_outbox_due(timestamptz, integer), public.atende_dead_letters(integer),
    public.atende_outbox_recover(text, interval)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    public.atende_conversation_tenant(uuid), public.atende_message_tenant(uuid),
    public.atende_turn_tenant(uuid), public.atende_pending_conversations(),
    public.atende_outbox_due(timestamptz, integer), public.atende_dead_letters(integer),
    public.atende_outbox_recover(text, interval)
    TO atende_app;

-- Supabase grants its Data API roles everything new in public by default; clinic data is not
-- for the Data API (the policies admit no row to them either, this makes it explicit).
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format(
                'REVOKE ALL ON public.patients, public.conversations, public.messages,'
                ' public.appointments, public.turns, public.atende_schema_migrations FROM %I',
                api_role);
            EXECUTE format(
                'REVOKE ALL ON FUNCTION public.atende_conversation_tenant(uuid),'
                ' public.atende_message_tenant(uuid), public.atende_turn_tenant(uuid),'
                ' public.atende_pending_conversations(),'
                ' public.atende_outbox_due(timestamptz, integer),'
                ' public.atende_dead_letters(integer),'
                ' public.atende_outbox_recover(text, interval) FROM %I',
                api_role);
        END IF;
    END LOOP;
END
$$;

REVOKE atende_worker FROM CURRENT_USER;
