"""The Postgres store's inbox and outbox: what webhooks stored, what turns queued, what got sent.

Each method is one transaction at READ COMMITTED. What SQLite gets from its single writer,
Postgres gets from conditional writes and row locks: a redelivered webhook is stored once (a
unique index and ON CONFLICT), an inbox message is answered once (rows locked in id order, then
re-checked), a queued reply is claimed by one sender (UPDATE ... WHERE status = 'queued').
The scans that serve every clinic at once go through the RLS migration's definer functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

from atende.errors import NotFound

from ..sqlite.inbox import INTERRUPTED
from ..sqlite.rows import MESSAGE_NOT_FOUND, check_choice, check_phone
from ..store import DELIVERY_RANK, Conversation, Message, ProviderStatus
from .base import PostgresBase
from .conversations import (
    by_provider_id,
    conversation_of,
    current_conversation,
    insert_message,
    upsert_patient_row,
)
from .rows import Conn, fetch_all, fetch_one, must, utc, uuids

_FAILED = ("failed", "dead")  # below every DELIVERY_RANK: any sign of delivery beats them
# Pending inbound rows among the given ids, locked in id order (so two writers racing over the
# same rows cannot deadlock); rows another transaction answered meanwhile drop out on re-check.
_LOCK_PENDING = (
    "SELECT id FROM messages WHERE id = ANY(%(ids)s::uuid[]) AND state = 'pending'{extra}"
    " ORDER BY id FOR UPDATE"
)


class InboxMixin(PostgresBase):
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
        now, sent_at = self._now(), utc(provider_ts)
        row = {"direction": "in", "author": "patient", "channel": channel, "kind": kind,
               "text": text, "status": "received", "state": "pending",
               "provider_message_id": provider_message_id, "provider_ts": sent_at, "meta": meta}
        async with self._tx(tenant_id) as conn:
            stored = await by_provider_id(conn, tenant_id, provider_message_id)
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
                {"at": min(sent_at, now), "id": conversation.id, "channel": channel},
            )
            return message, True
        async with self._tx(tenant_id) as conn:
            stored = await by_provider_id(conn, tenant_id, provider_message_id)
            assert stored is not None
            return stored, False

    async def inbox_pending(self, conversation_id: str) -> list[Message]:
        """Pending inbound messages of a conversation, by provider timestamp then arrival."""
        return await self._list_of(
            Message, "conversation", conversation_id,
            "SELECT * FROM messages WHERE conversation_id = %s AND state = 'pending'"
            " ORDER BY provider_ts, seq",
            (conversation_id,),
        )

    async def conversations_with_pending(self) -> list[Conversation]:
        """Conversations that have pending inbound messages, longest waiting first (picked up
        again after a restart); every tenant."""
        return await self._list(
            Conversation, None,
            "SELECT * FROM public.atende_pending_conversations() WITH ORDINALITY ORDER BY ordinality",
            (),
        )

    async def inbox_ignore(self, message_ids: list[str], *, reason: str) -> None:
        """Mark pending inbound messages as handled without a reply (`meta["ignored_reason"]`);
        messages already done or ignored, and unknown ids, are left as they are."""
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
        wanted = list(dict.fromkeys(inbox_ids))
        ids = uuids(wanted)
        queued = {"direction": "out", "author": "bot", "kind": "text", "status": "queued",
                  "turn_id": turn_id, "meta": meta}
        async with self._tx() as conn:
            conversation = await current_conversation(self, conn, conversation_id)
            if wanted:
                if len(ids) != len(wanted) or not await _take(conn, conversation_id, ids, turn_id):
                    raise psycopg.Rollback()
            now, written = self._now(), []
            rows = [{**queued, "text": reply} for reply in replies]
            if rows and last_meta:
                rows[-1]["meta"] = {**(meta or {}), **last_meta}
            for row in rows:
                message = await insert_message(conn, conversation, now, row)
                assert message is not None  # no conflict clause: inserted or raised
                written.append(message)
            return written
        return []

    # outbox (dispatcher → senders)

    async def outbox_due(self, now: datetime, *, limit: int = 50) -> list[Message]:
        """Queued outbound rows whose `next_attempt_at` is due (or unset), oldest first (the
        order they were queued, so a conversation's bubbles keep their order); every tenant."""
        return await self._list(
            Message, None,
            "SELECT * FROM public.atende_outbox_due(%s, %s) WITH ORDINALITY ORDER BY ordinality",
            (utc(now), max(limit, 0)),
        )

    async def outbox_claim(self, message_id: str) -> Message | None:
        """queued → sending, atomically (None if someone else took it or it is not queued);
        increments `attempts` and records the claim time (`claimed_at`, the database's now():
        the start of the claim's lease, see `outbox_recover`)."""
        async with self._tx() as conn:
            if await self._enter(conn, "message", message_id) is None:
                return None
            return await fetch_one(
                Message, conn,
                "UPDATE messages SET status = 'sending', attempts = attempts + 1, claimed_at = now()"
                " WHERE id = %s AND direction = 'out' AND status = 'queued' RETURNING *",
                (message_id,),
            )

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
            "id": message_id, "status": status, "provider_message_id": provider_message_id,
            "error": error, "next": utc(next_attempt_at) if next_attempt_at else None,
        }
        async with self._tx() as conn:
            found = None
            if await self._enter(conn, "message", message_id) is not None:
                found = await fetch_one(
                    Message, conn,
                    "SELECT * FROM messages WHERE id = %s AND direction = 'out' FOR UPDATE",
                    (message_id,),
                )
            if found is None:
                raise NotFound(MESSAGE_NOT_FOUND)
            if status == "sent":
                params["forward"] = DELIVERY_RANK.get(found.status, -1) < DELIVERY_RANK["sent"]
                return await must(
                    Message, conn,
                    "UPDATE messages SET status = CASE WHEN %(forward)s THEN 'sent' ELSE status END,"
                    " provider_message_id = coalesce(%(provider_message_id)s, provider_message_id),"
                    " error = coalesce(%(error)s, error), next_attempt_at = NULL"
                    " WHERE id = %(id)s RETURNING *",
                    params,
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
        """Rows left `sending` by a sender that died are marked failed (they may have gone out;
        resending could answer twice); every tenant. `lease=None`: every `sending` row (the one
        sender's start-up); otherwise only rows claimed more than `lease` ago by the database's
        clock, one clock for every machine. Returns how many."""
        async with self._tx() as conn:
            row = await (await conn.execute("SELECT public.atende_outbox_recover(%s, %s) AS n",
                                            (INTERRUPTED, lease))).fetchone()
            return int(row["n"]) if row else 0

    async def dead_letters(self, tenant_id: str | None = None, *, limit: int = 100) -> list[Message]:
        """Outbound rows (the bot's or a person's) that failed or died, newest first."""
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
        async with self._tx(tenant_id) as conn:
            found = await fetch_one(
                Message, conn,
                "SELECT * FROM messages WHERE tenant_id = %s AND provider_message_id = %s"
                " AND direction = 'out' FOR UPDATE",
                (tenant_id, provider_message_id),
            )
            if found is None:
                return False
            rank = -1 if found.status in _FAILED else DELIVERY_RANK.get(found.status, -1)
            if status == "failed":
                if found.status in _FAILED or rank >= DELIVERY_RANK["delivered"]:
                    return False
            elif rank >= DELIVERY_RANK[status]:
                return False
            await conn.execute(
                "UPDATE messages SET status = %(status)s, error = CASE WHEN %(status)s = 'failed'"
                " THEN coalesce(%(error)s, error) ELSE error END WHERE id = %(id)s",
                {"status": status, "error": error, "id": found.id},
            )
            return True

    async def find_outbound(self, tenant_id: str, provider_message_id: str) -> Message | None:
        """Our own outbound message (the bot's or a person's) with that provider id: tells the
        bot's echoes apart from a person typing on the clinic's phone."""
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
