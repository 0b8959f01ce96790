"""What became of a proactive message once the outbox tried it (or a status webhook reported
on it): the reminder row settles, the clinic's template health and the counters follow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import structlog

if TYPE_CHECKING:
    from atende.memory.records import Message
    from atende.memory.store import Store

log = structlog.get_logger(__name__)

TEMPLATE_FAILING = "template_failing:"  # clinic flag, one per failing template name
PAUSED = "proactive_paused:"  # clinic flags: Meta's account or quality warnings stop sends


def template_name(message: Message) -> str | None:
    notice = message.meta.get("notice")
    template = notice.get("template") if isinstance(notice, dict) else None
    return template.get("name") if isinstance(template, dict) else None


async def settled(store: Store, message: Message, status: Literal["sent", "failed"],
                  reason: str | None, *, provider_message_id: str | None = None,
                  problem: str | None = None, template_used: bool = False,
                  metrics: Any = None) -> None:
    """Settle the reminder an outbound row carried (if any) and keep the clinic's template
    health: a template error flags the template on /health; a template that goes out clears it."""
    reminder_id = message.meta.get("reminder_id")
    if not reminder_id and not message.meta.get("notice"):
        return
    if reminder_id:
        await store.reminder_settle(message.tenant_id, reminder_id, status, reason=reason,
                                    provider_message_id=provider_message_id,
                                    from_statuses=("queued",))
    name = template_name(message)
    if name and problem and problem != "outside_window":
        await store.set_clinic_flag(message.tenant_id, TEMPLATE_FAILING + name,
                                    f"{problem}: {reason or ''}"[:500])
        log.warning("template_failing", tenant=message.tenant_id, template=name, problem=problem)
    elif name and status == "sent" and template_used:
        await store.set_clinic_flag(message.tenant_id, TEMPLATE_FAILING + name, None)
    if metrics is not None:
        metrics.proactive.labels(tenant=message.tenant_id, event=status).inc()


async def delivery(store: Store, message: Message, status: str, error: str | None,
                   metrics: Any = None) -> None:
    """A status webhook about one of our proactive messages: delivered / read counters, and an
    asynchronous failure (131047 and the like) settles its reminder as failed."""
    if not message.meta.get("notice"):
        return
    reminder_id = message.meta.get("reminder_id")
    if status == "failed" and reminder_id:
        await store.reminder_settle(message.tenant_id, reminder_id, "failed", reason=error,
                                    from_statuses=("queued", "sent"))
    if metrics is not None and status in ("delivered", "read", "failed"):
        metrics.proactive.labels(tenant=message.tenant_id, event=status).inc()


_TEMPLATE_BAD = {"PAUSED", "DISABLED", "REJECTED", "FLAGGED", "PENDING_DELETION", "DELETED",
                 "LIMIT_EXCEEDED"}
_TEMPLATE_GOOD = {"APPROVED", "REINSTATED", "UNPAUSED"}
_ACCOUNT_BAD = {"ACCOUNT_RESTRICTION", "ACCOUNT_VIOLATION", "DISABLED_UPDATE", "ACCOUNT_DELETED"}
_QUALITY_BAD = {"FLAGGED", "DOWNGRADE"}
_QUALITY_GOOD = {"UNFLAGGED", "UPGRADE"}


def account_flag(topic: str, event: str, template: str | None, detail: str
                 ) -> tuple[str | None, str | None]:
    """(flag, value) a Meta account notice sets (value) or clears (None); (None, None) when it
    changes nothing. A template's flag is keyed by its name."""
    if topic == "template" and template:
        key = TEMPLATE_FAILING + template.split(" (")[0]
        if event in _TEMPLATE_BAD:
            return key, f"{event}" + (f" ({detail})" if detail and detail != "NONE" else "")
        if event in _TEMPLATE_GOOD:
            return key, None
    if topic == "account" and event in _ACCOUNT_BAD:
        return PAUSED + "account", f"{event}" + (f": {detail}" if detail else "")
    if topic == "quality":
        if event in _QUALITY_BAD:
            return PAUSED + "quality", f"quality {event}"
        if event in _QUALITY_GOOD:
            return PAUSED + "quality", None
    return None, None


def answered(result: Any) -> list[str]:
    """The proactive-message events a turn's tool calls record (`Metrics.proactive`): an
    appointment confirmed, a cancellation answering a reminder, a freed slot rebooked from the
    waitlist, a patient who opted out."""
    events: list[str] = []
    for call in result.tool_calls:
        art = call.result or {}
        if not call.ok or not art.get("ok"):
            continue
        action = art.get("action")
        if action == "confirmed":
            events.append("confirmed")
        elif action == "cancelled" and art.get("answering_reminder"):
            events.append("patient_cancelled")
        if action in ("cancelled", "rescheduled", "offer_declined") and art.get("slot_offered"):
            events.append("waitlist_offered")
        elif action == "booked" and art.get("from_waitlist"):
            events.append("waitlist_rebooked")
        elif action == "opted_out":
            events.append("opted_out")
    return events
