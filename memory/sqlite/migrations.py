"""The SQLite schema as an ordered list of migrations: `MIGRATIONS[v]` upgrades to version `v`.

Append new scripts; never edit one that has shipped. Timestamps are fixed-width UTC text
(`YYYY-MM-DD HH:MM:SS`), so they read well in the sqlite3 shell and compare as strings.
"""

from __future__ import annotations

# Kept outside MIGRATIONS: it is what records which of them ran.
BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    v          INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""

_TS = "GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]'"
_ACTIVE = "('booked', 'confirmed')"

# A new or moved appointment that is active must not overlap another active one of the same
# professional: the database is the referee, so two racing bookings cannot both win.
_NO_OVERLAP = f"""
    SELECT RAISE(ABORT, 'slot_taken') WHERE EXISTS (
        SELECT 1 FROM appointments AS other
        WHERE other.tenant_id = NEW.tenant_id
          AND other.professional_id = NEW.professional_id
          AND other.status IN {_ACTIVE}
          AND other.start_utc < NEW.end_utc
          AND other.end_utc > NEW.start_utc
          AND other.id <> NEW.id  -- on update, the row being moved (ids never change)
    );
"""

MIGRATIONS: list[str] = [
    # v0: the first schema
    f"""
    CREATE TABLE patients (
        tenant_id  TEXT NOT NULL,
        phone      TEXT NOT NULL CHECK (
            phone GLOB '+[1-9]*' AND substr(phone, 2) NOT GLOB '*[^0-9]*'
            AND length(phone) BETWEEN 8 AND 16),
        name       TEXT,
        stage      TEXT NOT NULL DEFAULT 'new' CHECK (
            stage IN ('new', 'engaged', 'qualified', 'scheduled', 'customer', 'lost')),
        source     TEXT,
        interest   TEXT,
        notes      TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL CHECK (created_at {_TS}),
        updated_at TEXT NOT NULL CHECK (updated_at {_TS}),
        PRIMARY KEY (tenant_id, phone)
    );

    CREATE TABLE conversations (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL,
        phone           TEXT NOT NULL,
        channel         TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'human')),
        handoff_reason  TEXT,
        handoff_at      TEXT CHECK (handoff_at {_TS}),
        last_inbound_at TEXT CHECK (last_inbound_at {_TS}),
        created_at      TEXT NOT NULL CHECK (created_at {_TS}),
        UNIQUE (tenant_id, phone)
    );

    CREATE TABLE messages (
        seq                 INTEGER PRIMARY KEY,
        id                  TEXT NOT NULL UNIQUE,
        conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        tenant_id           TEXT NOT NULL,
        direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        kind                TEXT NOT NULL DEFAULT 'text',
        text                TEXT,
        status              TEXT NOT NULL CHECK (
            status IN ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
        provider_message_id TEXT,
        turn_id             TEXT,
        meta                TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(meta)),
        created_at          TEXT NOT NULL CHECK (created_at {_TS})
    );
    CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
    -- a provider redelivering a webhook must not store the message twice
    CREATE UNIQUE INDEX messages_provider_id ON messages (tenant_id, provider_message_id)
        WHERE provider_message_id IS NOT NULL;

    CREATE TABLE appointments (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL,
        professional_id TEXT NOT NULL,
        service_id      TEXT NOT NULL,
        patient_phone   TEXT NOT NULL,
        start_utc       TEXT NOT NULL CHECK (start_utc {_TS}),
        end_utc         TEXT NOT NULL CHECK (end_utc {_TS}),
        status          TEXT NOT NULL DEFAULT 'booked' CHECK (
            status IN ('booked', 'confirmed', 'cancelled', 'completed', 'no_show')),
        created_by_turn TEXT,
        updated_by_turn TEXT,
        created_at      TEXT NOT NULL CHECK (created_at {_TS}),
        updated_at      TEXT NOT NULL CHECK (updated_at {_TS}),
        CHECK (end_utc > start_utc)
    );
    CREATE INDEX appointments_by_professional
        ON appointments (tenant_id, professional_id, start_utc);
    CREATE INDEX appointments_by_patient ON appointments (tenant_id, patient_phone, start_utc);

    CREATE TRIGGER appointments_no_overlap_insert
    BEFORE INSERT ON appointments
    WHEN NEW.status IN {_ACTIVE}
    BEGIN {_NO_OVERLAP} END;

    CREATE TRIGGER appointments_no_overlap_update
    BEFORE UPDATE OF tenant_id, professional_id, start_utc, end_utc, status ON appointments
    WHEN NEW.status IN {_ACTIVE}
    BEGIN {_NO_OVERLAP} END;

    CREATE TABLE turns (
        id              TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        tenant_id       TEXT NOT NULL,
        started_at      TEXT NOT NULL CHECK (started_at {_TS}),
        finished_at     TEXT CHECK (finished_at {_TS} AND finished_at >= started_at),
        model           TEXT,
        prompt_version  TEXT,
        tokens_in       INTEGER NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
        tokens_out      INTEGER NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
        outcome         TEXT
    );
    CREATE INDEX turns_by_conversation ON turns (conversation_id, started_at);
    """,
    # v1: the inbox, the outbox and human takeover. SQLite cannot alter a CHECK, so messages
    # is rebuilt (create, copy, drop, rename, index; see sqlite.org/lang_altertable.html),
    # keeping every row and its seq: v0 rows were written by the console path, so inbound
    # ones are the patient's with no inbox state, outbound ones the bot's.
    f"""
    CREATE TABLE messages_v1 (
        seq                 INTEGER PRIMARY KEY,
        id                  TEXT NOT NULL UNIQUE,
        conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        tenant_id           TEXT NOT NULL,
        direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        author              TEXT NOT NULL CHECK (author IN ('patient', 'bot', 'human')),
        channel             TEXT,
        kind                TEXT NOT NULL DEFAULT 'text',
        text                TEXT,
        status              TEXT NOT NULL CHECK (status IN ('received', 'queued', 'sending', 'sent',
                                                            'delivered', 'read', 'played', 'failed', 'dead')),
        state               TEXT CHECK (state IN ('pending', 'done', 'ignored')),
        provider_message_id TEXT,
        provider_ts         TEXT CHECK (provider_ts {_TS}),
        turn_id             TEXT,
        attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at     TEXT CHECK (next_attempt_at {_TS}),
        error               TEXT,
        meta                TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(meta)),
        created_at          TEXT NOT NULL CHECK (created_at {_TS}),
        -- patients write in, the clinic (bot or a person) writes out; only inbound has a state
        CHECK ((direction = 'in') = (author = 'patient')),
        CHECK (state IS NULL OR direction = 'in')
    );
    INSERT INTO messages_v1 (seq, id, conversation_id, tenant_id, direction, author, channel, kind,
                             text, status, provider_message_id, turn_id, meta, created_at)
    SELECT m.seq, m.id, m.conversation_id, m.tenant_id, m.direction,
           CASE m.direction WHEN 'in' THEN 'patient' ELSE 'bot' END,
           (SELECT c.channel FROM conversations AS c WHERE c.id = m.conversation_id),
           m.kind, m.text, m.status, m.provider_message_id, m.turn_id, m.meta, m.created_at
    FROM messages AS m;
    DROP TABLE messages;
    ALTER TABLE messages_v1 RENAME TO messages;
    CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
    CREATE UNIQUE INDEX messages_provider_id ON messages (tenant_id, provider_message_id)
        WHERE provider_message_id IS NOT NULL;
    -- the dispatcher's inbox: a conversation's pending messages in the order they were sent
    CREATE INDEX messages_inbox_pending ON messages (conversation_id, state, provider_ts)
        WHERE state = 'pending';
    -- the senders' outbox: queued rows that are due, and the dead letters
    CREATE INDEX messages_outbox_due ON messages (status, next_attempt_at) WHERE direction = 'out';

    ALTER TABLE conversations ADD COLUMN paused_until TEXT CHECK (paused_until {_TS});
    """,
    # v2: turns keep what they did (tool calls and the reply) for export and replay
    """
    ALTER TABLE turns ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]'
        CHECK (json_valid(tool_calls));
    ALTER TABLE turns ADD COLUMN reply TEXT;
    CREATE INDEX conversations_by_tenant ON conversations (tenant_id, created_at);
    """,
    # v3: when a sender claimed an outbound row, so a `sending` row counts as interrupted only
    # once its claim is older than a lease (several sender processes share one outbox)
    f"""
    ALTER TABLE messages ADD COLUMN claimed_at TEXT CHECK (claimed_at {_TS});
    """,
    # v4: poison messages, set aside by the webhooks because they could not be stored
    f"""
    CREATE TABLE poison_messages (
        seq                 INTEGER PRIMARY KEY,
        id                  TEXT NOT NULL UNIQUE,
        tenant_id           TEXT NOT NULL CHECK (tenant_id <> ''),
        channel             TEXT NOT NULL,
        provider_message_id TEXT,
        reason              TEXT NOT NULL,
        excerpt             TEXT NOT NULL DEFAULT '',
        received_at         TEXT NOT NULL CHECK (received_at {_TS})
    );
    CREATE INDEX poison_by_tenant ON poison_messages (tenant_id, received_at);
    -- a redelivered poison message is one record
    CREATE UNIQUE INDEX poison_provider_id ON poison_messages (tenant_id, channel, provider_message_id)
        WHERE provider_message_id IS NOT NULL;
    """,
    # v5: what atende writes first — reminders per appointment, the waitlist, clinic flags;
    # patients may opt out of proactive messages; appointments keep when they were confirmed
    # and why they were cancelled (a late cancellation answering a reminder)
    f"""
    CREATE TABLE reminders (
        seq                 INTEGER PRIMARY KEY,
        id                  TEXT NOT NULL UNIQUE,
        tenant_id           TEXT NOT NULL CHECK (tenant_id <> ''),
        appointment_id      TEXT NOT NULL REFERENCES appointments (id),
        kind                TEXT NOT NULL CHECK (kind <> ''),
        due_at              TEXT NOT NULL CHECK (due_at {_TS}),
        status              TEXT NOT NULL DEFAULT 'pending' CHECK (
            status IN ('pending', 'queued', 'sent', 'skipped', 'failed', 'cancelled')),
        reason              TEXT,
        message_id          TEXT,
        provider_message_id TEXT,
        sent_at             TEXT CHECK (sent_at {_TS}),
        created_at          TEXT NOT NULL CHECK (created_at {_TS}),
        updated_at          TEXT NOT NULL CHECK (updated_at {_TS}),
        UNIQUE (appointment_id, kind)
    );
    -- the tick: a clinic's pending reminders that are due
    CREATE INDEX reminders_due ON reminders (tenant_id, status, due_at);
    CREATE INDEX reminders_sent ON reminders (tenant_id, sent_at) WHERE sent_at IS NOT NULL;

    CREATE TABLE waitlist (
        seq                   INTEGER PRIMARY KEY,
        id                    TEXT NOT NULL UNIQUE,
        tenant_id             TEXT NOT NULL CHECK (tenant_id <> ''),
        patient_phone         TEXT NOT NULL,
        service_id            TEXT NOT NULL,
        professional_id       TEXT,
        period                TEXT CHECK (period IN ('manha', 'tarde', 'noite')),
        status                TEXT NOT NULL DEFAULT 'waiting' CHECK (
            status IN ('waiting', 'offered', 'booked', 'expired', 'removed')),
        offer_id              TEXT,
        offer_start_at        TEXT CHECK (offer_start_at {_TS}),
        offer_professional_id TEXT,
        offer_expires_at      TEXT CHECK (offer_expires_at {_TS}),
        appointment_id        TEXT,
        created_at            TEXT NOT NULL CHECK (created_at {_TS}),
        updated_at            TEXT NOT NULL CHECK (updated_at {_TS})
    );
    CREATE INDEX waitlist_by_tenant ON waitlist (tenant_id, status, seq);
    -- one open entry per patient and service
    CREATE UNIQUE INDEX waitlist_open ON waitlist (tenant_id, patient_phone, service_id)
        WHERE status IN ('waiting', 'offered');

    CREATE TABLE clinic_flags (
        tenant_id  TEXT NOT NULL CHECK (tenant_id <> ''),
        key        TEXT NOT NULL CHECK (key <> ''),
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL CHECK (updated_at {_TS}),
        PRIMARY KEY (tenant_id, key)
    );

    ALTER TABLE patients ADD COLUMN proactive_opt_out INTEGER NOT NULL DEFAULT 0
        CHECK (proactive_opt_out IN (0, 1));
    ALTER TABLE appointments ADD COLUMN confirmed_at TEXT CHECK (confirmed_at {_TS});
    ALTER TABLE appointments ADD COLUMN cancel_reason TEXT;
    """,
    # v6: the clinic's calendar core — conflicts with outside calendars (Google, Calendly) the
    # clinic settles, and blocked time (a professional's time off) availability respects
    f"""
    CREATE TABLE calendar_conflicts (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        tenant_id       TEXT NOT NULL CHECK (tenant_id <> ''),
        source          TEXT NOT NULL CHECK (source IN ('google', 'calendly')),
        external_id     TEXT NOT NULL CHECK (external_id <> ''),
        professional_id TEXT,
        starts_at       TEXT NOT NULL CHECK (starts_at {_TS}),
        ends_at         TEXT NOT NULL CHECK (ends_at {_TS} AND ends_at > starts_at),
        appointment_id  TEXT,
        appointment_key TEXT NOT NULL,  -- appointment_id or '': a redelivery is one row
        summary         TEXT NOT NULL CHECK (summary <> ''),
        created_at      TEXT NOT NULL CHECK (created_at {_TS}),
        resolved_at     TEXT CHECK (resolved_at {_TS}),
        UNIQUE (tenant_id, source, external_id, appointment_key)
    );
    CREATE INDEX calendar_conflicts_open ON calendar_conflicts (tenant_id, starts_at)
        WHERE resolved_at IS NULL;

    CREATE TABLE blocks (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        tenant_id       TEXT NOT NULL CHECK (tenant_id <> ''),
        professional_id TEXT NOT NULL CHECK (professional_id <> ''),
        starts_at       TEXT NOT NULL CHECK (starts_at {_TS}),
        ends_at         TEXT NOT NULL CHECK (ends_at {_TS} AND ends_at > starts_at),
        reason          TEXT NOT NULL DEFAULT '',
        created_by      TEXT,
        created_at      TEXT NOT NULL CHECK (created_at {_TS})
    );
    CREATE INDEX blocks_by_professional ON blocks (tenant_id, professional_id, starts_at);
    """,
    # v7: appointments an outside system booked (Calendly): who booked it (`source`) and that
    # system's id for it (`external_ref`, unique per clinic: a redelivered webhook finds it)
    """
    ALTER TABLE appointments ADD COLUMN source TEXT NOT NULL DEFAULT 'atende' CHECK (source <> '');
    ALTER TABLE appointments ADD COLUMN external_ref TEXT CHECK (external_ref <> '');
    CREATE UNIQUE INDEX appointments_external_ref ON appointments (tenant_id, external_ref)
        WHERE external_ref IS NOT NULL;
    """,
    # v8: Google per clinic — one OAuth connection (tokens encrypted by the app), the states
    # of consent flows (single use), the calendars associated with professionals
    f"""
    CREATE TABLE google_connections (
        tenant_id         TEXT PRIMARY KEY CHECK (tenant_id <> ''),
        status            TEXT NOT NULL DEFAULT 'connected' CHECK (
            status IN ('connected', 'needs_reconnect')),
        refresh_token_enc TEXT NOT NULL CHECK (refresh_token_enc <> ''),
        access_token_enc  TEXT,
        expires_at        TEXT CHECK (expires_at {_TS}),
        scopes            TEXT NOT NULL DEFAULT '',
        reason            TEXT,
        lease_until       TEXT CHECK (lease_until {_TS}),
        connected_at      TEXT NOT NULL CHECK (connected_at {_TS}),
        updated_at        TEXT NOT NULL CHECK (updated_at {_TS})
    );

    CREATE TABLE google_oauth_states (
        id         TEXT PRIMARY KEY,
        tenant_id  TEXT NOT NULL CHECK (tenant_id <> ''),
        expires_at TEXT NOT NULL CHECK (expires_at {_TS}),
        used_at    TEXT CHECK (used_at {_TS}),
        created_at TEXT NOT NULL CHECK (created_at {_TS})
    );
    CREATE INDEX google_oauth_states_by_tenant ON google_oauth_states (tenant_id, expires_at);

    CREATE TABLE google_calendars (
        tenant_id       TEXT NOT NULL CHECK (tenant_id <> ''),
        calendar_id     TEXT NOT NULL CHECK (calendar_id <> ''),
        professional_id TEXT NOT NULL CHECK (professional_id <> ''),
        summary         TEXT,
        created_at      TEXT NOT NULL CHECK (created_at {_TS}),
        PRIMARY KEY (tenant_id, calendar_id)
    );
    """,
    # v9: clinic configuration versions, staff accounts, their tokens and login attempts
    # (supabase/migrations/20261208000400_tenant_config.sql); each turn records its config version
    f"""
    CREATE TABLE tenant_configs (
        tenant_id   TEXT NOT NULL CHECK (tenant_id <> ''),
        version     INTEGER NOT NULL CHECK (version > 0),
        document    TEXT NOT NULL CHECK (json_valid(document)),
        author      TEXT NOT NULL CHECK (author <> ''),
        note        TEXT,
        rollback_of INTEGER,
        created_at  TEXT NOT NULL CHECK (created_at {_TS}),
        PRIMARY KEY (tenant_id, version)
    );
    -- the version in force per clinic: one tiny row each, what every process polls
    CREATE TABLE tenant_config_heads (
        tenant_id  TEXT PRIMARY KEY CHECK (tenant_id <> ''),
        version    INTEGER NOT NULL,
        updated_at TEXT NOT NULL CHECK (updated_at {_TS})
    );

    CREATE TABLE staff_users (
        id            TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL CHECK (tenant_id <> ''),
        email         TEXT NOT NULL UNIQUE CHECK (email <> '' AND email = lower(email)),
        name          TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('owner', 'reception', 'readonly')),
        password_hash TEXT NOT NULL,
        active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at    TEXT NOT NULL CHECK (created_at {_TS}),
        updated_at    TEXT NOT NULL CHECK (updated_at {_TS})
    );
    CREATE INDEX staff_users_by_tenant ON staff_users (tenant_id, email);

    CREATE TABLE staff_tokens (
        id           TEXT PRIMARY KEY,
        tenant_id    TEXT NOT NULL CHECK (tenant_id <> ''),
        staff_id     TEXT NOT NULL REFERENCES staff_users (id),
        kind         TEXT NOT NULL CHECK (kind IN ('api', 'session')),
        name         TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        created_at   TEXT NOT NULL CHECK (created_at {_TS}),
        expires_at   TEXT CHECK (expires_at {_TS}),
        last_used_at TEXT CHECK (last_used_at {_TS}),
        revoked_at   TEXT CHECK (revoked_at {_TS})
    );
    CREATE INDEX staff_tokens_by_staff ON staff_tokens (tenant_id, staff_id);

    CREATE TABLE login_attempts (
        id         INTEGER PRIMARY KEY,
        email      TEXT NOT NULL,
        ip         TEXT NOT NULL,
        ok         INTEGER NOT NULL CHECK (ok IN (0, 1)),
        created_at TEXT NOT NULL CHECK (created_at {_TS})
    );
    CREATE INDEX login_attempts_recent ON login_attempts (email, ip, created_at);

    ALTER TABLE turns ADD COLUMN config_version INTEGER;
    """,
    # v10: the clinic's Google Calendars: busy time mirrored from them, each calendar's sync
    # state, the push channels watching them, and the jobs writing bookings there
    f"""
    CREATE TABLE calendar_busy (
        tenant_id       TEXT NOT NULL CHECK (tenant_id <> ''),
        professional_id TEXT NOT NULL,
        calendar_id     TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        starts_at       TEXT NOT NULL CHECK (starts_at {_TS}),
        ends_at         TEXT NOT NULL CHECK (ends_at {_TS}),
        summary         TEXT NOT NULL DEFAULT '',
        updated_at      TEXT NOT NULL CHECK (updated_at {_TS}),
        PRIMARY KEY (tenant_id, calendar_id, event_id)
    );
    CREATE INDEX calendar_busy_by_time ON calendar_busy (tenant_id, starts_at);

    CREATE TABLE calendar_sync (
        tenant_id   TEXT NOT NULL CHECK (tenant_id <> ''),
        calendar_id TEXT NOT NULL,
        sync_token  TEXT,
        synced_at   TEXT CHECK (synced_at {_TS}),
        updated_at  TEXT NOT NULL CHECK (updated_at {_TS}),
        PRIMARY KEY (tenant_id, calendar_id)
    );

    CREATE TABLE calendar_channels (
        tenant_id   TEXT NOT NULL CHECK (tenant_id <> ''),
        channel_id  TEXT NOT NULL,
        calendar_id TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        token_hash  TEXT NOT NULL,
        expires_at  TEXT NOT NULL CHECK (expires_at {_TS}),
        created_at  TEXT NOT NULL CHECK (created_at {_TS}),
        PRIMARY KEY (tenant_id, channel_id)
    );

    CREATE TABLE calendar_jobs (
        id             TEXT PRIMARY KEY,
        tenant_id      TEXT NOT NULL CHECK (tenant_id <> ''),
        appointment_id TEXT NOT NULL REFERENCES appointments (id),
        action         TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
        version        TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_at        TEXT NOT NULL CHECK (next_at {_TS}),
        last_error     TEXT,
        done_at        TEXT CHECK (done_at {_TS}),
        created_at     TEXT NOT NULL CHECK (created_at {_TS}),
        UNIQUE (appointment_id, action, version)
    );
    CREATE INDEX calendar_jobs_due ON calendar_jobs (tenant_id, next_at) WHERE done_at IS NULL;
    """,
]
