"""Clinic (tenant) configuration: the pydantic model of `tenants/<id>.yaml` and its loader."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from atende.errors import ConfigError
from atende.tenant_calendar import Calendar

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
_FIELD_PATH = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$")
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})$")


def fold(text: str) -> str:
    """Lower-case `text` and strip accents, for matching names as patients type them."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def _hours_pair(value: object, *, until_24: bool) -> object:
    """"HH:MM-HH:MM" as {"start", "end"} times (other values as they are); `until_24`: the end
    may be 24:00, read as 23:59:59."""
    if not isinstance(value, str):
        return value
    match = _INTERVAL.match(value.strip())
    if not match:
        raise ValueError(f'expected "HH:MM-HH:MM", got {value!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    last = 24 if until_24 else 23
    if h1 > 23 or h2 > last or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"not a valid time in {value!r}")
    end = time(23, 59, 59) if h2 == 24 else time(h2, m2)
    return {"start": time(h1, m1), "end": end}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Hours(_Model):
    """Two local times written "HH:MM-HH:MM" in YAML."""

    start: time
    end: time
    _until_24: ClassVar[bool] = True  # the end may be written 24:00 (read as 23:59:59)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _hours_pair(value, until_24=cls._until_24)


class Interval(_Hours):
    """A local-time interval within one day, written "08:00-12:00" in YAML."""

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"interval ends before it starts ({self.start}-{self.end})")
        return self

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _no_overlap(intervals: list[Interval]) -> list[Interval]:
    ordered = sorted(intervals, key=lambda i: i.start)
    for a, b in pairwise(ordered):
        if b.start < a.end:
            raise ValueError(f"intervals {a} and {b} overlap")
    return ordered


WeeklyHours = dict[Weekday, list[Interval]]


def _check_week(hours: WeeklyHours) -> WeeklyHours:
    checked = {}
    for day, intervals in hours.items():
        try:
            checked[day] = _no_overlap(list(intervals))
        except ValueError as exc:
            raise ValueError(f"{day}: {exc}") from None
    return checked


class Holiday(_Model):
    date: date
    name: str


class Service(_Model):
    id: Slug
    name: str = Field(min_length=1)
    duration_minutes: int = Field(gt=0, le=8 * 60)
    price: Decimal = Field(ge=0, decimal_places=2)
    description: str = ""
    insurance: list[str] = Field(default_factory=list, description="accepted health plans")
    synonyms: list[str] = Field(default_factory=list, description="other names patients use")

    @property
    def price_text(self) -> str:
        return format_price(self.price)


class Professional(_Model):
    id: Slug
    name: str = Field(min_length=1)
    specialty: str = ""
    services: list[Slug] = Field(min_length=1)
    hours: WeeklyHours | None = Field(
        default=None, description="weekly working hours; the clinic's business hours if omitted"
    )
    synonyms: list[str] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _week(cls, value: WeeklyHours | None) -> WeeklyHours | None:
        return None if value is None else _check_week(value)


class Promotion(_Model):
    id: Slug
    text: str = Field(min_length=1)
    discount_percent: Decimal | None = Field(default=None, gt=0, le=100)
    valid_from: date
    valid_to: date
    services: list[Slug] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> Promotion:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    def is_valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


class Policies(_Model):
    min_notice_book_minutes: int = Field(default=120, ge=0)
    min_notice_cancel_minutes: int = Field(default=24 * 60, ge=0)
    booking_horizon_days: int = Field(default=60, gt=0, le=366)
    slot_interval_minutes: int = Field(default=30, gt=0, le=240)
    max_slots_offered: int = Field(default=6, gt=0, le=20)


class Handoff(_Model):
    after_misunderstandings: int = Field(default=2, ge=1)
    keywords: list[str] = Field(
        default_factory=lambda: ["atendente", "humano", "pessoa", "recepção", "falar com alguém"]
    )
    message: str = "Vou chamar alguém da nossa equipe para continuar com você. Só um instante."
    pause_hours: float = Field(
        default=12, gt=0, le=24 * 30,
        description="how long the bot stays quiet after a handoff or a message typed by a person",
    )


class Debounce(_Model):
    window_seconds: float = Field(default=3.0, ge=0, le=15)
    max_seconds: float = Field(default=15.0, ge=0, le=60)


class ModelSettings(_Model):
    name: str | None = Field(default=None, description='e.g. "openai:gpt-4o-mini"; None = default')
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_history_tokens: int = Field(default=3000, ge=200)
    max_stored_messages: int = Field(default=40, ge=4)


