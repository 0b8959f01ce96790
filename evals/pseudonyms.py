"""Pseudonymous phone numbers for exported transcripts: an HMAC of each number, stable per key."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

import phonenumbers

from atende.errors import InvalidInput
from atende.logs import replace_phones
from atende.phones import normalize_phone

_DIGITS = re.compile(r"\D")
_PSEUDONYM = re.compile(r"^\+?\d{0,3}…-(?P<token>[0-9a-f]{6})-(?P<tail>\d{2})$")


def _canonical(raw: str) -> tuple[str, str]:
    """(E.164 or bare digits, country code or "") — one number written two ways is one key."""
    try:
        e164 = normalize_phone(raw)
    except InvalidInput:
        return _DIGITS.sub("", raw), ""
    return e164, str(phonenumbers.parse(e164).country_code)


class Pseudonymizer:
    """Replaces phone numbers by `+55…-a1b2c3-21`: the country code, six hex digits of an HMAC
    of the number, and its last two digits. The same key gives the same pseudonym, so exports
    made with one `ATENDE_PSEUDONYM_KEY` can be joined; the clinic's own public numbers (`keep`)
    stay as they are, since replies quote them."""

    def __init__(self, key: str, *, keep: Iterable[str] = ()) -> None:
        self._key = key.encode()
        self._keep = [_DIGITS.sub("", _canonical(k)[0]) for k in keep if k]

    @classmethod
    def from_key(cls, key: str | None, *, keep: Iterable[str] = ()) -> tuple[Pseudonymizer, str | None]:
        """A pseudonymizer on `key`, or on a fresh random key (returned, so it can be shown once)."""
        if key:
            return cls(key, keep=keep), None
        fresh = secrets.token_hex(16)
        return cls(fresh, keep=keep), fresh

    def phone(self, raw: str) -> str:
        canonical, country = _canonical(raw)
        digits = _DIGITS.sub("", canonical)
        if any(kept.endswith(digits) for kept in self._keep):  # also "3333-4444" without DDD
            return raw
        digest = hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()[:6]
        prefix = f"+{country}" if country else ""
        return f"{prefix}…-{digest}-{canonical[-2:]}"

    def text(self, text: str) -> str:
        """`text` with every phone-looking number pseudonymised (ids, dates, prices untouched)."""
        return replace_phones(text, self.phone)

    def data(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists, keys too) through `text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def fake_e164(pseudonym: str) -> str:
    """A valid Brazilian mobile (`+5511987xxxxxx`) derived from a pseudonym, keeping its last two
    digits: scenarios need a real-looking E.164, never the patient's own."""
    match = _PSEUDONYM.match(pseudonym)
    tail = match["tail"] if match else ""
    digest = int(hashlib.sha256(pseudonym.encode()).hexdigest(), 16)
    body = f"{digest % 10 ** (6 - len(tail)):0{6 - len(tail)}d}{tail}"
    return normalize_phone(f"+5511987{body}")
