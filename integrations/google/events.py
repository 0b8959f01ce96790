"""Calendar events as atende reads and writes them: the event id derived from an appointment,
the event a booking becomes (only the patient details the clinic allows), what an item of
events.list means (busy time, free, or one of our own appointments), and push headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from atende.memory.records import Appointment, Patient
from atende.tenant import Tenant

# base32hex (a-v, 0-9), 5-1024 characters: "atd" and the appointment uuid's 32 hex digits
_PREFIX = "atd"
_OURS = re.compile(r"^atd([0-9a-f]{32})$")


def event_id(appointment_id: str) -> str:
    """The Calendar event id of an appointment: the same on every retry, so a second insert
    answers 409 instead of a second event."""
    return _PREFIX + uuid.UUID(appointment_id).hex


def appointment_of(event: str) -> str | None:
    """The appointment id an event id was derived from (None: not one of ours)."""
    found = _OURS.match(event)
    return str(uuid.UUID(found.group(1))) if found else None


def _patient_details(tenant: Tenant, appt: Appointment, patient: Patient | None) -> list[str]:
    name = (patient.name or "").strip() if patient else ""
    parts: list[str] = []
    for detail in tenant.calendar.google.event_details:
        if detail == "first_name" and name:
            parts.append(name.split()[0])
        elif detail == "full_name" and name:
            parts.append(name)
        elif detail == "phone_last4":
            parts.append(f"tel. final {appt.patient_phone[-4:]}")
        elif detail == "phone":
            parts.append(appt.patient_phone)
    return parts


def event_body(tenant: Tenant, appt: Appointment, patient: Patient | None) -> dict[str, Any]:
    """The event a booking becomes in the professional's calendar: times with the clinic's
    offset and IANA zone (never naive), opaque, and only the details `event_details` allows."""
    service = tenant.service_name(appt.service_id)
    details = _patient_details(tenant, appt, patient)
    shown = "service" in tenant.calendar.google.event_details
    summary = " · ".join([service if shown else "Consulta", *details]) if details or shown \
        else "Consulta (atende)"
    return {
        "id": event_id(appt.id),
        "summary": summary,
        "description": "Agendado pelo atende (WhatsApp). Mover ou apagar este evento "
                       "remarca ou cancela a consulta e avisa o paciente.",
        **times(tenant, appt.start, appt.end),
        "transparency": "opaque",
        "extendedProperties": {"private": {"atende_appointment": appt.id}},
    }


def times(tenant: Tenant, start: datetime, end: datetime) -> dict[str, Any]:
    tz = tenant.tz
    return {"start": {"dateTime": start.astimezone(tz).isoformat(), "timeZone": tenant.timezone},
            "end": {"dateTime": end.astimezone(tz).isoformat(), "timeZone": tenant.timezone}}


Kind = Literal["busy", "free", "ours", "skip"]


@dataclass(frozen=True)
class Item:
    """One item of events.list, read: `busy` (staff's time, a busy row), `free` (cancelled,
    transparent: no busy row), `ours` (an appointment atende wrote; `cancelled` or its times),
    `skip` (nothing to do: a recurring master, whose instances come on their own)."""

    kind: Kind
    event_id: str
    start: datetime | None = None
    end: datetime | None = None
    summary: str = ""
    appointment_id: str | None = None
    cancelled: bool = False


def _when(value: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, Mapping):
        return None
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    if value.get("date"):  # all day: the clinic's midnight (an end date is exclusive)
        return datetime.combine(date.fromisoformat(str(value["date"])), time.min, tzinfo=tz)
    return None


def read_item(raw: Mapping[str, Any], tz: ZoneInfo) -> Item:
    """What one events.list item means for availability (see `Item`)."""
    event = str(raw.get("id") or "")
    ours = appointment_of(event)
    cancelled = raw.get("status") == "cancelled"
    start, end = _when(raw.get("start"), tz), _when(raw.get("end"), tz)
    if ours is not None:
        return Item("ours", event, start, end, appointment_id=ours, cancelled=cancelled)
    if cancelled or raw.get("transparency") == "transparent":
        return Item("free", event)
    if raw.get("recurrence"):
        return Item("skip", event)
    if start is None or end is None or end <= start:
        return Item("free", event)  # no usable times: nothing to block
    return Item("busy", event, start, end, summary=str(raw.get("summary") or "")[:200])


@dataclass(frozen=True)
class PushNotice:
    """A push notification's headers (its body is empty)."""

    channel_id: str
    resource_id: str
    token: str
    state: str  # sync | exists | not_exists
    message_number: int | None
    expires_at: datetime | None  # human-readable in the header ("Tue, 19 Nov 2013 01:13:52 GMT")


def push_notice(headers: Mapping[str, str]) -> PushNotice | None:
    """The notice, or None when a required header is missing."""
    get = {k.lower(): v.strip() for k, v in headers.items()}.get
    channel, resource, state = (get("x-goog-channel-id"), get("x-goog-resource-id"),
                                get("x-goog-resource-state"))
    if not channel or not resource or not state:
        return None
    number = get("x-goog-message-number") or ""
    try:
        expires: datetime | None = parsedate_to_datetime(get("x-goog-channel-expiration") or "")
    except (TypeError, ValueError, IndexError):
        expires = None
    return PushNotice(channel, resource, get("x-goog-channel-token") or "", state,
                      int(number) if number.isdigit() else None, expires)


def expiration(watch_response: Mapping[str, Any]) -> datetime | None:
    """The granted expiry of a watch answer: epoch milliseconds, as a number or a string."""
    value = str(watch_response.get("expiration") or "")
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value.isdigit() else None

