"""Calendly's webhook authentication: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`,
v1 an HMAC-SHA256 with the subscription's signing key over `"<t>." + the raw body`; a stale or
future `t` is refused (a replayed request), compared against the injected clock."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

HEADER = "Calendly-Webhook-Signature"
_PART = re.compile(r"^\s*(t|v1)=([^,\s]+)\s*$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def calendly_signature(body: bytes, signing_key: str, timestamp: int) -> str:
    """The header value Calendly sends for `body` signed at `timestamp` (unix seconds)."""
    digest = hmac.new(signing_key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def signature_parts(header: str | None) -> tuple[int, str] | None:
    """`(t, v1)` of a well-formed header (parts in any order), else None."""
    if not header or len(header) > 256:
        return None
    parts: dict[str, str] = {}
    for piece in header.split(","):
        match = _PART.match(piece)
        if match is None or match[1] in parts:
            return None
        parts[match[1]] = match[2]
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or len(t) > 12 or not _HEX64.match(v1):
        return None
    return int(t), v1.lower()


def verified(body: bytes, header: str | None, signing_key: str, *, now: datetime,
             tolerance_seconds: int) -> bool:
    """Whether `header` signs `body` exactly as received with `signing_key` (constant-time), at a
    time within `tolerance_seconds` of `now` either way."""
    parts = signature_parts(header)
    if parts is None or not signing_key:
        return False
    timestamp, given = parts
    expected = calendly_signature(body, signing_key, timestamp).rpartition("v1=")[2]
    fresh = abs(now.timestamp() - timestamp) <= tolerance_seconds
    return hmac.compare_digest(expected, given) and fresh
