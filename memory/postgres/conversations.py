"""The Postgres store's people and talk: patients, conversations, messages, human takeover, turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atende.errors import NotFound

from ..contention import retrying
from ..sqlite.rows import (
    CONVERSATION_NOT_FOUND,
    MESSAGE_NOT_FOUND,
    MESSAGE_STATUSES,
    TURN_NOT_FOUND,
    check_choice,
    check_phone,
)
from ..store import (
    LEAD_STAGES,
    Conversation,
    ConversationStatus,
    Direction,
    LeadStage,
    Message,
    MessageStatus,
    Patient,
    Turn,
)
from .base import PostgresBase
from .rows import Conn, as_uuid, fetch_one, jsonb, merge_patch, must, utc

# A handoff that finds the bot already paused keeps its start: extending a pause is not a new one.
_PAUSE = (
    "UPDATE conversations SET status = 'human', handoff_reason = %(reason)s,"
    " paused_until = %(until)s,"
    " handoff_at = CASE WHEN status = 'human' AND handoff_at IS NOT NULL"
    "   AND (paused_until IS NULL OR paused_until > %(now)s) THEN handoff_at ELSE %(now)s END"
    " WHERE id = %(id)s RETURNING *"
)
_RESUME = (
    "UPDATE conversations SET status = 'active', handoff_reason = NULL, handoff_at = NULL,"
    " paused_until = NULL WHERE id = %(id)s RETURNING *"
)
_MESSAGE_COLUMNS = (
    "direction", "author", "kind", "text", "status", "state", "provider_message_id", "provider_ts",
    "turn_id",
)


async def upsert_patient_row(conn: Conn, tenant_id: str, phone: str, source: str | None,
                             now: datetime) -> None:
    """Create a `new` lead on first contact; fill in a missing source."""
    await conn.execute(
        "INSERT INTO patients (tenant_id, phone, source, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, phone) DO UPDATE SET source = excluded.source,"
        " updated_at = excluded.updated_at"
        " WHERE patients.source IS NULL AND excluded.source IS NOT NULL",
        (tenant_id, phone, source, now, now),
    )


async def conversation_of(conn: Conn, tenant_id: str, phone: str, channel: str,
                          now: datetime) -> Conversation:
    """The conversation with this phone, created on first contact (insert-or-nothing, then read:
    two racing first messages share one conversation)."""
    created = await fetch_one(
        Conversation, conn,
        "INSERT INTO conversations (tenant_id, phone, channel, created_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, phone) DO NOTHING RETURNING *",
        (tenant_id, phone, channel, now),
    )
    return created or await must(
        Conversation, conn, "SELECT * FROM conversations WHERE tenant_id = %s AND phone = %s",
        (tenant_id, phone),
    )


async def insert_message(conn: Conn, conversation: Conversation, now: datetime,
                         columns: dict[str, Any], conflict: str = "") -> Message | None:
    """Insert a message of `conversation` (tenant and channel from it); None when `conflict`
    skipped it."""
    row = {name: columns.get(name) for name in _MESSAGE_COLUMNS}
    row["channel"] = columns.get("channel", conversation.channel)
    row["meta"] = jsonb(columns.get("meta") or {})
    names = ", ".join(row)
    marks = ", ".join(f"%({name})s" for name in row)
    return await fetch_one(
        Message, conn,
        f"INSERT INTO messages (conversation_id, tenant_id, created_at, {names})"
        f" VALUES (%(conversation_id)s, %(tenant_id)s, %(now)s, {marks}) {conflict} RETURNING *",
        {**row, "conversation_id": conversation.id, "tenant_id": conversation.tenant_id, "now": now},
    )


async def by_provider_id(conn: Conn, tenant_id: str, provider_message_id: str | None
                         ) -> Message | None:
    if provider_message_id is None:
        return None
    return await fetch_one(
        Message, conn, "SELECT * FROM messages WHERE tenant_id = %s AND provider_message_id = %s",
        (tenant_id, provider_message_id),
    )


async def current_conversation(store: PostgresBase, conn: Conn, conversation_id: str
                               ) -> Conversation:
    """Enter the conversation's tenant and return its row, or `NotFound`."""
    if await store._enter(conn, "conversation", conversation_id) is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return await must(Conversation, conn, "SELECT * FROM conversations WHERE id = %s",
                      (conversation_id,))


