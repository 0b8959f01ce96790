"""What a webhook does with parsed events: store, dedupe, notify — never wait for the model."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from atende.reminders import outcomes
from atende.server.inbound import AccountNotice, Ignored, InboundMessage, Poison, StatusUpdate, WebhookEvent
from atende.server.poison import excerpt, store_refused

if TYPE_CHECKING:
    from atende.memory.records import Message
    from atende.server.app import Services

log = structlog.get_logger(__name__)


async def ingest(services: Services, events: list[WebhookEvent]) -> dict[str, int]:
    """Apply every event of one webhook POST; returns counts by outcome (for the response).

    Each message is stored or set aside on its own: one the store refuses becomes a poison
    record and the others go on, so the POST is acknowledged and the provider does not redeliver
    a batch that would fail the same way every time. Only when even the poison record cannot be
    written (the database is down) does the error propagate, and the provider retries later.
    """
    counts = {"accepted": 0, "duplicate": 0, "ignored": 0, "status": 0, "human": 0, "poison": 0}
    for event in events:
        if isinstance(event, InboundMessage):
            outcome = await _message(services, event)
        elif isinstance(event, Poison):
            outcome = await _poison(services, event)
        elif isinstance(event, StatusUpdate):
            outcome = await _status(services, event)
        elif isinstance(event, AccountNotice):
            outcome = await _account(services, event)
        else:
            outcome = _ignored(event)
        counts[outcome] += 1
        channel = event.channel
        services.metrics.webhooks.labels(channel=channel, outcome=_metric(outcome)).inc()
        if outcome == "duplicate":
            services.metrics.duplicates.labels(channel=channel).inc()
    return counts  # the POST's log line is `accept`'s (`server/webhooks.py`)


def _metric(outcome: str) -> str:
    return {"status": "accepted", "human": "accepted"}.get(outcome, outcome)


async def _message(services: Services, msg: InboundMessage) -> str:
    if msg.text_cut_from is not None:
        log.warning("text_cut", channel=msg.channel, message_id=msg.provider_message_id,
                    reason="longer than WhatsApp's 4096-character limit", chars=msg.text_cut_from)
    try:
        if msg.from_me:
            return await _human(services, msg)
        stored = await _store_inbound(services, msg)
    except Exception as exc:  # whatever the store refused, the rest of the POST goes on
        try:
            return await _poison(services, Poison(
                channel=msg.channel, tenant_id=msg.tenant_id, reason=store_refused(exc),
                provider_message_id=msg.provider_message_id,
                excerpt=excerpt(msg.model_dump(mode="json", exclude_defaults=True))))
        except Exception as poison_exc:  # not even that: the database is down, let it retry
            raise exc from poison_exc
    if stored is None:
        return "duplicate"
    await services.dispatcher.notify(stored.conversation_id, stored.created_at)
    # one INFO line per POST (`webhook_received`); each message's at DEBUG
    log.debug("inbox_added", tenant=msg.tenant_id, conversation_id=stored.conversation_id,
              kind=msg.kind, phone=msg.phone, text=msg.text)
    return "accepted"


async def _poison(services: Services, poison: Poison) -> str:
    await services.atende.store.add_poison(
        poison.tenant_id, channel=poison.channel, provider_message_id=poison.provider_message_id,
        reason=poison.reason, excerpt=poison.excerpt)
    services.metrics.poison.labels(channel=poison.channel).inc()
    log.warning("message_set_aside", tenant=poison.tenant_id, channel=poison.channel,
                message_id=poison.provider_message_id, reason=poison.reason)
    return "poison"


async def _store_inbound(services: Services, msg: InboundMessage) -> Message | None:
    """The stored inbox row, or None when it is a redelivery."""
    store = services.atende.store
    meta: dict[str, object] = {"raw_type": msg.raw_type}
    if msg.media:
        meta["media"] = msg.media.model_dump(exclude_none=True)
    for key in ("reply_to", "choice_id", "contact_name", "user_id"):
        value = getattr(msg, key)
        if value:
            meta[key] = value
    if msg.forwarded:
        meta["forwarded"] = True
    if msg.referral:
        meta["referral"] = msg.referral
    if msg.text_cut_from is not None:
        meta["text_cut_from"] = msg.text_cut_from
    stored, created = await store.inbox_add(
        msg.tenant_id, msg.phone, channel=msg.channel,
        provider_message_id=msg.provider_message_id, provider_ts=msg.timestamp,
        kind=msg.kind, text=msg.text, meta=meta)
    if not created:
        log.info("webhook_duplicate", channel=msg.channel, message_id=msg.provider_message_id)
        return None
    return stored


async def _human(services: Services, msg: InboundMessage) -> str:
    """A message sent from the clinic's own number: the bot's echo, or a person taking over."""
    store = services.atende.store
    if await store.find_outbound(msg.tenant_id, msg.provider_message_id) is not None:
        return "ignored"  # our own reply coming back
    tenant = services.tenants.get(msg.tenant_id)
    conversation = await store.get_or_create_conversation(msg.tenant_id, msg.phone, msg.channel)
    _, created = await store.record_human_message(
        conversation.id, text=msg.text, kind=msg.kind,
        provider_message_id=msg.provider_message_id, provider_ts=msg.timestamp)
    if not created:
        return "duplicate"
    until = services.atende.clock.now() + timedelta(hours=tenant.handoff.pause_hours)
    await store.pause_conversation(conversation.id, until=until,
                                   reason="mensagem enviada pela equipe")
    log.info("human_takeover", conversation_id=conversation.id, until=until.isoformat())
    return "human"


async def _status(services: Services, update: StatusUpdate) -> str:
    for provider_id in update.provider_message_ids:
        error = f"{update.error_code or ''}: {update.error_message or ''}".strip(": ") or None
        changed = await services.atende.store.apply_status(update.tenant_id, provider_id,
                                                           update.status, error=error)
        if changed and update.status in ("delivered", "read", "failed"):
            message = await services.atende.store.find_outbound(update.tenant_id, provider_id)
            if message is not None:  # one of ours a reminder rode on?
                await outcomes.delivery(services.atende.store, message, update.status, error,
                                        metrics=services.metrics)
    return "status"


async def _account(services: Services, notice: AccountNotice) -> str:
    """Meta's word on a clinic's templates, account or number quality: flags /health shows and
    the reminder tick obeys (a paused clinic sends nothing first)."""
    flag, value = outcomes.account_flag(notice.topic, notice.event, notice.template, notice.detail)
    if flag is not None:
        await services.atende.store.set_clinic_flag(notice.tenant_id, flag, value)
    log.warning("account_notice", tenant=notice.tenant_id, topic=notice.topic, meta_event=notice.event,
                template=notice.template, detail=notice.detail)
    return "status"


def _ignored(event: Ignored) -> str:
    log.info("webhook_ignored", channel=event.channel, reason=event.reason, detail=event.detail)
    return "ignored"
