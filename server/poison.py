"""What a poison record keeps of a message that could not be stored: a redacted excerpt and a reason.

Both go to the database and to ops, so neither may carry a patient's words, a full phone number
or a secret: bodies become their length, phone-like digit runs keep their last 4 digits, every
string is shortened, and the result is plain ASCII JSON (a lone surrogate or a NUL, the kind of
thing that poisons a message, is stored as its escape), capped in size.
"""

from __future__ import annotations

import json
from typing import Any

from atende.logs import BODY_KEYS, mask_phones
from atende.memory.records import PoisonMessage
from atende.server.inbound import Channel, Poison
from atende.server.payloads import ID_MAX_CHARS

EXCERPT_MAX_CHARS = 2000
REASON_MAX_CHARS = 200
_STRING_MAX_CHARS = 80
_MAX_DEPTH = 12
_MAX_ITEMS = 20
_BODIES = BODY_KEYS | {"title", "name", "formatted_name", "display_name", "sender_name",
                       "senderName", "chatName", "contact_name", "response_json", "description", "address"}


def set_aside(channel: Channel, tenant_id: str, raw: object, reason: str, *, id_key: str) -> Poison:
    """The poison event for the raw message `raw` (its id under `id_key`, kept if it is usable)."""
    given = raw.get(id_key) if isinstance(raw, dict) else None
    usable = isinstance(given, str) and 0 < len(given) <= ID_MAX_CHARS and given.isprintable() \
        and given.isascii()
    return Poison(channel=channel, tenant_id=tenant_id, reason=safe_reason(reason),
                  provider_message_id=given if usable else None, excerpt=excerpt(raw))


def excerpt(raw: object) -> str:
    """`raw` (a JSON value) redacted and capped: structure and ids kept, words and numbers not."""
    text = json.dumps(_redacted(raw, 0), ensure_ascii=True, default=str)
    return text if len(text) <= EXCERPT_MAX_CHARS else text[: EXCERPT_MAX_CHARS - 3] + "..."


def safe_reason(reason: str) -> str:
    """A reason fit for a log line and a database row: one line, ASCII, masked, capped."""
    line = (reason.splitlines() or [""])[0]
    line = mask_phones(line).encode("ascii", "backslashreplace").decode("ascii")
    return line[:REASON_MAX_CHARS]


def store_refused(exc: BaseException) -> str:
    """The reason for a message the store refused: the error's type and its first line (database
    messages name constraints and columns; a DETAIL line with the row's values is dropped)."""
    return safe_reason(f"store refused: {type(exc).__name__}: {exc}")


def _redacted(value: Any, depth: int, key: str = "") -> Any:
    if depth > _MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {_short(str(k)): _redacted(v, depth + 1, str(k)) for k, v in items}
    if isinstance(value, list):
        return [_redacted(v, depth + 1, key) for v in value[:_MAX_ITEMS]]
    if isinstance(value, str):
        if key in _BODIES:
            return f"<{len(value)} chars>"
        return _short(mask_phones(value[: _STRING_MAX_CHARS * 2]))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) or (isinstance(value, int) and value.bit_length() < 64):
        return _short(mask_phones(str(value)))
    if isinstance(value, int):  # str() of a huge int is slow, and refused past 4,300 digits
        return f"<{value.bit_length()}-bit number>"
    return _short(type(value).__name__)


def _short(text: str) -> str:
    return text if len(text) <= _STRING_MAX_CHARS else text[: _STRING_MAX_CHARS - 3] + "..."


def poison_json(record: PoisonMessage) -> dict[str, Any]:
    """A poison record as ops see it (`GET /admin/poison`, `atende inbox poison --json`)."""
    return {"id": record.id, "tenant": record.tenant_id, "channel": record.channel,
            "provider_message_id": record.provider_message_id, "reason": record.reason,
            "received_at": record.received_at.isoformat(), "excerpt": record.excerpt}
