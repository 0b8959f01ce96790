"""A trial's starting world: the scenario's `given` written into a fresh store, and snapshots
of the rows graders compare (appointments of every tenant, leads of every known phone)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from atende.evals.lint import Loaded
from atende.evals.scenario import SELF, AppointmentSpec, local_start
from atende.memory.records import ACTIVE_STATUSES, CalendarBusy, NewAppointment
from atende.memory.sqlite import sqlite_path
from atende.memory.store import Store
from atende.phones import normalize_phone
from atende.reminders.plan import plan

SEED_CHANNEL = "console"  # the channel eval turns arrive on (`ConsoleSession`)


@dataclass(frozen=True)
class Row:
    """An appointment as graders see it: ids only to tell seeded rows apart; times in UTC."""

    id: str
    tenant: str
    patient: str
    professional: str
    service: str
    start: datetime
    end: datetime
    status: str

    def same_as(self, other: Row) -> bool:
        return (self.tenant, self.patient, self.professional, self.service, self.start, self.end,
                self.status) == (other.tenant, other.patient, other.professional, other.service,
                                 other.start, other.end, other.status)

    def describe(self, tz_of: Mapping[str, tzinfo] | None = None) -> str:
        tz = (tz_of or {}).get(self.tenant)
        start = self.start.astimezone(tz) if tz is not None else self.start
        return (f"{self.service} {self.professional} {start.strftime('%Y-%m-%dT%H:%M')} "
                f"{self.status} {self.patient} @{self.tenant}")


@dataclass(frozen=True)
class Lead:
    tenant: str
    phone: str
    name: str | None
    stage: str
    interest: str | None


def phone_of(ref: str, loaded: Loaded) -> str:
    return normalize_phone(loaded.scenario.patient.phone if ref == SELF else ref)


def tenant_ids(loaded: Loaded) -> list[str]:
    return [loaded.tenant.id, *(t.id for t in loaded.others)]


def known_phones(loaded: Loaded) -> list[str]:
    given = loaded.scenario.given
    refs = [SELF, *(p.phone for p in given.patients), *(a.patient for a in given.appointments),
            *(w.patient for w in given.waitlist)]
    return list(dict.fromkeys(phone_of(r, loaded) for r in refs))


def _sql_status(database_url: str, appointment_id: str, status: str) -> None:
    # The Store has no verb for history (completed, no_show, confirmed): write it directly.
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        conn.execute("UPDATE appointments SET status = ? WHERE id = ?", (status, appointment_id))
    conn.close()


async def _book(store: Store, loaded: Loaded, spec: AppointmentSpec, database_url: str) -> None:
    tenant = loaded.tenant_by_id(spec.tenant)
    phone = phone_of(spec.patient, loaded)
    start = local_start(spec.start or "", tenant.tz)
    service = tenant.service(spec.service or "")
    await store.upsert_patient(tenant.id, phone, source="eval")
    appt = await store.book_appointment(NewAppointment(
        tenant_id=tenant.id, professional_id=spec.professional or "", service_id=service.id,
        patient_phone=phone, start=start, end=start + timedelta(minutes=service.duration_minutes),
    ), reminders=plan(tenant, start, loaded.scenario.now, confirmation=False)
        if spec.status in ACTIVE_STATUSES else ())
    if spec.status == "cancelled":
        await store.cancel_appointment(tenant.id, appt.id, patient_phone=phone)
    elif spec.status != "booked":
        _sql_status(database_url, appt.id, spec.status)


async def seed(store: Store, loaded: Loaded, database_url: str) -> None:
    """Write `given` (and the scenario's patient) into an empty, migrated store."""
    scenario = loaded.scenario
    me = scenario.patient
    self_phone = phone_of(SELF, loaded)
    await store.upsert_patient(loaded.tenant.id, self_phone, source="eval")
    if me.name or me.stage or me.interest:
        await store.update_patient(loaded.tenant.id, self_phone, name=me.name,
                                   stage=me.stage, interest=me.interest)  # type: ignore[arg-type]
    for patient in scenario.given.patients:
        tenant = loaded.tenant_by_id(patient.tenant)
        phone = normalize_phone(patient.phone)
        await store.upsert_patient(tenant.id, phone, source="eval")
        await store.update_patient(tenant.id, phone, name=patient.name, stage=patient.stage,  # type: ignore[arg-type]
                                   interest=patient.interest)
    # history first: an inactive row may share its slot with an active one
    ordered = sorted(scenario.given.appointments, key=lambda a: a.status in ACTIVE_STATUSES)
    for spec in ordered:
        await _book(store, loaded, spec, database_url)
    for block in scenario.given.blocks:
        tz = loaded.tenant.tz
        await store.block_add(loaded.tenant.id, block.professional,
                              starts_at=local_start(block.start, tz),
                              ends_at=local_start(block.end, tz), reason=block.reason,
                              created_by="eval")
    for n, busy in enumerate(scenario.given.calendar_busy):  # a fresh copy, a calendar each
        tz = loaded.tenant.tz
        calendar = f"eval-{busy.professional}@calendar.test"
        event = f"eval{n}"
        await store.calendar_apply(loaded.tenant.id, calendar, professional_id=busy.professional,
                                   busy=[CalendarBusy(loaded.tenant.id, busy.professional,
                                                      calendar, event,
                                                      local_start(busy.start, tz),
                                                      local_start(busy.end, tz), busy.summary)],
                                   sync_token="eval")
    for wanted in scenario.given.waitlist:  # first listed, first offered
        phone = normalize_phone(wanted.patient)
        await store.upsert_patient(loaded.tenant.id, phone, source="eval")
        await store.get_or_create_conversation(loaded.tenant.id, phone, SEED_CHANNEL)
        await store.waitlist_add(loaded.tenant.id, phone, service_id=wanted.service,
                                 professional_id=wanted.professional, period=wanted.period)  # type: ignore[arg-type]
    if scenario.given.conversation_status == "human":
        conversation = await store.get_or_create_conversation(loaded.tenant.id, self_phone,
                                                              SEED_CHANNEL)
        until = scenario.given.paused_until
        await store.pause_conversation(
            conversation.id, until=local_start(until, loaded.tenant.tz) if until else None,
            reason="eval: given")


async def appointments(store: Store, loaded: Loaded) -> list[Row]:
    rows: list[Row] = []
    for tenant_id in tenant_ids(loaded):
        for a in await store.list_appointments(tenant_id, statuses=None):
            rows.append(Row(a.id, a.tenant_id, a.patient_phone, a.professional_id, a.service_id,
                            a.start, a.end, a.status))
    return rows


async def leads(store: Store, loaded: Loaded) -> dict[tuple[str, str], Lead | None]:
    """Every known phone's lead in every tenant of the scenario (None: no such lead)."""
    out: dict[tuple[str, str], Lead | None] = {}
    for tenant_id in tenant_ids(loaded):
        for phone in known_phones(loaded):
            p = await store.get_patient(tenant_id, phone)
            out[(tenant_id, phone)] = None if p is None else Lead(
                tenant_id, phone, p.name, p.stage, p.interest)
    return out


async def conversation_status(store: Store, loaded: Loaded) -> str | None:
    found = await store.find_conversation(loaded.tenant.id, phone_of(SELF, loaded))
    return None if found is None else found.status
