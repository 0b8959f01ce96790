"""The SQLite store's people and talk: patients, conversations, messages, human takeover, turns."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from ..records import Conversation, Message, Patient, Turn
from ..shared.conversations import Conversations
from .base import SQLiteBase
from .rows import fetch, fetch_all, insert, record, to_json, transaction

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
    row = {"id": str(uuid.uuid4()), "tenant_id": tenant_id, "phone": phone, "channel": channel,
           "created_at": now}
    insert(conn, "conversations", row, "ON CONFLICT (tenant_id, phone) DO NOTHING")
    found: sqlite3.Row = conn.execute(
        "SELECT * FROM conversations WHERE tenant_id = ? AND phone = ?", (tenant_id, phone)
    ).fetchone()
    return found


def conversation_row(conn: sqlite3.Connection, conversation_id: str) -> sqlite3.Row | None:
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()


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
    found = fetch_all(Message, conn, "SELECT * FROM messages WHERE tenant_id = ? AND provider_message_id = ?",
                      (tenant_id, provider_message_id))
    return found[0] if found else None


class ConversationsMixin(Conversations, SQLiteBase):
    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return await self._get(Patient, "patients", tenant_id=tenant_id, phone=phone)

    async def _upsert_patient(self, tenant_id: str, phone: str, source: str | None) -> Patient:
        now = self._now()

        def op(conn: sqlite3.Connection) -> Patient:
            with transaction(conn):
                upsert_patient_row(conn, tenant_id, phone, source, now)
                return fetch(Patient, conn, "patients", tenant_id=tenant_id, phone=phone)

        return await self._run(op)

    async def _update_patient(self, tenant_id: str, phone: str, changes: dict[str, Any]) -> Patient:
        now = self._now()
        key = {"tenant_id": tenant_id, "phone": phone}

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
                    {**key, **changes, "now": now},
                )
                return fetch(Patient, conn, "patients", **key)

        return await self._run(op)

    async def _conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        now = self._now()

        def op(conn: sqlite3.Connection) -> Conversation:
            with transaction(conn):
                return record(Conversation, conversation_of(conn, tenant_id, phone, channel, now))

        return await self._run(op)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._get(Conversation, "conversations", id=conversation_id)

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None:
        return await self._get(Conversation, "conversations", tenant_id=tenant_id, phone=phone)

    async def _pause(self, conversation_id: str, reason: str | None, until: Any) -> Conversation | None:
        return await self._set_pause(_PAUSE, conversation_id, reason=reason, until=until)

    async def _resume(self, conversation_id: str) -> Conversation | None:
        return await self._set_pause(_RESUME, conversation_id)

    async def _set_pause(self, sql: str, conversation_id: str, **values: str | None) -> Conversation | None:
        params = {"id": conversation_id, "now": self._now(), **values}

        def op(conn: sqlite3.Connection) -> Conversation | None:
            with transaction(conn):
                if not conn.execute(sql, params).rowcount:
                    return None
                return fetch(Conversation, conn, "conversations", id=conversation_id)

        return await self._run(op)

    async def _add_message(self, conversation_id: str, row: dict[str, Any]) -> Message | None:
        now = self._now()

        def op(conn: sqlite3.Connection) -> Message | None:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
                if conversation is None:
                    return None
                message_id = insert_message(
                    conn, conversation, now, row,
                    "ON CONFLICT (tenant_id, provider_message_id)"
                    " WHERE provider_message_id IS NOT NULL DO NOTHING",
                )
                if message_id is None:  # the conflict was with the row stored first
                    return by_provider_id(conn, conversation["tenant_id"], row["provider_message_id"])
                if row["direction"] == "in":
                    conn.execute(
                        "UPDATE conversations SET last_inbound_at = ? WHERE id = ?", (now, conversation_id)
                    )
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        return await self._list(
            Message,
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (conversation_id, max(limit, 0)),
        )

    async def _annotate(self, message_id: str, meta: dict[str, Any]) -> Message | None:
        patch = to_json(meta)

        def op(conn: sqlite3.Connection) -> Message | None:
            with transaction(conn):
                if not conn.execute(
                    "UPDATE messages SET meta = json_patch(meta, ?) WHERE id = ?", (patch, message_id)
                ).rowcount:
                    return None
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)

    # human takeover

    async def _record_human(self, conversation_id: str, row: dict[str, Any]) -> tuple[Message, bool] | None:
        now = self._now()

        def op(conn: sqlite3.Connection) -> tuple[Message, bool] | None:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
                if conversation is None:
                    return None
                stored = by_provider_id(conn, conversation["tenant_id"], row["provider_message_id"])
                if stored is not None:
                    return stored, False
                message_id = insert_message(conn, conversation, now, row)
                return fetch(Message, conn, "messages", id=message_id), True

        return await self._run(op)

    async def _human_messages(self, conversation_id: str, since: Any) -> list[Message]:
        return await self._list(
            Message,
            "SELECT * FROM messages WHERE conversation_id = :id AND author = 'human'"
            " AND (:since IS NULL OR created_at >= :since OR provider_ts >= :since)"
            " ORDER BY coalesce(provider_ts, created_at), seq",
            {"id": conversation_id, "since": since},
        )

    # turns

    async def _start_turn(self, row: dict[str, Any]) -> Turn | None:
        row = {**row, "id": str(uuid.uuid4()), "started_at": self._now()}

        def op(conn: sqlite3.Connection) -> Turn | None:
            with transaction(conn):
                conversation = conversation_row(conn, row["conversation_id"])
                if conversation is None or conversation["tenant_id"] != row["tenant_id"]:
                    return None
                insert(conn, "turns", row)
                return fetch(Turn, conn, "turns", id=row["id"])

        return await self._run(op)

    async def _finish_turn(self, turn_id: str, values: dict[str, Any]) -> Turn | None:
        params = {**values, "tool_calls": to_json(values["tool_calls"]), "now": self._now(), "id": turn_id}

        def op(conn: sqlite3.Connection) -> Turn | None:
            with transaction(conn):
                if not conn.execute(
                    "UPDATE turns SET finished_at = max(:now, started_at), outcome = :outcome,"
                    " tokens_in = :tokens_in, tokens_out = :tokens_out, tool_calls = :tool_calls,"
                    " reply = :reply WHERE id = :id",
                    params,
                ).rowcount:
                    return None
                return fetch(Turn, conn, "turns", id=turn_id)

        return await self._run(op)

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        return await self._list(
            Turn, "SELECT * FROM turns WHERE conversation_id = ? ORDER BY started_at, rowid",
            (conversation_id,))

    async def _conversations(self, tenant_id: str, phone: str | None, since: Any) -> list[Conversation]:
        return await self._list(
            Conversation,
            "SELECT * FROM conversations WHERE tenant_id = :tenant AND (:phone IS NULL OR phone = :phone)"
            " AND (:since IS NULL OR id IN (SELECT conversation_id FROM messages"
            "   WHERE tenant_id = :tenant AND created_at >= :since))"
            " ORDER BY created_at, rowid",
            {"tenant": tenant_id, "phone": phone, "since": since},
        )

    async def _purge(self, tenant_id: str, before: Any) -> int:
        def op(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                blanked = conn.execute(
                    "UPDATE messages SET text = NULL, meta = json_remove(meta, '$.transcript')"
                    " WHERE tenant_id = ? AND created_at < ?"
                    " AND (text IS NOT NULL OR json_extract(meta, '$.transcript') IS NOT NULL)",
                    (tenant_id, before),
                ).rowcount
                conn.execute(
                    "UPDATE turns SET reply = NULL WHERE tenant_id = ? AND started_at < ?",
                    (tenant_id, before),
                )
                return int(blanked)

        return await self._run(op)
