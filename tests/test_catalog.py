"""Services, professionals and promotions are found as patients write them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from atende.tenant import Tenant, load_tenant_file
from atende.tools.catalog import (
    find_professional,
    find_service,
    find_services,
    promo_price,
    valid_promotions,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "tenants" / "clinica-exemplo.yaml"


@pytest.fixture(scope="module")
def clinic() -> Tenant:
    return load_tenant_file(EXAMPLE)


def service_id(tenant: Tenant, text: str) -> str | None:
    found = find_service(tenant, text)
    return found.id if found else None


def professional_id(tenant: Tenant, text: str) -> str | None:
    found = find_professional(tenant, text)
    return found.id if found else None


def make_tenant(**overrides: Any) -> Tenant:
    raw: dict[str, Any] = {
        "id": "teste",
        "name": "Clínica Teste",
        "address": "Rua A, 1",
        "timezone": "America/Sao_Paulo",
        "business_hours": {"mon": ["08:00-12:00"]},
        "services": [
            {"id": "consulta", "name": "Consulta", "duration_minutes": 30, "price": "99.99"},
            {"id": "retorno", "name": "Retorno", "duration_minutes": 30, "price": "0.00"},
        ],
        "professionals": [
            {"id": "ana-lima", "name": "Dra. Ana Lima", "services": ["consulta"]},
            {"id": "ana-reis", "name": "Dra. Ana Reis", "services": ["consulta"]},
        ],
    }
    raw.update(overrides)
    return Tenant.model_validate(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("limpeza", "limpeza"),
        ("LIMPEZA", "limpeza"),
        ("Oi, quero marcar uma limpeza amanhã", "limpeza"),
        ("profilaxia", "limpeza"),
        ("tártaro", "limpeza"),
        ("quero uma avaliação", "avaliacao"),
        ("avaliacao", "avaliacao"),
        ("Avaliação odontológica", "avaliacao"),
        ("check-up", "avaliacao"),
        ("checkup", "avaliacao"),
        ("quero clarear os dentes", "clareamento"),
        ("clareamento dental", "clareamento"),
        ("tratamento de canal", "canal"),
        ("acho que preciso de um canal", "canal"),
        ("endodontia", "canal"),
        ("obturação", "restauracao"),
        ("duas restaurações", "restauracao"),
        ("tirar o siso", "extracao"),
        ("preciso arrancar dente", "extracao"),
        ("manutenção do aparelho", "ortodontia-manutencao"),
        ("ortodontia-manutencao", "ortodontia-manutencao"),
        ("minha consulta de limpeza", "limpeza"),  # "consulta" alone is the evaluation
        ("consulta", "avaliacao"),
    ],
)
def test_find_service(clinic: Tenant, text: str, expected: str) -> None:
    assert service_id(clinic, text) == expected


@pytest.mark.parametrize("text", ["seu canalha", "botox", "", "quero marcar", "limpezaa"])
def test_find_service_needs_a_whole_name(clinic: Tenant, text: str) -> None:
    assert find_service(clinic, text) is None


def test_longest_name_wins() -> None:
    tenant = make_tenant(
        services=[
            {"id": "clareamento", "name": "Clareamento", "duration_minutes": 60, "price": "500"},
            {"id": "laser", "name": "Clareamento a laser", "duration_minutes": 60, "price": "900"},
        ],
        professionals=[{"id": "rui", "name": "Dr. Rui", "services": ["clareamento", "laser"]}],
    )
    assert service_id(tenant, "quero fazer clareamento a laser") == "laser"
    assert service_id(tenant, "quero fazer clareamento") == "clareamento"
    assert [s.id for s in find_services(tenant, "clareamento a laser")] == ["laser"]


def test_find_services(clinic: Tenant) -> None:
    found = find_services(clinic, "Quanto custa limpeza, clareamento e tratamento de canal?")
    assert [s.id for s in found] == ["limpeza", "clareamento", "canal"]
    assert [s.id for s in find_services(clinic, "limpeza ou profilaxia?")] == ["limpeza"]
    assert [s.id for s in find_services(clinic, "a consulta de canal")] == ["canal"]
    assert find_services(clinic, "oi, tudo bem?") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dra ana", "ana-souza"),
        ("Dra. Ana", "ana-souza"),
        ("doutora Ana Souza", "ana-souza"),
        ("com a Ana", "ana-souza"),
        ("ana-souza", "ana-souza"),
        ("Dr. Bruno", "bruno-lima"),
        ("DR BRUNO LIMA", "bruno-lima"),
        ("pode ser com o doutor bruno?", "bruno-lima"),
        ("com a Carla", "carla-mendes"),
        ("Dra. Mendes", "carla-mendes"),
    ],
)
def test_find_professional(clinic: Tenant, text: str, expected: str) -> None:
    assert professional_id(clinic, text) == expected


@pytest.mark.parametrize("text", ["qualquer um", "Dra. Bruna", "com a Anabela", ""])
def test_unknown_professional(clinic: Tenant, text: str) -> None:
    assert find_professional(clinic, text) is None


def test_two_people_with_the_same_first_name() -> None:
    tenant = make_tenant()
    assert find_professional(tenant, "com a dra ana") is None  # ambiguous: ask
    assert professional_id(tenant, "com a dra ana reis") == "ana-reis"
    assert professional_id(tenant, "Reis") == "ana-reis"


def test_valid_promotions(clinic: Tenant) -> None:
    assert [p.id for p in valid_promotions(clinic, date(2026, 3, 10))] == ["clareamento-20"]
    assert [p.id for p in valid_promotions(clinic, date(2025, 11, 25))] == ["limpeza-black-friday-2025"]
    assert [p.id for p in valid_promotions(clinic, date(2025, 11, 30))] == [
        "limpeza-black-friday-2025"
    ]  # the last day still counts
    assert [p.id for p in valid_promotions(clinic, date(2025, 12, 1))] == ["clareamento-20"]
    assert valid_promotions(clinic, date(2028, 1, 1)) == []


def test_promo_price(clinic: Tenant) -> None:
    promo = valid_promotions(clinic, date(2026, 3, 10))[0]
    assert promo_price(clinic.service("clareamento"), promo) == Decimal("720.00")
    assert str(promo_price(clinic.service("clareamento"), promo)) == "720.00"
    # a promotion for another service leaves the price alone
    assert promo_price(clinic.service("limpeza"), promo) == Decimal("180.00")


def test_promo_price_rounds_to_the_cent() -> None:
    tenant = make_tenant(
        promotions=[
            {
                "id": "terco",
                "text": "33% off",
                "discount_percent": 33,
                "valid_from": "2026-01-01",
                "valid_to": "2026-12-31",
            },
            {
                "id": "brinde",
                "text": "Escova de brinde",
                "valid_from": "2026-01-01",
                "valid_to": "2026-12-31",
            },
        ]
    )
    third, gift = tenant.promotions
    assert promo_price(tenant.service("consulta"), third) == Decimal("66.99")  # 66.9933
    assert promo_price(tenant.service("retorno"), third) == Decimal("0.00")
    assert promo_price(tenant.service("consulta"), gift) == Decimal("99.99")
