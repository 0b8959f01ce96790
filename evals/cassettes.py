"""Cassettes for third-party HTTP: a scrubbing `vcr.VCR` (keys, tokens and phone numbers never
reach disk), a leak finder for what is on disk, and a network blocker for replays.

Shared by the eval runner (`atende eval run --record/--replay`) and the tests
(`tests/vcr_config.py`). The default record_mode "none" means an unmatched request fails instead
of reaching the network.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import vcr
from vcr.request import Request

# Request headers vcrpy drops before a request is stored.
FILTER_HEADERS = [
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "client-token",  # Z-API account token
    "z-api-token",
]
# Z-API puts the instance id and token in the URL path: /instances/<id>/token/<token>/...
_ZAPI_URL_SECRETS = re.compile(r"(/instances/)[^/]+(/token/)[^/]+")
# Response headers that identify the account or session.
DROP_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})

# Phone numbers as they show up in provider traffic and chat text:
#   E.164 with "+" (any country), e.g. +5511987654321, "+55 (11) 98765-4321", +14155550100,
#   also URL-encoded as %2B5511987654321 in query strings;
#   Brazilian numbers without "+", as WhatsApp sends them (wa_id "5511987654321");
#   national format with the area code in parentheses, e.g. "(11) 98765-4321".
# Scrubbed numbers become 55 + area code 00 (which does not exist) + a counter, so they
# never match again and distinct numbers stay distinct within one recording.
_PLUS = r"(?:\+|%2[Bb])"
_PHONE = (
    r"(?<![\w+%])(?:"
    rf"{_PLUS}?55[\s.-]?\(?[1-9]\d\)?[\s.-]?9?\d{{4}}[\s.-]?\d{{4}}"
    rf"|{_PLUS}(?!5500)[1-9]\d{{7,14}}"
    r"|\([1-9]\d\)\s?9?\d{4}[\s.-]?\d{4}"
    r")(?!\d)"
)
PHONE_RE = re.compile(_PHONE)
_PHONE_BYTES_RE = re.compile(_PHONE.encode())

LEAK_PATTERNS: dict[str, re.Pattern[str]] = {
    "OpenAI-style secret key": re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{8,}"),
    "bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    "phone number": PHONE_RE,
}


def find_leaks(text: str) -> list[str]:
    """Every secret-looking or phone-looking string in `text`, labelled by kind."""
    return [
        f"{kind}: {match.group(0)}"
        for kind, pattern in LEAK_PATTERNS.items()
        for match in pattern.finditer(text)
    ]


class PhoneScrubber:
    """Replaces phone numbers in recorded requests and responses with stable fakes."""

    def __init__(self) -> None:
        self._fakes: dict[str, str] = {}

    def _fake(self, number: str) -> str:
        plus = re.match(_PLUS, number)
        prefix = plus.group(0) if plus else ""
        digits = re.sub(r"\D", "", number[len(prefix) :])
        if number.startswith("("):
            digits = "55" + digits
        fake = self._fakes.setdefault(digits, f"5500{len(self._fakes) + 1:09d}")
        return prefix + fake

    def text(self, value: str) -> str:
        return PHONE_RE.sub(lambda m: self._fake(m.group(0)), value)

    def data(self, value: bytes) -> bytes:
        return _PHONE_BYTES_RE.sub(lambda m: self._fake(m.group(0).decode()).encode(), value)

    def _any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.data(value)
        return value

    def request(self, request: Request) -> Request:
        """vcrpy `before_record_request` hook (also applied to live requests when matching)."""
        request.uri = _ZAPI_URL_SECRETS.sub(r"\1INSTANCE\2TOKEN", self.text(request.uri))
        if isinstance(request.body, bytes | str):
            request.body = self._any(request.body)
        for name in list(request.headers):
            request.headers[name] = self._any(request.headers[name])
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy `before_record_response` hook."""
        headers = {
            name: [self._any(value) for value in values]
            for name, values in response.get("headers", {}).items()
            if name.lower() not in DROP_RESPONSE_HEADERS
        }
        response["headers"] = headers
        body = response.get("body", {})
        if "string" in body:
            body["string"] = self._any(body["string"])
        return response


def make_vcr(cassette_library_dir: str | Path, **overrides: Any) -> vcr.VCR:
    """A VCR over `cassette_library_dir` that never records unless told, and scrubs.

    Compressed responses are decoded before storage so the scrubber can read them.
    """
    scrubber = PhoneScrubber()
    options: dict[str, Any] = {
        "cassette_library_dir": str(cassette_library_dir),
        "record_mode": "none",
        "filter_headers": FILTER_HEADERS,
        "before_record_request": scrubber.request,
        "before_record_response": scrubber.response,
        "decode_compressed_response": True,
    }
    options.update(overrides)
    return vcr.VCR(**options)


# An eval replays its HTTP exchanges in order, whatever server they were recorded against
# (api.openai.com, a gateway, a local stand-in): only the method and the endpoint must agree.
EVAL_MATCH_ON = ("method", "path")


def eval_vcr(cassette_path: Path, *, record: bool) -> Any:
    """The cassette context of one eval trial: record every exchange afresh, or replay only."""
    recorder = make_vcr(cassette_path.parent, record_mode="all" if record else "none",
                        match_on=EVAL_MATCH_ON)
    if record and cassette_path.exists():
        cassette_path.unlink()
    return recorder.use_cassette(cassette_path.name)


EMPTY_CASSETTE = "interactions: []\nversion: 1\n"

_SOCKET_TARGETS: tuple[tuple[Any, str, str], ...] = (
    (socket.socket, "connect", "connect"),
    (socket.socket, "connect_ex", "connect"),
    (socket, "getaddrinfo", "getaddrinfo"),
    (socket, "create_connection", "create_connection"),
)


def _refuser(kind: str, attempts: list[object]) -> Callable[..., Any]:
    def _refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append((kind, args[1:] if kind == "connect" else args))
        raise OSError(f"network blocked ({kind})")

    return _refuse


@contextmanager
def network_blocked() -> Iterator[list[object]]:
    """Within the block every DNS lookup and socket connect fails; yields the attempts made.

    Anything that still succeeds inside did not use the network (a replayed cassette).
    """
    attempts: list[object] = []
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in _SOCKET_TARGETS]
    for owner, name, kind in _SOCKET_TARGETS:
        setattr(owner, name, _refuser(kind, attempts))
    try:
        yield attempts
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def block_network_with(setattr_: Callable[[Any, str, Any], None]) -> list[object]:
    """Block the network through a patcher (pytest's `monkeypatch.setattr`), which undoes it."""
    attempts: list[object] = []
    for owner, name, kind in _SOCKET_TARGETS:
        setattr_(owner, name, _refuser(kind, attempts))
    return attempts