_SECTION_NAME = re.compile(r"^\d{2}-[a-z0-9][a-z0-9-]*$")


class PromptSection(_Model):
    """Jinja2 text for one section of the system prompt (see `prompts/sections.py`)."""

    replace: str | None = Field(default=None, description="replaces the section, or adds it")
    append: str | None = Field(default=None, description="appended to the section")

    @model_validator(mode="after")
    def _some_text(self) -> PromptSection:
        if self.replace is None and self.append is None:
            raise ValueError("give `replace` or `append`")
        return self


class PromptSettings(_Model):
    sections: dict[str, PromptSection] = Field(default_factory=dict)
    max_tokens: int = Field(default=2500, ge=100, le=100_000,
                            description="budget of the rendered system prompt (tiktoken)")

    @field_validator("sections")
    @classmethod
    def _names(cls, value: dict[str, PromptSection]) -> dict[str, PromptSection]:
        for name in value:
            if not _SECTION_NAME.match(name) or len(name) > 64:
                raise ValueError(f"{name!r} is not a section name: two digits, a dash, then "
                                 "lower-case letters, digits or dashes (e.g. 20-rules)")
        return value


class ZapiChannel(_Model):
    instance_id_env: str
    token_env: str
    client_token_env: str
    webhook_secret_env: str


class MetaChannel(_Model):
    phone_number_id: str
    display_phone_number: str | None = None
    waba_id: str | None = Field(default=None, pattern=r"^\d{5,32}$",
                                description="the WhatsApp Business Account: template checks, "
                                            "account and template webhooks")
    access_token_env: str
    app_secret_env: str
    verify_token_env: str


class Channels(_Model):
    whatsapp_numbers: list[str] = Field(default_factory=list)
    zapi: ZapiChannel | None = None
    meta: MetaChannel | None = None


# What a reminder's text and a Meta template's body parameters may name (see `reminders/notice.py`).
# {first_name_sep} is ", Maria" when the name is known and nothing otherwise ("Olá{first_name_sep}!").
NoticeField = Literal["first_name", "service", "professional", "weekday", "date", "time",
                      "clinic", "address"]
NOTICE_FIELDS: tuple[str, ...] = ("first_name", "first_name_sep", "service", "professional",
                                  "weekday", "date", "time", "clinic", "address")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
REPLY_HINT = "Responda 1 para confirmar, 2 para remarcar ou 0 para cancelar."


def _check_placeholders(text: str) -> str:
    for name in _PLACEHOLDER.findall(text):
        if name not in NOTICE_FIELDS:
            raise ValueError(f"unknown placeholder {{{name}}}; use one of "
                             + ", ".join("{" + f + "}" for f in NOTICE_FIELDS))
    return text


