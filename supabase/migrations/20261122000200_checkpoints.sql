-- The LangGraph checkpointer's tables (langgraph-checkpoint-postgres, AsyncPostgresSaver), as
-- its own migrations v0..v9 leave them, so `supabase db push` alone yields the whole schema and
-- the app needs no CREATE privilege. `checkpoint_migrations` records v0..v9 as applied: the
-- saver's `setup()` then has nothing to do, and applies only migrations a newer release adds
-- (`atende.memory.postgres_admin.migrate` runs it; tests check these tables match the saver's).
-- Written to also bring tables an older saver created up to v9.
--
-- Threads are "tenant:phone", but the saver knows nothing of app.tenant_id, so these tables are
-- not under the tenant policy: RLS is enabled with one policy that admits atende_app to every
-- row, which keeps them away from Supabase's Data API roles and open to the app.

CREATE TABLE IF NOT EXISTS public.checkpoint_migrations (
    v INTEGER PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS public.checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type TEXT,
    checkpoint JSONB NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);

CREATE TABLE IF NOT EXISTS public.checkpoint_blobs (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    blob BYTEA,
    PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
);
ALTER TABLE public.checkpoint_blobs ALTER COLUMN blob DROP NOT NULL;

CREATE TABLE IF NOT EXISTS public.checkpoint_writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    blob BYTEA NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
ALTER TABLE public.checkpoint_writes ADD COLUMN IF NOT EXISTS task_path TEXT NOT NULL DEFAULT '';

-- the saver builds these CONCURRENTLY; inside a migration's transaction they are built plainly
CREATE INDEX IF NOT EXISTS checkpoints_thread_id_idx ON public.checkpoints (thread_id);
CREATE INDEX IF NOT EXISTS checkpoint_blobs_thread_id_idx ON public.checkpoint_blobs (thread_id);
CREATE INDEX IF NOT EXISTS checkpoint_writes_thread_id_idx ON public.checkpoint_writes (thread_id);

INSERT INTO public.checkpoint_migrations (v) SELECT generate_series(0, 9) ON CONFLICT DO NOTHING;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.checkpoints, public.checkpoint_blobs, public.checkpoint_writes TO atende_app;
GRANT SELECT ON public.checkpoint_migrations TO atende_app;

ALTER TABLE public.checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.checkpoint_blobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.checkpoint_writes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.checkpoint_migrations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS checkpointer ON public.checkpoints;
CREATE POLICY checkpointer ON public.checkpoints FOR ALL TO atende_app USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS checkpointer ON public.checkpoint_blobs;
CREATE POLICY checkpointer ON public.checkpoint_blobs FOR ALL TO atende_app
    USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS checkpointer ON public.checkpoint_writes;
CREATE POLICY checkpointer ON public.checkpoint_writes FOR ALL TO atende_app
    USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS checkpointer ON public.checkpoint_migrations;
CREATE POLICY checkpointer ON public.checkpoint_migrations FOR SELECT TO atende_app USING (true);

DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format(
                'REVOKE ALL ON public.checkpoints, public.checkpoint_blobs,'
                ' public.checkpoint_writes, public.checkpoint_migrations FROM %I',
                api_role);
        END IF;
    END LOOP;
END
$$;
