"""The `calendar:` part of a clinic's configuration: where its agenda lives besides atende's own
database (`local`, the default, or `google`), what the calendar may show of a patient, and
Calendly as an inbound source (its signing key's variable, its event types mapped to a service
and a professional)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EventDetail = Literal["first_name", "full_name", "phone_last4", "phone", "service"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoogleCalendar(_Model):
    """How atende uses the clinic's Google Calendars (connected per clinic through OAuth)."""

    stale_after_minutes: int = Field(
        default=30, ge=1, le=24 * 60,
        description="when Google cannot be read and the local copy of a professional's busy time "
                    "is older than this, the agent offers no slots for that professional")
    event_details: list[EventDetail] = Field(
        default_factory=lambda: ["first_name", "phone_last4"],
        description="what of the patient an event atende creates may show")
    push_debounce_seconds: float = Field(
        default=3.0, ge=0, le=300,
        description="a burst of push notifications for one calendar becomes one sync this long "
                    "after the first")
    channel_ttl_hours: int = Field(
        default=7 * 24, ge=1, le=30 * 24,
        description="how long a push channel is asked to live (Google may grant less); it is "
                    "replaced a day (or a quarter of its life) before it expires")


_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class CalendlyEventType(_Model):
    """One Calendly event type (with `host`: as hosted by one person, for a round-robin or
    collective type) and what a booking of it is at the clinic."""

    event_type: str = Field(
        min_length=1,
        description="the event type's URI (https://api.calendly.com/event_types/...) or its name")
    host: str | None = Field(
        default=None, min_length=1,
        description="the host's Calendly user URI or e-mail; omitted: whoever hosts it")
    service: str = Field(min_length=1, description="a service id of this clinic")
    professional: str = Field(min_length=1, description="a professional id of this clinic")


class Calendly(_Model):
    """Calendly's invitee webhooks (`POST /webhooks/calendly/<clinic>`) book and cancel
    appointments; the webhook subscription's signing key is read from `signing_key_env`::

        calendar:
          calendly:
            signing_key_env: CLINICA_EXEMPLO_CALENDLY_SIGNING_KEY
            event_types:
              - {event_type: "https://api.calendly.com/event_types/AAAA", service: limpeza,
                 professional: ana-souza}
              - {event_type: "Avaliação", host: carla@clinica.com.br, service: avaliacao,
                 professional: carla-mendes}
    """

    signing_key_env: str = Field(pattern=_ENV_NAME,
                                 description="the environment variable holding the signing key")
    tolerance_seconds: int = Field(default=180, ge=10, le=3600,
                                   description="how old (or early) a signature's time may be")
    event_types: list[CalendlyEventType] = Field(min_length=1)


class Calendar(_Model):
    """`backend: local` books into atende's database only; `google` also reads the busy time of
    each professional's associated calendars and writes bookings there (the database still
    referees double booking)."""

    backend: Literal["local", "google"] = "local"
    google: GoogleCalendar = Field(default_factory=GoogleCalendar)
    calendly: Calendly | None = None
