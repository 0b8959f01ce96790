"""The SQLite store's poison messages: inbound messages the webhooks set aside, for ops to read."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from ..records import PoisonMessage
from ..shared.poison import Poison
from .base import SQLiteBase
from .rows import insert, record, transaction


class PoisonMixin(Poison, SQLiteBase):
    async def _add_poison(self, row: dict[str, Any]) -> PoisonMessage:
        row = {"id": str(uuid.uuid4()), **row}

        def op(conn: sqlite3.Connection) -> PoisonMessage:
            with transaction(conn):
                insert(conn, "poison_messages", row, "ON CONFLICT DO NOTHING")
                key = "id = :id" if row["provider_message_id"] is None else (
                    "tenant_id = :tenant_id AND channel = :channel"
                    " AND provider_message_id = :provider_message_id")
                found = conn.execute(f"SELECT * FROM poison_messages WHERE {key}", row).fetchone()
                return record(PoisonMessage, found)

        return await self._run(op)

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100) -> list[PoisonMessage]:
        return await self._list(
            PoisonMessage,
            "SELECT * FROM poison_messages WHERE (:tenant IS NULL OR tenant_id = :tenant)"
            " ORDER BY received_at DESC, seq DESC LIMIT :limit",
            {"tenant": tenant_id, "limit": max(limit, 0)},
        )
