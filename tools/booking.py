"""Booking use cases behind the tools: availability, book, cancel, reschedule, list.

Each returns a plain dict (the tool artifact) and raises `DomainError` for what the model or
the patient can fix; the store enforces no double booking, these functions re-validate rules.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog

from atende.errors import NotFound, PolicyViolation, SlotUnavailable
from atende.memory.records import Appointment, NewAppointment
from atende.reminders.plan import plan
from atende.tenant import WEEKDAYS, Service, Tenant, fold
from atende.tools.busy import busy_between
from atende.tools.calendars import unreadable_note
from atende.tools.catalog import find_professional, find_service
from atende.tools.choices import Choice
from atende.tools.dates import DateQuery, parse_when
from atende.tools.refusal import nearest, refused
from atende.tools.scheduling import (
    Busy,
    Slot,
    check_bookable,
    check_cancellable,
    free_slots,
    local_label,
    parse_slot_id,
)
from atende.tools.scope import Scope
from atende.tools.when import NOTHING_ASKED, Asked, refine

log = structlog.get_logger(__name__)
_STAGES_BEFORE_SCHEDULED = ("new", "engaged", "qualified")
OFFER_MARGIN = timedelta(minutes=5)
# availability reads busy time a window at a time, soonest first, until it has enough slots:
# 2 days, then 4, 8, ... (the soonest offers read days, not the whole horizon)
FIRST_WINDOW_DAYS = 2
_WEEKDAY_PT = {
    "mon": "segundas", "tue": "terças", "wed": "quartas", "thu": "quintas",
    "fri": "sextas", "sat": "sábados", "sun": "domingos",
}


def appointment_view(appt: Appointment, tenant: Tenant) -> dict[str, Any]:
    start = appt.start.astimezone(tenant.tz)
    return {
        "id": appt.id,
        "service_id": appt.service_id,
        "service": tenant.service_name(appt.service_id),
        "professional_id": appt.professional_id,
        "professional": tenant.professional_name(appt.professional_id),
        "start": start.isoformat(timespec="minutes"),
        "label": local_label(start, tenant),
        "status": appt.status,
    }


async def _busy(scope: Scope, day_from: date, day_to: date, professional_ids: list[str], *,
                exclude: str | None = None) -> tuple[list[Busy], dict[str, str]]:
    """What takes those local days of `professional_ids`: appointments (but `exclude`), blocks,
    the clinic's calendars; and the professionals whose calendar cannot be read (blocked for
    the whole range: an unreadable calendar is not "free")."""
    tz = scope.tenant.tz
    start = datetime.combine(day_from, time.min, tzinfo=tz)
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=tz)
    busy = await busy_between(scope.store, scope.tenant.id, start, end,
                              professional_ids=professional_ids, exclude=exclude,
                              outside=scope.tenant.calendar.backend != "local")
    calendars = await scope.calendar.busy(scope, start, end, professional_ids)
    blocked = [Busy(p, start, end) for p in calendars.unreadable]
    return busy + calendars.busy + blocked, calendars.unreadable


_HOLIDAY_ARTICLE = re.compile(r"^dia d[aeo]s? ")
_HOLIDAY_ALIASES = {"confraternizacao universal": ("ano novo",)}


def holiday_terms(tenant: Tenant, today: date) -> dict[str, date]:
    """Folded words that name one of the clinic's holidays ("tiradentes", "natal",
    "consciencia negra", "proximo feriado") and its date: the next on or after `today`, else the
    latest one past (which the date parser then says has passed)."""
    ordered = sorted(tenant.holidays, key=lambda h: (h.date < today, abs((h.date - today).days)))
    coming = [h for h in ordered if h.date >= today]
    terms: dict[str, date] = {"proximo feriado": coming[0].date} if coming else {}
    for holiday in ordered:
        name = " ".join(re.sub(r"[^a-z0-9]+", " ", fold(holiday.name)).split())
        short = _HOLIDAY_ARTICLE.sub("", name)
        # "consciencia negra" alone names the day; "trabalho" alone does not
        shorts = (short,) if " " in short else ()
        for term in (name, *shorts, *_HOLIDAY_ALIASES.get(name, ())):
            terms.setdefault(term, holiday.date)
    return terms


def _holidays_as_dates(tenant: Tenant, when: str, today: date) -> str:
    """`when` with a holiday's name replaced by its date: "no feriado de Tiradentes" reads as
    "no 21/04/2026", so the closed day is explained instead of the words not understood."""
    terms = holiday_terms(tenant, today)
    if not terms:
        return when
    names = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    pattern = re.compile(r"\b(?:(?:feriado|dia)\s+(?:d[aeo]s?\s+)?)?(" + names + r")\b")
    folded = " ".join(re.sub(r"[^a-z0-9/:]+", " ", fold(when)).split())
    replaced = pattern.sub(lambda m: f"{terms[m.group(1)]:%d/%m/%Y}", folded)
    return replaced if replaced != folded else when


def _closed_reason(tenant: Tenant, query: DateQuery) -> str:
    """Why a single requested day has no slots at all, in pt-BR ('' if it is just full)."""
    if query.day_from is None or query.day_from != query.day_to:
        return ""
    holiday = tenant.holiday_on(query.day_from)
    if holiday:
        return f"Dia {query.day_from:%d/%m} é feriado ({holiday.name}) e a clínica não abre."
    weekday = WEEKDAYS[query.day_from.weekday()]
    if not tenant.business_hours.get(weekday):
        return f"A clínica não atende aos {_WEEKDAY_PT[weekday]}."
    return ""


def _refused_note(tenant: Tenant, svc: Service, pro_id: str | None, query: DateQuery,
                  scope: Scope, busy: list[Busy]) -> str:
    """The asked time is not free: why (when one day was asked), then the nearest options."""
    assert query.at is not None
    why = ""
    if query.day_from is not None and query.day_from == query.day_to:
        pros = [p for p in tenant.professionals
                if svc.id in p.services and (pro_id is None or p.id == pro_id)]
        why = refused(tenant, svc, pros, query.day_from, query.at, now=scope.now, busy=busy)
    head = why or f"Não há horário livre às {query.at:%H:%M}."
    return f"{head} Os mais próximos são estes."


# How an offered slot reads in a sentence; channels that show tappable options build them
# from the parts (`Choice.title`, `Choice.detail`), never from this wording.
SLOT_LABEL = "{when} com {professional}"


def _slot_view(n: int, slot: Slot, tenant: Tenant) -> dict[str, Any]:
    professional = tenant.professional_name(slot.professional_id)
    return {
        "n": n,
        "slot_id": slot.id,
        "start": slot.start.isoformat(timespec="minutes"),
        "professional_id": slot.professional_id,
        "professional": professional,
        "label": SLOT_LABEL.format(when=local_label(slot.start, tenant), professional=professional),
    }


def _slot_choice(view: dict[str, Any], slot: Slot, tenant: Tenant) -> dict[str, str]:
    return Choice(id=slot.id, label=view["label"], title=local_label(slot.start, tenant),
                  detail=view["professional"]).to_dict()


async def check_availability(scope: Scope, service: str, when: str | None,
                             professional: str | None, asked: Asked = NOTHING_ASKED
                             ) -> dict[str, Any]:
    """Free slots of `service`: on the day and time the patient's words (`when`) say, refined by
    the structured arguments in `asked`; the soonest when neither says anything."""
    tenant = scope.tenant
    svc = find_service(tenant, service)
    if svc is None:
        names = ", ".join(s.name for s in tenant.services)
        raise NotFound(f"Não encontrei o serviço “{service}”. Oferecemos: {names}.")
    pro_id = None
    if professional:
        pro = find_professional(tenant, professional)
        if pro is None:
            names = ", ".join(p.name for p in tenant.professionals if svc.id in p.services)
            raise NotFound(f"Não encontrei “{professional}”. {svc.name} é feito por: {names}.")
        if svc.id not in pro.services:
            names = ", ".join(p.name for p in tenant.professionals if svc.id in p.services)
            raise NotFound(f"{pro.name} não faz {svc.name}. Quem faz: {names}.")
        pro_id = pro.id
    words = None
    if when and when.strip():
        words = parse_when(_holidays_as_dates(tenant, when, scope.today), scope.today)
    query = refine(when, words, asked, scope.today)
    horizon = scope.today + timedelta(days=tenant.policies.booking_horizon_days)
    if query is not None and query.day_from is not None and query.day_from > horizon:
        raise PolicyViolation(
            f"Só agendamos com até {tenant.policies.booking_horizon_days} dias de antecedência "
            f"(até {horizon:%d/%m/%Y})."
        )
    limit = tenant.policies.max_slots_offered
    day_from = query.day_from if query else None
    day_to = query.day_to if query else None
    pro_ids = [pro_id] if pro_id else [p.id for p in tenant.professionals if svc.id in p.services]

    # offers keep a margin over the minimum notice, so a slot offered now is still bookable
    # when the patient answers a few minutes later
    offer_now = scope.now + OFFER_MARGIN
    unreadable: dict[str, str] = {}  # professionals whose calendar cannot be read

    async def search(first: date | None, last: date | None, want: int = limit,
                     **kw: Any) -> list[Slot]:
        """Free slots soonest first, reading busy time a window at a time until `want`."""
        found: list[Slot] = []
        day, end = max(first or scope.today, scope.today), min(last or horizon, horizon)
        days = FIRST_WINDOW_DAYS
        while day <= end and len(found) < want:
            stop = min(day + timedelta(days=days - 1), end)
            days *= 2
            busy, unread = await _busy(scope, day, stop, pro_ids)
            unreadable.update(unread)
            found += free_slots(tenant, svc.id, now=offer_now, busy=busy,
                                professional_id=pro_id, day_from=day, day_to=stop,
                                limit=want - len(found), **kw)
            day = stop + timedelta(days=1)
        return found

    slots: list[Slot] = []
    note = ""
    if query is not None:
        slots = await search(day_from, day_to, period=query.period, at=query.at,
                             after=query.after, before=query.before)
        if not slots and query.at is not None:
            # the nearest to the asked time: a wider search, ordered by distance to it
            around = await search(day_from, day_to, want=limit * 4, period=query.period)
            slots = nearest(around, query.at, limit)
            if slots:
                one_day = query.day_from if query.day_from == query.day_to else None
                busy = (await _busy(scope, one_day, one_day, pro_ids))[0] if one_day else []
                note = _refused_note(tenant, svc, pro_id, query, scope, busy)
    else:
        slots = await search(None, None)
    alternative = False
    if not slots:
        alternative = True
        reason = _closed_reason(tenant, query) if query else ""
        wanted = query.describe() if query else "os próximos dias"
        note = reason or f"Não há horários livres para {svc.name} em {wanted}."
        slots = await search((day_to + timedelta(days=1)) if day_to else scope.today, None)
        if not slots:
            note += " Também não encontrei vagas nas próximas semanas."
        else:
            note += " Estes são os próximos horários livres."
    views = [_slot_view(i, s, tenant) for i, s in enumerate(slots, start=1)]
    # a professional whose calendar cannot be read is offered nothing, and the patient is told
    if unreadable:
        note = " ".join(filter(None, [unreadable_note(tenant, unreadable), note]))
    return {
        "ok": True,
        **({"calendar_unreadable": [tenant.professional_name(p) for p in sorted(unreadable)]}
           if unreadable else {}),
        "service_id": svc.id,
        "service": svc.name,
        "slots": views,
        "alternative": alternative,
        "note": note,
        "requested": query.describe() if query else "",
        # the same slots as options the patient picks, for the channel (hidden from the model)
        "choices": [_slot_choice(v, s, tenant) for v, s in zip(views, slots, strict=True)],
    }


async def _validate_slot(scope: Scope, slot_id: str, *, exclude: str | None = None) -> Slot:
    slot = parse_slot_id(slot_id, scope.tenant)
    day = slot.start.astimezone(scope.tenant.tz).date()
    busy, unreadable = await _busy(scope, day, day, [slot.professional_id], exclude=exclude)
    if slot.professional_id in unreadable:
        raise SlotUnavailable(unreadable_note(scope.tenant, {
            slot.professional_id: unreadable[slot.professional_id]}))
    check_bookable(scope.tenant, slot, now=scope.now, busy=busy)
    return slot


async def _after(hook: Awaitable[None], what: str) -> None:
    """An after-commit calendar hook: what it fails to queue never undoes the committed write
    nor the patient's reply (the calendar's backstop sync shows the difference)."""
    try:
        await hook
    except Exception:
        log.exception("calendar_hook_failed", hook=what)


async def _own_overlap(scope: Scope, slot: Slot, *, exclude: str | None = None) -> None:
    mine = await scope.store.list_appointments(scope.tenant.id, patient_phone=scope.patient_phone)
    for appt in mine:
        if appt.id != exclude and appt.start < slot.end and appt.end > slot.start:
            raise SlotUnavailable(
                f"Você já tem {scope.tenant.service_name(appt.service_id)} marcada em "
                f"{local_label(appt.start.astimezone(scope.tenant.tz), scope.tenant)}, "
                "no mesmo horário."
            )


async def book(scope: Scope, slot_id: str) -> dict[str, Any]:
    slot = await _validate_slot(scope, slot_id)
    await _own_overlap(scope, slot)
    await scope.calendar.check_slot(scope, slot.professional_id, slot.start, slot.end)
    appt = await scope.store.book_appointment(NewAppointment(
        tenant_id=scope.tenant.id, professional_id=slot.professional_id,
        service_id=slot.service_id, patient_phone=scope.patient_phone,
        start=slot.start, end=slot.end, created_by_turn=scope.turn_id,
    ), reminders=plan(scope.tenant, slot.start, scope.now))  # in the booking's transaction
    await _after(scope.calendar.booked(scope, appt), "booked")
    patient = await scope.store.get_patient(scope.tenant.id, scope.patient_phone)
    if patient is None or patient.stage in _STAGES_BEFORE_SCHEDULED:
        await scope.store.update_patient(scope.tenant.id, scope.patient_phone, stage="scheduled")
    return {"ok": True, "action": "booked", "appointment": appointment_view(appt, scope.tenant)}


async def _own_active(scope: Scope, appointment_id: str) -> Appointment:
    appt = await scope.store.get_appointment(
        scope.tenant.id, appointment_id, patient_phone=scope.patient_phone
    )
    if appt is None or not appt.active:
        raise NotFound("Não encontrei essa consulta entre os seus agendamentos ativos.")
    return appt


async def cancel(scope: Scope, appointment_id: str) -> dict[str, Any]:
    from atende.reminders import waitlist
    from atende.tools.proactive import reminded_appointment

    appt = await _own_active(scope, appointment_id)
    late = None
    answering = await reminded_appointment(scope) == appt.id
    try:
        check_cancellable(scope.tenant, appt.start, now=scope.now)
    except PolicyViolation:
        # answering the reminder we sent is the easy way out we offered: accepted, marked late
        if appt.start <= scope.now or not answering:
            raise
        late = "late: answered a reminder inside the cancellation notice"
    done = await scope.store.cancel_appointment(
        scope.tenant.id, appt.id, patient_phone=scope.patient_phone, turn_id=scope.turn_id,
        reason=late,
    )
    await _after(scope.calendar.cancelled(scope, done), "cancelled")
    offered = await waitlist.slot_freed(scope.store, scope.tenant, done, scope.now)
    return {"ok": True, "action": "cancelled", "appointment": appointment_view(done, scope.tenant),
            **({"late": True} if late else {}), **({"answering_reminder": True} if answering else {}),
            **({"slot_offered": True} if offered else {})}


async def reschedule(scope: Scope, appointment_id: str, slot_id: str) -> dict[str, Any]:
    appt = await _own_active(scope, appointment_id)
    check_cancellable(scope.tenant, appt.start, now=scope.now)
    slot = await _validate_slot(scope, slot_id, exclude=appt.id)
    if slot.service_id != appt.service_id:
        raise PolicyViolation(
            "Esse horário é de outro serviço. Para remarcar, escolha um horário de "
            f"{scope.tenant.service_name(appt.service_id)}."
        )
    await _own_overlap(scope, slot, exclude=appt.id)
    await scope.calendar.check_slot(scope, slot.professional_id, slot.start, slot.end)
    moved = await scope.store.reschedule_appointment(
        scope.tenant.id, appt.id, patient_phone=scope.patient_phone,
        professional_id=slot.professional_id, start=slot.start, end=slot.end,
        turn_id=scope.turn_id, reminders=plan(scope.tenant, slot.start, scope.now,
                                              confirmation=False),
    )
    await _after(scope.calendar.rescheduled(scope, moved, appt), "rescheduled")
    from atende.reminders import waitlist

    offered = await waitlist.slot_freed(scope.store, scope.tenant, appt, scope.now)  # old time
    return {
        "ok": True,
        "action": "rescheduled",
        **({"slot_offered": True} if offered else {}),
        "appointment": appointment_view(moved, scope.tenant),
        "previous": appointment_view(appt, scope.tenant),
    }


async def my_appointments(scope: Scope) -> dict[str, Any]:
    appts = await scope.store.list_appointments(
        scope.tenant.id, patient_phone=scope.patient_phone, start_from=scope.now
    )
    return {"ok": True, "appointments": [appointment_view(a, scope.tenant) for a in appts]}
