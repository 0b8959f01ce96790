"""Meta's webhook authentication: X-Hub-Signature-256, an HMAC of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

_PREFIX = "sha256="


def meta_signature(body: bytes, app_secret: str) -> str:
    """The header value Meta sends: `sha256=` + HMAC-SHA256 of the raw body with the app secret."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_shape(header: str | None) -> bool:
    """Whether `header` looks like Meta's signature at all (`sha256=` and 64 hex digits)."""
    if not header or not header.startswith(_PREFIX) or len(header) != len(_PREFIX) + 64:
        return False
    return all(ch in "0123456789abcdefABCDEF" for ch in header[len(_PREFIX):])


def verified_meta_tenants(body: bytes, header: str | None, secrets: Mapping[str, str]) -> set[str]:
    """The tenants whose app secret signed `body` exactly as received (constant-time compare).

    Several clinics (or a test and a live app) may share the URL, so every configured secret is
    tried; an empty set means the request is not from Meta.
    """
    if header is None or not meta_signature_shape(header):
        return set()
    return {tenant for tenant, secret in secrets.items()
            if hmac.compare_digest(meta_signature(body, secret), header)}
