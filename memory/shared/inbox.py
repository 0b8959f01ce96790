"""The inbox (webhooks → dispatcher) and outbox (→ senders): the checks and delivery rules of those
`Store` methods, once; the SQL, and how each database keeps a check and its write together, is
each backend's `inbox.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ..records import (
    CONVERSATION_NOT_FOUND,
    DELIVERY_RANK,
    MESSAGE_NOT_FOUND,
    Message,
    ProviderStatus,
    check_choice,
    check_phone,
)
from .base import Backend
from .conversations import found

_FAILED = ("failed", "dead")  # below every DELIVERY_RANK: any sign of delivery beats them
SEND_RESULTS = ("sent", "queued", "failed", "dead")


def sent_moves_forward(current: str) -> bool:
    """Whether a `sent` result changes the row's status (a callback may have gone further)."""
    return DELIVERY_RANK.get(current, -1) < DELIVERY_RANK["sent"]


def status_applies(current: str, status: ProviderStatus) -> bool:
    """Whether a provider callback moves a row from `current`: never backwards; `failed` only
    before delivered; a row marked failed or dead counts as below `sent` (a later sign of
    delivery is the truth and replaces it; the error text stays, as the last error seen)."""
    rank = -1 if current in _FAILED else DELIVERY_RANK.get(current, -1)
    if status == "failed":
        return current not in _FAILED and rank < DELIVERY_RANK["delivered"]
    return rank < DELIVERY_RANK[status]


class Inbox(Backend):
    async def inbox_add(
        self, tenant_id: str, phone: str, *, channel: str, provider_message_id: str,
        provider_ts: datetime, kind: str, text: str | None, meta: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        # The patient's source is the channel on first contact. `last_inbound_at` (the 24-hour
        # window) moves forward only, to the provider's timestamp but never past our own clock: a
        # provider clock running fast cannot stretch the window.
        check_phone(phone)
        if not provider_message_id:
            raise ValueError("an inbound message needs its provider message id (the idempotency key)")
        sent_at = self._instant(provider_ts)
        row = {"direction": "in", "author": "patient", "channel": channel, "kind": kind,
               "text": text, "status": "received", "state": "pending",
               "provider_message_id": provider_message_id, "provider_ts": sent_at, "meta": meta}
        return await self._inbox_add(tenant_id, phone, row)

    async def complete_turn(
        self, conversation_id: str, *, inbox_ids: list[str], turn_id: str | None, replies: list[str],
        meta: dict[str, Any] | None = None, last_meta: dict[str, Any] | None = None,
    ) -> list[Message]:
        queued = {"direction": "out", "author": "bot", "kind": "text", "status": "queued",
                  "turn_id": turn_id, "meta": meta}
        rows = [{**queued, "text": reply} for reply in replies]
        if rows and last_meta:
            rows[-1]["meta"] = {**(meta or {}), **last_meta}
        ids = list(dict.fromkeys(inbox_ids))
        return found(await self._complete_turn(conversation_id, ids, turn_id, rows), CONVERSATION_NOT_FOUND)

    async def outbox_result(
        self, message_id: str, *, status: Literal["sent", "queued", "failed", "dead"],
        provider_message_id: str | None = None, error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> Message:
        # `sent` is always recorded, whatever happened to the row meanwhile (e.g. `outbox_recover`
        # marked it failed): it did go out, and its provider id is what status callbacks and echo
        # detection look up. The other results apply only to a row still `sending` (the claim they
        # report on); otherwise the row is returned unchanged.
        check_choice("status", status, SEND_RESULTS)
        params = {"id": message_id, "status": status, "provider_message_id": provider_message_id,
                  "error": error, "next": None if next_attempt_at is None else self._instant(next_attempt_at)}
        return found(await self._outbox_result(params), MESSAGE_NOT_FOUND)

    async def apply_status(self, tenant_id: str, provider_message_id: str, status: ProviderStatus, *,
                           error: str | None = None) -> bool:
        check_choice("status", status, ("sent", "delivered", "read", "played", "failed"))
        return await self._apply_status(tenant_id, provider_message_id, status, error)

    # what the backend supplies (one transaction each)

    async def _inbox_add(self, tenant_id: str, phone: str, row: dict[str, Any]) -> tuple[Message, bool]:
        """Store `row` once per (tenant, provider id), with patient and conversation on first
        contact; moves the conversation's channel, and `last_inbound_at` forward to
        min(provider_ts, now)."""
        raise NotImplementedError

    async def _complete_turn(self, conversation_id: str, ids: list[str], turn_id: str | None,
                             rows: list[dict[str, Any]]) -> list[Message] | None:
        """Mark `ids` done and insert `rows`, or write nothing and return [] unless every id is
        a pending message of the conversation; None: no such conversation."""
        raise NotImplementedError

    async def _outbox_result(self, params: dict[str, Any]) -> Message | None:
        """Apply a send result to an outbound row (`sent_moves_forward`); None: no such row."""
        raise NotImplementedError

    async def _apply_status(self, tenant_id: str, provider_message_id: str, status: ProviderStatus,
                            error: str | None) -> bool:
        """Apply a callback to the outbound row under a lock when `status_applies`."""
        raise NotImplementedError
