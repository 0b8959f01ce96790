"""The `calendar:` part of a clinic's configuration: where its agenda lives besides atende's own
database (`local`, the default, or `google`), and what the calendar may show of a patient."""

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


class Calendar(_Model):
    """`backend: local` books into atende's database only; `google` also reads the busy time of
    each professional's associated calendars and writes bookings there (the database still
    referees double booking)."""

    backend: Literal["local", "google"] = "local"
    google: GoogleCalendar = Field(default_factory=GoogleCalendar)
