"""Messages the webhooks set aside: the record a poison row becomes, once; the SQL is each
backend's `poison.py`."""

from __future__ import annotations

from typing import Any

from ..records import PoisonMessage
from .base import Backend


class Poison(Backend):
    async def add_poison(self, tenant_id: str, *, channel: str, reason: str,
                         provider_message_id: str | None = None, excerpt: str = "") -> PoisonMessage:
        row = {"tenant_id": tenant_id, "channel": channel, "provider_message_id": provider_message_id,
               "reason": reason, "excerpt": excerpt, "received_at": self._now()}
        return await self._add_poison(row)

    async def _add_poison(self, row: dict[str, Any]) -> PoisonMessage:
        """Insert `row`, or return the record first stored with its (tenant, channel, provider id)."""
        raise NotImplementedError
