-- atende core schema on Postgres (Supabase): the same tables, columns and rules as the SQLite
-- store (memory/migrations_sqlite.py). Applied in file-name order by `PostgresStore.setup()` /
-- `atende.memory.postgres_admin.migrate()` (recorded in atende_schema_migrations) or by
-- `supabase db push` (recorded in supabase_migrations.schema_migrations). Every statement is
-- idempotent, so a file applied by both is harmless. Never edit a file that has shipped: add one.
--
-- Types: ids are uuid (references to turns stay text: callers such as the console pass their
-- own turn ids), instants are timestamptz, phones are E.164 text with a CHECK, meta is jsonb.
-- Storage-only columns (`seq`, `updated_by_turn`) are not part of the records the store returns.

-- The exclusion constraint below compares text columns with `=` in a GiST index: btree_gist.
-- Supabase keeps extensions in their own schema; elsewhere they go where the owner says.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'extensions') THEN
        CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA extensions;
    ELSE
        CREATE EXTENSION IF NOT EXISTS btree_gist;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public.patients (
    tenant_id  text NOT NULL CHECK (tenant_id <> ''),
    phone      text NOT NULL CONSTRAINT patients_phone_e164 CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name       text,
    stage      text NOT NULL DEFAULT 'new' CHECK (
        stage IN ('new', 'engaged', 'qualified', 'scheduled', 'customer', 'lost')),
    source     text,
    interest   text,
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE IF NOT EXISTS public.conversations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order, for ties
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    phone           text NOT NULL CONSTRAINT conversations_phone_e164
                        CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    channel         text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'human')),
    handoff_reason  text,
    handoff_at      timestamptz,
    last_inbound_at timestamptz,
    paused_until    timestamptz,  -- the bot stays quiet while a human has the chat
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, phone),
    -- what messages and turns reference, so a row can never claim another clinic's conversation
    UNIQUE (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS conversations_by_tenant ON public.conversations (tenant_id, created_at);

CREATE TABLE IF NOT EXISTS public.messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the order they were stored
    conversation_id     uuid NOT NULL,
    tenant_id           text NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('in', 'out')),
    author              text NOT NULL CHECK (author IN ('patient', 'bot', 'human')),
    channel             text,
    kind                text NOT NULL DEFAULT 'text',
    text                text,
    status              text NOT NULL CHECK (status IN ('received', 'queued', 'sending', 'sent',
                                                        'delivered', 'read', 'played', 'failed', 'dead')),
    state               text CHECK (state IN ('pending', 'done', 'ignored')),
    provider_message_id text,
    provider_ts         timestamptz,
    turn_id             text,
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- when a sender claimed the row (the database's now(): one clock for every machine); a
    -- `sending` row whose claim outlived its lease was interrupted (Store.outbox_recover)
    claimed_at          timestamptz,
    next_attempt_at     timestamptz,
    error               text,
    meta                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(meta) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES public.conversations (tenant_id, id)
        ON DELETE CASCADE,
    -- patients write in, the clinic (bot or a person) writes out; only inbound has a state
    CHECK ((direction = 'in') = (author = 'patient')),
    CHECK (state IS NULL OR direction = 'in')
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON public.messages (conversation_id, seq);
-- a provider redelivering a webhook must not store the message twice
CREATE UNIQUE INDEX IF NOT EXISTS messages_provider_id ON public.messages (tenant_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- the dispatcher's inbox: a conversation's pending messages in the order they were sent
CREATE INDEX IF NOT EXISTS messages_inbox_pending ON public.messages (conversation_id, provider_ts, seq)
    WHERE state = 'pending';
-- the senders' outbox: queued rows that are due, and the dead letters
CREATE INDEX IF NOT EXISTS messages_outbox_due ON public.messages (next_attempt_at, seq)
    WHERE direction = 'out' AND status = 'queued';
CREATE INDEX IF NOT EXISTS messages_dead_letters ON public.messages (tenant_id, seq)
    WHERE direction = 'out' AND status IN ('failed', 'dead');

CREATE TABLE IF NOT EXISTS public.appointments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL CHECK (tenant_id <> ''),
    professional_id text NOT NULL,
    service_id      text NOT NULL,
    patient_phone   text NOT NULL CONSTRAINT appointments_phone_e164
                        CHECK (patient_phone ~ '^\+[1-9][0-9]{6,14}$'),
    start_utc       timestamptz NOT NULL,
    end_utc         timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'booked' CHECK (
        status IN ('booked', 'confirmed', 'cancelled', 'completed', 'no_show')),
    created_by_turn text,
    updated_by_turn text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_utc > start_utc),
    -- The database is the referee: two active appointments of one professional never overlap,
    -- whoever writes them and however they race ([start, end) ranges, so back to back is fine).
    -- A violation is SQLSTATE 23P01, which the store reports as SlotUnavailable.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        tenant_id WITH =,
        professional_id WITH =,
        tstzrange(start_utc, end_utc) WITH &&
    ) WHERE (status IN ('booked', 'confirmed'))
);
CREATE INDEX IF NOT EXISTS appointments_by_patient
    ON public.appointments (tenant_id, patient_phone, start_utc);
CREATE INDEX IF NOT EXISTS appointments_by_start ON public.appointments (tenant_id, start_utc);

CREATE TABLE IF NOT EXISTS public.turns (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    conversation_id uuid NOT NULL,
    tenant_id       text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz CHECK (finished_at >= started_at),
    model           text,
    prompt_version  text,
    tokens_in       integer NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    tokens_out      integer NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    outcome         text,
    -- what the turn did, kept for export and replay: [{"name", "args", "ok", "result"}]
    tool_calls      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tool_calls) = 'array'),
    reply           text,
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES public.conversations (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON public.turns (conversation_id, started_at, seq);

-- Which of these files ran (the runner also creates it first: it records this very file).
CREATE TABLE IF NOT EXISTS public.atende_schema_migrations (
    version    text PRIMARY KEY CHECK (version ~ '^[0-9]{14}$'),
    name       text NOT NULL,
    checksum   text NOT NULL,  -- sha256 of the file as applied
    applied_at timestamptz NOT NULL DEFAULT now()
);
