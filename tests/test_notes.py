"""Practical questions answered from the clinic's own notes, whatever the clinic writes there."""

from __future__ import annotations

from pathlib import Path

import pytest

from atende.tenant import Tenant, load_tenant_file
from atende.tools.notes import asks_practical, from_notes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def studio() -> Tenant:
    return load_tenant_file(ROOT / "evals/suites/movimento-fisio/fixtures/movimento-fisio.yaml")


@pytest.fixture(scope="module")
def dental() -> Tenant:
    return load_tenant_file(ROOT / "tenants/clinica-exemplo.yaml")


@pytest.mark.parametrize(("question", "expected"), [
    ("da pra estacionar perto?", "área azul"),
    ("onde deixo o carro", "área azul"),
    ("tem lugar pra tomar banho depois?", "chuveiro"),
    ("qual roupa usar no pilates", "roupa confortável"),
    ("oq levo pra avaliacao?", "pedido médico"),
])
def test_a_question_finds_the_sentence_that_answers_it(studio: Tenant, question: str,
                                                       expected: str) -> None:
    answer = from_notes(studio, question)
    assert answer and expected in answer[0]


def test_another_clinics_notes_answer_in_their_own_words(dental: Tenant) -> None:
    assert "conveniado" in from_notes(dental, "vcs tem estacionamento?")[0]
    # nothing about what to bring: what the notes ask the patient to do before coming
    assert "10 minutos antes" in from_notes(dental, "preciso levar alguma coisa?")[0]


@pytest.mark.parametrize("question", ["tem wifi?", "posso levar meu filho?", "aceitam pet?"])
def test_nothing_in_the_notes_is_an_empty_answer(studio: Tenant, question: str) -> None:
    assert from_notes(studio, question) == []


def test_times_and_the_clinics_own_words_are_not_topics(studio: Tenant) -> None:
    assert from_notes(studio, "tem avaliação quarta ao meio-dia e meia?") == []
    assert from_notes(studio, "tem horario pra pilates amanha?") == []
    assert asks_practical("tem wifi ai?") and not asks_practical("tem horario amanha?")
