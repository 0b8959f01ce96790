"""Vocabulary derived from the clinic's own data: service and specialty words, first names,
nicknames and typos, with no synonym configured for them, and near misses that stay unmatched."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from atende.tenant import Tenant, format_price, load_tenant_file
from atende.tools.catalog import evaluation_service, find_professional, find_service, find_services

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dental() -> Tenant:
    return load_tenant_file(ROOT / "tenants" / "clinica-exemplo.yaml")


@pytest.fixture(scope="module")
def physio() -> Tenant:
    return load_tenant_file(ROOT / "evals" / "suites" / "movimento-fisio" / "fixtures"
                            / "movimento-fisio.yaml")


def _service(tenant: Tenant, text: str) -> str | None:
    found = find_service(tenant, text)
    return found.id if found else None


def _professional(tenant: Tenant, text: str) -> str | None:
    found = find_professional(tenant, text)
    return found.id if found else None


@pytest.mark.parametrize(("text", "expected"), [
    ("qto é a fisio?", "sessao-fisio"),  # an abbreviation of the one service's own word
    ("remarcar a fisio de amanha", "sessao-fisio"),
    ("quanto custa a reeducacao postural", "rpg"),  # the acronym spelled out in its description
    ("reeducação postural global", "rpg"),
    ("quero uma avaliação de fisioterapia", "avaliacao-fisio"),  # the head noun leads
    ("preciso de um fisioterapeuta pro joelho", "avaliacao-fisio"),  # the clinic's profession
    ("quero marcar uma consulta", "avaliacao-fisio"),  # "consulta": the first visit
    ("a avulsa", "pilates-avulso"),
    ("aula experimental", "pilates-experimental"),
    ("vcs fazem acumpuntura?", "acupuntura"),  # typos
    ("drenajem linfatica", "drenagem"),
])
def test_physio_services_from_the_clinics_words(physio: Tenant, text: str, expected: str) -> None:
    assert _service(physio, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("preciso de um dentista amanha", "avaliacao"),
    ("qnto custa uma obturassao", "restauracao"),
    ("vcs tem endodontista?", "canal"),  # the field's professional
    ("qro marcar com a ortodontista", "ortodontia-manutencao"),
    ("minha consulta de limpeza", "limpeza"),  # a named service still beats "consulta"
    ("limpesa", "limpeza"),
])
def test_dental_services_from_the_clinics_words(dental: Tenant, text: str, expected: str) -> None:
    assert _service(dental, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a doutora karla", "carla-mendes"),
    ("com a ortodontista", "carla-mendes"),  # one professional in that specialty
    ("vcs tem endodontista?", "bruno-lima"),
    ("dra ana sousa", "ana-souza"),
])
def test_dental_professionals(dental: Tenant, text: str, expected: str) -> None:
    assert _professional(dental, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("aula c a ju na quarta", "juliana-prates"),  # a nickname after its article
    ("consulta c o thiago", "thiago-becker"),
    ("com o tiago", "thiago-becker"),
    ("com a marcia", "marcia-lopes"),
])
def test_physio_professionals(physio: Tenant, text: str, expected: str) -> None:
    assert _professional(physio, text) == expected


@pytest.mark.parametrize("text", [
    "mande uma carta",  # one letter from "carla", another word
    "que cara", "a de quinta", "o da manha", "canalha", "limpezaa", "marca pra sexta",
    "renato", "bruna", "fisioterapeuta",  # a profession every physio has names nobody
])
def test_near_misses_name_no_professional(dental: Tenant, physio: Tenant, text: str) -> None:
    assert _professional(dental, text) is None
    assert _professional(physio, text) is None


@pytest.mark.parametrize("text", ["seu canalha", "botox", "implante", "pilatos", "fisica",
                                  "marcar pra sexta", "a sessao"])
def test_near_misses_name_no_service(physio: Tenant, text: str) -> None:
    assert _service(physio, text) is None


def test_a_word_two_services_share_names_neither(physio: Tenant) -> None:
    # "pilates" is in the trial class and in the single class: not a name of either
    assert [s.id for s in find_services(physio, "pilates")] == []


def test_evaluation_service(dental: Tenant, physio: Tenant) -> None:
    assert evaluation_service(dental).id == "avaliacao"  # type: ignore[union-attr]
    assert evaluation_service(physio).id == "avaliacao-fisio"  # type: ignore[union-attr]


def test_a_free_service_is_never_zero_reais(physio: Tenant) -> None:
    assert physio.service("pilates-experimental").price_text == "sem custo (gratuito)"
    assert format_price(Decimal("95.00")) == "R$ 95,00"
