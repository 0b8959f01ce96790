"""What atende writes first: reminders (one row per appointment and kind), the waitlist, and
per-clinic flags. The checks and the SQL are written once here (`script.Step`: standard SQL
both backends run as written); each backend only runs a script in one transaction (`_script`).

Handing a reminder (or a waitlist offer) to the outbox is one transaction that moves the row
out of `pending` (`waiting`) only if it still is, and queues the outbound message: any number
of ticks, in any number of processes, hand each one over exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..records import (
    INTERRUPTED,
    OPEN_REMINDER,
    REMINDER_STATUSES,
    WAITLIST_STATUSES,
    Message,
    Period,
    Reminder,
    ReminderStatus,
    WaitlistEntry,
    WaitlistStatus,
    check_choice,
    check_phone,
)
from .base import Backend, Scripted
from .script import Json, Step, is_id, new_id

CONFIRMATION = "confirmation"
_QUEUE_MESSAGE = (
    "INSERT INTO messages (id, conversation_id, tenant_id, channel, direction, author, kind,"
    " text, status, meta, created_at)"
    " SELECT :message_id, id, tenant_id, channel, 'out', 'bot', 'text', :text, 'queued', :meta,"
    " :now FROM conversations WHERE id = :conversation_id AND tenant_id = :tenant_id"
)
_PLAN = (
    "INSERT INTO reminders (id, tenant_id, appointment_id, kind, due_at, status, reason,"
    " created_at, updated_at)"
    " VALUES (:id, :tenant_id, :appointment_id, :kind, :due_at, :status, :reason, :now, :now)"
    " ON CONFLICT (appointment_id, kind) DO UPDATE SET due_at = excluded.due_at,"
    " status = excluded.status, reason = excluded.reason, message_id = NULL,"
    " provider_message_id = NULL, sent_at = NULL, updated_at = excluded.updated_at"
)
# an appointment cancelled or moved: its reminders already in the outbox must not go out
_DROP_QUEUED = (
    "UPDATE messages SET status = 'failed', error = :why WHERE status = 'queued' AND id IN"
    " (SELECT message_id FROM reminders WHERE appointment_id = :appointment_id"
    " AND status = 'queued' AND kind <> :keep)"
)

# a queued reminder whose message ended (the sender died before settling it) takes its outcome
_ENDED = "('sent', 'delivered', 'read', 'played', 'failed', 'dead')"
_MESSAGE = "(SELECT m.{} FROM messages AS m WHERE m.id = reminders.message_id)"
_CATCH_UP = (
    "UPDATE reminders SET"
    f" status = CASE WHEN {_MESSAGE.format('status')} IN ('failed', 'dead') THEN 'failed'"
    " ELSE 'sent' END,"
    f" reason = CASE WHEN {_MESSAGE.format('status')} IN ('failed', 'dead')"
    f" THEN {_MESSAGE.format('error')} ELSE reason END,"
    f" provider_message_id = COALESCE({_MESSAGE.format('provider_message_id')},"
    " provider_message_id), updated_at = :now"
    " WHERE tenant_id = :tenant_id AND status = 'queued' AND EXISTS (SELECT 1 FROM messages AS m"
    f" WHERE m.id = reminders.message_id AND m.status IN {_ENDED}) RETURNING id"
)

def _in(column: str, values: Sequence[str], prefix: str) -> tuple[str, dict[str, str]]:
    """`column IN (:prefix0, ...)` and its parameters."""
    names = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return f"{column} IN ({', '.join(':' + n for n in names)})", names


def plan_steps(backend: Backend, tenant_id: str, appointment_id: str, plans: Sequence[Any], *,
               replace: bool) -> list[Step]:
    """Write an appointment's reminder plan (`reminders.plan.Planned`) in the caller's
    transaction; `replace` (a reschedule): first drop its reminders already queued, but not
    the booking confirmation, which stays what it was."""
    now = backend._now()
    steps = [Step(_DROP_QUEUED, {"appointment_id": appointment_id, "keep": CONFIRMATION,
                                 "why": "appointment moved"})] if replace else []
    steps += [Step(_PLAN, {"id": new_id(), "tenant_id": tenant_id,
                           "appointment_id": appointment_id, "kind": p.kind,
                           "due_at": backend._instant(p.due_at), "status": p.status,
                           "reason": p.reason, "now": now}) for p in plans]
    return steps


def close_steps(backend: Backend, appointment_id: str, why: str) -> list[Step]:
    """An appointment cancelled: its open reminders are cancelled, queued ones never sent."""
    return [
        Step(_DROP_QUEUED, {"appointment_id": appointment_id, "keep": "", "why": why}),
        Step("UPDATE reminders SET status = 'cancelled', reason = :why, updated_at = :now"
             " WHERE appointment_id = :appointment_id AND status IN ('pending', 'queued')",
             {"appointment_id": appointment_id, "why": why, "now": backend._now()}),
    ]


class Proactive(Scripted):
    # reminders

    async def reminders_due(self, tenant_id: str, now: datetime, *, limit: int = 500
                            ) -> list[Reminder]:
        return await self._rows(tenant_id, Reminder, Step(
            "SELECT * FROM reminders WHERE tenant_id = :tenant_id AND status = 'pending'"
            " AND due_at <= :now ORDER BY due_at, id LIMIT :limit",
            {"tenant_id": tenant_id, "now": self._instant(now), "limit": max(limit, 0)}))

    async def list_reminders(self, tenant_id: str, *,
                             statuses: Sequence[ReminderStatus] | None = None,
                             appointment_id: str | None = None, limit: int = 200
                             ) -> list[Reminder]:
        where, params = ["tenant_id = :tenant_id"], {"tenant_id": tenant_id, "limit": max(limit, 0)}
        if statuses:
            for status in statuses:
                check_choice("status", status, REMINDER_STATUSES)
            clause, names = _in("status", statuses, "s")
            where.append(clause)
            params.update(names)
        if appointment_id is not None:
            if not is_id(appointment_id):
                return []
            where.append("appointment_id = :appointment_id")
            params["appointment_id"] = appointment_id
        return await self._rows(tenant_id, Reminder, Step(
            f"SELECT * FROM reminders WHERE {' AND '.join(where)} ORDER BY due_at, id LIMIT :limit",
            params))

    async def reminder_defer(self, tenant_id: str, reminder_id: str, due_at: datetime) -> bool:
        return await self._changed(tenant_id, reminder_id, Step(
            "UPDATE reminders SET due_at = :due_at, updated_at = :now WHERE tenant_id = :tenant_id"
            " AND id = :id AND status = 'pending'",
            {"tenant_id": tenant_id, "id": reminder_id, "due_at": self._instant(due_at),
             "now": self._now()}, require=True))

    async def reminder_enqueue(self, tenant_id: str, reminder_id: str, conversation_id: str, *,
                               text: str, meta: dict[str, Any]) -> Message | None:
        if not (is_id(reminder_id) and is_id(conversation_id)):
            return None
        params = {"tenant_id": tenant_id, "id": reminder_id, "message_id": new_id(),
                  "conversation_id": conversation_id, "text": text, "meta": Json(meta),
                  "now": self._now()}
        rows = await self._script(tenant_id, [
            Step("UPDATE reminders SET status = 'queued', message_id = :message_id,"
                 " sent_at = :now, updated_at = :now WHERE tenant_id = :tenant_id AND id = :id"
                 " AND status = 'pending'", params, require=True),
            Step(_QUEUE_MESSAGE + " RETURNING *", params, require=True, returns=Message),
        ])
        return rows[0] if rows else None

    async def reminder_settle(self, tenant_id: str, reminder_id: str, status: ReminderStatus, *,
                              reason: str | None = None, provider_message_id: str | None = None,
                              from_statuses: Sequence[ReminderStatus] = OPEN_REMINDER) -> bool:
        check_choice("status", status, REMINDER_STATUSES)
        clause, names = _in("status", from_statuses, "f")
        return await self._changed(tenant_id, reminder_id, Step(
            "UPDATE reminders SET status = :status, reason = COALESCE(:reason, reason),"
            " provider_message_id = COALESCE(:provider_message_id, provider_message_id),"
            f" updated_at = :now WHERE tenant_id = :tenant_id AND id = :id AND {clause}",
            {"tenant_id": tenant_id, "id": reminder_id, "status": status,
             "reason": None if reason is None else reason[:500],
             "provider_message_id": provider_message_id, "now": self._now(), **names},
            require=True))

    async def reminders_catch_up(self, tenant_id: str) -> int:
        rows = await self._rows(tenant_id, dict, Step(
            _CATCH_UP, {"tenant_id": tenant_id, "now": self._now()}))
        return len(rows)

    async def latest_reminder(self, tenant_id: str, patient_phone: str, *, since: datetime
                              ) -> Reminder | None:
        return (await self.proactive_facts(tenant_id, patient_phone, since=since,
                                           now=None))[0]

    async def proactive_facts(self, tenant_id: str, patient_phone: str, *, since: datetime,
                              now: datetime | None) -> tuple[Reminder | None, WaitlistEntry | None]:
        reminders: list[Reminder] = []
        offers: list[WaitlistEntry] = []
        steps = [Step(
            "SELECT r.* FROM reminders AS r JOIN appointments AS a ON a.id = r.appointment_id"
            " WHERE r.tenant_id = :tenant_id AND a.tenant_id = :tenant_id"
            " AND a.patient_phone = :phone AND a.status IN ('booked', 'confirmed')"
            " AND (r.status IN ('queued', 'sent') OR (r.status = 'failed' AND r.reason = :interrupted))"
            " AND r.kind <> :confirmation"
            " AND r.sent_at >= :since ORDER BY r.sent_at DESC, r.due_at DESC LIMIT 1",
            {"tenant_id": tenant_id, "phone": patient_phone, "confirmation": CONFIRMATION,
             "interrupted": INTERRUPTED, "since": self._instant(since)},
            returns=Reminder, into=reminders)]
        if now is not None:
            steps.append(self._offered(tenant_id, patient_phone, now, offers))
        await self._script(tenant_id, steps)
        return (reminders[0] if reminders else None, offers[0] if offers else None)

    async def proactive_sent_since(self, tenant_id: str, since: datetime) -> int:
        rows = await self._rows(tenant_id, dict, Step(
            "SELECT count(*) AS n FROM reminders WHERE tenant_id = :tenant_id"
            " AND sent_at >= :since", {"tenant_id": tenant_id, "since": self._instant(since)}))
        return int(rows[0]["n"]) if rows else 0

    # clinic flags

    async def clinic_flags(self, tenant_id: str) -> dict[str, str]:
        rows = await self._rows(tenant_id, dict, Step(
            "SELECT key, value FROM clinic_flags WHERE tenant_id = :tenant_id ORDER BY key",
            {"tenant_id": tenant_id}))
        return {str(r["key"]): str(r["value"]) for r in rows}

    async def set_clinic_flag(self, tenant_id: str, key: str, value: str | None) -> None:
        params = {"tenant_id": tenant_id, "key": key, "value": value, "now": self._now()}
        await self._script(tenant_id, [Step(
            "DELETE FROM clinic_flags WHERE tenant_id = :tenant_id AND key = :key", params)
            if value is None else Step(
            "INSERT INTO clinic_flags (tenant_id, key, value, updated_at)"
            " VALUES (:tenant_id, :key, :value, :now) ON CONFLICT (tenant_id, key)"
            " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at", params)])

    # the waitlist

    async def waitlist_add(self, tenant_id: str, patient_phone: str, *, service_id: str,
                           professional_id: str | None = None, period: Period | None = None
                           ) -> WaitlistEntry:
        check_phone(patient_phone)
        if period is not None:
            check_choice("period", period, ("manha", "tarde", "noite"))
        now = self._now()
        rows = await self._script(tenant_id, [Step(
            "INSERT INTO waitlist (id, tenant_id, patient_phone, service_id, professional_id,"
            " period, status, created_at, updated_at) VALUES (:id, :tenant_id, :phone,"
            " :service_id, :professional_id, :period, 'waiting', :now, :now)"
            " ON CONFLICT (tenant_id, patient_phone, service_id)"
            " WHERE status IN ('waiting', 'offered') DO UPDATE SET"
            " professional_id = excluded.professional_id, period = excluded.period,"
            " updated_at = excluded.updated_at RETURNING *",
            {"id": new_id(), "tenant_id": tenant_id, "phone": patient_phone,
             "service_id": service_id, "professional_id": professional_id, "period": period,
             "now": now}, returns=WaitlistEntry)])
        assert rows, "an upsert returns its row"
        return rows[0]  # type: ignore[no-any-return]

    async def waitlist_list(self, tenant_id: str, *,
                            statuses: Sequence[WaitlistStatus] | None = None
                            ) -> list[WaitlistEntry]:
        where, params = "tenant_id = :tenant_id", {"tenant_id": tenant_id}
        if statuses:
            for status in statuses:
                check_choice("status", status, WAITLIST_STATUSES)
            clause, names = _in("status", statuses, "s")
            where += f" AND {clause}"
            params.update(names)
        return await self._rows(tenant_id, WaitlistEntry, Step(
            f"SELECT * FROM waitlist WHERE {where} ORDER BY created_at, seq", params))

    async def waitlist_offer(self, tenant_id: str, entry_id: str, *, offer_id: str,
                             start: datetime, professional_id: str, expires_at: datetime,
                             conversation_id: str, text: str, meta: dict[str, Any]
                             ) -> WaitlistEntry | None:
        if not (is_id(entry_id) and is_id(conversation_id)):
            return None
        params = {"tenant_id": tenant_id, "id": entry_id, "offer_id": offer_id,
                  "start": self._instant(start), "professional_id": professional_id,
                  "expires": self._instant(expires_at), "message_id": new_id(),
                  "conversation_id": conversation_id, "text": text, "meta": Json(meta),
                  "now": self._now()}
        rows = await self._script(tenant_id, [
            Step("UPDATE waitlist SET status = 'offered', offer_id = :offer_id,"
                 " offer_start_at = :start, offer_professional_id = :professional_id,"
                 " offer_expires_at = :expires, updated_at = :now WHERE tenant_id = :tenant_id"
                 " AND id = :id AND status = 'waiting'", params, require=True),
            Step(_QUEUE_MESSAGE, params, require=True),
            Step("SELECT * FROM waitlist WHERE id = :id", params, returns=WaitlistEntry),
        ])
        return rows[0] if rows else None

    async def waitlist_settle(self, tenant_id: str, entry_id: str, status: WaitlistStatus, *,
                              from_status: WaitlistStatus, appointment_id: str | None = None
                              ) -> bool:
        check_choice("status", status, WAITLIST_STATUSES)
        return await self._changed(tenant_id, entry_id, Step(
            "UPDATE waitlist SET status = :status,"
            " appointment_id = COALESCE(:appointment_id, appointment_id), updated_at = :now"
            " WHERE tenant_id = :tenant_id AND id = :id AND status = :from_status",
            {"tenant_id": tenant_id, "id": entry_id, "status": status,
             "from_status": from_status, "appointment_id": appointment_id, "now": self._now()},
            require=True))

    async def waitlist_offered(self, tenant_id: str, patient_phone: str, now: datetime
                               ) -> WaitlistEntry | None:
        offers: list[WaitlistEntry] = []
        await self._script(tenant_id, [self._offered(tenant_id, patient_phone, now, offers)])
        return offers[0] if offers else None

    def _offered(self, tenant_id: str, phone: str, now: datetime, into: list[WaitlistEntry]
                 ) -> Step:
        return Step("SELECT * FROM waitlist WHERE tenant_id = :tenant_id AND patient_phone = :phone"
                    " AND status = 'offered' AND offer_expires_at > :now"
                    " ORDER BY offer_expires_at DESC LIMIT 1",
                    {"tenant_id": tenant_id, "phone": phone, "now": self._instant(now)},
                    returns=WaitlistEntry, into=into)
