"""pt-BR date expressions resolve to the days and times a patient means."""

from __future__ import annotations

from datetime import date, time

import pytest

from atende.tenant import Holiday
from atende.tools.booking import holiday_terms
from atende.tools.dates import PERIOD_BOUNDS, DateQuery, Period, parse_when
from helpers import example_tenant

TUESDAY = date(2026, 3, 10)  # a Tuesday


def d(day: int, month: int = 3, year: int = 2026) -> date:
    return date(year, month, day)


def when(text: str, today: date = TUESDAY) -> DateQuery:
    query = parse_when(text, today)
    assert query is not None, f"{text!r} was not understood"
    return query


@pytest.mark.parametrize(
    ("text", "day_from", "day_to"),
    [
        ("hoje", d(10), d(10)),
        ("amanhã", d(11), d(11)),
        ("amanha", d(11), d(11)),
        ("AMANHÃ", d(11), d(11)),
        ("depois de amanhã", d(12), d(12)),
        ("segunda", d(16), d(16)),
        ("segunda-feira", d(16), d(16)),
        ("na segunda feira", d(16), d(16)),
        ("terça", d(10), d(10)),  # today's weekday name means today
        ("terca", d(10), d(10)),
        ("terça-feira", d(10), d(10)),
        ("quarta", d(11), d(11)),
        ("quinta", d(12), d(12)),
        ("sexta", d(13), d(13)),
        ("sábado", d(14), d(14)),
        ("sabado", d(14), d(14)),
        ("domingo", d(15), d(15)),
        ("na próxima sexta", d(20), d(20)),
        ("proxima segunda", d(16), d(16)),
        ("sexta que vem", d(20), d(20)),
        ("terça que vem", d(17), d(17)),
        ("próximo sábado", d(21), d(21)),
        ("essa sexta", d(13), d(13)),
        ("semana que vem", d(16), d(22)),
        ("na próxima semana", d(16), d(22)),
        ("semana que vem na quarta", d(18), d(18)),
        ("essa semana", d(10), d(15)),
        ("esta semana", d(10), d(15)),
        ("dia 15", d(15), d(15)),
        ("dia 10", d(10), d(10)),
        ("dia 5", d(5, 4), d(5, 4)),  # already past this month
        ("15/03", d(15), d(15)),
        ("15/3", d(15), d(15)),
        ("15/03/2027", d(15, 3, 2027), d(15, 3, 2027)),
        ("9/3", d(9, 3, 2027), d(9, 3, 2027)),  # already past this year
        ("2026-03-16", d(16), d(16)),
        ("15 de abril", d(15, 4), d(15, 4)),
        ("dia 15 do mês que vem", d(15, 4), d(15, 4)),
        ("fim de semana", d(14), d(15)),
        ("mês que vem", d(1, 4), d(30, 4)),
        ("sexta dia 13", d(13), d(13)),
        ("hoje ou amanhã", d(10), d(11)),
        # a count of days is that day; weeks and months, the week (Monday to Sunday) they land in
        ("daqui a 10 dias", d(20), d(20)),
        ("daqui a quinze dias", d(25), d(25)),
        ("em 2 dias", d(12), d(12)),
        ("daqui a uma semana", d(16), d(22)),
        ("daqui uma semana", d(16), d(22)),
        ("daqui a 2 semanas", d(23), d(29)),
        ("dentro de duas semanas", d(23), d(29)),
        ("daqui a 2 semanas na sexta", d(27), d(27)),
        ("daqui a um mês", d(6, 4), d(12, 4)),
        ("daqui a 3 meses", d(8, 6), d(14, 6)),
        # a month by name: this year's unless over, its beginning, middle or end
        ("em junho", d(1, 6), d(30, 6)),
        ("pra junho", d(1, 6), d(30, 6)),
        ("em março", d(10), d(31)),  # the rest of this month
        ("em fevereiro", d(1, 2, 2027), d(28, 2, 2027)),
        ("no começo de maio", d(1, 5), d(10, 5)),
        ("meados de abril", d(11, 4), d(20, 4)),
        ("no fim de maio", d(21, 5), d(31, 5)),
        ("no final do mês de abril", d(21, 4), d(30, 4)),
        ("em junho, dia 15", d(15, 6), d(15, 6)),
        ("em junho de 2027", d(1, 6, 2027), d(30, 6, 2027)),
    ],
)
def test_days(text: str, day_from: date, day_to: date) -> None:
    query = when(text)
    assert (query.day_from, query.day_to) == (day_from, day_to)
    assert query.ambiguous is None


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("de manhã", "manha"),
        ("pela manhã", "manha"),
        ("manhã", "manha"),
        ("pela manha", "manha"),
        ("à tarde", "tarde"),
        ("a tarde", "tarde"),
        ("de tarde", "tarde"),
        ("À TARDE", "tarde"),
        ("à noite", "noite"),
        ("de noite", "noite"),
    ],
)
def test_periods_without_a_day_mean_the_soonest(text: str, period: Period) -> None:
    assert when(text) == DateQuery(None, None, period, None)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("às 10h", time(10)),
        ("as 10h", time(10)),
        ("10h", time(10)),
        ("10 horas", time(10)),
        ("10:30", time(10, 30)),
        ("10h30", time(10, 30)),
        ("às 14", time(14)),
        ("às 14h", time(14)),
        ("meio-dia", time(12)),
        ("meio dia", time(12)),
        ("às 9 e meia", time(9, 30)),
        ("às 3", time(15)),  # clinics are closed at 3 a.m.
        ("às 3 da tarde", time(15)),
        ("8 da noite", time(20)),
    ],
)
def test_times(text: str, at: time) -> None:
    query = when(text)
    assert query.at == at
    assert query.day_from is None


