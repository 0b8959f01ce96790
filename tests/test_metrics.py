"""GET /metrics shows what happened, per app, with a bounded set of labels."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from atende.server.metrics import TURN_OUTCOMES, Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def test_increments_show_up_in_the_exposition_with_their_labels() -> None:
    metrics = Metrics()
    metrics.webhooks.labels(channel="zapi", outcome="accepted").inc()
    metrics.webhooks.labels(channel="zapi", outcome="accepted").inc()
    metrics.webhooks.labels(channel="meta", outcome="rejected").inc()
    metrics.duplicates.labels(channel="zapi").inc()
    metrics.turns.labels(tenant="clinica-exemplo", outcome="handoff").inc()
    metrics.sends.labels(channel="meta", outcome="outside_window").inc()
    metrics.llm_tokens.labels(tenant="clinica-exemplo", direction="in").inc(1200)
    metrics.llm_tokens.labels(tenant="clinica-exemplo", direction="out").inc(80)
    metrics.turn_latency.labels(tenant="clinica-exemplo").observe(2.5)
    metrics.webhook_ack.labels(channel="zapi").observe(0.02)
    metrics.inbox_pending.set(3)

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert b'webhooks_received_total{channel="zapi",outcome="accepted"} 2.0' in body
    assert sample(metrics, "webhooks_received_total", channel="meta", outcome="rejected") == 1
    assert sample(metrics, "duplicates_dropped_total", channel="zapi") == 1
    assert sample(metrics, "turns_total", tenant="clinica-exemplo", outcome="handoff") == 1
    assert sample(metrics, "sends_total", channel="meta", outcome="outside_window") == 1
    assert sample(metrics, "llm_tokens_total", tenant="clinica-exemplo", direction="in") == 1200
    assert sample(metrics, "llm_tokens_total", tenant="clinica-exemplo", direction="out") == 80
    assert sample(metrics, "turn_latency_seconds_count", tenant="clinica-exemplo") == 1
    assert sample(metrics, "turn_latency_seconds_bucket", tenant="clinica-exemplo", le="3.0") == 1
    assert sample(metrics, "turn_latency_seconds_bucket", tenant="clinica-exemplo", le="2.0") == 0
    assert sample(metrics, "webhook_ack_seconds_sum", channel="zapi") == pytest.approx(0.02)
    assert sample(metrics, "inbox_pending") == 3


def test_two_apps_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()
    first.turns.labels(tenant="clinica-exemplo", outcome="replied").inc()
    assert sample(first, "turns_total", tenant="clinica-exemplo", outcome="replied") == 1
    assert sample(second, "turns_total", tenant="clinica-exemplo", outcome="replied") is None


def test_prime_creates_every_known_series_at_zero() -> None:
    metrics = Metrics()
    metrics.prime(channels=["zapi"], tenants=["clinica-exemplo"])
    for outcome in TURN_OUTCOMES:
        assert sample(metrics, "turns_total", tenant="clinica-exemplo", outcome=outcome) == 0
    assert sample(metrics, "sends_total", channel="zapi", outcome="dead") == 0
    assert sample(metrics, "webhook_ack_seconds_count", channel="zapi") == 0


@pytest.mark.parametrize(
    ("family", "labels"),
    [
        ("turns", {"tenant": "+5511987654321", "outcome": "replied"}),
        ("turns", {"tenant": "5511987654321", "outcome": "replied"}),
        ("sends", {"channel": "zapi", "outcome": "bounced"}),
        ("webhooks", {"channel": "meta", "outcome": "Accepted"}),
        ("llm_tokens", {"tenant": "clinica-exemplo", "direction": "both"}),
        ("duplicates", {"channel": "Oi, quero marcar"}),
    ],
)
def test_labels_refuse_phones_free_text_and_unknown_outcomes(family: str, labels: dict[str, str]) -> None:
    metrics = Metrics()
    with pytest.raises(ValueError):
        getattr(metrics, family).labels(**labels)
    assert b"5511987654321" not in metrics.render()[0]
