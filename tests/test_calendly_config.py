"""The clinic's `calendar.calendly` section: mapped event types must name this clinic's services
and professionals (the error names the field), and serving without the signing key's variable
is a start-up error naming the variable."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import yaml
from calendly_harness import CALENDLY, KEY_ENV, calendly_app, tenant_data

from atende.errors import ConfigError
from atende.tenant import load_tenant_file


def _load(tmp_path, mutate):
    calendly = copy.deepcopy(CALENDLY)
    mutate(calendly)
    path = tmp_path / "clinica-exemplo.yaml"
    path.write_text(yaml.safe_dump(tenant_data(calendly), allow_unicode=True), "utf-8")
    return load_tenant_file(path), path


def test_the_section_loads_with_its_defaults(tmp_path):
    tenant, _ = _load(tmp_path, lambda c: None)
    calendly = tenant.calendar.calendly
    assert calendly.signing_key_env == KEY_ENV and calendly.tolerance_seconds == 180
    assert [(m.service, m.professional) for m in calendly.event_types] == [
        ("limpeza", "ana-souza"), ("avaliacao", "carla-mendes")]


@pytest.mark.parametrize("mutate, field, words", [
    (lambda c: c["event_types"][1].update(service="botox"),
     "calendar.calendly.event_types[1].service", "unknown service 'botox'"),
    (lambda c: c["event_types"][0].update(professional="dr-house"),
     "calendar.calendly.event_types[0].professional", "unknown professional 'dr-house'"),
    (lambda c: c["event_types"][0].update(service="canal"),
     "calendar.calendly.event_types[0].service", "'ana-souza' does not offer 'canal'"),
    (lambda c: c["event_types"].append(dict(c["event_types"][0])),
     "calendar.calendly.event_types[2].event_type", "listed twice"),
    (lambda c: c.update(signing_key_env="my key"), "calendar.calendly.signing_key_env",
     "should match pattern"),
    (lambda c: c.update(event_types=[]), "calendar.calendly.event_types", "at least 1"),
])
def test_a_wrong_mapping_names_the_field(tmp_path, mutate, field, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, mutate)
    message = str(info.value)
    assert f": {field}: " in message, message
    assert words in message


async def test_serving_without_the_signing_key_is_a_startup_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        async with calendly_app(tmp_path, datetime(2026, 3, 10, tzinfo=UTC), env={}):
            pass
    assert KEY_ENV in str(info.value) and "calendar.calendly.signing_key_env" in str(info.value)
