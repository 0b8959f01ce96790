"""The eval scenario: typed records of one scenario (given, turns, expect), built from a file
that already passed `evals/scenario.schema.json` (see `atende.evals.lint`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

RULES = ("book_only_offered_slots", "prices_grounded", "no_other_patient_data",
         "no_false_confirmation", "tenant_isolated")
SELF = "self"
DEFAULT_STOP = "###STOP###"


@dataclass(frozen=True)
class PatientSpec:
    phone: str
    name: str | None = None
    stage: str | None = None
    interest: str | None = None
    tenant: str | None = None  # None: the scenario's tenant


@dataclass(frozen=True)
class AppointmentSpec:
    """A row: seeded in `given`, or expected after the run (None fields match anything)."""

    patient: str  # "self" or a phone
    service: str | None
    professional: str | None
    start: str | None  # ISO; without offset = the clinic's local time; None = any
    status: str = "booked"
    tenant: str | None = None  # None: the scenario's tenant

    def describe(self) -> str:
        return " ".join([self.service or "any-service", self.professional or "any-professional",
                         self.start or "any-start", self.status, self.patient]
                        + ([f"@{self.tenant}"] if self.tenant else []))


@dataclass(frozen=True)
class OtherTenant:
    ref: str
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaitlistSpec:
    patient: str
    service: str
    professional: str | None = None
    period: str | None = None


@dataclass(frozen=True)
class BlockSpec:
    """A professional's blocked time (time off) in the scenario's clinic; ISO, local unless
    it has an offset."""

    professional: str
    start: str
    end: str
    reason: str = ""


@dataclass(frozen=True)
class CalendarBusySpec:
    """Busy time in a professional's Google Calendar as last mirrored (an event staff created
    there); ISO, local unless it has an offset. A scenario with any puts its clinic on
    `calendar.backend: google` (the copy fresh, Google itself not reached)."""

    professional: str
    start: str
    end: str
    summary: str = ""


@dataclass(frozen=True)
class Given:
    waitlist: tuple[WaitlistSpec, ...] = ()
    blocks: tuple[BlockSpec, ...] = ()
    calendar_busy: tuple[CalendarBusySpec, ...] = ()
    appointments: tuple[AppointmentSpec, ...] = ()
    patients: tuple[PatientSpec, ...] = ()
    conversation_status: str | None = None
    paused_until: str | None = None  # ISO; a person has the chat until then (None: until resumed)
    tenants: tuple[OtherTenant, ...] = ()


@dataclass(frozen=True)
class ToolMatcher:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    ok: bool | None = None

    def describe(self) -> str:
        args = f"({', '.join(f'{k}={v!r}' for k, v in self.args.items())})" if self.args else ""
        return self.name + args + ("" if self.ok is None else f" ok={self.ok}")


@dataclass(frozen=True)
class ToolExpect:
    must: tuple[ToolMatcher, ...] = ()
    must_not: tuple[ToolMatcher, ...] = ()


@dataclass(frozen=True)
class ReplyExpect:
    contains_any: tuple[str, ...] = ()
    contains_all: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: str | None = None
    not_regex: str | None = None
    silent: bool | None = None
    tools: ToolExpect | None = None
    sent: int | None = None  # messages the clinic wrote first in this step


@dataclass(frozen=True)
class Turn:
    user: str | None = None
    transcript: str | None = None  # a voice note's fixture text
    audio_file: Path | None = None  # a voice note sent to the real transcriber (live models)
    wait_minutes: float = 0
    expect: ReplyExpect | None = None
    advance: timedelta | None = None  # time passes; the clinic writes first (no patient message)
    speaker: str | None = None  # another given patient's phone (None: the scenario's patient)

    @property
    def has_audio(self) -> bool:
        return self.transcript is not None or self.audio_file is not None


@dataclass(frozen=True)
class SimulatedUser:
    instructions: str
    persona: str = ""
    stop_token: str = DEFAULT_STOP
    max_turns: int = 8
    model: str | None = None


@dataclass(frozen=True)
class Expect:
    appointments: tuple[AppointmentSpec, ...] | None = None
    unchanged: bool = False
    lead: dict[str, Any] | None = None
    handoff: bool | None = None
    tools: ToolExpect | None = None
    replies: ReplyExpect | None = None
    rules: tuple[str, ...] = ()



@dataclass(frozen=True)
class Scenario:
    id: str
    tenant: str
    now: datetime
    patient: PatientSpec
    source: Path  # the file it came from
    where: str = ""  # "scenarios[3]" (or "" for a one-scenario file): prefixes error paths
    description: str = ""
    tags: tuple[str, ...] = ()
    given: Given = field(default_factory=Given)
    turns: tuple[Turn, ...] = ()
    user: SimulatedUser | None = None
    expect: Expect = field(default_factory=Expect)
    paraphrases: tuple[str, ...] = ()  # other wordings of the first message, one trial each

    @property
    def critical(self) -> bool:
        return "critical" in self.tags

    @property
    def writes(self) -> bool:
        """It expects the patient to end with a row no `given` row already is: a booking, a
        cancellation or a move the agent must make (so an agent that does nothing fails it)."""
        seeded = [a for a in self.given.appointments if a.patient == SELF and a.tenant is None]
        return any(e.patient == SELF and e.tenant is None and not any(
            e.status == g.status and e.service in (None, g.service)
            and e.professional in (None, g.professional) and e.start in (None, g.start)
            for g in seeded) for e in self.expect.appointments or ())

    def variant(self, index: int) -> Scenario:
        """The scenario with its first message worded as paraphrase `index` (1-based); 0 is
        the scenario itself."""
        if index == 0:
            return self
        first = replace(self.turns[0], user=self.paraphrases[index - 1])
        return replace(self, turns=(first, *self.turns[1:]))

    def path(self, *parts: str | int) -> str:
        """An error path inside the file: `scenarios[3].turns[0].expect.regex`."""
        out = self.where
        for part in parts:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out


def local_start(value: str, tz: tzinfo) -> datetime:
    """An ISO start: with an offset as given, else in the clinic's timezone `tz`."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(raw.get(key) or ())


