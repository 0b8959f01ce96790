-- Appointments an outside system booked (Calendly): who booked it (`source`, 'atende' for the
-- agent's own) and that system's id for it (`external_ref`, unique per clinic, so a redelivered
-- webhook finds the row it made). Such a booking may know its patient by no phone (a Calendly
-- invitee who gave none): its patient_phone is then '' — busy time for the professional, no
-- patient to list or message. The same change as SQLite's v6 (memory/sqlite/migrations.py);
-- the table keeps its row-level security (20261122000100_rls.sql).

ALTER TABLE public.appointments ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'atende'
    CHECK (source <> '');
ALTER TABLE public.appointments ADD COLUMN IF NOT EXISTS external_ref text
    CHECK (external_ref <> '');
CREATE UNIQUE INDEX IF NOT EXISTS appointments_external_ref
    ON public.appointments (tenant_id, external_ref) WHERE external_ref IS NOT NULL;

ALTER TABLE public.appointments DROP CONSTRAINT IF EXISTS appointments_phone_e164;
ALTER TABLE public.appointments ADD CONSTRAINT appointments_phone_e164 CHECK (
    patient_phone ~ '^\+[1-9][0-9]{6,14}$' OR (patient_phone = '' AND source <> 'atende'));
