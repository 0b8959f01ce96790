"""What the Calendar side needs from the OAuth side: an access token per clinic, or the news that
the clinic must reconnect."""

from __future__ import annotations

from typing import Protocol

from atende.errors import InfrastructureError


class NeedsReconnect(InfrastructureError):
    """The clinic's Google connection is gone (never made, disconnected, or `invalid_grant`):
    nothing will work until someone at the clinic connects again."""

    def __init__(self, tenant_id: str, reason: str) -> None:
        super().__init__(f"Google connection of {tenant_id} needs reconnecting: {reason}")
        self.tenant_id = tenant_id
        self.reason = reason


class TokenSource(Protocol):
    """A valid access token for a clinic's Google connection (refreshed ahead of expiry; one
    refresh at a time per clinic). Raises NeedsReconnect when there is none to be had; a
    transient failure of Google's token endpoint raises something else (retry later)."""

    async def access_token(self, tenant_id: str) -> str: ...

    async def refused(self, tenant_id: str) -> None:
        """Google answered 401 to the token `access_token` gave: the next call refreshes it."""