class ConversationsMixin(PostgresBase):
    # patients / leads

    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return await self._get(Patient, tenant_id,
                               "SELECT * FROM patients WHERE tenant_id = %s AND phone = %s",
                               (tenant_id, phone))

    async def upsert_patient(self, tenant_id: str, phone: str, *, source: str | None = None) -> Patient:
        """Return the patient, creating a `new` lead on first contact; fills a missing source."""
        check_phone(phone)
        async with self._tx(tenant_id) as conn:
            await upsert_patient_row(conn, tenant_id, phone, source, self._now())
            return await must(Patient, conn,
                              "SELECT * FROM patients WHERE tenant_id = %s AND phone = %s",
                              (tenant_id, phone))

    @retrying  # the booking use case moves the lead to `scheduled` right after the slot
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
    ) -> Patient:
        """Set the given fields (None leaves a field as it is); notes are appended, one a line."""
        check_phone(phone)
        if stage is not None:
            check_choice("stage", stage, LEAD_STAGES)
        now = self._now()
        values = {"tenant_id": tenant_id, "phone": phone, "name": name, "stage": stage,
                  "interest": interest, "source": source, "now": now,
                  "note": (add_note or "").strip() or None}
        async with self._tx(tenant_id) as conn:
            await upsert_patient_row(conn, tenant_id, phone, None, now)
            return await must(
                Patient, conn,
                "UPDATE patients SET name = coalesce(%(name)s, name),"
                " stage = coalesce(%(stage)s, stage), interest = coalesce(%(interest)s, interest),"
                " source = coalesce(%(source)s, source), updated_at = %(now)s,"
                " notes = CASE WHEN %(note)s::text IS NULL THEN notes WHEN notes = '' THEN %(note)s"
                "   ELSE notes || chr(10) || %(note)s END"
                " WHERE tenant_id = %(tenant_id)s AND phone = %(phone)s RETURNING *",
                values,
            )

    # conversations and messages

    async def get_or_create_conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        check_phone(phone)
        async with self._tx(tenant_id) as conn:
            return await conversation_of(conn, tenant_id, phone, channel, self._now())

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        async with self._tx() as conn:
            if await self._enter(conn, "conversation", conversation_id) is None:
                return None
            return await fetch_one(Conversation, conn, "SELECT * FROM conversations WHERE id = %s",
                                   (conversation_id,))

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None:
        """The conversation with this phone, or None before its first message."""
        return await self._get(Conversation, tenant_id,
                               "SELECT * FROM conversations WHERE tenant_id = %s AND phone = %s",
                               (tenant_id, phone))

    async def set_conversation_status(
        self, conversation_id: str, status: ConversationStatus, *, reason: str | None = None
    ) -> Conversation:
        """`human` is `pause_conversation` until resumed; `active` is `resume_conversation`."""
        check_choice("status", status, ("active", "human"))
        if status == "human":
            return await self._set_pause(_PAUSE, conversation_id, reason=reason, until=None)
        return await self._set_pause(_RESUME, conversation_id)

    async def pause_conversation(
        self, conversation_id: str, *, until: datetime | None, reason: str
    ) -> Conversation:
        """Hand the conversation to a human: status human until `until` (None: until resumed).

        Pausing again while paused replaces the reason and `until` but keeps `handoff_at`.
        """
        return await self._set_pause(_PAUSE, conversation_id, reason=reason,
                                     until=None if until is None else utc(until))

    async def resume_conversation(self, conversation_id: str) -> Conversation:
        """Give the conversation back to the bot (clears the handoff reason, time and pause)."""
        return await self._set_pause(_RESUME, conversation_id)

    async def _set_pause(self, sql: str, conversation_id: str, **values: Any) -> Conversation:
        async with self._tx() as conn:
            if await self._enter(conn, "conversation", conversation_id) is None:
                raise NotFound(CONVERSATION_NOT_FOUND)
            params = {"id": conversation_id, "now": self._now(), **values}
            return await must(Conversation, conn, sql, params)

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
    ) -> Message:
        """Append a message; a redelivered `provider_message_id` returns the one stored first.

        The console path: inbound rows are the patient's (state None, so never in the inbox the
        dispatcher reads), outbound rows the bot's; `last_inbound_at` is when it was stored.
        """
        check_choice("direction", direction, ("in", "out"))
        check_choice("status", status, MESSAGE_STATUSES)
        now = self._now()
        row = {"direction": direction, "author": "patient" if direction == "in" else "bot",
               "kind": kind, "text": text, "status": status, "turn_id": turn_id,
               "provider_message_id": provider_message_id, "meta": meta}
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            message = await insert_message(
                conn, conversation, now, row,
                "ON CONFLICT (tenant_id, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING",
            )
            if message is None:  # the conflict was with the row stored first
                stored = await by_provider_id(conn, conversation.tenant_id, provider_message_id)
                assert stored is not None
                return stored
            if direction == "in":
                await conn.execute("UPDATE conversations SET last_inbound_at = %s WHERE id = %s",
                                   (now, conversation_id))
            return message

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        """The newest `limit` messages, oldest first (in the order they were stored)."""
        return await self._list_of(
            Message, "conversation", conversation_id,
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = %s"
            " ORDER BY seq DESC LIMIT %s) AS newest ORDER BY seq",
            (conversation_id, max(limit, 0)),
        )

    async def annotate_message(self, message_id: str, meta: dict[str, Any]) -> Message:
        """Merge `meta` into a stored message's meta (a JSON merge patch, as on SQLite)."""
        async with self._tx() as conn:
            if await self._enter(conn, "message", message_id) is None:
                raise NotFound(MESSAGE_NOT_FOUND)
            row = await (await conn.execute("SELECT meta FROM messages WHERE id = %s FOR UPDATE",
                                            (message_id,))).fetchone()
            assert row is not None
            return await must(Message, conn, "UPDATE messages SET meta = %s WHERE id = %s RETURNING *",
                              (jsonb(merge_patch(row["meta"], meta)), message_id))

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
        row = {"direction": "out", "author": "human", "kind": kind, "text": text, "status": "sent",
               "provider_message_id": provider_message_id,
               "provider_ts": None if provider_ts is None else utc(provider_ts)}
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            message = await insert_message(
                conn, conversation, self._now(), row,
                "ON CONFLICT (tenant_id, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING",
            )
            if message is not None:
                return message, True
            stored = await by_provider_id(conn, conversation.tenant_id, provider_message_id)
            assert stored is not None
            return stored, False

    async def human_messages_since(self, conversation_id: str, since: datetime | None) -> list[Message]:
        """Messages people at the clinic sent or we stored at or after `since` (None: all), in
        the order they were sent."""
        where = "conversation_id = %s AND author = 'human'"
        params: list[Any] = [conversation_id]
        if since is not None:
            where += " AND (created_at >= %s OR provider_ts >= %s)"
            params += [utc(since), utc(since)]
        return await self._list_of(
            Message, "conversation", conversation_id,
            f"SELECT * FROM messages WHERE {where} ORDER BY coalesce(provider_ts, created_at), seq",
            params,
        )

    # turns

    async def start_turn(
        self, conversation_id: str, tenant_id: str, *, model: str, prompt_version: str
    ) -> Turn:
        async with self._tx(tenant_id) as conn:
            found = await fetch_one(
                Conversation, conn, "SELECT * FROM conversations WHERE id = %s AND tenant_id = %s",
                (conversation_id, tenant_id),
            ) if as_uuid(conversation_id) else None
            if found is None:
                raise NotFound(CONVERSATION_NOT_FOUND)
            return await must(
                Turn, conn,
                "INSERT INTO turns (conversation_id, tenant_id, started_at, model, prompt_version)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (conversation_id, tenant_id, self._now(), model, prompt_version),
            )

    async def finish_turn(
        self,
        turn_id: str,
        *,
        outcome: str,
        tokens_in: int = 0,
        tokens_out: int = 0,
        tool_calls: list[dict[str, Any]] | None = None,
        reply: str | None = None,
    ) -> Turn:
        async with self._tx() as conn:
            if await self._enter(conn, "turn", turn_id) is None:
                raise NotFound(TURN_NOT_FOUND)
            return await must(
                Turn, conn,
                "UPDATE turns SET finished_at = greatest(%s, started_at), outcome = %s,"
                " tokens_in = %s, tokens_out = %s, tool_calls = %s, reply = %s WHERE id = %s"
                " RETURNING *",
                (self._now(), outcome, tokens_in, tokens_out, jsonb(tool_calls or []), reply,
                 turn_id),
            )

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        """A conversation's turns, oldest first."""
        return await self._list_of(
            Turn, "conversation", conversation_id,
            "SELECT * FROM turns WHERE conversation_id = %s ORDER BY started_at, seq",
            (conversation_id,),
        )

    async def purge_bodies(self, tenant_id: str, *, before: datetime) -> int:
        """LGPD retention: blank old message texts and transcripts, and old turn replies."""
        async with self._tx(tenant_id) as conn:
            cursor = await conn.execute(
                "UPDATE messages SET text = NULL, meta = meta - 'transcript'"
                " WHERE tenant_id = %s AND created_at < %s"
                " AND (text IS NOT NULL OR meta ? 'transcript')",
                (tenant_id, utc(before)),
            )
            blanked = cursor.rowcount
            await conn.execute(
                "UPDATE turns SET reply = NULL WHERE tenant_id = %s AND started_at < %s",
                (tenant_id, utc(before)),
            )
        return blanked

    async def list_conversations(
        self, tenant_id: str, *, phone: str | None = None, since: datetime | None = None
    ) -> list[Conversation]:
        """A tenant's conversations (optionally one phone, or with messages since a time),
        oldest first."""
        sql = "SELECT * FROM conversations WHERE tenant_id = %s"
        params: list[Any] = [tenant_id]
        if phone is not None:
            sql += " AND phone = %s"
            params.append(phone)
        if since is not None:
            sql += (" AND id IN (SELECT conversation_id FROM messages WHERE tenant_id = %s"
                    " AND created_at >= %s)")
            params += [tenant_id, utc(since)]
        return await self._list(Conversation, tenant_id, sql + " ORDER BY created_at, seq", params)
