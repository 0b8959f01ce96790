"""Offline token counting and history trimming for OpenAI-style chat models.

tiktoken downloads its BPE files on first use, which fails on an offline host. The files
for cl100k_base and o200k_base ship in `agent/tiktoken_cache/` (copied from the litellm
wheel), named the way tiktoken's cache expects: sha1 of the download URL
(`tiktoken/load.py: read_file_cached`). tiktoken checks each cached file against the
sha256 pinned in `tiktoken_ext/openai_public.py`; on a mismatch it deletes the file and
downloads it again, so a corrupted or swapped file is never used silently (offline, that
shows up as a network error on first use).

Choice: if TIKTOKEN_CACHE_DIR (or tiktoken's older DATA_GYM_CACHE_DIR) is already set,
it is respected; otherwise TIKTOKEN_CACHE_DIR is set to the bundled folder just before
the first encoding is loaded. tiktoken only reads that variable, so it has to be a
process-wide setting; setting it lazily, and only when unset, keeps importing this
module free of side effects and lets an operator point tiktoken elsewhere. Other
tiktoken users in the process (e.g. `ChatOpenAI.get_num_tokens`) then work offline too.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import tiktoken
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)

BUNDLED_CACHE_DIR = Path(__file__).with_name("tiktoken_cache")

# OpenAI's published chat accounting (openai-cookbook "How to count tokens"): every message
# costs 3 tokens of framing, a `name` 1 more, and every reply is primed with 3 tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# Undocumented; a rough allowance for the function-call wrapper around name and arguments.
TOKENS_PER_TOOL_CALL = 3
# Non-text content blocks (images, audio) are counted at OpenAI's low-detail image cost
# rather than by their base64 payload, which the model never sees as text.
TOKENS_PER_MEDIA_BLOCK = 85

# gpt-4o, gpt-4.1, gpt-4.5, gpt-5, chatgpt-4o-*, gpt-oss and the o-series (o1, o3, o4-mini, ...).
_O200K_MODEL = re.compile(r"^(?:chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d)(?:\b|[-.])")

_ROLES: dict[str, str] = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}

_cache_dir_lock = threading.Lock()


def _ensure_cache_dir() -> None:
    with _cache_dir_lock:
        if "TIKTOKEN_CACHE_DIR" not in os.environ and "DATA_GYM_CACHE_DIR" not in os.environ:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(BUNDLED_CACHE_DIR)


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    _ensure_cache_dir()
    return tiktoken.get_encoding(name)


def _encoding_name(model_name: str | None) -> str:
    if not model_name:
        return "cl100k_base"
    # "openai:gpt-4o-mini" (atende's model spec) and "ft:gpt-4o-mini:org::id" (fine-tunes).
    parts = model_name.lower().split(":")
    base = parts[1] if parts[0] in {"openai", "ft"} and len(parts) > 1 else parts[0]
    return "o200k_base" if _O200K_MODEL.match(base) else "cl100k_base"


@lru_cache(maxsize=256)
def encoding_for(model_name: str | None) -> tiktoken.Encoding:
    """tiktoken encoding for a model: o200k_base for gpt-4o/4.1/5 and o-series, else cl100k."""
    return _encoding(_encoding_name(model_name))


def count_text(text: str, model: str | None = None) -> int:
    """Tokens in `text`. Special-token markers such as `<|endoftext|>` count as plain text."""
    return len(encoding_for(model).encode_ordinary(text))


def _content_tokens(content: str | list[str | dict], enc: tiktoken.Encoding) -> int:
    if isinstance(content, str):
        return len(enc.encode_ordinary(content))
    total = 0
    for block in content:
        if isinstance(block, str):
            total += len(enc.encode_ordinary(block))
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            total += len(enc.encode_ordinary(block["text"]))
        else:
            total += TOKENS_PER_MEDIA_BLOCK
    return total


def _message_tokens(message: BaseMessage, enc: tiktoken.Encoding) -> int:
    tokens = TOKENS_PER_MESSAGE
    tokens += len(enc.encode_ordinary(_ROLES.get(message.type, message.type)))
    tokens += _content_tokens(message.content, enc)
    if message.name:
        tokens += TOKENS_PER_NAME + len(enc.encode_ordinary(message.name))
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            arguments = json.dumps(call["args"], ensure_ascii=False)
            tokens += TOKENS_PER_TOOL_CALL
            tokens += len(enc.encode_ordinary(call["name"])) + len(enc.encode_ordinary(arguments))
    return tokens


# A message's count depends only on what `_message_tokens` reads; a stored conversation's
# messages come back from the checkpoint as new objects every turn, so they are keyed by value.
_COUNTED: dict[tuple[object, ...], int] = {}
_COUNTED_MAX = 50_000


def _cached_tokens(message: BaseMessage, enc: tiktoken.Encoding) -> int:
    content = message.content
    if not isinstance(content, str):  # media blocks: rare, and too big to keep as a key
        return _message_tokens(message, enc)
    calls = (tuple((c["name"], json.dumps(c["args"], ensure_ascii=False))
                   for c in message.tool_calls)
             if isinstance(message, AIMessage) and message.tool_calls else ())
    key = (enc.name, message.type, message.name, content, calls)
    tokens = _COUNTED.get(key)
    if tokens is None:
        tokens = _message_tokens(message, enc)
        if len(_COUNTED) >= _COUNTED_MAX:
            _COUNTED.pop(next(iter(_COUNTED)))  # the oldest entry: a bounded cache
        _COUNTED[key] = tokens
    return tokens


def count_messages(messages: Sequence[BaseMessage], model: str | None = None) -> int:
    """Approximate prompt tokens for `messages` as OpenAI's chat API counts them.

    Per-message framing + role + content + name + each tool call's name and JSON
    arguments, plus the reply priming. Tool *schemas* sent alongside are not included.
    An empty list counts 0.
    """
    if not messages:
        return 0
    enc = encoding_for(model)
    return REPLY_PRIMING + sum(_message_tokens(message, enc) for message in messages)


def trim_to_budget(
    messages: Sequence[BaseMessage], max_tokens: int, model: str | None = None
) -> list[BaseMessage]:
    """The newest messages that fit in `max_tokens`, as a window a chat model accepts.

    A leading SystemMessage is always kept (and counted). The kept window always starts on
    a HumanMessage, so it never opens on a ToolMessage nor separates an AIMessage with
    tool_calls from its ToolMessages. The last HumanMessage and everything after it are
    kept even when they alone exceed the budget: losing the patient's question is worse
    than an oversized prompt. A history with no HumanMessage has no safe cut and is
    returned whole.
    """
    kept = list(messages)
    head = kept[:1] if kept and isinstance(kept[0], SystemMessage) else []
    body = kept[len(head) :]
    starts = [i for i, message in enumerate(body) if isinstance(message, HumanMessage)]
    if not starts:
        return kept

    enc = encoding_for(model)
    sizes = [_cached_tokens(message, enc) for message in body]
    fixed = REPLY_PRIMING + sum(_cached_tokens(message, enc) for message in head)
    suffix = [0] * (len(body) + 1)
    for i in range(len(body) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + sizes[i]

    start = next((i for i in starts if fixed + suffix[i] <= max_tokens), starts[-1])
    return head + body[start:]
