"""Replies become WhatsApp bubbles: copyable things alone, long text cut at natural breaks.

Hand-picked cases first, then properties checked on a few thousand seeded random replies
(deterministic, no extra dependency): nothing a patient reads is lost or cut mid-word, every
bubble fits unless it is one unbreakable token, and every Pix code, link and address is a
bubble by itself.
"""

from __future__ import annotations

import random
import re
from itertools import pairwise

import pytest

from atende.server.split import split_reply

# A BR Code as the Banco Central's manual shows it: the merchant name has spaces in it.
PIX = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
ADDRESS = "Rua Augusta, 1500 - sala 42 - Consolação, São Paulo - SP"


# --- cases --------------------------------------------------------------------------------


def test_short_text_is_one_bubble_unchanged() -> None:
    text = "Oi, Ana! Tenho *quarta 11/03 às 08:00* com a Dra. Ana Souza. Posso reservar? 😊"
    assert split_reply(text) == [text]
    assert split_reply(f"  {text}\n") == [text]


@pytest.mark.parametrize("blank", ["", "   ", "\n\n"])
def test_blank_text_is_no_bubble(blank: str) -> None:
    assert split_reply(blank) == []


def test_pix_code_with_spaces_is_one_bubble_on_its_own() -> None:
    text = f"Para confirmar, pague o sinal com o Pix copia e cola:\n{PIX}\nDepois me mande o comprovante."

    assert split_reply(text) == [
        "Para confirmar, pague o sinal com o Pix copia e cola:",
        PIX,
        "Depois me mande o comprovante.",
    ]


def test_pix_code_inline_and_in_bold_is_lifted_out_whole() -> None:
    assert split_reply(f"Código: *{PIX}* (válido por 30 min)") == [
        "Código:", PIX, "(válido por 30 min)",
    ]  # fmt: skip


def test_a_malformed_pix_code_is_still_kept_whole_up_to_the_next_space() -> None:
    broken = "000201" + "0" * 40 + "sem-crc"
    assert split_reply(f"Pix: {broken} ok?") == ["Pix:", broken, "ok?"]


@pytest.mark.parametrize(
    ("text", "bubbles"),
    [
        ("Pague aqui: https://pag.ae/7Zx-9Ab. Obrigada!",
         ["Pague aqui:", "https://pag.ae/7Zx-9Ab", "Obrigada!"]),
        ("Veja o mapa (https://maps.app.goo.gl/AbC123) antes de vir.",
         ["Veja o mapa", "https://maps.app.goo.gl/AbC123", "antes de vir."]),
        ("Saiba mais: https://pt.wikipedia.org/wiki/Clareamento_(odontologia).",
         ["Saiba mais:", "https://pt.wikipedia.org/wiki/Clareamento_(odontologia)"]),
        ("Link: *https://clinica.com.br/agenda?d=2026-03-11&h=08:00*",
         ["Link:", "https://clinica.com.br/agenda?d=2026-03-11&h=08:00"]),
        ("Site: www.clinicaexemplo.com.br, Instagram: https://instagram.com/clinica!",
         ["Site:", "www.clinicaexemplo.com.br", "Instagram:", "https://instagram.com/clinica"]),
        ("https://a.com https://b.com", ["https://a.com", "https://b.com"]),
        ("Oi 👋 https://a.com 👉 https://b.com 😊", ["Oi 👋", "https://a.com", "https://b.com"]),
    ],
)  # fmt: skip
def test_links_get_their_own_bubble_without_the_punctuation_around_them(
    text: str, bubbles: list[str]
) -> None:
    assert split_reply(text) == bubbles


def test_the_clinic_address_gets_its_own_bubble() -> None:
    text = f"Estamos na {ADDRESS}. Chegue 10 minutos antes 🙂"

    assert split_reply(text, own_bubble=[ADDRESS]) == [
        "Estamos na", ADDRESS, "Chegue 10 minutos antes 🙂",
    ]  # fmt: skip


def test_an_address_is_only_matched_exactly_and_blank_entries_are_ignored() -> None:
    text = "Estamos na Rua Augusta, 1500. Até logo!"
    assert split_reply(text, own_bubble=[ADDRESS, "", "  "]) == [text]


def test_an_address_holding_a_link_stays_one_bubble() -> None:
    place = "Av. Paulista, 1000 - https://maps.app.goo.gl/xyz"
    assert split_reply(f"Endereço: {place}", own_bubble=[place]) == ["Endereço:", place]


def test_long_reply_is_cut_at_the_paragraph_break() -> None:
    first = "Primeiro parágrafo com bastante texto. " * 15
    second = "Segundo parágrafo, também comprido. " * 15
    text = f"{first.strip()}\n\n{second.strip()}"

    assert split_reply(text, max_chars=1000) == [first.strip(), second.strip()]


def test_paragraphs_that_fit_together_share_a_bubble() -> None:
    text = "Horários:\n\n1. qua 11/03 às 08:00\n2. qua 11/03 às 08:30\n\nQual prefere?"
    assert split_reply(text, max_chars=80) == [text]
    assert split_reply(text, max_chars=55) == [
        "Horários:\n\n1. qua 11/03 às 08:00\n2. qua 11/03 às 08:30",
        "Qual prefere?",
    ]


