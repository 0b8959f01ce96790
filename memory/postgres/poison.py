"""The Postgres store's poison messages: inbound messages the webhooks set aside, for ops to read."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from psycopg.rows import DictRow

from ..poison import PoisonMessage
from .base import PostgresBase

_COLUMNS = "id, tenant_id, channel, provider_message_id, reason, excerpt, received_at"


def poison_record(row: DictRow) -> PoisonMessage:
    return PoisonMessage(
        id=str(row["id"]), tenant_id=row["tenant_id"], channel=row["channel"],
        reason=row["reason"], received_at=row["received_at"].astimezone(UTC),
        provider_message_id=row["provider_message_id"], excerpt=row["excerpt"],
    )


class PoisonMixin(PostgresBase):
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
        row = {"tenant_id": tenant_id, "channel": channel, "id": provider_message_id,
               "reason": reason, "excerpt": excerpt, "at": self._now()}
        async with self._tx(tenant_id) as conn:
            cur = await conn.execute(
                "INSERT INTO poison_messages (tenant_id, channel, provider_message_id, reason,"
                " excerpt, received_at) VALUES (%(tenant_id)s, %(channel)s, %(id)s, %(reason)s,"
                " %(excerpt)s, %(at)s)"
                " ON CONFLICT (tenant_id, channel, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING"
                f" RETURNING {_COLUMNS}", row)
            found = await cur.fetchone()
            if found is None:  # a redelivery: the first record stands
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM poison_messages WHERE tenant_id = %(tenant_id)s"
                    " AND channel = %(channel)s AND provider_message_id = %(id)s", row)
                found = await cur.fetchone()
            assert found is not None
            return poison_record(found)

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100
                          ) -> list[PoisonMessage]:
        """Poison records of a tenant (or every tenant, through the RLS migration's definer
        function), newest first."""
        sql: str
        params: tuple[Any, ...]
        if tenant_id is None:
            sql, params = (f"SELECT {_COLUMNS} FROM public.atende_poison_messages(%s)"
                           " WITH ORDINALITY ORDER BY ordinality", (max(limit, 0),))
        else:
            sql, params = (f"SELECT {_COLUMNS} FROM poison_messages WHERE tenant_id = %s"
                           " ORDER BY received_at DESC, seq DESC LIMIT %s", (tenant_id, max(limit, 0)))
        async with self._tx(tenant_id) as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
        return [poison_record(row) for row in rows]
