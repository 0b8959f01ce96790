"""The SQLite store's poison messages: inbound messages the webhooks set aside, for ops to read."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from ..poison import PoisonMessage
from .base import SQLiteBase
from .rows import insert, transaction


def poison_record(row: sqlite3.Row) -> PoisonMessage:
    return PoisonMessage(
        id=row["id"], tenant_id=row["tenant_id"], channel=row["channel"], reason=row["reason"],
        received_at=datetime.fromisoformat(row["received_at"]).replace(tzinfo=UTC),
        provider_message_id=row["provider_message_id"], excerpt=row["excerpt"],
    )


class PoisonMixin(SQLiteBase):
    async def add_poison(
        self,
        tenant_id: str,
        *,
        channel: str,
        reason: str,
        provider_message_id: str | None = None,
        excerpt: str = "",
    ) -> PoisonMessage:
        """Keep a message that could not be stored; a redelivery returns the first record."""
        row = {"id": str(uuid.uuid4()), "tenant_id": tenant_id, "channel": channel,
               "provider_message_id": provider_message_id, "reason": reason, "excerpt": excerpt,
               "received_at": self._now()}

        def op(conn: sqlite3.Connection) -> PoisonMessage:
            with transaction(conn):
                insert(conn, "poison_messages", row, "ON CONFLICT DO NOTHING")
                key = "id = :id" if provider_message_id is None else (
                    "tenant_id = :tenant_id AND channel = :channel"
                    " AND provider_message_id = :provider_message_id")
                found = conn.execute(f"SELECT * FROM poison_messages WHERE {key}", row).fetchone()
                return poison_record(found)

        return await self._run(op)

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100
                          ) -> list[PoisonMessage]:
        """Poison records of a tenant (or every tenant), newest first."""
        where, params = ("WHERE tenant_id = ?", [tenant_id]) if tenant_id is not None else ("", [])
        rows: list[Any] = await self._run(lambda conn: conn.execute(
            f"SELECT * FROM poison_messages {where} ORDER BY received_at DESC, seq DESC LIMIT ?",
            [*params, max(limit, 0)]).fetchall())
        return [poison_record(row) for row in rows]