def test_the_example_sentence() -> None:
    query = when("Oi, quero marcar uma limpeza amanhã de manhã")
    assert query == DateQuery(d(11), d(11), "manha", None)
    assert query.describe() == "amanhã (qua, 11/03) de manhã"


def test_day_with_time() -> None:
    assert parse_when("dia 15 às 10h", TUESDAY) == DateQuery(d(15), d(15), None, time(10))
    assert parse_when("tem vaga dia 15 as 10?", TUESDAY) == DateQuery(d(15), d(15), None, time(10))
    assert parse_when("15/03 às 14:30", TUESDAY) == DateQuery(d(15), d(15), None, time(14, 30))
    assert parse_when("sexta às 9h da manhã", TUESDAY) == DateQuery(d(13), d(13), "manha", time(9))
    assert parse_when("2026-03-16T10:00", TUESDAY) == DateQuery(d(16), d(16), None, time(10))


def test_day_with_period_in_a_sentence() -> None:
    query = parse_when("Boa tarde! Vocês têm horário na quinta à tarde?", TUESDAY)
    assert query == DateQuery(d(12), d(12), "tarde", None)


@pytest.mark.parametrize(
    "text",
    [
        "quero fazer uma limpeza",
        "preciso tratar 2 dentes",
        "quanto custa? R$ 180?",
        "a primeira",
        "o segundo",
        "a segunda",  # picking the second offered slot
        "quero a quinta opção",
        "boa tarde",
        "boa noite, tudo bem?",
        "bom dia",
        "a consulta leva 1 hora?",
        "as 2 primeiras",
        "tenho 30 anos",
        "quero marcar com o Marco",  # a name, not March
        "em 2 horas",
        "de 15 em 15 minutos",
    ],
)
def test_not_date_expressions(text: str) -> None:
    assert parse_when(text, TUESDAY) is None


def test_numbers_beside_a_date_are_not_times() -> None:
    query = parse_when("quero tratar 2 dentes amanhã, paguei R$ 180", TUESDAY)
    assert query == DateQuery(d(11), d(11), None, None)


@pytest.mark.parametrize(
    ("text", "today", "note"),
    [
        ("dia 31", date(2026, 4, 10), "Abril não tem dia 31."),
        ("dia 30", date(2026, 1, 31), "Fevereiro não tem dia 30."),
        ("15/13", TUESDAY, "15/13 não é uma data válida."),
        ("31/04", TUESDAY, "31/04 não é uma data válida."),
        ("10/02/2026", TUESDAY, "10/02/2026 já passou."),
        ("quarta dia 13", TUESDAY, "13/03 é sexta, não quarta."),
        ("em junho de 2025", TUESDAY, "Junho de 2025 já passou."),
        ("em junho, dia 31", TUESDAY, "31 de junho não é uma data válida."),
    ],
)
def test_ambiguous_days_leave_the_day_open_with_a_note(text: str, today: date, note: str) -> None:
    query = when(text, today)
    assert query.ambiguous == note
    assert query.day_from is None and query.day_to is None
    assert query.describe() == note


def test_year_end_rollover() -> None:
    december = date(2026, 12, 28)  # a Monday
    assert when("dia 5", december).day_from == date(2027, 1, 5)
    assert when("02/01", december).day_from == date(2027, 1, 2)
    week = when("semana que vem", december)
    assert week == DateQuery(date(2027, 1, 4), date(2027, 1, 10), None, None)
    assert week.describe() == "seg 04/01/2027 a dom 10/01/2027"


