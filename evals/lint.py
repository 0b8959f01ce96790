"""Loading and linting scenario files: the JSON Schema first, then what a schema cannot check
(tenants, professionals and services exist, dates parse, phones are real, ids are unique).

Every problem is a `LintError` printed as `file: path.inside.file: message`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from atende.errors import AtendeError
from atende.evals.scenario import (
    SELF,
    AppointmentSpec,
    ReplyExpect,
    Scenario,
    ToolExpect,
    build_scenario,
    local_start,
    scenario_entries,
)
from atende.memory.records import ACTIVE_STATUSES
from atende.phones import normalize_phone
from atende.tenant import Tenant, fold, load_tenant_file, resolve_tenant

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
SKIP_DIRS = {"cassettes", "fixtures"}  # tenant fixtures and recordings live beside scenarios


@dataclass(frozen=True)
class LintError:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else \
            f"{self.file}: {self.message}"


@dataclass(frozen=True)
class Loaded:
    """A scenario with its tenants resolved: the one under test and the extra ones seeded."""

    scenario: Scenario
    tenant: Tenant
    others: tuple[Tenant, ...] = ()
    markers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def tenant_by_id(self, tenant_id: str | None) -> Tenant:
        if tenant_id is None or tenant_id == self.tenant.id:
            return self.tenant
        return next(t for t in self.others if t.id == tenant_id)


@dataclass
class Suite:
    scenarios: list[Loaded] = field(default_factory=list)
    errors: list[LintError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders become their *.yaml/*.yml, minus cassettes/ and fixtures/."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*.y*ml"))
                     if p.suffix in {".yaml", ".yml"}
                     and not SKIP_DIRS.intersection(p.relative_to(path).parts[:-1])]
            files.extend(found)
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _join(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_message(error: ValidationError) -> tuple[str, str]:
    path = _join(error.absolute_path)
    if error.validator in {"additionalProperties", "unevaluatedProperties"}:
        names = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
        return (_join([*error.absolute_path, names[0]]) if len(names) == 1 else path,
                "unknown field" if len(names) == 1 else f"unknown fields {names}")
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator in {"anyOf", "oneOf"} and description:
        return path, f"{error.instance!r} is not valid: {description}"
    if error.validator == "pattern" and description:
        return path, f"{error.instance!r} is not {description}"
    return path, error.message


def schema_errors(document: Any, file: str) -> list[LintError]:
    errors = sorted(_validator().iter_errors(document), key=lambda e: [str(p) for p in e.path])
    return list(dict.fromkeys(LintError(file, *_schema_message(e)) for e in errors))


class Problems(list[tuple[str, str]]):
    """(path inside the file, message) pairs, in the order found."""

    def add(self, path: str, message: str) -> None:
        self.append((path, message))


class _Tenants:
    """Tenant lookups shared by all the files of one lint, loaded once each."""

    def __init__(self, tenants_dir: Path):
        self.tenants_dir = tenants_dir
        self._cache: dict[str, Tenant] = {}

    def resolve(self, ref: str, base: Path) -> Tenant:
        is_path = ref.endswith((".yaml", ".yml")) or "/" in ref
        key = str((base / ref).resolve()) if is_path else ref
        if key not in self._cache:
            self._cache[key] = (load_tenant_file(base / ref) if is_path
                                else resolve_tenant(ref, self.tenants_dir))
        return self._cache[key]


def _phone(value: str, errors: Problems, where: str) -> None:
    if value == SELF:
        return
    try:
        normalize_phone(value)
    except AtendeError as exc:
        errors.add(where, str(exc))


def _row(spec: AppointmentSpec, known: dict[str, Tenant], main: Tenant, where: str,
         errors: Problems) -> None:
    _phone(spec.patient, errors, f"{where}.patient")
    tenant = known.get(spec.tenant or main.id)
    if tenant is None:
        errors.add(f"{where}.tenant", f"unknown tenant {spec.tenant!r} (known here: "
                      f"{', '.join(known)}; add it to given.tenants)")
        return
    services = {s.id for s in tenant.services}
    pros = {p.id: p for p in tenant.professionals}
    if spec.service is not None and spec.service not in services:
        errors.add(f"{where}.service", f"unknown service {spec.service!r} of {tenant.id} "
                      f"(known: {', '.join(sorted(services))})")
    if spec.professional is not None and spec.professional not in pros:
        errors.add(f"{where}.professional", f"unknown professional {spec.professional!r} of "
                      f"{tenant.id} (known: {', '.join(sorted(pros))})")
    elif (spec.professional is not None and spec.service in services
          and spec.service not in pros[spec.professional].services):
        errors.add(f"{where}.service", f"{spec.professional} does not do {spec.service}")
    if spec.start is not None:
        try:
            local_start(spec.start, tenant.tz)
        except ValueError as exc:
            errors.add(f"{where}.start", f"not an ISO date-time: {exc}")


def _overlaps(specs: Sequence[AppointmentSpec], known: dict[str, Tenant], main: Tenant,
              scenario: Scenario, errors: Problems) -> None:
    spans: list[tuple[int, str, str, datetime, datetime]] = []
    for i, spec in enumerate(specs):
        tenant = known.get(spec.tenant or main.id)
        if (tenant is None or spec.status not in ACTIVE_STATUSES or spec.start is None
                or spec.service not in {s.id for s in tenant.services}):
            continue
        try:
            start = local_start(spec.start, tenant.tz)
        except ValueError:
            continue
        end = start + timedelta(minutes=tenant.service(spec.service or "").duration_minutes)
        for j, tid, pro, s, e in spans:
            if tid == tenant.id and pro == spec.professional and s < end and start < e:
                errors.add(f"{scenario.path('given', 'appointments', i)}", f"overlaps "
                              f"given.appointments[{j}] of the same professional (the database "
                              "refuses double booking)")
        spans.append((i, tenant.id, spec.professional or "", start, end))


def _blocks(scenario: Scenario, tenant: Tenant, errors: Problems) -> None:
    pros = {p.id for p in tenant.professionals}
    spans = [("blocks", i, b) for i, b in enumerate(scenario.given.blocks)]
    spans += [("calendar_busy", i, b) for i, b in enumerate(scenario.given.calendar_busy)]
    for key, i, block in spans:
        where = scenario.path("given", key, i)
        if block.professional not in pros:
            errors.add(f"{where}.professional", f"unknown professional {block.professional!r} "
                          f"of {tenant.id} (known: {', '.join(sorted(pros))})")
        try:
            start, end = local_start(block.start, tenant.tz), local_start(block.end, tenant.tz)
        except ValueError as exc:
            errors.add(where, f"not an ISO date-time: {exc}")
            continue
        if end <= start:
            errors.add(f"{where}.end", "must be after start")


def _tools(expect: ToolExpect | None, where: str, names: set[str], errors: Problems) -> None:
    for kind in ("must", "must_not"):
        for i, matcher in enumerate(getattr(expect, kind) if expect else ()):
            if matcher.name not in names:
                errors.add(f"{where}.tools.{kind}[{i}].name", f"unknown tool {matcher.name!r} "
                              f"(tools: {', '.join(sorted(names))})")


def _regexes(expect: ReplyExpect | None, where: str, errors: Problems) -> None:
    for key in ("regex", "not_regex"):
        pattern = getattr(expect, key) if expect else None
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.add(f"{where}.{key}", f"not a valid regular expression: {exc}")


def fold_text(text: str) -> str:
    return " ".join(fold(text).split())


def check_scenario(scenario: Scenario, tenants: _Tenants) -> tuple[Loaded | None, Problems]:
    """The semantic problems of one scenario, and the scenario with its tenants resolved."""
    from atende.tools.toolset import TOOLS

    errors = Problems()
    base = scenario.source.parent
    if scenario.now.tzinfo is None:
        errors.add(scenario.path("now"), "needs an offset, e.g. -03:00")
    try:
        main = tenants.resolve(scenario.tenant, base)
    except AtendeError as exc:
        errors.add(scenario.path("tenant"), str(exc))
        return None, errors
    known = {main.id: main}
    markers: dict[str, tuple[str, ...]] = {}
    for i, other in enumerate(scenario.given.tenants):
        where = scenario.path("given", "tenants", i)
        try:
            tenant = tenants.resolve(other.ref, base)
        except AtendeError as exc:
            errors.add(where, str(exc))
            continue
        if tenant.id in known:
            errors.add(where, f"tenant {tenant.id!r} is already loaded")
            continue
        known[tenant.id] = tenant
        markers[tenant.id] = other.markers
    _phone(scenario.patient.phone, errors, scenario.path("patient", "phone"))
    for i, patient in enumerate(scenario.given.patients):
        where = scenario.path("given", "patients", i)
        _phone(patient.phone, errors, f"{where}.phone")
        if patient.tenant is not None and patient.tenant not in known:
            errors.add(f"{where}.tenant", f"unknown tenant {patient.tenant!r}")
    for i, spec in enumerate(scenario.given.appointments):
        _row(spec, known, main, scenario.path("given", "appointments", i), errors)
    _overlaps(scenario.given.appointments, known, main, scenario, errors)
    _blocks(scenario, main, errors)
    for i, spec in enumerate(scenario.expect.appointments or ()):
        _row(spec, known, main, scenario.path("expect", "appointments", i), errors)
    names = {t.name for t in TOOLS}
    _tools(scenario.expect.tools, scenario.path("expect"), names, errors)
    _regexes(scenario.expect.replies, scenario.path("expect", "replies"), errors)
    for i, turn in enumerate(scenario.turns):
        where = scenario.path("turns", i)
        _tools(turn.expect.tools if turn.expect else None, f"{where}.expect", names, errors)
        _regexes(turn.expect, f"{where}.expect", errors)
        if turn.audio_file is not None and not turn.audio_file.is_file():
            errors.add(f"{where}.audio.file", f"no such file: {display(turn.audio_file)}")
    if scenario.paraphrases:
        first = scenario.turns[0] if scenario.turns else None
        if first is None or first.user is None or first.has_audio:
            errors.add(scenario.path("paraphrases"), "paraphrases reword the first turn's `user` "
                                                     "message, and this scenario has none")
        elif any(fold_text(p) == fold_text(first.user) for p in scenario.paraphrases):
            errors.add(scenario.path("paraphrases"), "a paraphrase repeats the first message")
    if not scenario.turns and scenario.user is None:
        errors.add(scenario.path("turns"), "no turns and no simulated user: nothing to run")
    others = tuple(t for tid, t in known.items() if tid != main.id)
    if scenario.given.calendar_busy:  # the clinic's agenda is also its Google Calendars
        main = main.model_copy(update={
            "calendar": main.calendar.model_copy(update={"backend": "google"})})
    return Loaded(scenario, main, others, markers), errors


def _read(path: Path, file: str) -> tuple[Any, list[LintError]]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), []
    except OSError as exc:
        return None, [LintError(file, "", f"cannot read: {exc.strerror}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [LintError(file, where, f"not valid YAML ({getattr(exc, 'problem', exc)})")]


def load_suite(paths: Iterable[Path], tenants_dir: Path) -> Suite:
    """Read, validate and resolve every scenario under `paths`; errors never stop the reading."""
    suite = Suite(files=expand(paths))
    tenants = _Tenants(tenants_dir)
    seen: dict[str, str] = {}
    if not suite.files:
        suite.errors.append(LintError(", ".join(str(p) for p in paths) or ".", "",
                                      "no scenario files found"))
    for path in suite.files:
        file = display(path)
        document, errors = _read(path, file)
        errors = errors or schema_errors(document, file)
        suite.errors.extend(errors)
        if errors:
            continue
        for where, raw in scenario_entries(document):
            try:
                scenario = build_scenario(raw, path, where)
            except ValueError as exc:
                suite.errors.append(LintError(file, _join([where, "now"]) if where else "now",
                                              f"not an ISO date-time: {exc}"))
                continue
            loaded, problems = check_scenario(scenario, tenants)
            suite.errors.extend(LintError(file, where, message) for where, message in problems)
            id_path = scenario.path("id")
            if scenario.id in seen:
                suite.errors.append(LintError(file, id_path, f"duplicate id {scenario.id!r} "
                                                             f"(first in {seen[scenario.id]})"))
            else:
                seen[scenario.id] = f"{file}: {id_path}"
            if loaded is not None and not problems:
                suite.scenarios.append(loaded)
    return suite
