"""The poison record: an inbound message set aside because it could not be stored, with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PoisonMessage:
    """A message of a provider POST that failed validation or that the store refused.

    Kept so ops can see what was lost and why (`atende inbox poison`, `GET /admin/poison`); the
    POST was acknowledged, so the provider does not redeliver it. `excerpt` is the raw item
    redacted (no words, phones masked) and capped; `reason` names fields and errors, no values.
    """

    id: str
    tenant_id: str
    channel: str
    reason: str
    received_at: datetime
    provider_message_id: str | None = None
    excerpt: str = ""
