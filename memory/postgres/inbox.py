"""The Postgres store's inbox and outbox: what webhooks stored, what turns queued, what got sent.

Each method is one transaction at READ COMMITTED. What SQLite gets from its single writer,
Postgres gets from conditional writes and row locks: a redelivered webhook is stored once (a
unique index and ON CONFLICT), an inbox message is answered once (rows locked in id order, then
re-checked), a queued reply is claimed by one sender (UPDATE ... WHERE status = 'queued').
The scans that serve every clinic at once go through the RLS migration's definer functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ..records import INTERRUPTED, Conversation, Message, ProviderStatus
from ..shared.inbox import Inbox, sent_moves_forward, status_applies
from .base import PostgresBase
from .conversations import (
    by_provider_id,
    conversation_of,
    current_conversation,
    insert_message,
    upsert_patient_row,
)
from .rows import Conn, fetch_all, fetch_one, must, uuids

# Pending inbound rows among the given ids, locked in id order (so two writers racing over the
# same rows cannot deadlock); rows another transaction answered meanwhile drop out on re-check.
_LOCK_PENDING = (
    "SELECT id FROM messages WHERE id = ANY(%(ids)s::uuid[]) AND state = 'pending'{extra}"
    " ORDER BY id FOR UPDATE"
)


class InboxMixin(Inbox, PostgresBase):
    async def _inbox_add(self, tenant_id: str, phone: str, row: dict[str, Any]) -> tuple[Message, bool]:
        now, channel = self._now(), row["channel"]
        async with self._tx(tenant_id) as conn:
            stored = await by_provider_id(conn, tenant_id, row["provider_message_id"])
            if stored is not None:
                return stored, False
            await upsert_patient_row(conn, tenant_id, phone, channel, now)
            conversation = await conversation_of(conn, tenant_id, phone, channel, now)
            message = await insert_message(
                conn, conversation, now, row,
                "ON CONFLICT (tenant_id, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING",
            )
            if message is None:  # a concurrent delivery of the same message won
                raise psycopg.Rollback()  # and what this one upserted goes with it
            await conn.execute(
                # replies follow the channel the patient wrote on last
                "UPDATE conversations SET channel = %(channel)s, last_inbound_at ="
                " greatest(last_inbound_at, %(at)s) WHERE id = %(id)s",
                {"at": min(row["provider_ts"], now), "id": conversation.id, "channel": channel},
            )
            return message, True
        async with self._tx(tenant_id) as conn:
            stored = await by_provider_id(conn, tenant_id, row["provider_message_id"])
            assert stored is not None
            return stored, False

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        return await self._list_of(
            Message, "conversation", conversation_id,
            "SELECT * FROM messages WHERE conversation_id = %s AND state = 'pending'"
            " ORDER BY provider_ts, seq",
            (conversation_id,),
        )

    async def conversations_with_pending(self) -> list[Conversation]:
        return await self._list(
            Conversation, None,
            "SELECT * FROM public.atende_pending_conversations() WITH ORDINALITY ORDER BY ordinality",
            (),
        )

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        ids = uuids(message_ids)
        if not ids:
            return
        async with self._tx() as conn:
            owners = await (await conn.execute(
                "SELECT DISTINCT public.atende_message_tenant(id) AS tenant"
                " FROM unnest(%s::uuid[]) AS id", (ids,))).fetchall()
            for owner in owners:
                if owner["tenant"] is None:
                    continue
                await conn.execute("SELECT set_config('app.tenant_id', %s, true)", (owner["tenant"],))
                await conn.execute(
                    "UPDATE messages SET state = 'ignored',"
                    " meta = jsonb_set(meta, '{ignored_reason}', to_jsonb(%(reason)s::text))"
                    f" WHERE id IN ({_LOCK_PENDING.format(extra='')})",
                    {"ids": ids, "reason": reason},
                )

    async def _complete_turn(self, conversation_id: str, ids: list[str], turn_id: str | None,
                             rows: list[dict[str, Any]]) -> list[Message] | None:
        valid = uuids(ids)
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            if conversation is None:
                return None
            if ids:
                if len(valid) != len(ids) or not await _take(conn, conversation_id, valid, turn_id):
                    raise psycopg.Rollback()
            now, written = self._now(), []
            for row in rows:
                message = await insert_message(conn, conversation, now, row)
                assert message is not None  # no conflict clause: inserted or raised
                written.append(message)
            return written
        return []

    # outbox (dispatcher → senders)

    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        return await self._list(
            Message, None,
            "SELECT * FROM public.atende_outbox_due(%s, %s) WITH ORDINALITY ORDER BY ordinality",
            (self._instant(now), max(limit, 0)),
        )

    async def outbox_claim(self, message_id: str) -> Message | None:
        # `claimed_at` is the database's now(): one clock for every machine (see outbox_recover)
        async with self._tx() as conn:
            if await self._enter(conn, "message", message_id) is None:
                return None
            return await fetch_one(
                Message, conn,
                "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_at = now()"
                " WHERE id = %s AND direction = 'out' AND status = 'queued' RETURNING *",
                (message_id,),
            )

    async def _outbox_result(self, params: dict[str, Any]) -> Message | None:
        async with self._tx() as conn:
            if await self._enter(conn, "message", params["id"]) is None:
                return None
            found = await fetch_one(
                Message, conn, "SELECT * FROM messages WHERE id = %s AND direction = 'out' FOR UPDATE",
                (params["id"],),
            )
            if found is None:
                return None
            if params["status"] == "sent":
                return await must(
                    Message, conn,
                    "UPDATE messages SET status = CASE WHEN %(forward)s THEN 'sent' ELSE status END,"
                    " provider_message_id = coalesce(%(provider_message_id)s, provider_message_id),"
                    " error = coalesce(%(error)s, error), next_attempt_at = NULL"
                    " WHERE id = %(id)s RETURNING *",
                    {**params, "forward": sent_moves_forward(found.status)},
                )
            if found.status != "sending":
                return found
            return await must(
                Message, conn,
                "UPDATE messages SET status = %(status)s, error = coalesce(%(error)s, error),"
                " next_attempt_at = CASE WHEN %(status)s = 'queued' THEN %(next)s::timestamptz END"
                " WHERE id = %(id)s RETURNING *",
                params,
            )

    async def outbox_recover(self, *, lease: timedelta | None = None) -> int:
        # every tenant; the lease measured by the database's clock, one clock for every machine
        async with self._tx() as conn:
            row = await (await conn.execute("SELECT public.atende_outbox_recover(%s, %s) AS n",
                                            (INTERRUPTED, lease))).fetchone()
            return int(row["n"]) if row else 0

    async def dead_letters(self, tenant_id: str | None = None, *, limit: int = 100) -> list[Message]:
        if tenant_id is None:
            return await self._list(
                Message, None,
                "SELECT * FROM public.atende_dead_letters(%s) WITH ORDINALITY ORDER BY ordinality",
                (max(limit, 0),),
            )
        return await self._list(
            Message, tenant_id,
            "SELECT * FROM messages WHERE tenant_id = %s AND direction = 'out'"
            " AND status IN ('failed', 'dead') ORDER BY seq DESC LIMIT %s",
            (tenant_id, max(limit, 0)),
        )

    async def _apply_status(self, tenant_id: str, provider_message_id: str, status: ProviderStatus,
                            error: str | None) -> bool:
        async with self._tx(tenant_id) as conn:
            found = await fetch_one(
                Message, conn,
                "SELECT * FROM messages WHERE tenant_id = %s AND provider_message_id = %s"
                " AND direction = 'out' FOR UPDATE",
                (tenant_id, provider_message_id),
            )
            if found is None or not status_applies(found.status, status):
                return False
            await conn.execute(
                "UPDATE messages SET status = %(status)s, error = CASE WHEN %(status)s = 'failed'"
                " THEN coalesce(%(error)s, error) ELSE error END WHERE id = %(id)s",
                {"status": status, "error": error, "id": found.id},
            )
            return True

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        async with self._tx(tenant_id) as conn:
            found = await by_provider_id(conn, tenant_id, provider_message_id)
            return found if found is not None and found.direction == "out" else None


async def _take(conn: Conn, conversation_id: str, ids: list[str], turn_id: str | None) -> bool:
    """Mark `ids` done if every one is a pending message of the conversation (rows locked)."""
    taken = await fetch_all(
        Message, conn,
        "UPDATE messages SET state = 'done', turn_id = %(turn_id)s WHERE id IN ("
        + _LOCK_PENDING.format(extra=" AND conversation_id = %(conversation_id)s")
        + ") RETURNING *",
        {"ids": ids, "conversation_id": conversation_id, "turn_id": turn_id},
    )
    return len(taken) == len(ids)
