"""A proactive message as data (`Notice`): its text, its buttons and its Meta template call,
built once from the clinic's policy and the appointment, stored in the outbox row's `meta`,
and shown by each channel its own way (`Channel.send_notice`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from atende.memory.records import Appointment
from atende.tenant import REPLY_HINT, MetaTemplate, Tenant
from atende.tools.choices import Choice

NoticeKind = Literal["reminder", "confirmation", "waitlist_offer"]
Action = Literal["confirm", "reschedule", "cancel", "accept", "decline"]
TITLES: dict[str, str] = {"confirm": "Confirmar", "reschedule": "Remarcar", "cancel": "Cancelar",
                          "accept": "Quero", "decline": "Não, obrigado"}
_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
             "sábado", "domingo")
PAYLOAD_PREFIX = "atende"


def payload(action: str, appointment_id: str) -> str:
    """A button's id, echoed back when tapped: "atende:confirm:<appointment id>"."""
    return f"{PAYLOAD_PREFIX}:{action}:{appointment_id}"


def read_payload(value: str | None) -> tuple[str, str] | None:
    """(action, appointment id) of a tapped button of ours, or None."""
    if not value:
        return None
    prefix, _, rest = value.partition(":")
    action, _, ref = rest.partition(":")
    if prefix != PAYLOAD_PREFIX or action not in TITLES or not ref:
        return None
    return action, ref


@dataclass(frozen=True)
class TemplateCall:
    """An approved template with its parameters filled in."""

    name: str
    language: str
    body: tuple[str, ...]
    buttons: tuple[str, ...]  # quick-reply payloads, by index


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    text: str  # the whole message where there are no buttons (Z-API, console)
    body: str  # the text above the buttons (Meta inside the 24-hour window)
    buttons: tuple[Choice, ...] = ()
    template: TemplateCall | None = None  # Meta outside the window; None: cannot go there
    appointment_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "text": self.text, "body": self.body,
            "buttons": [b.to_dict() for b in self.buttons],
            "template": None if self.template is None else {
                "name": self.template.name, "language": self.template.language,
                "body": list(self.template.body), "buttons": list(self.template.buttons)},
            "appointment_id": self.appointment_id, "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        template = data.get("template")
        return cls(
            kind=data["kind"], text=data["text"], body=data["body"],
            buttons=tuple(Choice.from_dict(b) for b in data.get("buttons") or ()),
            template=None if not template else TemplateCall(
                name=template["name"], language=template["language"],
                body=tuple(template["body"]), buttons=tuple(template["buttons"])),
            appointment_id=data.get("appointment_id"), extra=data.get("extra") or {})


def fields(tenant: Tenant, appointment: Appointment, patient_name: str | None) -> dict[str, str]:
    """What a notice's text and a template's body may name, in the clinic's words and time."""
    local: datetime = appointment.start.astimezone(tenant.tz)
    first = (patient_name or "").split()[0] if (patient_name or "").strip() else ""
    return {
        "first_name": first or "paciente",
        "first_name_sep": f", {first}" if first else "",
        "service": tenant.service_name(appointment.service_id),
        "professional": tenant.professional_name(appointment.professional_id),
        "weekday": _WEEKDAYS[local.weekday()], "date": f"{local:%d/%m}",
        "time": f"{local:%H:%M}", "clinic": tenant.name, "address": tenant.address,
    }


def _template(spec: MetaTemplate | None, values: dict[str, str], appointment_id: str
              ) -> TemplateCall | None:
    if spec is None:
        return None
    return TemplateCall(spec.name, spec.language, tuple(values[f] for f in spec.body),
                        tuple(payload(action, appointment_id) for action in spec.buttons))


def reminder(tenant: Tenant, appointment: Appointment, patient_name: str | None) -> Notice:
    """The reminder before an appointment: answer 1 / 2 / 0, or tap Confirmar / Remarcar /
    Cancelar."""
    values = fields(tenant, appointment, patient_name)
    policy = tenant.reminders
    body = policy.text.format(**values)
    actions = ("confirm", "reschedule", "cancel")
    return Notice(
        kind="reminder", text=f"{body}\n\n{REPLY_HINT}", body=body,
        buttons=tuple(Choice(payload(a, appointment.id), TITLES[a], TITLES[a]) for a in actions),
        template=_template(policy.meta_template, values, appointment.id),
        appointment_id=appointment.id)


def confirmation(tenant: Tenant, appointment: Appointment, patient_name: str | None) -> Notice:
    """Right after a booking: what was booked (inside the window the patient just opened)."""
    text = tenant.reminders.confirmation_text.format(**fields(tenant, appointment, patient_name))
    return Notice(kind="confirmation", text=text, body=text, appointment_id=appointment.id)


def waitlist_offer(tenant: Tenant, slot: Appointment, patient_name: str | None, *,
                   offer_id: str) -> Notice:
    """A freed slot offered to a waitlisted patient, held for them for a while."""
    policy = tenant.reminders.waitlist
    values = fields(tenant, slot, patient_name)
    body = policy.text.format(**values)
    actions = ("accept", "decline")
    return Notice(
        kind="waitlist_offer", text=body, body=body,
        buttons=tuple(Choice(payload(a, offer_id), TITLES[a], TITLES[a]) for a in actions),
        template=_template(policy.meta_template, values, offer_id),
        appointment_id=None, extra={"offer_id": offer_id})

