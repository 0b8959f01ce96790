"""Calendly's payloads as typed models, validated at the door: the webhook body (`{event,
created_at, created_by, payload}` whose payload is the Invitee with its nested scheduled event)
and the API's Invitee and ScheduledEvent resources (same fields, `scheduled_event` absent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CREATED, CANCELED = "invitee.created", "invitee.canceled"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class QuestionAnswer(_Model):
    question: str
    answer: str = ""
    position: int = 0


class Cancellation(_Model):
    canceled_by: str | None = None
    reason: str | None = None
    canceler_type: str | None = None  # "invitee" | "host"


class Membership(_Model):
    user: str
    user_email: str | None = None
    user_name: str | None = None


class ScheduledEvent(_Model):
    uri: str
    name: str | None = None
    status: str | None = None
    start_time: AwareDatetime
    end_time: AwareDatetime
    event_type: str | None = None
    event_memberships: list[Membership] = Field(default_factory=list)
    cancellation: Cancellation | None = None


class Invitee(_Model):
    uri: str = Field(min_length=1)
    name: str | None = None
    email: str | None = None
    status: str | None = None  # "active" | "canceled"
    timezone: str | None = None  # the invitee's display zone, not the clinic's
    rescheduled: bool = False
    old_invitee: str | None = None  # on the new invitee of a reschedule
    new_invitee: str | None = None  # on the old invitee of a reschedule (canceled)
    text_reminder_number: str | None = None
    questions_and_answers: list[QuestionAnswer] = Field(default_factory=list)
    cancellation: Cancellation | None = None
    event: str | None = None  # the scheduled event's URI
    scheduled_event: ScheduledEvent | None = None  # in webhooks; the API's resource links `event`


class Webhook(_Model):
    event: str = Field(min_length=1)
    created_at: datetime | None = None
    created_by: str | None = None
    payload: dict[str, Any]

    @property
    def about_invitee(self) -> bool:
        return self.event in (CREATED, CANCELED)


class WebhookInvitee(Invitee):
    """A webhook's invitee: its scheduled event (with the times) comes with it."""

    scheduled_event: ScheduledEvent


def parse_webhook(body: dict[str, Any]) -> Webhook:
    """The envelope; `ValidationError` when it is not one."""
    return Webhook.model_validate(body)


def invitee_of(hook: Webhook) -> WebhookInvitee:
    """The invitee of an `invitee.*` webhook; `ValidationError` when the payload misses what a
    booking needs (the invitee's URI, the event's times)."""
    return WebhookInvitee.model_validate(hook.payload)
