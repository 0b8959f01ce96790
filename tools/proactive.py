"""What a patient does with what atende sent first: confirm (or cancel, or move) the appointment
a reminder was about, take or turn down a slot the waitlist offered, join the waitlist, and
stop proactive messages. The turn's context names the reminder and the offer (`facts`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from atende.errors import NotFound, PolicyViolation
from atende.memory.records import Period
from atende.reminders import waitlist
from atende.tools import booking
from atende.tools.catalog import find_professional, find_service
from atende.tools.scope import Scope

# A reminder is still "the one the patient is answering" this long after it went out.
ANSWER_WINDOW = timedelta(hours=72)
_PERIODS: dict[str, Period] = {"manha": "manha", "manhã": "manha", "tarde": "tarde",
                               "noite": "noite"}


async def reminded_appointment(scope: Scope) -> str | None:
    """The id of the active appointment the patient's latest reminder (sent within
    ANSWER_WINDOW) was about, or None."""
    reminder = await scope.store.latest_reminder(scope.tenant.id, scope.patient_phone,
                                                 since=scope.now - ANSWER_WINDOW)
    return reminder.appointment_id if reminder is not None else None


async def facts(scope: Scope, upcoming: list[dict[str, Any]]) -> dict[str, Any]:
    """What the turn's prompt says about messages atende sent this patient first; one read, and
    none of reminders when the patient has no upcoming appointment a reminder could be about."""
    if not upcoming and not scope.tenant.reminders.waitlist.enabled:
        return {}
    reminder, offer = await scope.store.proactive_facts(
        scope.tenant.id, scope.patient_phone, since=scope.now - ANSWER_WINDOW,
        now=scope.now if scope.tenant.reminders.waitlist.enabled else None)
    out: dict[str, Any] = {}
    appt = next((a for a in upcoming if reminder is not None and a["id"] == reminder.appointment_id),
                None)
    if appt is not None:
        out["reminder"] = appt
    if offer is not None:
        out["offer"] = waitlist.offer_view(offer, scope.tenant)
    return out


async def confirm(scope: Scope, appointment_id: str) -> dict[str, Any]:
    appt = await scope.store.get_appointment(scope.tenant.id, appointment_id,
                                             patient_phone=scope.patient_phone)
    if appt is None or not appt.active:
        raise NotFound("Não encontrei essa consulta entre os seus agendamentos ativos.")
    if appt.start <= scope.now:
        raise PolicyViolation("Essa consulta já passou.")
    done = await scope.store.confirm_appointment(scope.tenant.id, appt.id,
                                                 patient_phone=scope.patient_phone,
                                                 turn_id=scope.turn_id)
    return {"ok": True, "action": "confirmed",
            "appointment": booking.appointment_view(done, scope.tenant)}


async def join_waitlist(scope: Scope, service: str, professional: str | None,
                        period: str | None) -> dict[str, Any]:
    tenant = scope.tenant
    if not (tenant.reminders.enabled and tenant.reminders.waitlist.enabled):
        raise PolicyViolation("Esta clínica não tem lista de espera.")
    svc = find_service(tenant, service)
    if svc is None:
        raise NotFound(f"Não encontrei o serviço “{service}”.")
    pro_id = None
    if professional:
        pro = find_professional(tenant, professional)
        if pro is None or svc.id not in pro.services:
            raise NotFound(f"Não encontrei “{professional}” para {svc.name}.")
        pro_id = pro.id
    wanted = _PERIODS.get((period or "").strip().lower()) if period else None
    entry = await scope.store.waitlist_add(tenant.id, scope.patient_phone, service_id=svc.id,
                                           professional_id=pro_id, period=wanted)
    return {"ok": True, "action": "waitlisted",
            "waitlist": {"service": svc.name, "professional": professional or None,
                         "period": wanted, "id": entry.id},
            "message": f"Você está na lista de espera de {svc.name}: se vagar um horário, "
                       "eu te aviso por aqui."}


async def answer_offer(scope: Scope, accept: bool) -> dict[str, Any]:
    offer = await scope.store.waitlist_offered(scope.tenant.id, scope.patient_phone, scope.now)
    if offer is None or offer.offer_start_at is None or offer.offer_professional_id is None:
        raise NotFound("Não há nenhum horário reservado para você agora (a reserva pode ter "
                       "expirado).")
    if not accept:
        await scope.store.waitlist_settle(scope.tenant.id, offer.id, "removed",
                                          from_status="offered")
        offered = await waitlist.offer_slot(scope.store, scope.tenant,
                                            offer.offer_professional_id, offer.offer_start_at,
                                            scope.now, skip_phone=scope.patient_phone)
        return {"ok": True, "action": "offer_declined", "message": "Tudo bem, liberei o horário.",
                **({"slot_offered": True} if offered else {})}
    local = offer.offer_start_at.astimezone(scope.tenant.tz)
    slot_id = f"{offer.offer_professional_id}|{offer.service_id}|{local:%Y-%m-%dT%H:%M}"
    result = await booking.book(scope, slot_id)  # the database still referees
    await scope.store.waitlist_settle(scope.tenant.id, offer.id, "booked", from_status="offered",
                                      appointment_id=result["appointment"]["id"])
    return {**result, "from_waitlist": True}


async def stop_messages(scope: Scope) -> dict[str, Any]:
    await scope.store.update_patient(scope.tenant.id, scope.patient_phone, proactive_opt_out=True)
    return {"ok": True, "action": "opted_out",
            "message": "Pronto: não vou mais enviar lembretes nem avisos. Se precisar, é só "
                       "escrever aqui."}
