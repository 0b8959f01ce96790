"""The Postgres store's people and talk: patients, conversations, messages, human takeover, turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..records import Conversation, Message, Patient, Turn
from ..shared.conversations import Conversations
from .base import PostgresBase
from .rows import Conn, as_uuid, fetch_one, jsonb, merge_patch, must

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
                               ) -> Conversation | None:
    """Enter the conversation's tenant and return its row (None: no such conversation)."""
    if await store._enter(conn, "conversation", conversation_id) is None:
        return None
    return await must(Conversation, conn, "SELECT * FROM conversations WHERE id = %s",
                      (conversation_id,))


class ConversationsMixin(Conversations, PostgresBase):
    async def get_patient(self, tenant_id: str, phone: str) -> Patient | None:
        return await self._get(Patient, tenant_id,
                               "SELECT * FROM patients WHERE tenant_id = %s AND phone = %s",
                               (tenant_id, phone))

    async def _upsert_patient(self, tenant_id: str, phone: str, source: str | None) -> Patient:
        async with self._tx(tenant_id) as conn:
            await upsert_patient_row(conn, tenant_id, phone, source, self._now())
            return await must(Patient, conn,
                              "SELECT * FROM patients WHERE tenant_id = %s AND phone = %s",
                              (tenant_id, phone))

    async def _update_patient(self, tenant_id: str, phone: str, changes: dict[str, Any]) -> Patient:
        now = self._now()
        async with self._tx(tenant_id) as conn:
            await upsert_patient_row(conn, tenant_id, phone, None, now)
            return await must(
                Patient, conn,
                "UPDATE patients SET name = coalesce(%(name)s, name),"
                " stage = coalesce(%(stage)s, stage), interest = coalesce(%(interest)s, interest),"
                " proactive_opt_out = coalesce(%(opt_out)s, proactive_opt_out),"
                " source = coalesce(%(source)s, source), updated_at = %(now)s,"
                " notes = CASE WHEN %(note)s::text IS NULL THEN notes WHEN notes = '' THEN %(note)s"
                "   ELSE notes || chr(10) || %(note)s END"
                " WHERE tenant_id = %(tenant_id)s AND phone = %(phone)s RETURNING *",
                {**changes, "tenant_id": tenant_id, "phone": phone, "now": now},
            )

    async def _conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        async with self._tx(tenant_id) as conn:
            return await conversation_of(conn, tenant_id, phone, channel, self._now())

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        async with self._tx() as conn:
            if await self._enter(conn, "conversation", conversation_id) is None:
                return None
            return await fetch_one(Conversation, conn, "SELECT * FROM conversations WHERE id = %s",
                                   (conversation_id,))

    async def find_conversation(self, tenant_id: str, phone: str) -> Conversation | None:
        return await self._get(Conversation, tenant_id,
                               "SELECT * FROM conversations WHERE tenant_id = %s AND phone = %s",
                               (tenant_id, phone))

    async def _pause(self, conversation_id: str, reason: str | None, until: Any) -> Conversation | None:
        return await self._set_pause(_PAUSE, conversation_id, reason=reason, until=until)

    async def _resume(self, conversation_id: str) -> Conversation | None:
        return await self._set_pause(_RESUME, conversation_id)

    async def _set_pause(self, sql: str, conversation_id: str, **values: Any) -> Conversation | None:
        async with self._tx() as conn:
            if await self._enter(conn, "conversation", conversation_id) is None:
                return None
            params = {"id": conversation_id, "now": self._now(), **values}
            return await must(Conversation, conn, sql, params)

    async def _add_message(self, conversation_id: str, row: dict[str, Any]) -> Message | None:
        now = self._now()
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            if conversation is None:
                return None
            message = await insert_message(
                conn, conversation, now, row,
                "ON CONFLICT (tenant_id, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING",
            )
            if message is None:  # the conflict was with the row stored first
                return await by_provider_id(conn, conversation.tenant_id, row["provider_message_id"])
            if row["direction"] == "in":
                await conn.execute("UPDATE conversations SET last_inbound_at = %s WHERE id = %s",
                                   (now, conversation_id))
            return message

    async def list_messages(self, conversation_id: str, *, limit: int = 100) -> list[Message]:
        return await self._list_of(
            Message, "conversation", conversation_id,
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = %s"
            " ORDER BY seq DESC LIMIT %s) AS newest ORDER BY seq",
            (conversation_id, max(limit, 0)),
        )

    async def _annotate(self, message_id: str, meta: dict[str, Any]) -> Message | None:
        async with self._tx() as conn:
            if await self._enter(conn, "message", message_id) is None:
                return None
            row = await (await conn.execute("SELECT meta FROM messages WHERE id = %s FOR UPDATE",
                                            (message_id,))).fetchone()
            assert row is not None
            return await must(Message, conn, "UPDATE messages SET meta = %s WHERE id = %s RETURNING *",
                              (jsonb(merge_patch(row["meta"], meta)), message_id))

    # human takeover

    async def _record_human(self, conversation_id: str, row: dict[str, Any]
                            ) -> tuple[Message, bool] | None:
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            if conversation is None:
                return None
            message = await insert_message(
                conn, conversation, self._now(), row,
                "ON CONFLICT (tenant_id, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING",
            )
            if message is not None:
                return message, True
            stored = await by_provider_id(conn, conversation.tenant_id, row["provider_message_id"])
            assert stored is not None
            return stored, False

    async def _human_messages(self, conversation_id: str, since: Any) -> list[Message]:
        return await self._list_of(
            Message, "conversation", conversation_id,
            "SELECT * FROM messages WHERE conversation_id = %(id)s AND author = 'human'"
            " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s OR provider_ts >= %(since)s)"
            " ORDER BY coalesce(provider_ts, created_at), seq",
            {"id": conversation_id, "since": since},
        )

    # turns

    async def _start_turn(self, row: dict[str, Any]) -> Turn | None:
        async with self._tx(row["tenant_id"]) as conn:
            found = await fetch_one(
                Conversation, conn,
                "SELECT * FROM conversations WHERE id = %(conversation_id)s AND tenant_id = %(tenant_id)s",
                row,
            ) if as_uuid(row["conversation_id"]) else None
            return None if found is None else await must(
                Turn, conn,
                "INSERT INTO turns (conversation_id, tenant_id, started_at, model, prompt_version,"
                " config_version) VALUES (%(conversation_id)s, %(tenant_id)s, %(now)s, %(model)s,"
                " %(prompt_version)s, %(config_version)s)"
                " RETURNING *",
                {**row, "now": self._now()},
            )

    async def _finish_turn(self, turn_id: str, values: dict[str, Any]) -> Turn | None:
        params = {**values, "tool_calls": jsonb(values["tool_calls"]), "now": self._now(), "id": turn_id}
        async with self._tx() as conn:
            if await self._enter(conn, "turn", turn_id) is None:
                return None
            return await must(
                Turn, conn,
                "UPDATE turns SET finished_at = greatest(%(now)s, started_at), outcome = %(outcome)s,"
                " tokens_in = %(tokens_in)s, tokens_out = %(tokens_out)s,"
                " tool_calls = %(tool_calls)s, reply = %(reply)s WHERE id = %(id)s RETURNING *",
                params,
            )

    async def list_turns(self, conversation_id: str) -> list[Turn]:
        return await self._list_of(
            Turn, "conversation", conversation_id,
            "SELECT * FROM turns WHERE conversation_id = %s ORDER BY started_at, seq",
            (conversation_id,),
        )

    async def _purge(self, tenant_id: str, before: Any) -> int:
        async with self._tx(tenant_id) as conn:
            cursor = await conn.execute(
                "UPDATE messages SET text = NULL, meta = meta - 'transcript'"
                " WHERE tenant_id = %s AND created_at < %s"
                " AND (text IS NOT NULL OR meta ? 'transcript')",
                (tenant_id, before),
            )
            blanked = cursor.rowcount
            await conn.execute(
                "UPDATE turns SET reply = NULL WHERE tenant_id = %s AND started_at < %s",
                (tenant_id, before),
            )
        return blanked

    async def _conversations(self, tenant_id: str, phone: str | None, since: Any) -> list[Conversation]:
        return await self._list(
            Conversation, tenant_id,
            "SELECT * FROM conversations WHERE tenant_id = %(tenant)s"
            " AND (%(phone)s::text IS NULL OR phone = %(phone)s)"
            " AND (%(since)s::timestamptz IS NULL OR id IN (SELECT conversation_id FROM messages"
            "   WHERE tenant_id = %(tenant)s AND created_at >= %(since)s))"
            " ORDER BY created_at, seq",
            {"tenant": tenant_id, "phone": phone, "since": since},
        )
