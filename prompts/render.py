"""Compile and check a tenant's prompt sections once, then render each turn's system prompt.

Every template problem becomes a `ConfigError` naming the file and the line, found when the
tenant's prompt is first loaded (`check_prompts`), before any turn runs: syntax errors,
unknown variables, per-turn values in a static section, errors only rendering shows (a
missing attribute, a bad filter argument: each template is rendered for two sample turns),
and a prompt over the tenant's token budget (`prompt.max_tokens`, measured on the sample
turn with a known patient and three appointments).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateAssertionError,
    TemplateSyntaxError,
    meta,
    nodes,
)

from atende.agent.tokens import count_text
from atende.errors import ConfigError
from atende.memory.records import Patient
from atende.prompts.sections import (
    BASE_DIR,
    OVERRIDES_DIR,
    Part,
    SectionSource,
    collect_sections,
    version_of,
)
from atende.prompts.values import ALL_NAMES, PER_TURN_NAMES, sample_turns, turn_values
from atende.tenant import Tenant


@dataclass(frozen=True)
class RenderedSection:
    name: str
    text: str  # "" when the section rendered to nothing (it is then left out)
    origins: tuple[str, ...]


@dataclass(frozen=True)
class _Compiled:
    part: Part
    template: Template
    filename: str


class _Sources(BaseLoader):
    def __init__(self, sources: dict[str, str]):
        self.sources = sources

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        return self.sources[template], template, lambda: True


def _filename(part: Part) -> str:
    return part.origin if part.field is None else f"{part.origin}#{part.field}"


def _error(part: Part, line: int | None, message: str) -> ConfigError:
    where = ", ".join(x for x in (part.field, f"line {line}" if line else None) if x)
    return ConfigError(message, source=part.origin, field=where or None)


@dataclass(frozen=True)
class TenantPrompt:
    """A tenant's compiled sections and their version; renders a turn's system prompt."""

    sections: tuple[tuple[SectionSource, tuple[_Compiled, ...]], ...]
    version: str

    def render_sections(self, values: dict[str, Any]) -> list[RenderedSection]:
        rendered = []
        for source, compiled in self.sections:
            texts = [_render(c, values).strip("\n").rstrip() for c in compiled]
            rendered.append(RenderedSection(source.name, "\n".join(t for t in texts if t),
                                            tuple(p.origin for p in source.parts)))
        return rendered

    def render(self, values: dict[str, Any]) -> str:
        return join_sections(self.render_sections(values))


def join_sections(sections: list[RenderedSection]) -> str:
    return "\n\n".join(s.text for s in sections if s.text) + "\n"


def _render(compiled: _Compiled, values: dict[str, Any]) -> str:
    try:
        return compiled.template.render(values)
    except Exception as exc:  # any failure inside a template is a template error
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__)
                 if f.filename == compiled.filename]
        raise _error(compiled.part, lines[-1] if lines else None,
                     f"template error: {exc}") from exc


def _compile(sections: tuple[SectionSource, ...]) -> TenantPrompt:
    parts = {_filename(p): p for s in sections for p in s.parts}
    env = Environment(loader=_Sources({name: p.source for name, p in parts.items()}),
                      undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    compiled_sections = []
    for section in sections:
        compiled = []
        for part in section.parts:
            name = _filename(part)
            try:
                tree = env.parse(part.source, name, name)
                template = env.get_template(name)
            except TemplateSyntaxError as exc:  # also an unknown filter or test
                kind = "error" if isinstance(exc, TemplateAssertionError) else "syntax error"
                raise _error(part, exc.lineno, f"template {kind}: {exc.message}") from None
            _check_names(part, tree, static=not section.per_turn)
            compiled.append(_Compiled(part, template, name))
        compiled_sections.append((section, tuple(compiled)))
    return TenantPrompt(tuple(compiled_sections), version_of(sections))


def _check_names(part: Part, tree: nodes.Template, *, static: bool) -> None:
    free = meta.find_undeclared_variables(tree)
    unknown = sorted(free - ALL_NAMES)
    per_turn = sorted(free & PER_TURN_NAMES) if static else []
    for name in (*unknown, *per_turn):
        line = min(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
        if name in unknown:
            raise _error(part, line, f"undefined variable {name!r} (variables: "
                                     f"{', '.join(sorted(ALL_NAMES))})")
        raise _error(part, line, f"{name!r} changes every turn: use it only in sections "
                                 "numbered 90-99, so the text before them stays the same from "
                                 "turn to turn (providers cache that prefix)")


def _check_budget(tenant: Tenant, prompt: TenantPrompt, values: dict[str, Any]) -> None:
    sections = prompt.render_sections(values)
    total = count_text(join_sections(sections), tenant.model.name)
    budget = tenant.prompt.max_tokens
    if total > budget:
        sizes = sorted(((count_text(s.text, tenant.model.name), s.name) for s in sections),
                       reverse=True)[:3]
        largest = ", ".join(f"{name} {n}" for n, name in sizes)
        raise ConfigError(f"the system prompt is {total} tokens for a sample turn, over its "
                          f"budget of {budget} (largest sections: {largest}); shorten the "
                          "templates or raise prompt.max_tokens",
                          source=f"{tenant.id}.yaml", field="prompt.max_tokens")


class _Key:
    """Caches by the tenant's whole configuration: a changed tenant is checked again."""

    def __init__(self, tenant: Tenant, base_only: bool, base_dir: Path, overrides_dir: Path):
        self.tenant = tenant
        self.id = (tenant.model_dump_json(), base_only, str(base_dir), str(overrides_dir))

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.id == other.id


@lru_cache(maxsize=64)
def _load(key: _Key) -> TenantPrompt:
    tenant, base_only, base_dir, overrides_dir = key.tenant, *key.id[1:]
    sections = collect_sections(None if base_only else tenant, base_dir=Path(base_dir),
                                overrides_dir=Path(overrides_dir))
    prompt = _compile(sections)
    full, empty = sample_turns(tenant, datetime.now(UTC))
    prompt.render(empty)
    prompt.render(full)
    if not base_only:
        _check_budget(tenant, prompt, full)
    return prompt


def load_prompt(tenant: Tenant, *, base_only: bool = False, base_dir: Path = BASE_DIR,
                overrides_dir: Path = OVERRIDES_DIR) -> TenantPrompt:
    """The tenant's checked prompt (`base_only`: the base sections alone), loaded once per
    process; raises `ConfigError` naming the file and line of the first problem."""
    return _load(_Key(tenant, base_only, base_dir, overrides_dir))


def check_prompts(tenant: Tenant, *, base_dir: Path = BASE_DIR,
                  overrides_dir: Path = OVERRIDES_DIR) -> None:
    """Refuse a tenant whose prompt templates are broken or over budget (`ConfigError`)."""
    load_prompt(tenant, base_dir=base_dir, overrides_dir=overrides_dir)


def clear_prompt_cache() -> None:
    """Forget loaded prompts, so edited templates are read again (tests, reloads)."""
    _load.cache_clear()


def prompt_version(tenant: Tenant) -> str:
    """The version of the tenant's prompt templates: recorded with every turn."""
    return load_prompt(tenant).version


def render_system_prompt(tenant: Tenant, patient: Patient, appointments: list[dict[str, Any]],
                         now: datetime) -> tuple[str, str]:
    """The system prompt of one turn and its version (a hash of the tenant's templates)."""
    prompt = load_prompt(tenant)
    return prompt.render(turn_values(tenant, patient, appointments, now)), prompt.version