def test_weekday_on_sunday() -> None:
    sunday = date(2026, 3, 15)
    assert when("domingo", sunday).day_from == sunday
    assert when("segunda", sunday).day_from == d(16)
    assert when("segunda que vem", sunday).day_from == d(16)
    assert parse_when("essa semana", sunday) == DateQuery(sunday, sunday, None, None)


def test_exact_time_wins_over_a_conflicting_period() -> None:
    assert parse_when("de manhã ou à tarde", TUESDAY) is None  # no restriction at all
    query = parse_when("amanhã de tarde às 10h", TUESDAY)
    assert query == DateQuery(d(11), d(11), None, time(10))


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("hoje à noite", "hoje (ter, 10/03) à noite"),
        ("amanhã às 10h", "amanhã (qua, 11/03) às 10:00"),
        ("depois de amanhã", "depois de amanhã (qui, 12/03)"),
        ("sexta de manhã", "sex 13/03 de manhã"),
        ("semana que vem", "seg 16/03 a dom 22/03"),
        ("às 14h", "os próximos dias às 14:00"),
        ("15/03/2027", "seg 15/03/2027"),
        ("daqui a 2 semanas", "seg 23/03 a dom 29/03"),
        ("no começo de maio", "sex 01/05 a dom 10/05"),
    ],
)
def test_describe(text: str, described: str) -> None:
    query = when(text)
    assert query.describe() == described


def test_period_bounds() -> None:
    assert PERIOD_BOUNDS == {
        "manha": (time(6), time(12)),
        "tarde": (time(12), time(18)),
        "noite": (time(18), time(23, 59)),
    }


def test_holiday_names_from_the_clinic_calendar() -> None:
    terms = holiday_terms(example_tenant(), TUESDAY)
    assert terms["tiradentes"] == d(21, 4) == terms["proximo feriado"]
    assert terms["consciencia negra"] == terms["dia da consciencia negra"] == d(20, 11)
    assert terms["natal"] == d(25, 12)
    assert terms["ano novo"] == d(1, 1, 2027)  # 2026's is over, 2027's is in the file
    labour = example_tenant().model_copy(update={"holidays": [
        Holiday(date=d(1, 5), name="Dia do Trabalho")]})
    assert set(holiday_terms(labour, TUESDAY)) == {"dia do trabalho", "proximo feriado"}
    assert holiday_terms(example_tenant(), d(22, 4))["tiradentes"] == d(21, 4)  # said as past


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("quinze pras dez", time(9, 45)),
        ("quinze para as dez", time(9, 45)),
        ("amanhã, dez pras três", time(14, 50)),  # a bare 1-6 is the afternoon
        ("cinco pro meio-dia", time(11, 55)),
        ("lá pelas 4", time(16)),
        ("umas oito", time(8)),
        ("sábado umas oito e meia", time(8, 30)),
        ("tipo 3 da tarde", time(15)),
        ("antes do trampo, tipo 7h", time(7)),  # the time they gave wins over "the earliest"
        ("meio dia e meia", time(12, 30)),
        ("as 7 da noite", time(19)),
        ("as três da tarde", time(15)),
    ],
)
def test_times_inside_phrases(text: str, at: time) -> None:
    query = when(text)
    assert (query.at, query.after, query.before) == (at, None, None)


@pytest.mark.parametrize(
    ("text", "after", "before"),
    [
        ("no fim do dia", time(17), None),
        ("a partir de 10h", time(10), None),  # a bound (issue 14), no longer the exact time
        ("depois das 18h na segunda que vem", time(18), None),
        ("após as 2", time(14), None),
        ("antes das 10", None, time(10)),
        ("sexta no final do expediente", time(17), None),
        ("depois do almoço", time(13), None),
        ("cedinho", None, time(9)),
        ("bem cedo", None, time(9)),
        ("antes do trabalho", None, time(9)),
        ("antes do trabalho, entro às 8", None, time(8)),
        ("antes do almoço", None, time(12)),
    ],
)
def test_moments_of_the_day_are_windows(text: str, after: time | None,
                                        before: time | None) -> None:
    query = when(text)
    assert (query.at, query.after, query.before) == (None, after, before)


def test_a_window_keeps_the_day_and_reads_in_describe() -> None:
    query = when("quinta depois do almoço")
    assert (query.day_from, query.day_to) == (d(12), d(12))
    assert query.describe() == "qui 12/03 a partir das 13:00"
    assert when("hj la pelas 4").day_from == d(10)  # "hj" is "hoje"


@pytest.mark.parametrize("text", ["quero as tres primeiras", "as duas opções", "umas duas vezes"])
def test_counts_are_not_hours(text: str) -> None:
    query = parse_when(text, TUESDAY)
    assert query is None or query.at is None
