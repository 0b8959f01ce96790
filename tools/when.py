"""When a patient wants a slot, from the two things a model can send `check_availability`: the
patient's words (read by `dates.parse_when`) and structured arguments (ISO dates, a time window,
an exact time, a period), checked here and laid over what the words say."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, time

from atende.errors import PolicyViolation
from atende.tenant import fold
from atende.tools.dates import PERIOD_BOUNDS, DateQuery, Period

# What a model reads when the words could not be read: the arguments to send instead.
RETRY_HINT = (
    "Envie o pedido em argumentos: `date` (AAAA-MM-DD), com `date_to` (AAAA-MM-DD) para um "
    "intervalo; `time` (HH:MM) para um horário exato ou `time_from`/`time_to` (HH:MM) para uma "
    "janela; `period` (\"manha\", \"tarde\" ou \"noite\"). Se o paciente não disse o dia, "
    "pergunte a ele."
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")
_PERIODS: tuple[Period, ...] = ("manha", "tarde", "noite")


@dataclass(frozen=True)
class Asked:
    """The structured day/time arguments as the model sent them (unchecked strings)."""

    date: str | None = None
    date_to: str | None = None
    time: str | None = None
    time_from: str | None = None
    time_to: str | None = None
    period: str | None = None

    def given(self) -> bool:
        return any(_filled(getattr(self, f.name)) for f in fields(self))


NOTHING_ASKED = Asked()


def _filled(value: str | None) -> bool:
    return bool(value and value.strip())


def _day(name: str, value: str | None) -> date | None:
    if not _filled(value):
        return None
    assert value is not None
    text = value.strip()
    try:
        if _ISO_DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise PolicyViolation(
        f"`{name}` deve ser uma data AAAA-MM-DD (ex.: 2026-03-11); recebi “{text}”.", hint=RETRY_HINT
    )


def _time(name: str, value: str | None) -> time | None:
    if not _filled(value):
        return None
    assert value is not None
    text = value.strip()
    match = _HH_MM.match(text)
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        return time(int(match.group(1)), int(match.group(2)))
    raise PolicyViolation(
        f"`{name}` deve ser um horário HH:MM (ex.: 14:30); recebi “{text}”.", hint=RETRY_HINT
    )


def _period(value: str | None) -> Period | None:
    if not _filled(value):
        return None
    assert value is not None
    folded = fold(value.strip())
    for period in _PERIODS:
        if folded == period:
            return period
    raise PolicyViolation(
        f"`period` deve ser \"manha\", \"tarde\" ou \"noite\"; recebi “{value.strip()}”.",
        hint=RETRY_HINT,
    )


def _structured(asked: Asked, today: date) -> DateQuery:
    """The structured arguments checked: days (None, None when not given), period, time, window."""
    first, last = _day("date", asked.date), _day("date_to", asked.date_to)
    if last is not None and first is not None and last < first:
        raise PolicyViolation(f"`date_to` ({last:%Y-%m-%d}) é antes de `date` ({first:%Y-%m-%d}).")
    last = last or first
    if last is not None and last < today:
        raise PolicyViolation(f"{last:%d/%m/%Y} já passou (hoje é {today:%d/%m/%Y}).")
    if last is not None:
        first = max(first or today, today)  # a range that began in the past begins today
    after, before = _time("time_from", asked.time_from), _time("time_to", asked.time_to)
    if after is not None and before is not None and before <= after:
        raise PolicyViolation(f"`time_to` ({before:%H:%M}) deve ser depois de `time_from` "
                              f"({after:%H:%M}).")
    return DateQuery(first, last, _period(asked.period), _time("time", asked.time),
                     after=after, before=before)


def refine(when: str | None, words: DateQuery | None, asked: Asked, today: date
           ) -> DateQuery | None:
    """One query from the words (`words`, read from `when`) and the structured arguments: each
    structured value given replaces what the words said of it; None = the soonest slots.

    Raises PolicyViolation (pt-BR, for the patient, with `hint` for the model where it can fix
    it) when `when` cannot be read and nothing structured came, when the words leave the day
    open and no `date` settles it, or when a structured value is malformed or past.
    """
    said = _filled(when)
    if not asked.given():
        if said and words is None:
            # never answer "em junho" with March: say the date was not understood
            raise PolicyViolation(
                f"Não entendi a data “{(when or '').strip()}”. Pode dizer o dia, por exemplo "
                "“amanhã”, “sexta à tarde”, “dia 15” ou “15/04”?",
                hint=RETRY_HINT,
            )
        if words is not None and words.ambiguous:
            raise PolicyViolation(words.ambiguous)
        return words
    sent = _structured(asked, today)
    base = words or DateQuery(None, None, None, None)
    if sent.day_from is not None:
        other_year = any(d.year != today.year for d in (sent.day_from, sent.day_to) if d)
        base = replace(base, day_from=sent.day_from, day_to=sent.day_to, ambiguous=None,
                       word=None, other_year=other_year)
    elif base.ambiguous:
        raise PolicyViolation(base.ambiguous)
    at = sent.at or (base.at if sent.after is None and sent.before is None else None)
    period, after, before = sent.period or base.period, sent.after, sent.before
    if at is not None:
        # an exact time is more specific than a part of the day or a window that excludes it
        low, high = PERIOD_BOUNDS[period] if period else (time.min, time.max)
        period = period if low <= at < high else None
        if not (after or time.min) <= at < (before or time.max):
            after = before = None
    return replace(base, period=period, at=at, after=after, before=before)
