"""The `Store` protocol every persistence backend implements: each method's contract, stated once
(the records it returns are in `records.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .records import (
    ACTIVE_STATUSES,
    OPEN_REMINDER,
    Appointment,
    AppointmentStatus,
    Block,
    BusySpan,
    CalendarBusy,
    CalendarChannel,
    CalendarConflict,
    CalendarJob,
    CalendarJobAction,
    CalendarLink,
    CalendarSyncState,
    Conversation,
    ConversationStatus,
    Direction,
    ExternalWrite,
    GoogleConnection,
    LeadStage,
    Message,
    MessageStatus,
    NewAppointment,
    Patient,
    Period,
    PoisonMessage,
    ProviderStatus,
    Reminder,
    ReminderStatus,
    StaffRole,
    StaffToken,
    StaffUser,
    TenantConfig,
    TokenKind,
    Turn,
    WaitlistEntry,
    WaitlistStatus,
)

if TYPE_CHECKING:
    from atende.reminders.plan import Planned


class Store(Protocol):
    """Persistence of one deployment: every method is tenant-scoped and atomic.

    Booking is refused by the database itself when it overlaps an active appointment of the
    same professional (`SlotUnavailable`); cancelling or moving someone else's appointment is
    `NotFound`, because the query is scoped by the patient's phone.
    """

    url: str

    async def setup(self) -> None:
        """Create or migrate the schema; idempotent."""

    async def close(self) -> None: ...

    # patients / leads
    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None: ...

    async def upsert_patient(
        self, tenant_id: str, phone: str, *, source: str | None = None
    ) -> Patient:
        """Return the patient, creating a `new` lead on first contact."""

    async def update_patient(
        self,
        tenant_id: str,
        phone: str,
        *,
        name: str | None = None,
        stage: LeadStage | None = None,
        interest: str | None = None,
        source: str | None = None,
        add_note: str | None = None,
        proactive_opt_out: bool | None = None,
    ) -> Patient:
        """Set the given fields (None leaves a field as it is); notes are appended.
        `proactive_opt_out=True`: the patient asked for no reminders or offers."""

    # conversations and messages
    async def get_or_create_conversation(
        self, tenant_id: str, phone: str, channel: str
    ) -> Conversation: ...

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def set_conversation_status(
        self, conversation_id: str, status: ConversationStatus, *, reason: str | None = None
    ) -> Conversation: ...

    async def add_message(
        self,
        conversation_id: str,
        *,
        direction: Direction,
        text: str | None,
        kind: str = "text",
        status: MessageStatus = "received",
        provider_message_id: str | None = None,
        turn_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message: ...

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        """The newest `limit` messages, oldest first."""

    # appointments
    async def book_appointment(self, new: NewAppointment, *, reminders: Sequence[Planned] = ()
                               ) -> Appointment:
        """Insert a `booked` appointment; `SlotUnavailable` if it overlaps an active one. Its
        `reminders` (`reminders.plan.plan`) are written in the same transaction."""

    async def get_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str | None = None
    ) -> Appointment | None: ...

    async def list_appointments(
        self,
        tenant_id: str,
        *,
        patient_phone: str | None = None,
        professional_id: str | None = None,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        statuses: tuple[AppointmentStatus, ...] | None = ACTIVE_STATUSES,
    ) -> list[Appointment]:
        """Ordered by start; `statuses=None` for all."""

    async def cancel_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, turn_id: str | None = None,
        reason: str | None = None,
    ) -> Appointment:
        """Cancel the patient's own active appointment (`reason` kept as `cancel_reason`, e.g.
        a late cancellation answering a reminder); `NotFound` otherwise. Its open reminders are
        cancelled and those already queued in the outbox never go out, in the same transaction."""

    async def confirm_appointment(
        self, tenant_id: str, appointment_id: str, *, patient_phone: str, turn_id: str | None = None
    ) -> Appointment:
        """The patient's own active appointment becomes `confirmed` (`confirmed_at` now);
        `NotFound` otherwise."""

    async def reschedule_appointment(
        self,
        tenant_id: str,
        appointment_id: str,
        *,
        patient_phone: str,
        professional_id: str,
        start: datetime,
        end: datetime,
        turn_id: str | None = None,
        reminders: Sequence[Planned] = (),
    ) -> Appointment:
        """Move the patient's own active appointment atomically (`SlotUnavailable` on overlap);
        its reminders are planned again from `reminders` (those already queued do not go out;
        the booking confirmation is kept), in the same transaction."""

    # appointments an outside system booked (Calendly), by that system's id
    async def external_appointment(self, tenant_id: str, external_ref: str) -> Appointment | None:
        """The appointment with this `external_ref` in the clinic (any status), or None."""

    async def external_book(self, new: NewAppointment, *, replaces: str | None = None,
                            replaced_reason: str = "rescheduled") -> ExternalWrite:
        """Book `new` (its `source` not atende, its `external_ref` set; `patient_phone` E.164 or
        `NO_PHONE`) as it happened elsewhere: no booking policy, no reminders, but
        `SlotUnavailable` if it overlaps an active appointment of the professional. Already
        there (any status): unchanged (`changed` False). `replaces`: the external_ref of the
        appointment it moves on from, cancelled with `replaced_reason` in the same transaction
        (before the insert, so a small shift does not collide with itself)."""

    async def external_cancel(self, new: NewAppointment, *, reason: str) -> ExternalWrite:
        """Cancel the active appointment with `new.external_ref` (`cancel_reason` = `reason`;
        its open reminders closed). Already cancelled: unchanged. Never seen: stored cancelled,
        so its booking arriving later changes nothing."""

    # inbox (webhooks → dispatcher)
    async def inbox_add(
        self,
        tenant_id: str,
        phone: str,
        *,
        channel: str,
        provider_message_id: str,
        provider_ts: datetime,
        kind: str,
        text: str | None,
        meta: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Store an inbound message as `pending`, creating patient and conversation on first
        contact; idempotent on (tenant, provider_message_id): a redelivery returns the stored
        row and False. Moves `conversation.last_inbound_at` forward (the 24-hour window)."""

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        """Pending inbound messages of a conversation, by provider timestamp then arrival."""

    async def conversations_with_pending(self) -> list[Conversation]:
        """Conversations that have pending inbound messages (picked up again after a restart)."""

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        """Mark pending inbound messages as handled without a reply (`meta["ignored_reason"]`);
        messages already done or ignored, and unknown ids, are left as they are."""

    async def complete_turn(
        self,
        conversation_id: str,
        *,
        inbox_ids: list[str],
        turn_id: str | None,
        replies: list[str],
        meta: dict[str, Any] | None = None,
        last_meta: dict[str, Any] | None = None,
    ) -> list[Message]:
        """In one transaction: mark `inbox_ids` done (with `turn_id`) and queue `replies` as
        outbound rows (author bot, status queued), in order; `last_meta` joins the last row's
        meta (what goes out with the reply's final bubble: the options it offers). If any of
        `inbox_ids` is no longer pending, nothing is written and [] is returned: nothing is
        answered twice. No `inbox_ids` queues the replies alone; `NotFound` for an unknown
        conversation."""

    # outbox (dispatcher → senders)
    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        """Queued outbound rows whose `next_attempt_at` is due (or unset), oldest first."""

    async def outbox_claim(self, message_id: str) -> Message | None:
        """queued → sending, atomically (None if someone else took it or it is not queued);
        increments `attempts` and records the claim time, by the store's clock (the start of
        the claim's lease, see `outbox_recover`; SQLite: column `claimed_at`, migration v3)."""

    async def outbox_result(
        self,
        message_id: str,
        *,
        status: Literal["sent", "queued", "failed", "dead"],
        provider_message_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> Message:
        """Record a send attempt: sent (with the provider id), queued again for a retry at
        `next_attempt_at` (None: at once), failed (a definitive 4xx) or dead (retries exhausted).

        `sent` is always recorded, whatever happened to the row meanwhile (e.g. `outbox_recover`
        marked it failed): it did go out, and its provider id is what status callbacks and echo
        detection look up. The other results apply only to a row still `sending` (the claim they
        report on); otherwise the row is returned unchanged. `NotFound` for an unknown id."""

    async def outbox_recover(self, *, lease: timedelta | None = None) -> int:
        """Rows left `sending` by a sender that died are marked failed (they may have gone out;
        resending could answer twice). Returns how many.

        `lease=None`: every `sending` row — right only for the one sender of a single-process
        deployment, at its start-up. With several sender processes (`atende worker`), a row
        another live process claimed a moment ago is not interrupted: pass `lease` and only rows
        whose claim (`outbox_claim`) is older than `lease` count, measured by the store's own
        clock — on Postgres the database's `now()`, one clock for every machine. Each sender
        calls it periodically (OUTBOX_LEASE by default), not only at start-up.

        Backends: record the claim time in `outbox_claim` (SQLite: `messages.claimed_at`,
        migration v3; Postgres: the same column in a new migration, set to now() by the claim,
        and `atende_outbox_recover(error, lease interval)` updating only `sending` rows with
        `claimed_at IS NULL OR claimed_at <= now() - lease`, NULL lease = all). A row claimed
        before the column existed (NULL) counts as expired."""

    async def dead_letters(self, tenant_id: str | None = None, *, limit: int = 100) -> list[Message]:
        """Outbound rows that failed or died, newest first."""

    async def apply_status(
        self,
        tenant_id: str,
        provider_message_id: str,
        status: ProviderStatus,
        *,
        error: str | None = None,
    ) -> bool:
        """Apply a provider status callback to our outbound row; never moves backwards
        (DELIVERY_RANK); `failed` only applies before delivered. False if unknown or no change.
        A row marked failed or dead counts as below `sent`: a later sign of delivery replaces it."""

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        """Our own outbound message with that provider id (tells the bot's echoes apart)."""

    # human takeover
    async def record_human_message(
        self,
        conversation_id: str,
        *,
        text: str | None,
        kind: str = "text",
        provider_message_id: str | None,
        provider_ts: datetime | None,
    ) -> tuple[Message, bool]:
        """Store a message a person at the clinic sent by hand (author human, direction out,
        status sent); idempotent on the provider id like `inbox_add`. Does not pause the bot:
        that is `pause_conversation`."""

    async def human_messages_since(self, conversation_id: str, since: datetime | None
                                   ) -> list[Message]:
        """Messages people at the clinic sent or we stored at or after `since` (None: all), in the
        order they were sent (to tell the bot what was said). Inclusive to the second."""

    async def pause_conversation(self, conversation_id: str, *, until: datetime | None,
                                 reason: str) -> Conversation:
        """Hand the conversation to a human: status human until `until` (None: until resumed).
        Pausing again while paused replaces the reason and `until` but keeps `handoff_at`."""

    async def resume_conversation(self, conversation_id: str) -> Conversation:
        """Give the conversation back to the bot."""

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None: ...

    # turns
    async def start_turn(self, conversation_id: str, tenant_id: str, *, model: str,
                         prompt_version: str, config_version: int | None = None) -> Turn:
        """Record a turn starting now, with the model, the prompt version and the clinic
        configuration version it runs with; NotFound if the conversation is not the tenant's."""

    async def finish_turn(self, turn_id: str, *, outcome: str, tokens_in: int = 0,
                          tokens_out: int = 0, tool_calls: list[dict[str, Any]] | None = None,
                          reply: str | None = None) -> Turn: ...

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        """A conversation's turns, oldest first."""

    async def list_conversations(
        self, tenant_id: str, *, phone: str | None = None, since: datetime | None = None
    ) -> list[Conversation]:
        """A tenant's conversations (optionally one phone, or active since a time), oldest first."""

    async def purge_bodies(self, tenant_id: str, *, before: datetime) -> int:
        """LGPD retention: blank the text and transcript of a tenant's messages created before
        `before`, and the replies kept on its turns; appointments and the rest are kept.
        Returns how many messages were blanked."""

    # poison messages (webhooks → ops)
    async def add_poison(
        self,
        tenant_id: str,
        *,
        channel: str,
        reason: str,
        provider_message_id: str | None = None,
        excerpt: str = "",
    ) -> PoisonMessage:
        """Keep a message that could not be stored, with its reason (received now, by the
        store's clock); idempotent on (tenant, channel, provider_message_id) when the id is
        known: a redelivery returns the first record."""

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100
                          ) -> list[PoisonMessage]:
        """Poison records of a tenant (or every tenant), newest first."""

    async def annotate_message(self, message_id: str, meta: dict[str, Any]) -> Message:
        """Merge `meta` into a stored message's meta (e.g. the transcript of a voice note)."""

    # what atende writes first: reminders (one per appointment and kind), the waitlist, flags
    async def reminders_due(self, tenant_id: str, now: datetime, *, limit: int = 500
                            ) -> list[Reminder]:
        """The clinic's `pending` reminders due at `now`, oldest due first."""

    async def list_reminders(self, tenant_id: str, *,
                             statuses: Sequence[ReminderStatus] | None = None,
                             appointment_id: str | None = None, limit: int = 200
                             ) -> list[Reminder]:
        """The clinic's reminders (of some statuses, of one appointment), by due time."""

    async def reminder_defer(self, tenant_id: str, reminder_id: str, due_at: datetime) -> bool:
        """Move a still `pending` reminder to `due_at`; False if it is no longer pending."""

    async def reminder_enqueue(self, tenant_id: str, reminder_id: str, conversation_id: str, *,
                               text: str, meta: dict[str, Any]) -> Message | None:
        """In one transaction: the reminder goes `pending` → `queued` (with `sent_at` now and
        the message's id) and its outbound message is queued in the conversation. None when it
        was no longer pending (another tick took it) or the conversation is not the clinic's:
        each reminder reaches the outbox at most once, whatever the number of ticks."""

    async def reminder_settle(self, tenant_id: str, reminder_id: str, status: ReminderStatus, *,
                              reason: str | None = None, provider_message_id: str | None = None,
                              from_statuses: Sequence[ReminderStatus] = OPEN_REMINDER) -> bool:
        """Set a reminder's status (and reason, provider id) if it is in `from_statuses`."""

    async def reminders_catch_up(self, tenant_id: str) -> int:
        """Settle the clinic's `queued` reminders whose outbound message already ended but whose
        sender died before settling them: `sent` (with the provider id) when the message went
        out, `failed` with the message's error when it failed, was dead-lettered or was
        interrupted mid-send (`INTERRUPTED`: it may have gone out, so it is never resent).
        Returns how many; the reminder tick calls it."""

    async def latest_reminder(self, tenant_id: str, patient_phone: str, *, since: datetime
                              ) -> Reminder | None:
        """The latest reminder (not the booking confirmation) queued or sent to the patient
        since `since` about one of their active appointments (or whose send was interrupted:
        it may have arrived): what their answer is about."""

    async def proactive_facts(self, tenant_id: str, patient_phone: str, *, since: datetime,
                              now: datetime | None) -> tuple[Reminder | None, WaitlistEntry | None]:
        """What a turn's prompt says atende sent the patient first, read together: the
        `latest_reminder` since `since`, and the waitlist offer held for them at `now` (not
        asked when `now` is None)."""

    async def proactive_sent_since(self, tenant_id: str, since: datetime) -> int:
        """How many reminders the clinic handed to the outbox since `since` (its send caps)."""

    async def clinic_flags(self, tenant_id: str) -> dict[str, str]:
        """The clinic's flags: `template_failing:<name>`, `proactive_paused:<why>` → detail."""

    async def set_clinic_flag(self, tenant_id: str, key: str, value: str | None) -> None:
        """Set a flag (`value`), or clear it (None)."""

    async def waitlist_add(self, tenant_id: str, patient_phone: str, *, service_id: str,
                           professional_id: str | None = None, period: Period | None = None
                           ) -> WaitlistEntry:
        """Put the patient on the service's waitlist (`waiting`); one open entry per patient and
        service: asking again updates the professional and period."""

    async def waitlist_list(self, tenant_id: str, *,
                            statuses: Sequence[WaitlistStatus] | None = None
                            ) -> list[WaitlistEntry]:
        """The clinic's waitlist entries, first come first."""

    async def waitlist_offer(self, tenant_id: str, entry_id: str, *, offer_id: str,
                             start: datetime, professional_id: str, expires_at: datetime,
                             conversation_id: str, text: str, meta: dict[str, Any]
                             ) -> WaitlistEntry | None:
        """In one transaction: a `waiting` entry becomes `offered` (the slot held for it until
        `expires_at`) and the offer is queued in its conversation; None if it was not waiting."""

    async def waitlist_settle(self, tenant_id: str, entry_id: str, status: WaitlistStatus, *,
                              from_status: WaitlistStatus, appointment_id: str | None = None
                              ) -> bool:
        """Move an entry from `from_status` to `status` (booked: with its appointment)."""

    async def waitlist_offered(self, tenant_id: str, patient_phone: str, now: datetime
                               ) -> WaitlistEntry | None:
        """The offer held for the patient now (not expired), if any."""

    # clinic configuration (versions of the validated tenant document)

    async def config_put(self, tenant_id: str, document: dict[str, Any], *, author: str,
                         note: str | None = None, rollback_of: int | None = None
                         ) -> tuple[TenantConfig, bool]:
        """Make `document` (a validated `Tenant` dumped as JSON) the clinic's configuration: a
        new version (the next number), in force at once; and True. When it equals the version
        in force nothing is written: that version, and False. A rollback (`rollback_of`: the
        version it restores) always writes its version, so the history shows it."""

    async def config_get(self, tenant_id: str, version: int | None = None) -> TenantConfig | None:
        """Version `version` of the clinic's configuration, or the one in force (None); None
        when there is no such version."""

    async def config_history(self, tenant_id: str, *, limit: int = 100) -> list[TenantConfig]:
        """The clinic's configuration versions, newest first."""

    async def config_heads(self) -> dict[str, int]:
        """Every clinic's version in force (tenant id → version): a cheap read each process
        polls to notice a change written by another."""

    # staff: accounts, tokens, login attempts

    async def staff_add(self, tenant_id: str, email: str, *, name: str, role: StaffRole,
                        password_hash: str) -> StaffUser:
        """Create a staff account of the clinic; the e-mail (lower-cased) is unique across
        clinics, since a login names none: InvalidInput when it is taken or not an e-mail."""

    async def staff_list(self, tenant_id: str) -> list[StaffUser]:
        """The clinic's staff accounts, by e-mail."""

    async def staff_get(self, tenant_id: str, staff_id: str) -> StaffUser | None:
        """One of the clinic's accounts; None for an unknown id or another clinic's."""

    async def staff_by_email(self, email: str) -> StaffUser | None:
        """The account with this e-mail, of whichever clinic (a login); None if none."""

    async def staff_set_password(self, tenant_id: str, staff_id: str, password_hash: str) -> bool:
        """Replace the account's password hash and end its open sessions; False if no such
        account in this clinic."""

    async def staff_token_add(self, tenant_id: str, staff_id: str, *, kind: TokenKind, name: str,
                              token_hash: str, expires_at: datetime | None = None) -> StaffToken:
        """Store a token (its sha256 only) for one of the clinic's accounts: an integration's
        API token (`api`) or a login session (`session`); InvalidInput for an unknown account."""

    async def staff_token_use(self, token_hash: str, now: datetime
                              ) -> tuple[StaffToken, StaffUser] | None:
        """The token with this hash and its account, if the token is neither revoked nor
        expired at `now` and the account is active; marks it used (`last_used_at`)."""

    async def staff_tokens(self, tenant_id: str, *, staff_id: str | None = None) -> list[StaffToken]:
        """The clinic's tokens (of one account), oldest first, revoked ones included."""

    async def staff_token_revoke(self, tenant_id: str, token_id: str, now: datetime) -> bool:
        """Revoke one of the clinic's tokens; False if unknown, another clinic's or already
        revoked."""

    async def login_attempt(self, email: str, ip: str, *, ok: bool, now: datetime) -> None:
        """Record a login attempt for `email` from `ip` (whether or not the account exists)."""

    async def login_failures(self, email: str, ip: str, *, since: datetime) -> int:
        """Failed login attempts for `email` from `ip` since `since` (rate limiting)."""
    # the clinic's calendars: conflicts with outside calendars, blocked time
    async def conflict_add(self, tenant_id: str, *, source: str, external_id: str,
                           professional_id: str | None, starts_at: datetime, ends_at: datetime,
                           appointment_id: str | None, summary: str) -> CalendarConflict:
        """Record that an outside calendar's item (`source` 'google' | 'calendly'; `external_id`
        the event id or invitee URI) overlaps `appointment_id` (None: no booking, e.g. it could
        not be placed), with the pt-BR `summary` staff read. Idempotent on (tenant, source,
        external_id, appointment_id): a redelivery returns the existing row, resolved or not.
        `ValueError` for an unknown source, an empty id or summary, naive instants or an end not
        after the start."""

    async def conflicts_list(self, tenant_id: str, *, open_only: bool = True, limit: int = 100
                             ) -> list[CalendarConflict]:
        """The clinic's conflicts (only unresolved ones unless `open_only=False`), earliest
        first."""

    async def conflict_resolve(self, tenant_id: str, conflict_id: str) -> CalendarConflict:
        """Mark a conflict settled (again: unchanged). `NotFound` for an unknown id or another
        clinic's."""

    async def block_add(self, tenant_id: str, professional_id: str, *, starts_at: datetime,
                        ends_at: datetime, reason: str = "", created_by: str | None = None
                        ) -> Block:
        """Block a professional's time (time off, a blocked period): never offered, never
        bookable. `ValueError` for naive instants, an end not after the start, or a period
        longer than `records.BLOCK_MAX`. Whether the professional exists is the caller's check
        (the tenant file knows them)."""

    async def blocks_between(self, tenant_id: str, start: datetime, end: datetime,
                             professional_ids: Sequence[str] | None = None) -> list[Block]:
        """Blocks overlapping [start, end) (of `professional_ids` only, when given), by start."""

    async def busy_spans(self, tenant_id: str, start: datetime, end: datetime, *,
                         professional_ids: Sequence[str] | None = None,
                         exclude_appointment: str | None = None) -> list[BusySpan]:
        """What takes [start, end) of `professional_ids` (all when None), in one read and
        no particular order: active appointments (but `exclude_appointment`, the one being
        moved) and blocks, only their spans: the read availability makes."""

    async def block_remove(self, tenant_id: str, block_id: str, *,
                           professional_id: str | None = None) -> Block:
        """Delete a block and return it; `NotFound` for an unknown id, another clinic's, or
        (when `professional_id` is given) another professional's."""

    # Google per clinic (memory/shared/google.py; tokens arrive and leave encrypted)

    async def google_state_open(self, tenant_id: str, state_id: str, expires_at: datetime) -> None:
        """Record a consent flow's state, unused and valid until `expires_at`. The clinic's
        earlier unused states are closed: one flow at a time (every consent issues a refresh
        token, and Google silently invalidates old ones past a limit)."""

    async def google_state_use(self, tenant_id: str, state_id: str) -> bool:
        """Use a state once: True only for the first use of an unexpired state of this clinic
        (a conditional update, so a replay in any process is refused)."""

    async def google_connection(self, tenant_id: str) -> GoogleConnection | None:
        """The clinic's Google connection, if it ever connected (and did not disconnect)."""

    async def google_connect(self, tenant_id: str, *, refresh_token_enc: str | None,
                             access_token_enc: str, expires_at: datetime, scopes: str
                             ) -> GoogleConnection | None:
        """Store what a code exchange gave: status `connected`, the reason and any refresh lease
        cleared. Without a refresh token (Google did not send one) the stored one is kept; None
        when there is none to keep (nothing is written)."""

    async def google_refresh_claim(self, tenant_id: str, lease_until: datetime
                                   ) -> GoogleConnection | None:
        """Take the clinic's refresh lease until `lease_until`: the connection if this caller won
        it (it is `connected` and no unexpired lease is held), None otherwise."""

    async def google_refreshed(self, tenant_id: str, *, access_token_enc: str,
                               refresh_token_enc: str | None, expires_at: datetime, scopes: str
                               ) -> bool:
        """Store a refreshed access token and release the lease; a None refresh token (Google
        sends none on refresh) or empty scopes keep the stored ones. False if the connection is
        gone or no longer `connected`."""

    async def google_access_refused(self, tenant_id: str) -> None:
        """Google refused the stored access token (401): it counts as expired now, so the next
        caller refreshes it."""

    async def google_refresh_release(self, tenant_id: str) -> None:
        """Release the refresh lease after a refresh that failed for a passing reason."""

    async def google_needs_reconnect(self, tenant_id: str, reason: str) -> bool:
        """The grant is dead (`invalid_grant`): status `needs_reconnect` with `reason`, the access
        token dropped, the lease released. True if it was `connected` until now."""

    async def google_disconnect(self, tenant_id: str) -> GoogleConnection | None:
        """Delete the clinic's connection, its calendar associations and its open states in one
        transaction; the deleted connection (to revoke its token), or None if there was none."""

    async def google_calendars_set(self, tenant_id: str, links: Sequence[CalendarLink]
                                   ) -> list[CalendarLink]:
        """Replace the clinic's calendar associations with `links` (one professional per
        calendar); the associations now stored."""

    async def google_calendars(self, tenant_id: str) -> list[CalendarLink]:
        """The clinic's calendars associated with professionals, by professional."""

    # the clinic's external calendars (integrations/google/): busy time, sync state, channels
    async def calendar_apply(self, tenant_id: str, calendar_id: str, *, professional_id: str,
                             busy: Sequence[CalendarBusy] = (), removed: Sequence[str] = (),
                             reset: bool = False, sync_token: str | None = None) -> None:
        """Apply one page of a calendar's sync in one transaction: `reset` (a full sync
        starting, e.g. after 410, or a calendar no longer associated) first drops the
        calendar's busy rows and its sync state (token and `synced_at`: the copy is not whole);
        then the events in `removed` are dropped and `busy` rows upserted on (tenant, calendar,
        event) for `professional_id` (their own tenant and calendar fields are ignored); a
        `sync_token` (the last page) is stored with `synced_at` now. `ValueError` for a busy
        row that ends before it starts."""

    async def calendar_busy(self, tenant_id: str, *, start: datetime, end: datetime,
                            professional_ids: Sequence[str] | None = None
                            ) -> list[CalendarBusy]:
        """Busy rows overlapping [start, end) (of these professionals; None: all), by start."""

    async def calendar_sync_states(self, tenant_id: str) -> list[CalendarSyncState]:
        """Each synced calendar's token and last finished sync, by calendar id."""

    async def calendar_channel_add(self, tenant_id: str, *, channel_id: str, calendar_id: str,
                                   resource_id: str, token_hash: str, expires_at: datetime
                                   ) -> CalendarChannel:
        """Record a push channel (the token only as its hash); channel ids are unique per
        tenant (a duplicate raises the backend's integrity error)."""

    async def calendar_channels(self, tenant_id: str, *, channel_id: str | None = None,
                                expiring_before: datetime | None = None
                                ) -> list[CalendarChannel]:
        """The clinic's push channels (one, by id; or those expiring before a time), soonest
        to expire first."""

    async def calendar_channel_remove(self, tenant_id: str, channel_id: str) -> bool:
        """Forget a channel (stopped or replaced); False if it was not there."""

    async def calendar_job_add(self, tenant_id: str, appointment_id: str,
                               action: CalendarJobAction, *, version: str, due_at: datetime
                               ) -> CalendarJob | None:
        """Queue writing the clinic's appointment to its calendar (`create`, `update` or
        `delete`), due at `due_at`; idempotent on (appointment, action, version): None when
        that job exists already or the appointment is not the clinic's."""

    async def calendar_jobs_claim(self, tenant_id: str, now: datetime, *, lease_until: datetime,
                                  limit: int = 20) -> list[CalendarJob]:
        """Take up to `limit` unfinished jobs due at `now`, oldest first: each one's `attempts`
        goes up and its `next_at` moves to `lease_until`, atomically, so another loop does not
        take it meanwhile (a job whose runner died is due again after the lease)."""

    async def calendar_job_settle(self, tenant_id: str, job_id: str, *,
                                  retry_at: datetime | None = None, error: str | None = None
                                  ) -> bool:
        """A job done (`retry_at` None: `done_at` now) or to be retried at `retry_at`, with
        the last error; False if it is unknown or already done."""

    async def calendar_jobs(self, tenant_id: str, *, appointment_id: str | None = None
                            ) -> list[CalendarJob]:
        """The clinic's calendar jobs (of one appointment), oldest first."""
