"""Whether the bot may speak in a conversation: the one place that asks "is a person handling
this?" (`ConversationTurns.answer` before a turn, the outbox before each send)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from atende.memory.records import Conversation


def bot_may_speak(conversation: Conversation, now: datetime,
                  meta: Mapping[str, Any] | None = None) -> bool:
    """False while a person at the clinic has the conversation (paused or taken over), except
    for the reply of the turn that handed it over (`meta["handoff"]`): the patient must hear
    that someone will call."""
    return not conversation.bot_paused(now) or bool(meta and meta.get("handoff"))
