"""The structured day/time arguments of `check_availability`: checked, and laid over the words."""

from __future__ import annotations

from datetime import date, time

import pytest

from atende.errors import PolicyViolation
from atende.tools.dates import DateQuery, parse_when
from atende.tools.when import RETRY_HINT, Asked, refine

TUESDAY = date(2026, 3, 10)


def d(day: int) -> date:
    return date(2026, 3, day)


def ask(when: str | None = None, **structured: str) -> DateQuery | None:
    words = parse_when(when, TUESDAY) if when else None
    return refine(when, words, Asked(**structured), TUESDAY)


def test_words_alone_read_as_before() -> None:
    assert ask("sexta de manhã") == DateQuery(d(13), d(13), "manha", None)
    assert ask() is None  # nothing said: the soonest slots
    assert ask("  ") is None


def test_an_unreadable_when_names_the_arguments_to_send_instead() -> None:
    with pytest.raises(PolicyViolation) as seen:
        ask("no dezoito, saindo da fisio")
    assert str(seen.value).startswith("Não entendi a data “no dezoito, saindo da fisio”.")
    assert seen.value.hint == RETRY_HINT
    for argument in ("`date` (AAAA-MM-DD)", "`date_to` (AAAA-MM-DD)", "`time` (HH:MM)",
                     "`time_from`/`time_to` (HH:MM)", '"manha", "tarde" ou "noite"'):
        assert argument in seen.value.hint


def test_structured_arguments_alone() -> None:
    assert ask(date="2026-03-18") == DateQuery(d(18), d(18), None, None)
    assert ask(date="2026-03-16", date_to="2026-03-20", period="tarde") == DateQuery(
        d(16), d(20), "tarde", None)
    assert ask(date="2026-03-18", time="16:30") == DateQuery(d(18), d(18), None, time(16, 30))
    window = ask(date="2026-03-18", time_from="16:30", time_to="17:30")
    assert window == DateQuery(d(18), d(18), None, None, after=time(16, 30), before=time(17, 30))
    assert window is not None and window.describe() == "qua 18/03 entre 16:30 e 17:30"
    assert ask(time_from="14:00") == DateQuery(None, None, None, None, after=time(14))
    assert ask(period="manhã") == DateQuery(None, None, "manha", None)  # accents tolerated


def test_an_unreadable_when_with_structured_arguments_is_no_error() -> None:
    query = ask("no dezoito, saindo da fisio", date="2026-03-18", time_from="16:30",
                time_to="17:30")
    assert query == DateQuery(d(18), d(18), None, None, after=time(16, 30), before=time(17, 30))


def test_structured_values_refine_the_words() -> None:
    # the words' day, the structured window; the words' period kept where it still fits
    assert ask("amanhã de manhã", time_from="10:00") == DateQuery(
        d(11), d(11), "manha", None, after=time(10))
    # a structured day replaces the words' day (and their "amanhã" label)
    moved = ask("amanhã à tarde", date="2026-03-12")
    assert moved == DateQuery(d(12), d(12), "tarde", None)
    assert moved is not None and moved.describe() == "qui 12/03 à tarde"
    # an exact time is more specific than a period or a window that excludes it
    assert ask("sexta de manhã", time="15:00") == DateQuery(d(13), d(13), None, time(15))
    assert ask("sexta às 10h", time_from="14:00", time_to="16:00") == DateQuery(
        d(13), d(13), None, None, after=time(14), before=time(16))
    # a structured date settles a day the words left open
    assert ask("31/04", date="2026-04-30") == DateQuery(date(2026, 4, 30), date(2026, 4, 30),
                                                        None, None)


def test_words_that_leave_the_day_open_still_ask_the_patient() -> None:
    with pytest.raises(PolicyViolation, match=r"31/04 não é uma data válida\."):
        ask("31/04")
    with pytest.raises(PolicyViolation, match=r"31/04 não é uma data válida\."):
        ask("31/04", period="tarde")


def test_a_range_that_started_yesterday_starts_today() -> None:
    assert ask(date="2026-03-09", date_to="2026-03-12") == DateQuery(d(10), d(12), None, None)
    assert ask(date_to="2026-03-12") == DateQuery(d(10), d(12), None, None)


@pytest.mark.parametrize(("structured", "message"), [
    ({"date": "18/03/2026"}, "`date` deve ser uma data AAAA-MM-DD (ex.: 2026-03-11); recebi “18/03/2026”."),
    ({"date": "2026-02-30"}, "`date` deve ser uma data AAAA-MM-DD"),
    ({"date": "2026-03-18", "date_to": "amanhã"}, "`date_to` deve ser uma data AAAA-MM-DD"),
    ({"time": "4pm"}, "`time` deve ser um horário HH:MM (ex.: 14:30); recebi “4pm”."),
    ({"time_from": "25:00"}, "`time_from` deve ser um horário HH:MM"),
    ({"time_to": "17h"}, "`time_to` deve ser um horário HH:MM"),
    ({"period": "morning"}, "`period` deve ser \"manha\", \"tarde\" ou \"noite\"; recebi “morning”."),
    ({"date": "2026-03-18", "date_to": "2026-03-16"},
     "`date_to` (2026-03-16) é antes de `date` (2026-03-18)."),
    ({"time_from": "17:00", "time_to": "16:00"},
     "`time_to` (16:00) deve ser depois de `time_from` (17:00)."),
    ({"date": "2026-03-02"}, "02/03/2026 já passou (hoje é 10/03/2026)."),
    ({"date": "2026-03-02", "date_to": "2026-03-09"}, "09/03/2026 já passou"),
])
def test_bad_structured_values_name_the_argument(structured: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyViolation) as seen:
        ask("amanhã", **structured)
    assert str(seen.value).startswith(message)
