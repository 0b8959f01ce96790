"""Logging set-up: JSON or console lines, stdlib loggers routed through structlog, phones and bodies masked.

One call at the edge: `configure_logging("INFO", json=True)` in the server, `configure_logging(level)`
in the CLI. Every line, structlog's or a library's (uvicorn, httpx), goes through the same
processors: the request context bound with `bound_request(...)`, then `Redactor`, which masks
phone numbers everywhere (LGPD) and replaces patients' message bodies by their length unless the
emitting logger is at DEBUG.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

BODY_KEYS = frozenset({"text", "body", "message", "reply", "content", "transcript", "caption"})
# Libraries that install handlers of their own (uvicorn's dictConfig) and would bypass the masking.
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore")
_HANDLER_NAME = "atende"
# Left alone: processor bookkeeping, and fields our own processors fill with safe values.
_META_KEYS = frozenset({"_record", "_from_structlog", "exc_info", "timestamp", "level", "logger"})
_MIN_BODY_ECHO = 4  # shorter bodies ("oi", "sim") are not hunted for inside tracebacks
_MAX_DEPTH = 8

# One left-to-right scan. Tokens that look numeric but are not phones are matched first and kept
# whole, so a phone alternative can never start inside them.
_SCAN = re.compile(
    r"""
    (?P<keep>
        wamid\.[\w+/=-]+                                           # Meta message ids
      | [0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}       # UUIDs
      | \d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?
    )
  | (?P<secret>(?<![A-Za-z])(?:verify_|access_)?token/|/webhooks/zapi/[\w-]+/)
    [^\s&/"'<>,;?]+                                               # Z-API's secret sits in the path
  | (?P<query>(?<![A-Za-z])(?:verify_|access_|refresh_)?token=|[?&]code=|[Bb]earer[ ]+)
    [^\s&"'<>,;]+                  # a query value or bearer token, slashes and all ("1//0g…")
  | (?<![0-9A-Za-z])(?<!\d[.,])                                  # not inside a word or a decimal
    (?P<phone>
        \+?\d{10,15}                                               # 5511987654321, +5511987654321
      | \+\d{8,9}
      | (?:\+?\d{2,3}[ -]?)?(?:\(0?\d{2}\)|0?\d{2})[ -]?(?:9[ -]?)?\d{4}[ -]?\d{4}  # (11) 98765-4321
      | \+\d{1,3}(?:[ -]?\(?\d{1,4}\)?){1,3}[ -]?\d{3,4}          # +1 415 555 2671
      | 9?\d{4}-\d{4}                                              # 98765-4321
    )
    (?![0-9A-Za-z]|[.,]\d)                                         # nor followed by one (prices)
    """,
    re.VERBOSE,
)
_NON_DIGIT = re.compile(r"\D")
# Every phone format ends in 4 digits in a row; a C-speed search for that (or a token) lets most
# strings skip the full scan.
_HINT = re.compile(r"\d{4}|token[=/]|[Bb]earer |webhooks/zapi/|code=")


def _masked(match: re.Match[str]) -> str:
    if match["keep"]:
        return match[0]
    if match["secret"] or match["query"]:
        return (match["secret"] or match["query"]) + "***"
    found = match[0]
    digits = _NON_DIGIT.sub("", found)
    if len(digits) < 8:
        return found
    plus = "+" if found.startswith("+") else ""
    country = "55" if digits.startswith("55") and len(digits) >= 12 else ""
    return plus + country + "*" * (len(digits) - len(country) - 4) + digits[-4:]


def mask_phones(text: str) -> str:
    """`text` with every phone number masked to its last 4 digits ("+55*******4321"), and URL or
    header tokens hidden; timestamps, UUIDs, prices, slot ids and wamids are left alone."""
    if len(text) < 8 or not _HINT.search(text):
        return text
    return _SCAN.sub(_masked, text)


def replace_phones(text: str, replace: Callable[[str], str]) -> str:
    """`text` with every phone number `mask_phones` would mask passed through `replace` instead
    (exported transcripts pseudonymise them); tokens are hidden as in `mask_phones`."""
    if len(text) < 8 or not _HINT.search(text):
        return text

    def one(match: re.Match[str]) -> str:
        if match["phone"] and len(_NON_DIGIT.sub("", match[0])) >= 8:
            return replace(match[0])
        return _masked(match)

    return _SCAN.sub(one, text)


class Redactor:
    """structlog processor: masks phones in every value, nested ones and dict keys included, and
    replaces message bodies (values of `body_keys`, wherever they nest) by "[N chars]".

    Bodies are kept when `keep_bodies` is true, or, when it is None, when the logger that emitted
    the line is at DEBUG. A masked body is also cut out of the traceback and the other fields of
    the same line; `key='...'` / `"key": "..."` pairs inside strings (reprs, raw JSON, pydantic's
    `input_value=...`) are masked too. Runs after `format_exc_info`, in structlog's chain and in
    `ProcessorFormatter` (which skips events the first already masked).
    """

    def __init__(self, body_keys: Iterable[str] = BODY_KEYS, *, keep_bodies: bool | None = None) -> None:
        self.body_keys = frozenset(key.lower() for key in body_keys)
        self.keep_bodies = keep_bodies
        names = "|".join(re.escape(key) for key in sorted(self.body_keys | {"input_value"}))
        self._quoted = re.compile(
            rf"""(?P<key>(?<!\w)['"]?(?:{names})['"]?\s*[=:]\s*)(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""",
            re.IGNORECASE,
        )

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if event_dict.get("_from_structlog"):
            return event_dict  # masked already, in structlog's own chain
        keep = self._keeps_bodies(logger, event_dict)
        bodies: list[str] = []
        out = {
            key: value if key in _META_KEYS else self._field(key, value, keep, bodies, 0)
            for key, value in event_dict.items()
        }
        echoes = sorted({b for b in bodies if len(b) >= _MIN_BODY_ECHO}, key=len, reverse=True)
        if echoes:
            for key, value in out.items():
                if isinstance(value, str) and key not in _META_KEYS:
                    for body in echoes:
                        value = value.replace(body, f"[{len(body)} chars]")
                    out[key] = value
        return out

    def _keeps_bodies(self, logger: WrappedLogger, event_dict: EventDict) -> bool:
        if self.keep_bodies is not None:
            return self.keep_bodies
        if isinstance(logger, logging.Logger):
            emitter = logger
        else:
            record = event_dict.get("_record")
            emitter = logging.getLogger(record.name if isinstance(record, logging.LogRecord) else None)
        return emitter.getEffectiveLevel() <= logging.DEBUG

    def _text(self, text: str, keep: bool) -> str:
        if not keep and ("'" in text or '"' in text) and ("=" in text or ":" in text):
            text = self._quoted.sub(lambda m: f"{m['key']}[{len(m['value']) - 2} chars]", text)
        return mask_phones(text)

    def _field(self, key: object, value: Any, keep: bool, bodies: list[str], depth: int) -> Any:
        if not keep and isinstance(key, str) and key.lower() in self.body_keys:
            return self._body(value, keep, bodies, depth)
        return self._value(value, keep, bodies, depth)

    def _body(self, value: Any, keep: bool, bodies: list[str], depth: int) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value  # an id logged as message=42 is not a body
        if isinstance(value, bytes | bytearray):
            return f"[{len(value)} bytes]"
        if isinstance(value, Mapping | list | tuple | set | frozenset) and depth < _MAX_DEPTH:
            if isinstance(value, Mapping):
                return self._value(value, keep, bodies, depth)
            return [self._body(item, keep, bodies, depth + 1) for item in value]
        text = value if isinstance(value, str) else str(value)
        bodies.extend((text, mask_phones(text)))
        return f"[{len(text)} chars]"

    def _value(self, value: Any, keep: bool, bodies: list[str], depth: int) -> Any:
        if isinstance(value, str):
            return self._text(value, keep)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            masked = mask_phones(str(value))
            return value if masked.isdigit() else masked
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if depth >= _MAX_DEPTH:
            return self._text(repr(value), keep)
        if isinstance(value, Mapping):
            return {
                self._text(k, keep) if isinstance(k, str) else k: self._field(k, v, keep, bodies, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(item, keep, bodies, depth + 1) for item in value]
        # Renderers would repr it anyway; a repr can carry a phone or a `text='...'` field.
        return self._text(repr(value), keep)


def _http_access_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Turn uvicorn's access-log arguments into fields; drop other libraries' raw arguments."""
    args = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    if (
        isinstance(record, logging.LogRecord)
        and record.name == "uvicorn.access"
        and isinstance(args, tuple)
        and len(args) == 5
    ):
        client, method, path, http_version, status = args
        event_dict.update(
            event="http_request",
            client=client,
            http_method=method,
            path=path,
            http_version=http_version,
            status=status,
        )
    return event_dict


class AcknowledgedWebhooks(logging.Filter):
    """Drops uvicorn's access line for a webhook POST answered 2xx/3xx: its `webhook_received`
    line (`server/webhooks.py`) says the same and more, and one line per POST is what a busy
    server can afford. Refused webhooks (4xx, 5xx) keep their access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _, method, path, _, status = args
            if (method == "POST" and isinstance(path, str) and path.startswith("/webhooks/")
                    and isinstance(status, int) and status < 400):
                return False
        return True


class _StreamHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that, given no stream, writes to whatever `sys.stderr` is at the moment
    (pytest's capsys and typer's CliRunner swap it after set-up)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._fixed = value


def configure_logging(
    level: str = "INFO",
    *,
    json: bool = False,
    stream: TextIO | None = None,
    body_keys: Iterable[str] = BODY_KEYS,
) -> None:
    """Route structlog and stdlib logging to one handler on the root logger, writing JSON lines
    (`json=True`, the server) or key=value console lines (the CLI) to `stream` (stderr).

    Safe to call again: it replaces its own handler and leaves other handlers (pytest's) alone.
    Message bodies are logged only by loggers at DEBUG; phones are always masked.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    redactor = Redactor(body_keys)
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _http_access_fields],
        pass_foreign_args=True,
        processors=[
            # tracebacks become plain strings before masking; rich's would print locals unmasked
            structlog.processors.format_exc_info,
            redactor,  # lines from stdlib loggers; structlog's were masked in its own chain
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = _StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        if routed.propagate or routed.handlers:  # uvicorn --no-access-log leaves neither
            routed.handlers.clear()
            routed.propagate = True
            routed.setLevel(logging.NOTSET)
    access = logging.getLogger("uvicorn.access")
    for old_filter in [f for f in access.filters if isinstance(f, AcknowledgedWebhooks)]:
        access.removeFilter(old_filter)
    access.addFilter(AcknowledgedWebhooks())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # while sys.exc_info() is still the caller's
            redactor,  # before any handler (Sentry's, pytest's) sees the event
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


@contextmanager
def bound_request(
    *,
    request_id: str | None = None,
    tenant: str | None = None,
    conversation: str | int | None = None,
) -> Iterator[str]:
    """Bind `request_id` (a fresh one if None), `tenant` and `conversation_id` to every log line
    emitted in this context, tasks it starts included; yields the request id."""
    rid = request_id or uuid.uuid4().hex[:16]
    fields: dict[str, object] = {"request_id": rid, "tenant": tenant, "conversation_id": conversation}
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in fields.items() if v is not None}):
        yield rid
