"""The Postgres store's poison messages: inbound messages the webhooks set aside, for ops to read."""

from __future__ import annotations

from typing import Any

from ..records import PoisonMessage
from ..shared.poison import Poison
from .base import PostgresBase
from .rows import fetch_one, must


class PoisonMixin(Poison, PostgresBase):
    async def _add_poison(self, row: dict[str, Any]) -> PoisonMessage:
        async with self._tx(row["tenant_id"]) as conn:
            added = await fetch_one(
                PoisonMessage, conn,
                "INSERT INTO poison_messages (tenant_id, channel, provider_message_id, reason,"
                " excerpt, received_at) VALUES (%(tenant_id)s, %(channel)s, %(provider_message_id)s,"
                " %(reason)s, %(excerpt)s, %(received_at)s)"
                " ON CONFLICT (tenant_id, channel, provider_message_id)"
                " WHERE provider_message_id IS NOT NULL DO NOTHING RETURNING *", row)
            return added or await must(  # a redelivery: the first record stands
                PoisonMessage, conn,
                "SELECT * FROM poison_messages WHERE tenant_id = %(tenant_id)s"
                " AND channel = %(channel)s AND provider_message_id = %(provider_message_id)s", row)

    async def list_poison(self, tenant_id: str | None = None, *, limit: int = 100) -> list[PoisonMessage]:
        # every tenant through the RLS migration's definer function
        if tenant_id is None:
            return await self._list(
                PoisonMessage, None,
                "SELECT * FROM public.atende_poison_messages(%s) WITH ORDINALITY ORDER BY ordinality",
                (max(limit, 0),))
        return await self._list(
            PoisonMessage, tenant_id,
            "SELECT * FROM poison_messages WHERE tenant_id = %s ORDER BY received_at DESC, seq DESC LIMIT %s",
            (tenant_id, max(limit, 0)))
