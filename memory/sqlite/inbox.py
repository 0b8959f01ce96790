"""The SQLite store's inbox and outbox: what webhooks stored, what turns queued, what got sent.

Every method is one `BEGIN IMMEDIATE` transaction, so a check and the write it guards cannot be
split by another writer: a redelivered webhook is stored once, an inbox message is answered
once, a queued reply is claimed by one sender.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any, Literal

from atende.errors import NotFound

from ..store import DELIVERY_RANK, Conversation, Message, ProviderStatus
from .base import SQLiteBase
from .conversations import (
    by_provider_id,
    conversation_of,
    insert_message,
    upsert_patient_row,
)
from .rows import (
    MESSAGE_NOT_FOUND,
    check_choice,
    check_phone,
    conversation_row,
    fetch,
    fetch_all,
    to_db,
    transaction,
)

INTERRUPTED = "interrupted while sending; not resent to avoid a duplicate"
_FAILED = ("failed", "dead")  # below every DELIVERY_RANK: any sign of delivery beats them


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


class InboxMixin(SQLiteBase):
    # inbox (webhooks → dispatcher)

    async def inbox_add(
        self,
        tenant_id: str,
        phone: str,
        *,
        channel: str,
        provider_message_id: str,
        provider_ts: datetime,
        kind: str,
        text: str | None,
        meta: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Store an inbound message as `pending`, creating patient (source: the channel) and
        conversation on first contact; idempotent on (tenant, provider_message_id): a
        redelivery returns the stored row and False and changes nothing.

        `last_inbound_at` (the 24-hour window) moves forward only, to the provider's timestamp
        but never past our own clock: a provider clock running fast cannot stretch the window.
        """
        check_phone(phone)
        if not provider_message_id:
            raise ValueError("an inbound message needs its provider message id (the idempotency key)")
        now = self._now()
        sent_at = to_db(provider_ts)
        row = {
            "direction": "in",
            "author": "patient",
            "channel": channel,
            "kind": kind,
            "text": text,
            "status": "received",
            "state": "pending",
            "provider_message_id": provider_message_id,
            "provider_ts": sent_at,
            "meta": meta,
        }

        def op(conn: sqlite3.Connection) -> tuple[Message, bool]:
            with transaction(conn):
                stored = by_provider_id(conn, tenant_id, provider_message_id)
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
                    {"at": min(sent_at, now), "id": conversation["id"], "channel": channel},
                )
                return fetch(Message, conn, "messages", id=message_id), True

        return await self._run(op)

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        """Pending inbound messages of a conversation, by provider timestamp then arrival."""
        return await self._list(
            Message,
            "SELECT * FROM messages WHERE conversation_id = ? AND state = 'pending'"
            " ORDER BY provider_ts, seq",
            (conversation_id,),
        )

    async def conversations_with_pending(self) -> list[Conversation]:
        """Conversations that have pending inbound messages, longest waiting first (picked up
        again after a restart); every tenant."""
        return await self._list(
            Conversation,
            "SELECT c.* FROM conversations AS c JOIN ("
            "  SELECT conversation_id, min(provider_ts) AS oldest, min(seq) AS first"
            "  FROM messages WHERE state = 'pending' GROUP BY conversation_id"
            ") AS p ON p.conversation_id = c.id ORDER BY p.oldest, p.first",
            (),
        )

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        """Mark pending inbound messages as handled without a reply (`meta["ignored_reason"]`);
        messages already done or ignored, and unknown ids, are left as they are."""
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

    async def complete_turn(
        self,
        conversation_id: str,
        *,
        inbox_ids: list[str],
        turn_id: str | None,
        replies: list[str],
        meta: dict[str, Any] | None = None,
        last_meta: dict[str, Any] | None = None,
    ) -> list[Message]:
        """In one transaction: mark `inbox_ids` done (with `turn_id`) and queue `replies` as
        outbound rows (author bot, status queued, `meta` on each and `last_meta` joining the
        last one's), in order. If any of `inbox_ids` is not a pending message of this
        conversation, nothing is written and [] is returned: nothing is answered twice. No
        `inbox_ids` queues the replies alone.
        `NotFound` for an unknown conversation."""
        ids = list(dict.fromkeys(inbox_ids))
        now = self._now()
        queued = {
            "direction": "out",
            "author": "bot",
            "kind": "text",
            "status": "queued",
            "turn_id": turn_id,
            "meta": meta,
        }

        def op(conn: sqlite3.Connection) -> list[Message]:
            with transaction(conn):
                conversation = conversation_row(conn, conversation_id)
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
                rows = [{**queued, "text": reply} for reply in replies]
                if rows and last_meta:
                    rows[-1]["meta"] = {**(meta or {}), **last_meta}
                written = [str(insert_message(conn, conversation, now, row)) for row in rows]
                if not written:
                    return []
                return fetch_all(
                    Message,
                    conn,
                    f"SELECT * FROM messages WHERE id IN ({_marks(written)}) ORDER BY seq",
                    written,
                )

        return await self._run(op)

    # outbox (dispatcher → senders)

    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        """Queued outbound rows whose `next_attempt_at` is due (or unset), oldest first (the
        order they were queued, so a conversation's bubbles keep their order)."""
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
        """queued → sending, atomically (None if someone else took it or it is not queued);
        increments `attempts` and records when (`claimed_at`: the start of the claim's lease)."""
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

    async def outbox_result(
        self,
        message_id: str,
        *,
        status: Literal["sent", "queued", "failed", "dead"],
        provider_message_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> Message:
        """Record a send attempt: sent (with the provider id), queued again for a retry at
        `next_attempt_at` (None: at once), failed (a definitive 4xx) or dead (retries exhausted).

        `sent` is always recorded, whatever happened to the row meanwhile (e.g. `outbox_recover`
        marked it failed): it did go out, and its provider id is what status callbacks and echo
        detection look up. The other results apply only to a row still `sending` (the claim they
        report on); otherwise the row is returned unchanged. `NotFound` for an unknown id.
        """
        check_choice("status", status, ("sent", "queued", "failed", "dead"))
        params: dict[str, Any] = {
            "id": message_id,
            "status": status,
            "provider_message_id": provider_message_id,
            "error": error,
            "next": to_db(next_attempt_at) if next_attempt_at else None,
        }

        def op(conn: sqlite3.Connection) -> Message:
            with transaction(conn):
                row = conn.execute(
                    "SELECT status FROM messages WHERE id = ? AND direction = 'out'", (message_id,)
                ).fetchone()
                if row is None:
                    raise NotFound(MESSAGE_NOT_FOUND)
                if status == "sent":
                    params["forward"] = DELIVERY_RANK.get(row["status"], -1) < DELIVERY_RANK["sent"]
                    conn.execute(
                        "UPDATE messages SET status = CASE WHEN :forward THEN 'sent' ELSE status END,"
                        " provider_message_id = coalesce(:provider_message_id, provider_message_id),"
                        " error = coalesce(:error, error), next_attempt_at = NULL WHERE id = :id",
                        params,
                    )
                elif row["status"] == "sending":
                    conn.execute(
                        "UPDATE messages SET status = :status, error = coalesce(:error, error),"
                        " next_attempt_at = CASE WHEN :status = 'queued' THEN :next END WHERE id = :id",
                        params,
                    )
                return fetch(Message, conn, "messages", id=message_id)

        return await self._run(op)

    async def outbox_recover(self, *, lease: timedelta | None = None) -> int:
        """Rows left `sending` by a sender that died are marked failed (they may have gone out;
        resending could answer twice). `lease=None`: every `sending` row (the one sender's
        start-up); otherwise only rows claimed more than `lease` ago, by this store's clock
        (rows claimed before v3 recorded claims count as expired). Returns how many."""
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
        """Outbound rows (the bot's or a person's) that failed or died, newest first."""
        where = "direction = 'out' AND status IN ('failed', 'dead')"
        params: list[Any] = [max(limit, 0)]
        if tenant_id is not None:
            where, params = f"{where} AND tenant_id = ?", [tenant_id, *params]
        return await self._list(
            Message, f"SELECT * FROM messages WHERE {where} ORDER BY seq DESC LIMIT ?", params
        )

    async def apply_status(
        self,
        tenant_id: str,
        provider_message_id: str,
        status: ProviderStatus,
        *,
        error: str | None = None,
    ) -> bool:
        """Apply a provider status callback to our outbound row; never moves backwards
        (DELIVERY_RANK); `failed` only applies before delivered. False if unknown or no change.

        A row marked failed or dead counts as below `sent`: a later sign of delivery is the
        truth and replaces it (the error text stays, as the last error seen).
        """
        check_choice("status", status, ("sent", "delivered", "read", "played", "failed"))

        def op(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                found = find_outbound_row(conn, tenant_id, provider_message_id)
                if found is None:
                    return False
                current = found.status
                rank = -1 if current in _FAILED else DELIVERY_RANK.get(current, -1)
                if status == "failed":
                    if current in _FAILED or rank >= DELIVERY_RANK["delivered"]:
                        return False
                elif rank >= DELIVERY_RANK[status]:
                    return False
                conn.execute(
                    "UPDATE messages SET status = :status, error = CASE WHEN :status = 'failed'"
                    " THEN coalesce(:error, error) ELSE error END WHERE id = :id",
                    {"status": status, "error": error, "id": found.id},
                )
                return True

        return await self._run(op)

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        """Our own outbound message (the bot's or a person's) with that provider id: tells the
        bot's echoes apart from a person typing on the clinic's phone."""
        return await self._run(lambda conn: find_outbound_row(conn, tenant_id, provider_message_id))


def find_outbound_row(conn: sqlite3.Connection, tenant_id: str, provider_message_id: str) -> Message | None:
    found = by_provider_id(conn, tenant_id, provider_message_id)
    return found if found is not None and found.direction == "out" else None
