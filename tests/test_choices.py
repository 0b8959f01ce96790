"""Numbered options in a reply become Meta list rows; anything else stays text."""

from atende.server.channels.meta.choices import Choice, extract_choices

OFFER = """Horários disponíveis para Limpeza:
1. qua 11/03 às 08:00 com Dra. Ana Souza
2. qua 11/03 às 08:30 com Dra. Carla Mendes
3. qua 11/03 às 09:00 com Dra. Ana Souza
Qual prefere? Responda com o número ou o horário."""


def test_slot_offer_becomes_rows_with_the_professional_as_description():
    body, choices = extract_choices(OFFER)
    assert body == ("Horários disponíveis para Limpeza:\n"
                    "Qual prefere? Responda com o número ou o horário.")
    assert choices[0] == Choice("opcao-1", "1. qua 11/03 às 08:00", "com Dra. Ana Souza")
    assert [c.title[:2] for c in choices] == ["1.", "2.", "3."]


def test_text_without_a_clean_run_of_options_is_left_alone():
    for text in ("Oi! Como posso ajudar?",
                 "1. só uma opção",
                 "1. a\n3. b",  # not 1..N
                 "1. a\ntexto no meio\n2. b",  # not one block
                 "1. " + "x" * 40 + "\n2. y"):  # title over Meta's 24 characters
        assert extract_choices(text) == (text, [])