def test_sentences_are_not_cut_after_abbreviations_or_list_numbers() -> None:
    text = "1. Limpeza com a Dra. Ana às 9h. O valor é R$ 150,00. Posso confirmar?"

    assert split_reply(text, max_chars=40) == [
        "1. Limpeza com a Dra. Ana às 9h.",
        "O valor é R$ 150,00. Posso confirmar?",
    ]


def test_a_word_longer_than_the_limit_is_never_cut() -> None:
    word = "x" * 50
    assert split_reply(f"antes {word} depois", max_chars=20) == ["antes", word, "depois"]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_reply("oi", max_chars=0)


# --- properties on seeded random replies -----------------------------------------------------

WORDS = (
    "oi olá tudo bem consulta limpeza clareamento canal avaliação horário amanhã manhã tarde "
    "quarta-feira às 08:00 14h30 R$ 150,00 Dra. Dr. Ana Souza paciente convênio particular "
    "confirmar remarcar cancelar obrigado(a) 😊 👍 nº 42 sala 3 - Av. Paulista e o a de da "
    'para com sem por favor não sim talvez já 11/03 (seg) "ok" *importante* _lembrete_'
).split()
URLS = [
    "https://clinica.com.br/agenda",
    "https://pag.ae/7Zx-9Ab?ref=wa&x=1",
    "https://maps.app.goo.gl/AbC123",
    "https://pt.wikipedia.org/wiki/Clareamento_(odontologia)",
    "www.clinicaexemplo.com.br/precos",
]
ENDINGS = [".", "!", "?", "…", ":", ""]
AROUND = [("", ""), ("", "."), ("(", ")"), ("*", "*"), ("", "!"), ("“", "”"), ("", ",")]
LETTERS_AND_DIGITS = re.compile(r"[\W_]+")


def _sentence(rng: random.Random, *, long_words: bool) -> str:
    words = rng.choices(WORDS, k=rng.randint(1, 18))
    if long_words and rng.random() < 0.05:
        words.insert(rng.randrange(len(words) + 1), "y" * rng.randint(30, 300))
    return " ".join(words) + rng.choice(ENDINGS)


def _paragraph(rng: random.Random, *, long_words: bool) -> str:
    if rng.random() < 0.2:  # a numbered list
        return "\n".join(f"{n}. {_sentence(rng, long_words=False)}" for n in range(1, rng.randint(2, 6)))
    return " ".join(_sentence(rng, long_words=long_words) for _ in range(rng.randint(1, 6)))


def random_reply(rng: random.Random, *, copyables: bool) -> tuple[str, list[str]]:
    """A reply, and the copyables put in it (in order)."""
    parts: list[str] = []
    placed: list[str] = []
    for _ in range(rng.randint(1, 6)):
        paragraph = _paragraph(rng, long_words=True)
        if copyables and rng.random() < 0.5:
            item = rng.choice([*URLS, PIX, ADDRESS])
            left, right = rng.choice(AROUND)
            words = paragraph.split(" ")
            at = rng.randrange(len(words) + 1)
            words.insert(at, f"{left}{item}{right}")
            paragraph = " ".join(words)
            placed.append(item)
        parts.append(paragraph)
    separators = ["\n\n", "\n", " ", "\n \n"]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(separators) + part
    return text, placed


CASES = 1000
LIMITS = [30, 60, 120, 300, 1000]


def _tokens_fit_or_unbreakable(bubble: str, max_chars: int, copyables: list[str]) -> bool:
    return len(bubble) <= max_chars or len(bubble.split()) == 1 or bubble in copyables


@pytest.mark.parametrize("seed", range(3))
def test_plain_replies_keep_every_word_whole_and_in_order(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(CASES):
        text, _ = random_reply(rng, copyables=False)
        max_chars = rng.choice(LIMITS)

        bubbles = split_reply(text, max_chars=max_chars)

        context = f"max_chars={max_chars} text={text!r} bubbles={bubbles!r}"
        assert bubbles, context
        assert all(b and b == b.strip() for b in bubbles), context
        assert " ".join(bubbles).split() == text.split(), context  # nothing lost, nothing cut
        assert all(_tokens_fit_or_unbreakable(b, max_chars, []) for b in bubbles), context
        # As few bubbles as fit: no two neighbours would have fitted in one.
        assert all(len(a) + 2 + len(b) > max_chars for a, b in pairwise(bubbles)), context
        if len(text.strip()) <= max_chars:
            assert bubbles == [text.strip()], context


@pytest.mark.parametrize("seed", range(3))
def test_copyables_are_alone_and_nothing_readable_is_lost(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(CASES):
        text, placed = random_reply(rng, copyables=True)
        max_chars = rng.choice(LIMITS)

        bubbles = split_reply(text, max_chars=max_chars, own_bubble=[ADDRESS])

        context = f"max_chars={max_chars} text={text!r} bubbles={bubbles!r}"
        assert all(b and b == b.strip() for b in bubbles), context
        # Every letter and digit, in order: only spaces and stray punctuation may go.
        assert LETTERS_AND_DIGITS.sub("", "".join(bubbles)) == LETTERS_AND_DIGITS.sub("", text), context
        # Each copyable placed is exactly one bubble, in the order placed...
        lifted = [b for b in bubbles if b in placed]
        assert lifted == placed, context
        # ...and no other bubble carries one (or a piece of a link).
        for bubble in bubbles:
            if bubble not in placed:
                assert not any(item in bubble for item in placed), context
                assert "://" not in bubble and "www." not in bubble, context
        assert all(_tokens_fit_or_unbreakable(b, max_chars, placed) for b in bubbles), context
