"""Constant-time comparison of shared secrets (webhook tokens, the admin bearer token)."""

from __future__ import annotations

import hmac


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a shared secret (Z-API's URL token)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
