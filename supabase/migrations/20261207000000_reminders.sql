-- What atende writes first: reminders per appointment (unique per appointment and kind), the
-- waitlist that refills a freed slot, and per-clinic flags (templates failing, proactive sends
-- paused). Patients may opt out; appointments keep when they were confirmed and why they were
-- cancelled. The same tables as SQLite's v5 (memory/sqlite/migrations.py), tenant-owned with
-- row-level security as in 20261122000100_rls.sql.

ALTER TABLE public.patients ADD COLUMN IF NOT EXISTS proactive_opt_out boolean NOT NULL DEFAULT false;
ALTER TABLE public.appointments ADD COLUMN IF NOT EXISTS confirmed_at timestamptz;
ALTER TABLE public.appointments ADD COLUMN IF NOT EXISTS cancel_reason text;

CREATE TABLE IF NOT EXISTS public.reminders (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           text NOT NULL CHECK (tenant_id <> ''),
    appointment_id      uuid NOT NULL REFERENCES public.appointments (id),
    kind                text NOT NULL CHECK (kind <> ''),
    due_at              timestamptz NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (
        status IN ('pending', 'queued', 'sent', 'skipped', 'failed', 'cancelled')),
    reason              text,
    message_id          uuid,
    provider_message_id text,
    sent_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (appointment_id, kind)
);
CREATE INDEX IF NOT EXISTS reminders_due ON public.reminders (tenant_id, status, due_at);
CREATE INDEX IF NOT EXISTS reminders_sent ON public.reminders (tenant_id, sent_at)
    WHERE sent_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS public.waitlist (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- first come, first offered
    tenant_id             text NOT NULL CHECK (tenant_id <> ''),
    patient_phone         text NOT NULL,
    service_id            text NOT NULL,
    professional_id       text,
    period                text CHECK (period IN ('manha', 'tarde', 'noite')),
    status                text NOT NULL DEFAULT 'waiting' CHECK (
        status IN ('waiting', 'offered', 'booked', 'expired', 'removed')),
    offer_id              text,
    offer_start_at        timestamptz,
    offer_professional_id text,
    offer_expires_at      timestamptz,
    appointment_id        uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS waitlist_by_tenant ON public.waitlist (tenant_id, status, seq);
CREATE UNIQUE INDEX IF NOT EXISTS waitlist_open
    ON public.waitlist (tenant_id, patient_phone, service_id)
    WHERE status IN ('waiting', 'offered');

CREATE TABLE IF NOT EXISTS public.clinic_flags (
    tenant_id  text NOT NULL CHECK (tenant_id <> ''),
    key        text NOT NULL CHECK (key <> ''),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- atende_app exists: 20261122000100_rls.sql made it
DO $$
DECLARE
    t text;
    api_role text;
BEGIN
    FOREACH t IN ARRAY ARRAY['reminders', 'waitlist', 'clinic_flags'] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO atende_app', t);
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON public.%I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I FOR ALL TO atende_app '
                       'USING (tenant_id = (SELECT current_setting(''app.tenant_id'', true))) '
                       'WITH CHECK (tenant_id = (SELECT current_setting(''app.tenant_id'', true)))', t);
        -- not for Supabase's Data API roles (as every tenant table)
        FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
                EXECUTE format('REVOKE ALL ON public.%I FROM %I', t, api_role);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