def _tool_expect(raw: dict[str, Any] | None) -> ToolExpect | None:
    if raw is None:
        return None

    def matchers(items: list[dict[str, Any]] | None) -> tuple[ToolMatcher, ...]:
        return tuple(ToolMatcher(m["name"], dict(m.get("args") or {}), m.get("ok"))
                     for m in items or ())

    return ToolExpect(must=matchers(raw.get("must")), must_not=matchers(raw.get("must_not")))


def _reply_expect(raw: dict[str, Any] | None) -> ReplyExpect | None:
    if raw is None:
        return None
    return ReplyExpect(
        contains_any=_strings(raw, "contains_any"), contains_all=_strings(raw, "contains_all"),
        not_contains=_strings(raw, "not_contains"), regex=raw.get("regex"),
        not_regex=raw.get("not_regex"), silent=raw.get("silent"),
        tools=_tool_expect(raw.get("tools")), sent=raw.get("sent"),
    )


def _appointment(raw: dict[str, Any]) -> AppointmentSpec:
    start = raw.get("start")
    return AppointmentSpec(
        patient=str(raw["patient"]), service=raw.get("service"),
        professional=raw.get("professional"), start=None if start in (None, "any") else start,
        status=raw.get("status", "booked"), tenant=raw.get("tenant"),
    )


def _patient(raw: dict[str, Any]) -> PatientSpec:
    return PatientSpec(phone=str(raw["phone"]), name=raw.get("name"), stage=raw.get("stage"),
                       interest=raw.get("interest"), tenant=raw.get("tenant"))


def _turn(raw: dict[str, Any], base: Path) -> Turn:
    audio = raw.get("audio") or {}
    return Turn(
        user=raw.get("user"), transcript=audio.get("transcript"),
        audio_file=(base / audio["file"]) if audio.get("file") else None,
        wait_minutes=float(raw.get("wait_minutes") or 0), expect=_reply_expect(raw.get("expect")),
        advance=_duration(raw["advance"]) if raw.get("advance") else None,
        speaker=raw.get("from"),
    )


def _duration(value: str) -> timedelta:
    """"47h", "30m", "2d", "8h30m" (the schema's pattern) as a timedelta."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    return sum((timedelta(**{units[unit]: float(amount)})
                for amount, unit in re.findall(r"([0-9.]+)([mhd])", value)), timedelta())


def _given(raw: dict[str, Any]) -> Given:
    tenants = tuple(OtherTenant(t) if isinstance(t, str)
                    else OtherTenant(t["tenant"], tuple(t.get("markers") or ()))
                    for t in raw.get("tenants") or ())
    return Given(
        waitlist=tuple(WaitlistSpec(str(w["patient"]), w["service"], w.get("professional"),
                                    w.get("period")) for w in raw.get("waitlist") or ()),
        blocks=tuple(BlockSpec(b["professional"], str(b["start"]), str(b["end"]),
                               b.get("reason") or "") for b in raw.get("blocks") or ()),
        calendar_busy=tuple(CalendarBusySpec(b["professional"], str(b["start"]), str(b["end"]),
                                             b.get("summary") or "")
                            for b in raw.get("calendar_busy") or ()),
        appointments=tuple(_appointment(a) for a in raw.get("appointments") or ()),
        patients=tuple(_patient(p) for p in raw.get("patients") or ()),
        conversation_status=(raw.get("conversation") or {}).get("status"),
        paused_until=(raw.get("conversation") or {}).get("until"),
        tenants=tenants,
    )


def _expect(raw: dict[str, Any]) -> Expect:
    appts = raw.get("appointments")
    return Expect(
        appointments=None if appts is None else tuple(_appointment(a) for a in appts),
        unchanged=bool(raw.get("unchanged", False)), lead=raw.get("lead"),
        handoff=raw.get("handoff"), tools=_tool_expect(raw.get("tools")),
        replies=_reply_expect(raw.get("replies")), rules=tuple(raw.get("rules") or ()),
    )


def _user(raw: dict[str, Any] | None) -> SimulatedUser | None:
    if raw is None:
        return None
    return SimulatedUser(instructions=raw["instructions"], persona=raw.get("persona", ""),
                         stop_token=raw.get("stop_token", DEFAULT_STOP),
                         max_turns=int(raw.get("max_turns", 8)), model=raw.get("model"))


def build_scenario(raw: dict[str, Any], source: Path, where: str) -> Scenario:
    """A `Scenario` from one schema-valid mapping; `now` must already be known to parse."""
    base = source.parent
    return Scenario(
        id=raw["id"], tenant=raw["tenant"],
        now=datetime.fromisoformat(raw["now"].replace("Z", "+00:00")),
        patient=_patient(raw["patient"]), source=source, where=where,
        description=raw.get("description", ""), tags=tuple(raw.get("tags") or ()),
        given=_given(raw.get("given") or {}),
        turns=tuple(_turn(t, base) for t in raw.get("turns") or ()),
        user=_user(raw.get("user")), expect=_expect(raw.get("expect") or {}),
        paraphrases=tuple(raw.get("paraphrases") or ()),
    )


def scenario_entries(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The scenarios of a schema-valid file with their paths: `scenarios[i]`, or "" for one."""
    if "scenarios" in document:
        return [(f"scenarios[{i}]", s) for i, s in enumerate(document["scenarios"])]
    return [("", {k: v for k, v in document.items() if k != "schema"})]
