"""Patients, conversations, messages, human takeover and turns: the checks and error choices of
those `Store` methods, once; the SQL is each backend's `conversations.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from atende.errors import NotFound

from ..contention import retrying
from ..records import (
    CONVERSATION_NOT_FOUND,
    LEAD_STAGES,
    MESSAGE_NOT_FOUND,
    MESSAGE_STATUSES,
    TURN_NOT_FOUND,
    Conversation,
    ConversationStatus,
    Direction,
    LeadStage,
    Message,
    MessageStatus,
    Patient,
    Turn,
    check_choice,
    check_phone,
)
from .base import Backend

T = TypeVar("T")


def found(value: T | None, missing: str) -> T:
    """`value`, or `NotFound(missing)` when the backend found no row."""
    if value is None:
        raise NotFound(missing)
    return value


class Conversations(Backend):
    # patients / leads

    async def upsert_patient(self, tenant_id: str, phone: str, *, source: str | None = None) -> Patient:
        check_phone(phone)
        return await self._upsert_patient(tenant_id, phone, source)

    @retrying  # the booking use case moves the lead to `scheduled` right after the slot
    async def update_patient(
        self, tenant_id: str, phone: str, *, name: str | None = None, stage: LeadStage | None = None,
        interest: str | None = None, source: str | None = None, add_note: str | None = None,
        proactive_opt_out: bool | None = None,
    ) -> Patient:
        check_phone(phone)
        if stage is not None:
            check_choice("stage", stage, LEAD_STAGES)
        note = (add_note or "").strip() or None  # appended to the notes, one a line
        changes = {"name": name, "stage": stage, "interest": interest, "source": source, "note": note,
                   "opt_out": proactive_opt_out}
        return await self._update_patient(tenant_id, phone, changes)

    # conversations and messages

    async def get_or_create_conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        check_phone(phone)
        return await self._conversation(tenant_id, phone, channel)

    async def set_conversation_status(
        self, conversation_id: str, status: ConversationStatus, *, reason: str | None = None
    ) -> Conversation:
        """`human` is `pause_conversation` until resumed; `active` is `resume_conversation`."""
        check_choice("status", status, ("active", "human"))
        if status == "human":
            return found(await self._pause(conversation_id, reason, None), CONVERSATION_NOT_FOUND)
        return await self.resume_conversation(conversation_id)

    async def pause_conversation(self, conversation_id: str, *, until: datetime | None,
                                 reason: str) -> Conversation:
        until_at = None if until is None else self._instant(until)
        return found(await self._pause(conversation_id, reason, until_at), CONVERSATION_NOT_FOUND)

    async def resume_conversation(self, conversation_id: str) -> Conversation:
        return found(await self._resume(conversation_id), CONVERSATION_NOT_FOUND)

    async def add_message(
        self, conversation_id: str, *, direction: Direction, text: str | None, kind: str = "text",
        status: MessageStatus = "received", provider_message_id: str | None = None,
        turn_id: str | None = None, meta: dict[str, Any] | None = None,
    ) -> Message:
        # The console path: inbound rows are the patient's (state None, so never in the inbox the
        # dispatcher reads), outbound rows the bot's; `last_inbound_at` is when it was stored.
        check_choice("direction", direction, ("in", "out"))
        check_choice("status", status, MESSAGE_STATUSES)
        row = {"direction": direction, "author": "patient" if direction == "in" else "bot",
               "kind": kind, "text": text, "status": status, "turn_id": turn_id,
               "provider_message_id": provider_message_id, "meta": meta}
        return found(await self._add_message(conversation_id, row), CONVERSATION_NOT_FOUND)

    async def annotate_message(self, message_id: str, meta: dict[str, Any]) -> Message:
        return found(await self._annotate(message_id, meta), MESSAGE_NOT_FOUND)

    # human takeover

    async def record_human_message(
        self, conversation_id: str, *, text: str | None, kind: str = "text",
        provider_message_id: str | None, provider_ts: datetime | None,
    ) -> tuple[Message, bool]:
        row = {"direction": "out", "author": "human", "kind": kind, "text": text, "status": "sent",
               "provider_message_id": provider_message_id,
               "provider_ts": None if provider_ts is None else self._instant(provider_ts)}
        return found(await self._record_human(conversation_id, row), CONVERSATION_NOT_FOUND)

    async def human_messages_since(self, conversation_id: str, since: datetime | None) -> list[Message]:
        # Inclusive to the second (SQLite's precision), so a message from the same second is never
        # missed; a caller that saw it before gets it again.
        return await self._human_messages(conversation_id, None if since is None else self._instant(since))

    # turns

    async def start_turn(self, conversation_id: str, tenant_id: str, *, model: str,
                         prompt_version: str, config_version: int | None = None) -> Turn:
        row = {"conversation_id": conversation_id, "tenant_id": tenant_id, "model": model,
               "prompt_version": prompt_version, "config_version": config_version}
        return found(await self._start_turn(row), CONVERSATION_NOT_FOUND)

    async def finish_turn(self, turn_id: str, *, outcome: str, tokens_in: int = 0,
                          tokens_out: int = 0, tool_calls: list[dict[str, Any]] | None = None,
                          reply: str | None = None) -> Turn:
        values = {"outcome": outcome, "tokens_in": tokens_in, "tokens_out": tokens_out,
                  "tool_calls": tool_calls or [], "reply": reply}
        return found(await self._finish_turn(turn_id, values), TURN_NOT_FOUND)

    async def list_conversations(
        self, tenant_id: str, *, phone: str | None = None, since: datetime | None = None
    ) -> list[Conversation]:
        return await self._conversations(tenant_id, phone, None if since is None else self._instant(since))

    async def purge_bodies(self, tenant_id: str, *, before: datetime) -> int:
        return await self._purge(tenant_id, self._instant(before))

    # what the backend supplies (one transaction each; None: no such conversation, message, turn)

    async def _upsert_patient(self, tenant_id: str, phone: str, source: str | None) -> Patient:
        raise NotImplementedError

    async def _update_patient(self, tenant_id: str, phone: str, changes: dict[str, Any]) -> Patient:
        raise NotImplementedError

    async def _conversation(self, tenant_id: str, phone: str, channel: str) -> Conversation:
        raise NotImplementedError

    async def _pause(self, conversation_id: str, reason: str | None, until: Any) -> Conversation | None:
        """Status human; a pause that finds one running keeps its `handoff_at`."""
        raise NotImplementedError

    async def _resume(self, conversation_id: str) -> Conversation | None:
        raise NotImplementedError

    async def _add_message(self, conversation_id: str, row: dict[str, Any]) -> Message | None:
        """Insert, or the row first stored with that provider id; inbound moves last_inbound_at."""
        raise NotImplementedError

    async def _annotate(self, message_id: str, meta: dict[str, Any]) -> Message | None:
        """JSON merge patch (RFC 7396) of `meta` into the message's."""
        raise NotImplementedError

    async def _record_human(self, conversation_id: str, row: dict[str, Any]
                            ) -> tuple[Message, bool] | None:
        raise NotImplementedError

    async def _human_messages(self, conversation_id: str, since: Any) -> list[Message]:
        raise NotImplementedError

    async def _start_turn(self, row: dict[str, Any]) -> Turn | None:
        """Insert the turn, started now, if its conversation is the tenant's."""
        raise NotImplementedError

    async def _finish_turn(self, turn_id: str, values: dict[str, Any]) -> Turn | None:
        raise NotImplementedError

    async def _conversations(self, tenant_id: str, phone: str | None, since: Any) -> list[Conversation]:
        raise NotImplementedError

    async def _purge(self, tenant_id: str, before: Any) -> int:
        raise NotImplementedError