class QuietHours(_Hours):
    """Local hours in which no proactive message goes out, written "20:00-08:00" (may wrap
    midnight)."""

    _until_24: ClassVar[bool] = False

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same minute")
        return self

    def covers(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps midnight

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class MetaTemplate(_Model):
    """An approved WhatsApp template: what a proactive message is outside Meta's 24-hour window."""

    name: str
    language: str = Field(default="pt_BR", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    body: list[NoticeField] = Field(
        default_factory=lambda: ["first_name", "service", "professional", "date", "time", "clinic"],
        description="the body's {{1}}, {{2}}, ... in order")
    buttons: list[Literal["confirm", "reschedule", "cancel"]] = Field(
        default_factory=lambda: ["confirm", "reschedule", "cancel"], max_length=3,
        description="what the template's quick-reply buttons do, in the approved order")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TEMPLATE_NAME.match(value):
            raise ValueError(f"{value!r} is not a template name: lower-case letters, digits and _")
        return value


class WaitlistPolicy(_Model):
    enabled: bool = True
    horizon_days: int = Field(default=7, ge=1, le=60,
                              description="a freed slot this close is offered to the waitlist")
    hold_minutes: int = Field(default=30, ge=5, le=24 * 60,
                              description="how long one patient's offer holds the slot")
    text: str = Field(
        default="Olá{first_name_sep}! Vagou um horário de {service} com {professional} em "
                "{weekday} {date} às {time}. Quer ficar com ele? Responda sim ou não.",
        min_length=1)
    meta_template: MetaTemplate | None = Field(
        default=None, description="sent outside the 24-hour window; without it, such a patient "
                                  "is skipped")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _check_placeholders(value)


class ProactiveLimits(_Model):
    per_minute: int = Field(default=30, ge=1, le=10_000)
    per_hour: int = Field(default=600, ge=1, le=100_000)


class Reminders(_Model):
    """When and how atende writes first about an appointment (reminders, booking confirmation)."""

    enabled: bool = True
    offsets_hours: list[float] = Field(default_factory=lambda: [48.0, 12.0], max_length=5,
                                       description="hours before the appointment")
    booking_confirmation: bool = Field(default=True,
                                       description="a message right after a booking")
    quiet_hours: QuietHours | None = Field(
        default_factory=lambda: QuietHours.model_validate("20:00-08:00"))
    min_lead_minutes: int = Field(
        default=120, ge=0, le=7 * 24 * 60,
        description="a reminder moved out of quiet hours still goes if at least this long "
                    "before the appointment; otherwise it is skipped")
    text: str = Field(
        default="Olá{first_name_sep}! Lembrete da sua consulta de {service} com {professional} "
                "{weekday}, {date}, às {time}, na {clinic}.",
        min_length=1, description=f'Z-API and console text; "{REPLY_HINT}" is added after it')
    confirmation_text: str = Field(
        default="Consulta marcada: {service} com {professional} {weekday}, {date}, às {time}, "
                "na {clinic}. Se precisar, é só responder aqui.", min_length=1)
    meta_template: MetaTemplate = Field(
        default_factory=lambda: MetaTemplate(name="lembrete_consulta"))
    waitlist: WaitlistPolicy = Field(default_factory=WaitlistPolicy)
    limits: ProactiveLimits = Field(default_factory=ProactiveLimits)

    @field_validator("offsets_hours")
    @classmethod
    def _offsets(cls, value: list[float]) -> list[float]:
        for hours in value:
            if not 0 < hours <= 14 * 24:
                raise ValueError(f"{hours:g} is not between 0 and 336 hours")
        if len(set(value)) != len(value):
            raise ValueError("the same offset is listed twice")
        return sorted(value, reverse=True)

    @field_validator("text", "confirmation_text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _check_placeholders(value)


class Tenant(_Model):
    """One clinic. Loaded from `tenants/<id>.yaml`; the file stem must equal `id`."""

    id: Slug
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    phone: str | None = None
    timezone: str
    business_hours: WeeklyHours
    holidays: list[Holiday] = Field(default_factory=list)
    professionals: list[Professional] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    promotions: list[Promotion] = Field(default_factory=list)
    policies: Policies = Field(default_factory=Policies)
    handoff: Handoff = Field(default_factory=Handoff)
    debounce: Debounce = Field(default_factory=Debounce)
    model: ModelSettings = Field(default_factory=ModelSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    channels: Channels = Field(default_factory=Channels)
    reminders: Reminders = Field(default_factory=Reminders)
    calendar: Calendar = Field(default_factory=Calendar)
    payment_methods: list[str] = Field(default_factory=list)
    notes: str = Field(default="", description="free text the agent may tell patients")
    retention_days: int = Field(
        default=180, ge=1, le=3650,
        description="LGPD: message texts and transcripts older than this are blanked by "
                    "`atende db purge`; appointments are kept",
    )

    @field_validator("business_hours")
    @classmethod
    def _week(cls, value: WeeklyHours) -> WeeklyHours:
        return _check_week(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _references(self) -> Tenant:
        for kind, items in (
            ("services", self.services),
            ("professionals", self.professionals),
            ("promotions", self.promotions),
        ):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"{kind}: duplicate id {item.id!r}")
                seen.add(item.id)
        service_ids = {s.id for s in self.services}
        for i, pro in enumerate(self.professionals):
            for sid in pro.services:
                if sid not in service_ids:
                    raise ValueError(f"professionals[{i}].services: unknown service {sid!r}")
        for i, promo in enumerate(self.promotions):
            for sid in promo.services:
                if sid not in service_ids:
                    raise ValueError(f"promotions[{i}].services: unknown service {sid!r}")
        self._calendly_references(service_ids)
        return self

    def _calendly_references(self, service_ids: set[str]) -> None:
        if self.calendar.calendly is None:
            return
        offered = {p.id: set(p.services) for p in self.professionals}
        seen: set[tuple[str, str | None]] = set()
        for i, mapped in enumerate(self.calendar.calendly.event_types):
            where = f"calendar.calendly.event_types[{i}]"
            if mapped.service not in service_ids:
                raise ValueError(f"{where}.service: unknown service {mapped.service!r}")
            if mapped.professional not in offered:
                raise ValueError(f"{where}.professional: unknown professional "
                                 f"{mapped.professional!r}")
            if mapped.service not in offered[mapped.professional]:
                raise ValueError(f"{where}.service: {mapped.professional!r} does not offer "
                                 f"{mapped.service!r}")
            if (mapped.event_type, mapped.host) in seen:
                raise ValueError(f"{where}.event_type: {mapped.event_type!r} is listed twice"
                                 + (f" for host {mapped.host!r}" if mapped.host else ""))
            seen.add((mapped.event_type, mapped.host))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, service_id: str) -> Service:
        for service in self.services:
            if service.id == service_id:
                return service
        raise KeyError(service_id)

    def service_name(self, service_id: str) -> str:
        """The service's name, or its id when this clinic no longer lists it (an old row)."""
        return next((s.name for s in self.services if s.id == service_id), service_id)

    def professional_name(self, professional_id: str) -> str:
        """The professional's name, or the id when this clinic no longer lists them."""
        return next((p.name for p in self.professionals if p.id == professional_id),
                    professional_id)

    def professional(self, professional_id: str) -> Professional:
        for pro in self.professionals:
            if pro.id == professional_id:
                return pro
        raise KeyError(professional_id)

    def working_hours(self, pro: Professional, weekday: Weekday) -> list[Interval]:
        """The professional's intervals on `weekday`, clipped to the clinic's business hours."""
        clinic = self.business_hours.get(weekday, [])
        own = clinic if pro.hours is None else pro.hours.get(weekday, [])
        clipped: list[Interval] = []
        for a in own:
            for b in clinic:
                start, end = max(a.start, b.start), min(a.end, b.end)
                if start < end:
                    clipped.append(Interval(start=start, end=end))
        return sorted(clipped, key=lambda i: i.start)

    def holiday_on(self, day: date) -> Holiday | None:
        return next((h for h in self.holidays if h.date == day), None)


def format_brl(amount: Decimal) -> str:
    """R$ 1.234,50 — Brazilian money formatting."""
    whole, cents = f"{amount:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{cents}"


def format_price(amount: Decimal) -> str:
    """A price as the patient reads it: "R$ 180,00", or "sem custo (gratuito)" for a free
    service (never "R$ 0,00")."""
    return "sem custo (gratuito)" if amount == 0 else format_brl(amount)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_tenant_file(path: str | Path) -> Tenant:
    """Read and validate one tenant YAML; errors name the file and the field."""
    path = Path(path)
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ConfigError(f"not valid YAML ({getattr(exc, 'problem', exc)})", source=source,
                          field=where) from None
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping of clinic settings", source=source)
    raw.setdefault("id", path.stem)
    try:
        tenant = Tenant.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        field = _loc(first["loc"])
        # validators that check several fields at once put the precise sub-path first
        sub, sep, rest = message.partition(": ")
        if sep and _FIELD_PATH.match(sub):
            field = sub if field == "(top level)" else f"{field}.{sub}"
            message = rest
        raise ConfigError(message + more, source=source, field=field) from None
    if tenant.id != path.stem:
        raise ConfigError(f"id {tenant.id!r} must match the file name {path.stem!r}",
                          source=source, field="id")
    return tenant


class TenantRegistry:
    """All clinics of one deployment: every `*.yaml` in a folder, loaded once at the edge."""

    def __init__(self, tenants: list[Tenant]):
        self._by_id = {t.id: t for t in tenants}

    @classmethod
    def from_dir(cls, folder: str | Path) -> TenantRegistry:
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError("tenants folder not found", source=str(folder))
        return cls([load_tenant_file(p) for p in sorted(folder.glob("*.yaml"))])

    def get(self, tenant_id: str) -> Tenant:
        try:
            return self._by_id[tenant_id]
        except KeyError:
            known = ", ".join(sorted(self._by_id)) or "none"
            raise ConfigError(f"unknown tenant {tenant_id!r} (known: {known})") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def resolve_tenant(ref: str, tenants_dir: str | Path) -> Tenant:
    """A tenant by id (from `tenants_dir`) or by path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return load_tenant_file(ref)
    path = Path(tenants_dir) / f"{ref}.yaml"
    if not path.exists():
        return TenantRegistry.from_dir(tenants_dir).get(ref)
    return load_tenant_file(path)
