"""`atende report`: what reminders did for a clinic over a period — confirmation rate, late
cancellations, freed slots rebooked from the waitlist — computed from the store."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from atende.reminders.plan import CONFIRMATION

if TYPE_CHECKING:
    from atende.memory.store import Store
    from atende.tenant import Tenant


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


async def build(store: Store, tenant: Tenant, since: datetime, until: datetime) -> dict[str, Any]:
    reminders = [r for r in await store.list_reminders(tenant.id, limit=1_000_000)
                 if r.kind != CONFIRMATION and r.sent_at is not None
                 and since <= r.sent_at <= until]
    sent = [r for r in reminders if r.status == "sent"]
    failed = [r for r in reminders if r.status == "failed"]
    reminded = {r.appointment_id for r in sent}
    appointments = {a.id: a for a in await store.list_appointments(tenant.id, statuses=None)}
    outcomes = {"confirmed": 0, "cancelled": 0, "no_answer": 0}
    for appointment_id in reminded:
        appt = appointments.get(appointment_id)
        if appt is None:
            continue
        if appt.status in ("confirmed", "completed") and appt.confirmed_at is not None:
            outcomes["confirmed"] += 1
        elif appt.status == "cancelled":
            outcomes["cancelled"] += 1
        else:
            outcomes["no_answer"] += 1
    late = [a for a in appointments.values() if a.status == "cancelled"
            and (a.cancel_reason or "").startswith("late") and a.updated_at is not None
            and since <= a.updated_at <= until]
    rebooked = [w for w in await store.waitlist_list(tenant.id, statuses=("booked",))
                if w.updated_at is not None and since <= w.updated_at <= until]
    freed = [a for a in appointments.values() if a.status == "cancelled"
             and a.updated_at is not None and since <= a.updated_at <= until]
    figures: dict[str, Any] = {
        "tenant": tenant.id, "since": since.isoformat(), "until": until.isoformat(),
        "reminders_sent": len(sent), "reminders_failed": len(failed),
        "appointments_reminded": len(reminded), **outcomes,
        "confirmation_rate": outcomes["confirmed"] / len(reminded) if reminded else None,
        "late_cancellations": len(late), "cancelled_slots": len(freed),
        "rebooked_from_waitlist": len(rebooked),
    }
    local = tenant.tz
    figures["lines"] = [
        f"{tenant.name} — {since.astimezone(local):%d/%m/%Y} a {until.astimezone(local):%d/%m/%Y}",
        f"lembretes enviados: {len(sent)} (falharam: {len(failed)}), consultas lembradas: "
        f"{len(reminded)}",
        f"confirmadas: {outcomes['confirmed']} ({_pct(outcomes['confirmed'], len(reminded))}), "
        f"canceladas: {outcomes['cancelled']}, sem resposta: {outcomes['no_answer']}",
        f"cancelamentos em cima da hora (respondendo a um lembrete): {len(late)}",
        f"horários liberados: {len(freed)}, remarcados pela lista de espera: {len(rebooked)}",
    ]
    return figures
