"""The SQLite store's inbox and outbox: what webhooks stored, what turns queued, what got sent.

Every method is one `BEGIN IMMEDIATE` transaction, so a check and the write it guards cannot be
split by another writer: a redelivered webhook is stored once, an inbox message is answered
once, a queued reply is claimed by one sender.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ..records import INTERRUPTED, Conversation, Message, ProviderStatus
from ..shared.inbox import Inbox, sent_moves_forward, status_applies
from .base import SQLiteBase
from .conversations import (
    by_provider_id,
    conversation_of,
    conversation_row,
    insert_message,
    upsert_patient_row,
)
from .rows import fetch, fetch_all, to_db, transaction


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


class InboxMixin(Inbox, SQLiteBase):
    async def _inbox_add(self, tenant_id: str, phone: str, row: dict[str, Any]) -> tuple[Message, bool]:
        now = self._now()
        channel = row["channel"]

        def op(conn: sqlite3.Connection) -> tuple[Message, bool]:
            with transaction(conn):
                stored = by_provider_id(conn, tenant_id, row["provider_message_id"])
                if stored is not None:
                    return stored, False
                upsert_patient_row(conn, tenant_id, phone, channel, now)
                conversation = conversation_of(conn, tenant_id, phone, channel, now)
                message_id = insert_message(conn, conversation, now, row)
                conn.execute(
                    # replies follow the channel the patient wrote on last
                    "UPDATE conversations SET channel = :channel, last_inbound_at = CASE"
                    " WHEN last_inbound_at IS NULL OR last_inbound_at < :at THEN :at"
                    " ELSE last_inbound_at END WHERE id = :id",
                    {"at": min(row["provider_ts"], now), "id": conversation["id"], "channel": channel},
                )
                return fetch(Message, conn, "messages", id=message_id), True

        return await self._run_grouped(op)  # concurrent webhooks share one commit

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        return await self._list(
            Message,
            "SELECT * FROM messages WHERE conversation_id = ? AND state = 'pending'"
            " ORDER BY provider_ts, seq",
            (conversation_id,),
        )

    async def conversations_with_pending(self) -> list[Conversation]:
        return await self._list(
            Conversation,
            "SELECT c.* FROM conversations AS c JOIN ("
            "  SELECT conversation_id, min(provider_ts) AS oldest, min(seq) AS first"
            "  FROM messages WHERE state = 'pending' GROUP BY conversation_id"
            ") AS p ON p.conversation_id = c.id ORDER BY p.oldest, p.first",
            (),
        )

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return

        def op(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "UPDATE messages SET state = 'ignored', meta = json_set(meta, '$.ignored_reason', ?)"
                    f" WHERE state = 'pending' AND id IN ({_marks(ids)})",
                    (reason, *ids),
                )

        await self._run(op)

    async def _complete_turn(self, conversation_id: str, ids: list[str], turn_id: str | None,
                             rows: list[dict[str, Any]]) -> list[Message] | None:
        now = self._now()

        def op(conn: sqlite3.Connection) -> list[Message] | None:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
                if conversation is None:
                    return None
                if ids:
                    (pending,) = conn.execute(
                        "SELECT count(*) FROM messages WHERE conversation_id = ? AND state = 'pending'"
                        f" AND id IN ({_marks(ids)})",
                        (conversation_id, *ids),
                    ).fetchone()
                    if pending != len(ids):
                        return []
                    conn.execute(
                        f"UPDATE messages SET state = 'done', turn_id = ? WHERE id IN ({_marks(ids)})",
                        (turn_id, *ids),
                    )
                written = [str(insert_message(conn, conversation, now, row)) for row in rows]
                return fetch_all(
                    Message, conn, f"SELECT * FROM messages WHERE id IN ({_marks(written)}) ORDER BY seq",
                    written,
                ) if written else []

        return await self._run(op)

    # outbox (dispatcher → senders)

    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        return await self._list(
            Message,
            "SELECT * FROM messages m WHERE direction = 'out' AND status = 'queued'"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            # while a bubble is being sent (by any process) the next one waits its turn
            " AND NOT EXISTS (SELECT 1 FROM messages s WHERE s.conversation_id = m.conversation_id"
            " AND s.direction = 'out' AND s.status = 'sending')"
            " ORDER BY seq LIMIT ?",
            (to_db(now), max(limit, 0)),
        )

    async def outbox_claim(self, message_id: str) -> Message | None:
        now = self._now()

        def op(conn: sqlite3.Connection) -> Message | None:
            with transaction(conn):
                if not conn.execute(
                    "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_at = ?"
                    " WHERE id = ? AND direction = 'out' AND status = 'queued'",
                    (now, message_id),
                ).rowcount:
                    return None
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)

    async def _outbox_result(self, params: dict[str, Any]) -> Message | None:
        def op(conn: sqlite3.Connection) -> Message | None:
            with transaction(conn):
                row = conn.execute(
                    "SELECT status FROM messages WHERE id = ? AND direction = 'out'", (params["id"],)
                ).fetchone()
                if row is None:
                    return None
                if params["status"] == "sent":
                    conn.execute(
                        "UPDATE messages SET status = CASE WHEN :forward THEN 'sent' ELSE status END,"
                        " provider_message_id = coalesce(:provider_message_id, provider_message_id),"
                        " error = coalesce(:error, error), next_attempt_at = NULL WHERE id = :id",
                        {**params, "forward": sent_moves_forward(row["status"])},
                    )
                elif row["status"] == "sending":
                    conn.execute(
                        "UPDATE messages SET status = :status, error = coalesce(:error, error),"
                        " next_attempt_at = CASE WHEN :status = 'queued' THEN :next END WHERE id = :id",
                        params,
                    )
                return fetch(Message, conn, "messages", id=params["id"])

        return await self._run(op)

    async def outbox_recover(self, *, lease: timedelta | None = None) -> int:
        # by this store's clock; rows claimed before v3 recorded claims count as expired
        cutoff = None if lease is None else to_db(self._clock.now() - lease)

        def op(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return conn.execute(
                    "UPDATE messages SET status = 'failed', error = ?, next_attempt_at = NULL"
                    " WHERE direction = 'out' AND status = 'sending'"
                    " AND (? IS NULL OR claimed_at IS NULL OR claimed_at <= ?)",
                    (INTERRUPTED, cutoff, cutoff),
                ).rowcount

        return await self._run(op)

    async def dead_letters(self, tenant_id: str | None = None, *, limit: int = 100) -> list[Message]:
        return await self._list(
            Message,
            "SELECT * FROM messages WHERE direction = 'out' AND status IN ('failed', 'dead')"
            " AND (:tenant IS NULL OR tenant_id = :tenant) ORDER BY seq DESC LIMIT :limit",
            {"tenant": tenant_id, "limit": max(limit, 0)},
        )

    async def _apply_status(self, tenant_id: str, provider_message_id: str, status: ProviderStatus,
                            error: str | None) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                found = find_outbound_row(conn, tenant_id, provider_message_id)
                if found is None or not status_applies(found.status, status):
                    return False
                conn.execute(
                    "UPDATE messages SET status = :status, error = CASE WHEN :status = 'failed'"
                    " THEN coalesce(:error, error) ELSE error END WHERE id = :id",
                    {"status": status, "error": error, "id": found.id},
                )
                return True

        return await self._run(op)

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        return await self._run(lambda conn: find_outbound_row(conn, tenant_id, provider_message_id))


def find_outbound_row(conn: sqlite3.Connection, tenant_id: str, provider_message_id: str) -> Message | None:
    found = by_provider_id(conn, tenant_id, provider_message_id)
    return found if found is not None and found.direction == "out" else None
