"""Per-tenant prompts: sections in order, overrides, versions, template errors, budget, CLI."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from atende.cli import app as cli_app
from atende.errors import ConfigError
from atende.memory import open_store
from atende.memory.records import NewAppointment, Patient
from atende.prompts.render import (
    check_prompts,
    clear_prompt_cache,
    load_prompt,
    prompt_version,
    render_system_prompt,
)
from atende.prompts.sections import BASE_DIR
from atende.prompts.values import turn_values
from atende.tenant import Tenant, load_tenant_file
from helpers import ANA, EXAMPLE, ROOT, TUESDAY_NOW, atende_on, example_tenant, say

NOW_ISO = "2026-03-10T08:00-03:00"
BASE_SECTIONS = ["10-role", "20-rules", "30-clinic", "90-now", "95-patient"]


def clinic(tmp_path: Path, tenant_id: str = "clinica-teste", prompt: dict[str, Any] | None = None
           ) -> Tenant:
    """The example clinic under another id (so no shipped override applies), from a YAML file."""
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if prompt is not None:
        raw["prompt"] = prompt
    path = tmp_path / f"{tenant_id}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_tenant_file(path)


def overrides(tmp_path: Path, tenant_id: str, files: dict[str, str]) -> Path:
    folder = tmp_path / "overrides"
    (folder / tenant_id).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / tenant_id / name).write_text(text, encoding="utf-8")
    return folder


def sections_of(tenant: Tenant, now: datetime = TUESDAY_NOW, patient: Patient | None = None,
                appointments: list[dict[str, Any]] | None = None, **dirs: Path) -> dict[str, str]:
    prompt = load_prompt(tenant, **dirs)
    values = turn_values(tenant, patient or Patient(tenant.id, ANA), appointments or [], now)
    return {s.name: s.text for s in prompt.render_sections(values)}


# --- layout ---------------------------------------------------------------------------------

def test_base_sections_render_in_name_order_with_the_turn_last(tmp_path):
    tenant = clinic(tmp_path)
    text, _ = render_system_prompt(tenant, Patient(tenant.id, ANA), [], TUESDAY_NOW)
    assert list(sections_of(tenant)) == BASE_SECTIONS
    headings = ["Você é o assistente virtual de atendimento da Clínica Sorriso Exemplo",
                "# Regras", "# Clínica", "# Agora", "# Paciente desta conversa"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions) and positions[0] == 0
    assert "terça-feira, 10/03/2026 08:00 (horário de America/Sao_Paulo)." in text
    assert "- Nome: ainda não informado\n- Etapa: new\n- Nenhuma consulta marcada.\n" in text


def test_only_the_tail_changes_between_turns(tmp_path):
    tenant = clinic(tmp_path)
    first, _ = render_system_prompt(tenant, Patient(tenant.id, ANA), [], TUESDAY_NOW)
    appointment = {"id": "a1", "label": "qua 11/03 09:00", "service": "Limpeza",
                   "professional": "Dra. Ana Souza"}
    second, _ = render_system_prompt(
        tenant, Patient(tenant.id, ANA, name="Ana", stage="scheduled", interest="limpeza"),
        [appointment], TUESDAY_NOW + timedelta(minutes=7))
    prefix = first[:first.index("# Agora")]
    assert second.startswith(prefix)  # the cacheable prefix is byte-identical
    tail = second[len(prefix):]
    assert "08:07" in tail and "- Nome: Ana" in tail and "(id a1)" in tail
    assert "08:07" not in prefix and "(id a1)" not in prefix


# --- overrides ------------------------------------------------------------------------------

def test_folder_overrides_replace_append_and_add_sections(tmp_path):
    tenant = clinic(tmp_path)
    folder = overrides(tmp_path, tenant.id, {
        "20-rules.j2": "# Regras\n- Responda só sobre a {{ tenant.name }}.\n",
        "10-role.append.j2": "Assine como Sofia.\n",
        "50-faq.j2": "# Perguntas frequentes\n- Atendemos crianças a partir de 3 anos.\n",
        "README.md": "not a template: ignored",
    })
    sections = sections_of(tenant, overrides_dir=folder)
    assert list(sections) == ["10-role", "20-rules", "30-clinic", "50-faq", "90-now", "95-patient"]
    assert sections["20-rules"] == "# Regras\n- Responda só sobre a Clínica Sorriso Exemplo."
    assert sections["10-role"].endswith("ou uma lista numerada).\nAssine como Sofia.")
    assert sections["50-faq"].startswith("# Perguntas frequentes")


def test_yaml_overrides_replace_append_add_and_drop(tmp_path):
    tenant = clinic(tmp_path, prompt={"sections": {
        "30-clinic": {"append": "- Wi-Fi: clinica-visitante"},
        "40-policies": {"replace": "# Combinados\n- Atrasos acima de 15 minutos: remarcamos."},
        "95-patient": {"append": "{% if patient.name %}Chame {{ patient.name }} pelo nome.{% endif %}"},
        "20-rules": {"replace": ""},
    }})
    sections = sections_of(tenant, patient=Patient(tenant.id, ANA, name="Ana"))
    text = "\n\n".join(t for t in sections.values() if t)
    assert [n for n, t in sections.items() if t] == [
        "10-role", "30-clinic", "40-policies", "90-now", "95-patient"]
    assert "# Regras" not in text
    assert sections["30-clinic"].endswith("Chegue 10 minutos antes da consulta.\n- Wi-Fi: clinica-visitante")
    assert sections["95-patient"].endswith("Nenhuma consulta marcada.\nChame Ana pelo nome.")


def test_the_example_clinic_ships_a_tone_line_on_top_of_the_base(tmp_path):
    tenant = example_tenant()
    role = sections_of(tenant)["10-role"]
    assert role.splitlines()[1].startswith("Tom: acolhedor")
    assert sections_of(clinic(tmp_path))["10-role"].count("\n") == 0


def test_ambiguous_or_dangling_overrides_are_refused(tmp_path):
    tenant = clinic(tmp_path, prompt={"sections": {"20-rules": {"replace": "# Regras"}}})
    folder = overrides(tmp_path, tenant.id, {"20-rules.j2": "# Outras regras\n"})
    with pytest.raises(ConfigError, match=r"20-rules is also replaced by .*20-rules\.j2"):
        check_prompts(tenant, overrides_dir=folder)
    typo = clinic(tmp_path, "clinica-typo", prompt={"sections": {"20-regras": {"append": "- x"}}})
    with pytest.raises(ConfigError, match=r"clinica-typo.yaml: prompt.sections.20-regras.append: "
                                          "appends to section 20-regras, which does not exist"):
        check_prompts(typo)
    badly_named = overrides(tmp_path, "clinica-nome", {"Regras.j2": "x"})
    with pytest.raises(ConfigError, match=r"Regras\.j2: not a section file name"):
        check_prompts(clinic(tmp_path, "clinica-nome"), overrides_dir=badly_named)


# --- version --------------------------------------------------------------------------------

async def test_every_turn_records_the_tenants_prompt_version(tmp_path):
    tenant = example_tenant()
    async with atende_on(tmp_path) as app:
        await say(app, "Oi")
        app.clock.advance(hours=3)  # type: ignore[attr-defined]
        await say(app, "Quanto custa a limpeza?")
        conversation = await app.store.get_or_create_conversation(tenant.id, ANA, "console")
        turns = await app.store.list_turns(conversation.id)
    assert len(turns) == 2
    assert {t.prompt_version for t in turns} == {prompt_version(tenant)}


def test_version_is_of_the_templates_not_of_the_turn(tmp_path):
    tenant = clinic(tmp_path)
    _, morning = render_system_prompt(tenant, Patient(tenant.id, ANA), [], TUESDAY_NOW)
    _, later = render_system_prompt(tenant, Patient(tenant.id, ANA, name="Bia"), [],
                                    TUESDAY_NOW + timedelta(days=1))
    assert morning == later == prompt_version(tenant)
    assert prompt_version(clinic(tmp_path, "clinica-outra")) == morning  # same templates


def test_version_changes_when_a_template_changes(tmp_path):
    tenant = clinic(tmp_path)
    base = tmp_path / "base"
    shutil.copytree(BASE_DIR, base)
    before = load_prompt(tenant, base_dir=base).version
    assert before == prompt_version(tenant)  # the hash is of the text, not of where it lives
    rules = base / "20-rules.j2"
    rules.write_text(rules.read_text(encoding="utf-8") + "- Seja breve.\n", encoding="utf-8")
    clear_prompt_cache()
    assert load_prompt(tenant, base_dir=base).version != before


def test_versions_differ_between_tenants_with_different_overrides(tmp_path):
    plain = clinic(tmp_path)
    tuned = clinic(tmp_path, "clinica-tuned", prompt={"sections": {"10-role": {"append": "Oi!"}}})
    versions = {prompt_version(plain), prompt_version(tuned), prompt_version(example_tenant())}
    assert len(versions) == 3


# --- errors, found before a turn runs -------------------------------------------------------

def test_syntax_error_names_the_file_and_line(tmp_path):
    tenant = clinic(tmp_path)
    folder = overrides(tmp_path, tenant.id, {"20-rules.j2": "# Regras\n- a\n- {% if %}\n"})
    with pytest.raises(ConfigError, match=r"overrides/clinica-teste/20-rules.j2: line 3: "
                                          "template syntax error"):
        check_prompts(tenant, overrides_dir=folder)


def test_undefined_variable_names_the_file_and_line(tmp_path):
    tenant = clinic(tmp_path)
    folder = overrides(tmp_path, tenant.id, {"30-clinic.append.j2": "- ok\n- {{ clinic_name }}\n"})
    with pytest.raises(ConfigError, match=r"30-clinic.append.j2: line 2: undefined variable "
                                          "'clinic_name'"):
        check_prompts(tenant, overrides_dir=folder)


def test_undefined_attribute_is_found_by_a_sample_render(tmp_path):
    tenant = clinic(tmp_path, prompt={"sections": {
        "95-patient": {"append": "{% if patient.name %}\n- E-mail: {{ patient.email }}\n{% endif %}"}}})
    with pytest.raises(ConfigError, match=r"clinica-teste.yaml: prompt.sections.95-patient.append, "
                                          "line 2: template error: .*email"):
        check_prompts(tenant)


def test_per_turn_value_in_a_static_section_is_refused(tmp_path):
    tenant = clinic(tmp_path, prompt={"sections": {"10-role": {"append": "Olá {{ patient.name }}"}}})
    with pytest.raises(ConfigError, match=r"10-role.append, line 1: 'patient' changes every turn"):
        check_prompts(tenant)


def test_a_prompt_over_its_budget_is_refused(tmp_path):
    tenant = clinic(tmp_path, prompt={"max_tokens": 600})
    with pytest.raises(ConfigError, match=r"clinica-teste.yaml: prompt.max_tokens: the system "
                                          r"prompt is \d+ tokens .* over its budget of 600"):
        check_prompts(tenant)
    long_faq = "# FAQ\n" + "- Pergunta frequente sobre a clínica e a resposta dela.\n" * 300
    bloated = clinic(tmp_path, "clinica-longa", prompt={"sections": {"50-faq": {"replace": long_faq}}})
    with pytest.raises(ConfigError, match=r"over its budget of 2500 \(largest sections: 50-faq"):
        check_prompts(bloated)


def test_tenants_check_reports_a_broken_prompt_with_its_line(tmp_path):
    broken = clinic(tmp_path, prompt={"sections": {"20-rules": {"append": "- a\n- {{ oops }}"}}})
    result = CliRunner().invoke(cli_app, ["tenants", "check", str(tmp_path / f"{broken.id}.yaml"),
                                          str(EXAMPLE)])
    assert result.exit_code == 1
    reported = " ".join(result.stderr.split())  # rich wraps long lines
    assert ("clinica-teste.yaml: prompt.sections.20-rules.append, line 2: undefined variable 'oops'"
            in reported)
    assert "✓" in result.stdout and "clinica-exemplo.yaml" in result.stdout


# --- CLI ------------------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ATENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'atende.db'}")
    monkeypatch.setenv("ATENDE_TENANTS_DIR", str(ROOT / "tenants"))
    return tmp_path


def test_prompt_render_prints_the_prompt_and_tokens_per_section(env):
    result = CliRunner().invoke(cli_app, ["prompt", "render", "--tenant", "clinica-exemplo",
                                          "--now", NOW_ISO])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Você é o assistente virtual de atendimento da Clínica Sorriso")
    assert "terça-feira, 10/03/2026 08:00" in result.stdout
    assert "tokens" not in result.stdout  # the prompt alone on stdout: `> prompt.txt` works
    counts = {line.split()[0]: line.split()[1] for line in result.stderr.splitlines() if line.strip()}
    for name in [*BASE_SECTIONS, "total"]:
        assert counts[name].isdigit() and int(counts[name]) > 0
    assert int(counts["total"]) >= int(counts["30-clinic"]) > int(counts["90-now"])
    assert f"version {prompt_version(example_tenant())}" in result.stderr
    assert "10-role.append.j2" in result.stderr


def test_prompt_render_for_a_patient_shows_their_record(env):
    tenant = example_tenant()

    async def seed() -> None:
        store = open_store(f"sqlite:///{env / 'atende.db'}")
        await store.setup()
        await store.upsert_patient(tenant.id, ANA)
        await store.update_patient(tenant.id, ANA, name="Ana Paula")
        start = datetime.fromisoformat("2026-03-11T09:00-03:00")
        await store.book_appointment(NewAppointment(tenant.id, "ana-souza", "limpeza", ANA, start,
                                                    start + timedelta(minutes=45)))
        await store.close()

    asyncio.run(seed())
    result = CliRunner().invoke(cli_app, ["prompt", "render", "--tenant", "clinica-exemplo",
                                          "--now", NOW_ISO, "--phone", "(11) 98765-0001"])
    assert result.exit_code == 0, result.output
    assert "- Nome: Ana Paula" in result.stdout
    assert "Limpeza com Dra. Ana Souza" in result.stdout


def test_prompt_diff_shows_the_tenants_override(env):
    result = CliRunner().invoke(cli_app, ["prompt", "diff", "--tenant", "clinica-exemplo",
                                          "--against", "base", "--now", NOW_ISO])
    assert result.exit_code == 0, result.output
    added = [line for line in result.stdout.splitlines() if line.startswith("+")]
    assert added[0].startswith("+++ clinica-exemplo")
    assert added[1:] == ["+Tom: acolhedor e próximo. Quando souber o nome do paciente, chame-o "
                         "pelo primeiro nome."]
    assert not [line for line in result.stdout.splitlines()
                if line.startswith("-") and not line.startswith("---")]


def test_prompt_diff_of_a_tenant_without_overrides_says_so(env, tmp_path):
    clinic(tmp_path)
    result = CliRunner().invoke(cli_app, ["prompt", "diff", "--tenant",
                                          str(tmp_path / "clinica-teste.yaml"), "--now", NOW_ISO])
    assert result.exit_code == 0, result.output
    assert "no differences" in result.stdout
