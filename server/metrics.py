"""Prometheus metrics of one app: webhooks, turns, sends, tokens, latencies, in a registry of its own.

Each `Metrics()` owns a `CollectorRegistry`, so two apps (or two tests) never share counts. Label
values are bounded: outcomes and directions come from fixed sets, tenants and channels are config
ids; `labels(...)` refuses anything else, a phone number above all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

WEBHOOK_OUTCOMES = frozenset({"accepted", "duplicate", "ignored", "rejected", "poison"})
TURN_OUTCOMES = frozenset({"replied", "handoff", "error", "superseded", "skipped"})
SEND_OUTCOMES = frozenset({"sent", "retry", "failed", "dead", "outside_window"})
TOKEN_DIRECTIONS = frozenset({"in", "out"})
# what became of messages atende wrote first, and of the appointments they were about
PROACTIVE_EVENTS = frozenset({"queued", "sent", "failed", "skipped", "cancelled", "delivered",
                              "read", "confirmed", "patient_cancelled", "no_answer",
                              "waitlist_offered", "waitlist_rebooked", "opted_out"})
GOOGLE_STATUSES = frozenset({"connected", "needs_reconnect", "not_connected"})

# seconds; a turn waits on the model (fallback included), an ack must beat the provider's timeout
TURN_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_CONFIG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DIGIT_RUN = re.compile(r"\d{8}")

M = TypeVar("M", Counter, Histogram, Gauge)


class Family(Generic[M]):
    """A labelled metric whose `labels(**values)` checks every value before creating a series.

    `allowed` maps each label name to its fixed set of values, or to None for a config id.
    """

    def __init__(
        self,
        kind: type[M],
        name: str,
        documentation: str,
        allowed: Mapping[str, frozenset[str] | None],
        **options: Any,
    ) -> None:
        self.metric: M = kind(name, documentation, list(allowed), **options)
        self.allowed = allowed

    def labels(self, **values: str) -> M:
        """The series for `values`; ValueError for an unknown outcome or a free-text/phone id."""
        for name, value in values.items():
            choices = self.allowed.get(name)
            if choices is not None:
                if value not in choices:
                    raise ValueError(f"{name}={value!r} is not one of {sorted(choices)}")
            elif not _CONFIG_ID.fullmatch(value) or _DIGIT_RUN.search(value):
                raise ValueError(f"{name}={value!r} is not a config id (phone numbers never are)")
        series: M = self.metric.labels(**values)
        return series


class Metrics:
    """The counters, histograms and gauge the server updates; `render()` serves GET /metrics."""

    def __init__(self) -> None:
        self.registry = reg = CollectorRegistry(auto_describe=True)
        by_channel = {"channel": None}
        by_tenant = {"tenant": None}
        self.webhooks = Family(
            Counter, "webhooks_received", "Webhook events received, by channel and outcome.",
            {**by_channel, "outcome": WEBHOOK_OUTCOMES}, registry=reg,
        )  # fmt: skip
        self.duplicates = Family(
            Counter, "duplicates_dropped", "Inbound messages dropped as provider redeliveries.",
            by_channel, registry=reg,
        )  # fmt: skip
        self.poison = Family(
            Counter, "poison_messages", "Inbound messages set aside because they could not be stored.",
            by_channel, registry=reg,
        )  # fmt: skip
        self.turns = Family(
            Counter, "turns", "Agent turns, by tenant and outcome.",
            {**by_tenant, "outcome": TURN_OUTCOMES}, registry=reg,
        )  # fmt: skip
        self.sends = Family(
            Counter, "sends", "Outbound send attempts, by channel and outcome.",
            {**by_channel, "outcome": SEND_OUTCOMES}, registry=reg,
        )  # fmt: skip
        self.llm_tokens = Family(
            Counter, "llm_tokens", "Chat-model tokens by tenant; direction in = prompt, out = completion.",
            {**by_tenant, "direction": TOKEN_DIRECTIONS}, registry=reg,
        )  # fmt: skip
        self.turn_latency = Family(
            Histogram, "turn_latency_seconds", "Wall time of one agent turn.",
            by_tenant, buckets=TURN_BUCKETS, registry=reg,
        )  # fmt: skip
        self.webhook_ack = Family(
            Histogram, "webhook_ack_seconds", "Time from webhook request to acknowledgement.",
            by_channel, buckets=ACK_BUCKETS, registry=reg,
        )  # fmt: skip
        self.proactive = Family(
            Counter, "proactive_messages",
            "Reminders, confirmations and waitlist offers, and the answers to them, by tenant.",
            {**by_tenant, "event": PROACTIVE_EVENTS}, registry=reg,
        )  # fmt: skip
        self.google_connection = Family(
            Gauge, "google_connection_status",
            "Each clinic's Google connection: 1 for its status, 0 for the others.",
            {**by_tenant, "status": GOOGLE_STATUSES}, registry=reg,
        )  # fmt: skip
        self.google_invalid_grant = Family(
            Counter, "google_invalid_grant",
            "Refreshes Google refused with invalid_grant (the clinic must reconnect).",
            by_tenant, registry=reg,
        )  # fmt: skip
        self.inbox_pending = Gauge(
            "inbox_pending", "Inbound messages stored and not yet answered.", registry=reg
        )

    def prime(self, *, channels: Iterable[str] = (), tenants: Iterable[str] = ()) -> None:
        """Create every known series at zero, so rates and alerts see them before the first event."""
        for channel in channels:
            self.duplicates.labels(channel=channel)
            self.poison.labels(channel=channel)
            self.webhook_ack.labels(channel=channel)
            for outcome in WEBHOOK_OUTCOMES:
                self.webhooks.labels(channel=channel, outcome=outcome)
            for outcome in SEND_OUTCOMES:
                self.sends.labels(channel=channel, outcome=outcome)
        for tenant in tenants:
            self.turn_latency.labels(tenant=tenant)
            for outcome in TURN_OUTCOMES:
                self.turns.labels(tenant=tenant, outcome=outcome)
            for direction in TOKEN_DIRECTIONS:
                self.llm_tokens.labels(tenant=tenant, direction=direction)
            for event in PROACTIVE_EVENTS:
                self.proactive.labels(tenant=tenant, event=event)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
