"""Export stored conversations as pseudonymised transcripts (`atende transcripts export`).

A turn's patient messages are the inbound rows marked with its id (the webhook path), or else
the rows stored since the previous reply (the console path, which answers one message per
turn). Phone numbers never leave as they are: the conversation's phone and every phone-looking
string in texts, tool arguments and results go through a `Pseudonymizer`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

from atende.errors import InvalidInput
from atende.evals.pseudonyms import Pseudonymizer
from atende.evals.transcript_format import (
    AgentTurn,
    AutoReply,
    Entry,
    PatientMessage,
    StaffMessage,
    ToolCall,
    Transcript,
    UnansweredMessage,
)
from atende.memory.records import Conversation, Message, Turn
from atende.memory.store import Store
from atende.tenant import Tenant

MAX_MESSAGES = 1_000_000  # a conversation is exported whole
_AGO = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(value: str, *, now: datetime, tenant: Tenant) -> datetime:
    """`7d` / `12h` / `30m` before `now`, an ISO date (midnight at the clinic) or an ISO
    date-time with offset; `InvalidInput` otherwise."""
    ago = _AGO.match(value)
    if ago:
        return now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"--since: not 7d/12h/30m nor an ISO date: {value!r}") from None
    if len(value.strip()) == 10:  # a bare date
        return datetime.combine(parsed.date(), time.min, tzinfo=tenant.tz)
    if parsed.tzinfo is None:
        raise InvalidInput("--since: give an offset, e.g. 2026-03-01T00:00-03:00")
    return parsed


async def export_transcripts(store: Store, tenant: Tenant, pseudonyms: Pseudonymizer, *,
                             exported_at: datetime, phone: str | None = None,
                             since: datetime | None = None) -> AsyncIterator[Transcript]:
    """The tenant's conversations (one phone's, or those with messages since `since`), whole,
    oldest first. Only reads the store."""
    for conversation in await store.list_conversations(tenant.id, phone=phone, since=since):
        messages = await store.list_messages(conversation.id, limit=MAX_MESSAGES)
        turns = await store.list_turns(conversation.id)
        yield transcript_of(conversation, messages, turns, pseudonyms, exported_at=exported_at)


def transcript_of(conversation: Conversation, messages: list[Message], turns: list[Turn],
                  pseudonyms: Pseudonymizer, *, exported_at: datetime) -> Transcript:
    """One conversation as a transcript, in the order its messages were stored."""
    by_id = {t.id: t for t in turns}
    answered: dict[str, list[Message]] = {}
    for m in messages:
        if m.direction == "in" and m.turn_id in by_id:
            answered.setdefault(m.turn_id, []).append(m)
    entries: list[Entry] = []
    waiting: list[Message] = []  # the console path: answered by the next reply

    def unanswered(reason: str | None) -> None:
        entries.extend(_unanswered(m, pseudonyms, reason) for m in waiting)
        waiting.clear()

    done: set[str] = set()
    for m in messages:
        if m.direction == "in":
            if m.turn_id in by_id:
                continue
            if m.state in ("ignored", "pending"):
                entries.append(_unanswered(m, pseudonyms, m.meta.get("ignored_reason") or m.state))
            else:
                waiting.append(m)
        elif m.author == "human":
            unanswered(None)
            entries.append(StaffMessage(kind="staff", at=m.created_at,
                                        text=_text(pseudonyms, m.text)))
        elif m.turn_id in by_id and m.turn_id is not None:
            if m.turn_id in done:
                continue  # the other bubbles of a split reply
            done.add(m.turn_id)
            said = answered.get(m.turn_id) or list(waiting)
            waiting.clear()
            parts = [o.text for o in messages if o.turn_id == m.turn_id and o.direction == "out"]
            entries.append(_agent(by_id[m.turn_id], said, parts, m, pseudonyms))
        else:
            unanswered("auto_reply")
            entries.append(AutoReply(kind="auto", at=m.created_at, text=_text(pseudonyms, m.text)))
    unanswered(None)
    return Transcript(tenant=conversation.tenant_id, phone=pseudonyms.phone(conversation.phone),
                      channel=conversation.channel, status=conversation.status,
                      conversation=conversation.id, exported_at=exported_at, turns=entries)


def _text(pseudonyms: Pseudonymizer, text: str | None) -> str | None:
    return pseudonyms.text(text) if text is not None else None


def _patient(m: Message, pseudonyms: Pseudonymizer) -> dict[str, Any]:
    transcript = m.meta.get("transcript") if isinstance(m.meta.get("transcript"), str) else None
    return {"at": m.provider_ts or m.created_at, "type": m.kind, "text": _text(pseudonyms, m.text),
            "transcript": _text(pseudonyms, transcript)}


def _unanswered(m: Message, pseudonyms: Pseudonymizer, reason: str | None) -> UnansweredMessage:
    return UnansweredMessage(kind="patient", reason=reason, **_patient(m, pseudonyms))


def _agent(turn: Turn, said: list[Message], parts: list[str | None], first_out: Message,
           pseudonyms: Pseudonymizer) -> AgentTurn:
    # the turn's own record of its reply; a turn re-run after a crash only has the sent bubbles
    reply = turn.reply if turn.reply is not None else "\n\n".join(p for p in parts if p) or None
    model = first_out.meta.get("model") or turn.model  # the model that answered (maybe fallback)
    calls = [ToolCall(name=c.get("name", ""), args=pseudonyms.data(c.get("args") or {}),
                      ok=bool(c.get("ok")), result=_result(c.get("result"), pseudonyms))
             for c in turn.tool_calls]
    return AgentTurn(
        id=turn.id, at=turn.started_at, finished_at=turn.finished_at,
        patient=[PatientMessage(**_patient(m, pseudonyms)) for m in said],
        reply=_text(pseudonyms, reply), tool_calls=calls, model=model,
        prompt_version=turn.prompt_version, tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out, outcome=turn.outcome,
    )


def _result(result: Any, pseudonyms: Pseudonymizer) -> dict[str, Any] | None:
    if not isinstance(result, dict):
        return None
    return pseudonyms.data({k: v for k, v in result.items() if k != "turn_id"})
