"""The SQLite store's people and talk: patients, conversations, messages, human takeover, turns."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from typing import Any

from atende.errors import NotFound

from ..contention import retrying
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
from .base import SQLiteBase
from .rows import (
    CONVERSATION_NOT_FOUND,
    MESSAGE_STATUSES,
    TURN_NOT_FOUND,
    check_choice,
    check_phone,
    conversation_row,
    fetch,
    fetch_all,
    insert,
    record,
    to_db,
    to_json,
    to_json_list,
    transaction,
)

# A handoff that finds the bot already paused keeps its start: extending a pause is not a new one.
_PAUSE = (
    "UPDATE conversations SET status = 'human', handoff_reason = :reason, paused_until = :until,"
    " handoff_at = CASE WHEN status = 'human' AND handoff_at IS NOT NULL"
    "   AND (paused_until IS NULL OR paused_until > :now) THEN handoff_at ELSE :now END"
    " WHERE id = :id"
)
_RESUME = (
    "UPDATE conversations SET status = 'active', handoff_reason = NULL, handoff_at = NULL,"
    " paused_until = NULL WHERE id = :id"
)


def upsert_patient_row(
    conn: sqlite3.Connection, tenant_id: str, phone: str, source: str | None, now: str
) -> None:
    """Create a `new` lead on first contact; fill in a missing source."""
    insert(
        conn,
        "patients",
        {"tenant_id": tenant_id, "phone": phone, "source": source, "created_at": now, "updated_at": now},
        "ON CONFLICT (tenant_id, phone) DO UPDATE SET source = excluded.source,"
        " updated_at = excluded.updated_at"
        " WHERE patients.source IS NULL AND excluded.source IS NOT NULL",
    )


def conversation_of(
    conn: sqlite3.Connection, tenant_id: str, phone: str, channel: str, now: str
) -> sqlite3.Row:
    """The conversation with this phone, created on first contact (insert-or-nothing, then read,
    so two racing first messages share one conversation)."""
    row = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "phone": phone,
        "channel": channel,
        "created_at": now,
    }
    insert(conn, "conversations", row, "ON CONFLICT (tenant_id, phone) DO NOTHING")
    found: sqlite3.Row = conn.execute(
        "SELECT * FROM conversations WHERE tenant_id = ? AND phone = ?", (tenant_id, phone)
    ).fetchone()
    return found


def insert_message(
    conn: sqlite3.Connection, conversation: sqlite3.Row, now: str, columns: dict[str, Any], conflict: str = ""
) -> str | None:
    """Insert a message of `conversation` (tenant and channel from it); its id, or None when
    `conflict` skipped it."""
    row = {
        "id": str(uuid.uuid4()),
        "conversation_id": conversation["id"],
        "tenant_id": conversation["tenant_id"],
        "channel": conversation["channel"],
        "created_at": now,
        **columns,
        "meta": to_json(columns.get("meta")),
    }
    return row["id"] if insert(conn, "messages", row, conflict).rowcount else None


def by_provider_id(
    conn: sqlite3.Connection, tenant_id: str, provider_message_id: str | None
) -> Message | None:
    if provider_message_id is None:
        return None
    found = fetch_all(
        Message,
        conn,
        "SELECT * FROM messages WHERE tenant_id = ? AND provider_message_id = ?",
        (tenant_id, provider_message_id),
    )
    return found[0] if found else None


class ConversationsMixin(SQLiteBase):
    # patients / leads

    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return await self._get(Patient, "patients", tenant_id=tenant_id, phone=phone)

    async def upsert_patient(self, tenant_id: str, phone: str, *, source: str | None = None) -> Patient:
        """Return the patient, creating a `new` lead on first contact; fills a missing source."""
        check_phone(phone)
        now = self._now()

        def op(conn: sqlite3.Connection) -> Patient:
            with transaction(conn):
                upsert_patient_row(conn, tenant_id, phone, source, now)
                return fetch(Patient, conn, "patients", tenant_id=tenant_id, phone=phone)

        return await self._run(op)

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
        key = {"tenant_id": tenant_id, "phone": phone}
        changes = {"name": name, "stage": stage, "interest": interest, "source": source}
        note = (add_note or "").strip() or None

        def op(conn: sqlite3.Connection) -> Patient:
            with transaction(conn):
                upsert_patient_row(conn, tenant_id, phone, None, now)
                conn.execute(
                    "UPDATE patients SET name = coalesce(:name, name),"
                    " stage = coalesce(:stage, stage), interest = coalesce(:interest, interest),"
                    " source = coalesce(:source, source), updated_at = :now,"
                    " notes = CASE WHEN :note IS NULL THEN notes WHEN notes = '' THEN :note"
                    "   ELSE notes || char(10) || :note END"
                    " WHERE tenant_id = :tenant_id AND phone = :phone",
                    {**key, **changes, "note": note, "now": now},
                )
                return fetch(Patient, conn, "patients", **key)

        return await self._run(op)

    # conversations and messages

    async def get_or_create_conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        check_phone(phone)
        now = self._now()

        def op(conn: sqlite3.Connection) -> Conversation:
            with transaction(conn):
                return record(Conversation, conversation_of(conn, tenant_id, phone, channel, now))

        return await self._run(op)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._get(Conversation, "conversations", id=conversation_id)

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None:
        """The conversation with this phone, or None before its first message."""
        return await self._get(Conversation, "conversations", tenant_id=tenant_id, phone=phone)

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
        return await self._set_pause(
            _PAUSE, conversation_id, reason=reason, until=None if until is None else to_db(until)
        )

    async def resume_conversation(self, conversation_id: str) -> Conversation:
        """Give the conversation back to the bot (clears the handoff reason, time and pause)."""
        return await self._set_pause(_RESUME, conversation_id)

    async def _set_pause(self, sql: str, conversation_id: str, **values: str | None) -> Conversation:
        params = {"id": conversation_id, "now": self._now(), **values}

        def op(conn: sqlite3.Connection) -> Conversation:
            with transaction(conn):
                if not conn.execute(sql, params).rowcount:
                    raise NotFound(CONVERSATION_NOT_FOUND)
                return fetch(Conversation, conn, "conversations", id=conversation_id)

        return await self._run(op)

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
        row = {
            "direction": direction,
            "author": "patient" if direction == "in" else "bot",
            "kind": kind,
            "text": text,
            "status": status,
            "turn_id": turn_id,
            "provider_message_id": provider_message_id,
            "meta": meta,
        }

        def op(conn: sqlite3.Connection) -> Message:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
                message_id = insert_message(
                    conn,
                    conversation,
                    now,
                    row,
                    "ON CONFLICT (tenant_id, provider_message_id)"
                    " WHERE provider_message_id IS NOT NULL DO NOTHING",
                )
                if message_id is None:  # the conflict was with the row stored first
                    return fetch(
                        Message,
                        conn,
                        "messages",
                        tenant_id=conversation["tenant_id"],
                        provider_message_id=provider_message_id,
                    )
                if direction == "in":
                    conn.execute(
                        "UPDATE conversations SET last_inbound_at = ? WHERE id = ?", (now, conversation_id)
                    )
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        """The newest `limit` messages, oldest first (in the order they were stored)."""
        return await self._list(
            Message,
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (conversation_id, max(limit, 0)),
        )

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
        now = self._now()
        row = {
            "direction": "out",
            "author": "human",
            "kind": kind,
            "text": text,
            "status": "sent",
            "provider_message_id": provider_message_id,
            "provider_ts": None if provider_ts is None else to_db(provider_ts),
        }

        def op(conn: sqlite3.Connection) -> tuple[Message, bool]:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
                stored = by_provider_id(conn, conversation["tenant_id"], provider_message_id)
                if stored is not None:
                    return stored, False
                message_id = insert_message(conn, conversation, now, row)
                return fetch(Message, conn, "messages", id=message_id), True

        return await self._run(op)

    async def human_messages_since(self, conversation_id: str, since: datetime | None) -> list[Message]:
        """Messages people at the clinic sent or we stored at or after `since` (None: all), in
        the order they were sent. Inclusive to the second, the storage precision, so a message
        from the same second is never missed; a caller that saw it before gets it again."""
        where = "conversation_id = ? AND author = 'human'"
        params: tuple[str, ...] = (conversation_id,)
        if since is not None:
            where += " AND (created_at >= ? OR provider_ts >= ?)"
            params += (to_db(since), to_db(since))
        return await self._list(
            Message,
            f"SELECT * FROM messages WHERE {where} ORDER BY coalesce(provider_ts, created_at), seq",
            params,
        )

    # turns

    async def start_turn(
        self, conversation_id: str, tenant_id: str, *, model: str, prompt_version: str
    ) -> Turn:
        row = {
            "id": str(uuid.uuid4()),
            "conversation_id": conversation_id,
            "tenant_id": tenant_id,
            "started_at": self._now(),
            "model": model,
            "prompt_version": prompt_version,
        }

        def op(conn: sqlite3.Connection) -> Turn:
            with transaction(conn):
                if conversation_row(conn, conversation_id)["tenant_id"] != tenant_id:
                    raise NotFound(CONVERSATION_NOT_FOUND)
                insert(conn, "turns", row)
                return fetch(Turn, conn, "turns", id=row["id"])

        return await self._run(op)

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
        values = (self._now(), outcome, tokens_in, tokens_out, to_json_list(tool_calls), reply,
                  turn_id)

        def op(conn: sqlite3.Connection) -> Turn:
            with transaction(conn):
                if not conn.execute(
                    "UPDATE turns SET finished_at = max(?, started_at), outcome = ?,"
                    " tokens_in = ?, tokens_out = ?, tool_calls = ?, reply = ? WHERE id = ?",
                    values,
                ).rowcount:
                    raise NotFound(TURN_NOT_FOUND)
                return fetch(Turn, conn, "turns", id=turn_id)

        return await self._run(op)

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        return await self._list(
            Turn, "SELECT * FROM turns WHERE conversation_id = ? ORDER BY started_at, rowid",
            (conversation_id,))

    async def list_conversations(
        self, tenant_id: str, *, phone: str | None = None, since: datetime | None = None
    ) -> list[Conversation]:
        sql = "SELECT * FROM conversations WHERE tenant_id = ?"
        params: list[Any] = [tenant_id]
        if phone is not None:
            sql += " AND phone = ?"
            params.append(phone)
        if since is not None:
            sql += (" AND id IN (SELECT conversation_id FROM messages WHERE tenant_id = ?"
                    " AND created_at >= ?)")
            params += [tenant_id, to_db(since)]
        return await self._list(Conversation, sql + " ORDER BY created_at, rowid", tuple(params))

    async def purge_bodies(self, tenant_id: str, *, before: datetime) -> int:
        cutoff = to_db(before)

        def op(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                blanked = conn.execute(
                    "UPDATE messages SET text = NULL, meta = json_remove(meta, '$.transcript')"
                    " WHERE tenant_id = ? AND created_at < ?"
                    " AND (text IS NOT NULL OR json_extract(meta, '$.transcript') IS NOT NULL)",
                    (tenant_id, cutoff),
                ).rowcount
                conn.execute(
                    "UPDATE turns SET reply = NULL WHERE tenant_id = ? AND started_at < ?",
                    (tenant_id, cutoff),
                )
                return int(blanked)

        return await self._run(op)

    async def annotate_message(self, message_id: str, meta: dict[str, Any]) -> Message:
        patch = to_json(meta)

        def op(conn: sqlite3.Connection) -> Message:
            with transaction(conn):
                if not conn.execute(
                    "UPDATE messages SET meta = json_patch(meta, ?) WHERE id = ?",
                    (patch, message_id),
                ).rowcount:
                    raise NotFound("Não encontrei essa mensagem.")
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)
