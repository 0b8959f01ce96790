"""Tenant files: the example is valid, broken files name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from atende.errors import ConfigError
from atende.tenant import TenantRegistry, load_tenant_file

EXAMPLE = Path(__file__).resolve().parent.parent / "tenants" / "clinica-exemplo.yaml"


def test_example_clinic_has_what_the_quickstart_needs():
    t = load_tenant_file(EXAMPLE)
    assert t.timezone == "America/Sao_Paulo"
    assert len(t.professionals) >= 3 and len(t.services) >= 6
    assert any(s.name == "Limpeza" for s in t.services)
    assert len(t.promotions) == 2 and t.holidays
    ana = t.professional("ana-souza")
    assert [str(i) for i in t.working_hours(ana, "mon")] == ["08:00-12:00", "13:00-17:00"]


def _write(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["services"][1].update(price=-5), "services[1].price", "greater than or equal"),
    (lambda d: d["services"][0].pop("duration_minutes"), "services[0].duration_minutes",
     "required"),
    (lambda d: d.update(timezone="America/Sao_Paolo"), "timezone", "unknown IANA timezone"),
    (lambda d: d["professionals"][0]["hours"].update(mon=["08:00-12:00", "11:00-13:00"]),
     "professionals[0].hours.mon", "overlap"),
    (lambda d: d["business_hours"].update(tue=["8h-12h"]), "business_hours.tue[0]", "HH:MM"),
    (lambda d: d["professionals"][2]["services"].append("botox"), "professionals[2].services",
     "unknown service 'botox'"),
    (lambda d: d["promotions"][0].update(valid_to="2020-01-01"), "promotions[0]", "valid_to"),
    (lambda d: d.update(colour="blue"), "colour", "Extra inputs"),
])
def test_a_broken_file_names_file_and_field(tmp_path, mutate, field, words):
    path = _write(tmp_path, "quebrada", mutate)
    with pytest.raises(ConfigError) as info:
        load_tenant_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}"), message
    assert words in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: Clínica\nservices: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml: line \d+, column \d+: not valid YAML"):
        load_tenant_file(path)


def test_id_must_match_the_file_name(tmp_path):
    path = _write(tmp_path, "outra", lambda d: d.update(id="clinica-exemplo"))
    with pytest.raises(ConfigError, match=r"outra\.yaml: id: id 'clinica-exemplo' must match"):
        load_tenant_file(path)


def test_a_second_tenant_is_one_more_file(tmp_path):
    (tmp_path / "clinica-exemplo.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    _write(tmp_path, "fisio-centro", lambda d: d.update(name="Fisio Centro"))
    registry = TenantRegistry.from_dir(tmp_path)
    assert {t.id for t in registry} == {"clinica-exemplo", "fisio-centro"}
    assert registry.get("fisio-centro").name == "Fisio Centro"
    with pytest.raises(ConfigError, match="unknown tenant 'nope'"):
        registry.get("nope")
