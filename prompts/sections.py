"""The sections of a tenant's system prompt: base templates, the tenant's overrides, the version.

Layout. `prompts/base/NN-name.j2` are the sections, rendered in name order and joined by a
blank line. Sections numbered 90-99 are the per-turn tail ("now", the patient, upcoming
appointments); every other section may only use the clinic's static values, so the text
before the tail is the same on every turn and providers' prompt caching can reuse it.

Overrides, per tenant, from `prompts/tenants/<tenant id>/` and from the `prompt:` block of
the tenant's YAML (both Jinja2, same variables as the base):

    NN-name.j2         replaces base section NN-name, or adds a section NN-name
    NN-name.append.j2  is appended to section NN-name (on the next line)
    prompt:
      sections:
        NN-name: {replace: "...", append: "..."}   # same meaning; YAML appends come last
      max_tokens: 2500                             # budget of the rendered prompt

A section replaced by empty text is dropped. Appending to a section that does not exist and
replacing one section both in the folder and in the YAML are errors.

Version: a hash of the final template sources (each section's name, main text and appended
texts, in order). It is the same on every turn and for every tenant with the same templates;
it changes when any template a tenant uses changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atende.errors import ConfigError
from atende.tenant import Tenant

BASE_DIR = Path(__file__).parent / "base"
OVERRIDES_DIR = Path(__file__).parent / "tenants"
SECTION_FILE = re.compile(r"^(?P<name>(?P<number>\d{2})-[a-z0-9][a-z0-9-]*)(?P<append>\.append)?\.j2$")
PER_TURN_FROM = 90


@dataclass(frozen=True)
class Part:
    """One template of a section: where it comes from and its Jinja2 source."""

    source: str
    origin: str  # the file to fix: a template path, or the tenant's YAML file name
    kind: Literal["base", "replace", "append"]
    field: str | None = None  # inside a YAML file: "prompt.sections.NN-name.append"


@dataclass(frozen=True)
class SectionSource:
    name: str
    parts: tuple[Part, ...]  # the main template (if any) first, then the appended ones

    @property
    def per_turn(self) -> bool:
        return int(self.name[:2]) >= PER_TURN_FROM


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it (what a user would edit)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_folder(folder: Path) -> list[tuple[str, bool, Path]]:
    found = []
    for path in sorted(folder.glob("*.j2")):
        match = SECTION_FILE.match(path.name)
        if not match:
            raise ConfigError("not a section file name: use NN-name.j2 or NN-name.append.j2 "
                              "(NN two digits, name in lower case)", source=display_path(path))
        found.append((match["name"], bool(match["append"]), path))
    return found


def collect_sections(tenant: Tenant | None, *, base_dir: Path = BASE_DIR,
                     overrides_dir: Path | None = OVERRIDES_DIR) -> tuple[SectionSource, ...]:
    """The sections `tenant` renders, in order (`tenant=None`: the base alone)."""
    main: dict[str, Part] = {}
    appended: dict[str, list[Part]] = {}
    for name, is_append, path in _read_folder(base_dir):
        if is_append:
            raise ConfigError("the base has no sections to append to", source=display_path(path))
        main[name] = Part(path.read_text(encoding="utf-8"), display_path(path), "base")
    if tenant is None:
        return tuple(SectionSource(n, (p,)) for n, p in sorted(main.items()))

    replaced_by: dict[str, str] = {}
    folder = overrides_dir / tenant.id if overrides_dir is not None else None
    pending = _read_folder(folder) if folder is not None and folder.is_dir() else []
    for name, is_append, path in pending:
        part = Part(path.read_text(encoding="utf-8"), display_path(path),
                    "append" if is_append else "replace")
        if is_append:
            appended.setdefault(name, []).append(part)
        else:
            main[name] = part
            replaced_by[name] = part.origin
    yaml_file = f"{tenant.id}.yaml"
    for name, section in tenant.prompt.sections.items():
        field = f"prompt.sections.{name}"
        if section.replace is not None:
            if name in replaced_by:
                raise ConfigError(f"section {name} is also replaced by {replaced_by[name]}; "
                                  "keep one of the two", source=yaml_file, field=f"{field}.replace")
            main[name] = Part(section.replace, yaml_file, "replace", f"{field}.replace")
        if section.append is not None:
            appended.setdefault(name, []).append(
                Part(section.append, yaml_file, "append", f"{field}.append"))
    for name, parts in appended.items():
        if name not in main:
            known = ", ".join(sorted(main))
            raise ConfigError(f"appends to section {name}, which does not exist (sections: "
                              f"{known}); to add a section, give its full text instead",
                              source=parts[0].origin, field=parts[0].field)
    sections = []
    for name, part in sorted(main.items()):
        parts = ([part] if part.source.strip() else []) + appended.get(name, [])
        if parts:
            sections.append(SectionSource(name, tuple(parts)))
    return tuple(sections)


def version_of(sections: tuple[SectionSource, ...]) -> str:
    """A short hash of the templates and their order (never of the values rendered into them)."""
    payload = [[s.name, [[p.kind == "append", p.source] for p in s.parts]] for s in sections]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()[:12]
