"""The OAuth `state`: which clinic a consent is for, signed (HMAC-SHA256), expiring, single use.

    v1.<base64url {"t": tenant, "n": nonce, "e": expiry epoch}>.<base64url HMAC of the first two>

The signature and expiry are checked here; single use is the database's job
(`Store.google_state_use`: a conditional update, so a replay in any process is refused)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_VERSION = "v1"
MAX_LENGTH = 512


class BadState(Exception):
    """A state that is forged, malformed or expired; `code` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class State:
    tenant_id: str
    nonce: str
    expires_at: datetime
    text: str  # what goes in the consent URL


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateSigner:
    def __init__(self, key: bytes, ttl: timedelta) -> None:
        self._key = key
        self.ttl = ttl

    def issue(self, tenant_id: str, now: datetime) -> State:
        expires_at = (now + self.ttl).astimezone(UTC).replace(microsecond=0)
        nonce = secrets.token_urlsafe(18)
        body = _b64(json.dumps({"t": tenant_id, "n": nonce, "e": int(expires_at.timestamp())},
                               separators=(",", ":")).encode())
        signed = f"{_VERSION}.{body}"
        return State(tenant_id, nonce, expires_at, f"{signed}.{self._sign(signed)}")

    def verify(self, text: str, now: datetime) -> State:
        """The state `text` names, if our key signed it and it has not expired; BadState
        (`invalid_state` or `expired_state`) otherwise."""
        parts = text.split(".") if 0 < len(text) <= MAX_LENGTH else []
        if len(parts) != 3 or parts[0] != _VERSION:
            raise BadState("invalid_state")
        signed = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed), parts[2]):
            raise BadState("invalid_state")
        try:
            data = json.loads(_unb64(parts[1]))
            tenant_id, nonce = str(data["t"]), str(data["n"])
            expires_at = datetime.fromtimestamp(int(data["e"]), UTC)
        except (ValueError, KeyError, TypeError):
            raise BadState("invalid_state") from None
        if expires_at <= now:
            raise BadState("expired_state")
        return State(tenant_id, nonce, expires_at, text)

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())
