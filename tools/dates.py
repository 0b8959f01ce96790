"""pt-BR date and time expressions ("amanhã de manhã", "sexta às 10h") resolved against a day."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Literal

from atende.tenant import fold

Period = Literal["manha", "tarde", "noite"]

PERIOD_BOUNDS: dict[Period, tuple[time, time]] = {
    "manha": (time(6, 0), time(12, 0)),
    "tarde": (time(12, 0), time(18, 0)),
    "noite": (time(18, 0), time(23, 59)),
}
WEEKDAY_ABBR = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")
_WEEKDAY_NAMES = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")
_WEEKDAY_WORDS = ("segunda", "terca", "quarta", "quinta", "sexta", "sabado", "domingo")
_MONTH_NAMES = tuple(
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro".split()
)
_MONTH_WORDS = tuple(fold(m) for m in _MONTH_NAMES)
_PERIOD_TEXT: dict[Period, str] = {"manha": "de manhã", "tarde": "à tarde", "noite": "à noite"}


def day_label(day: date, *, year: bool = False) -> str:
    """'qua 11/03' (or 'qua 11/03/2027') — the short pt-BR name of a day."""
    return f"{WEEKDAY_ABBR[day.weekday()]} {day:{'%d/%m/%Y' if year else '%d/%m'}}"


@dataclass(frozen=True)
class DateQuery:
    """What a patient asked for. `day_from`/`day_to` are inclusive; both None = the soonest.

    When `ambiguous` is set the day could not be resolved (both days are None): ask the patient.
    `after`/`before` bound the start times (from `after` inclusive to `before` exclusive).
    """

    day_from: date | None
    day_to: date | None
    period: Period | None
    at: time | None
    ambiguous: str | None = None
    after: time | None = None
    before: time | None = None
    word: str | None = field(default=None, compare=False, repr=False)  # "hoje", "amanhã", ...
    other_year: bool = field(default=False, compare=False, repr=False)  # show the year

    def describe(self) -> str:
        """Short pt-BR, e.g. 'amanhã (qua, 11/03) de manhã' or 'seg 16/03 a dom 22/03'."""
        parts: list[str] = []
        if self.day_from is None or self.day_to is None:
            if self.ambiguous:
                return self.ambiguous
            parts.append("os próximos dias")
        elif self.day_from == self.day_to:
            day = self.day_from
            if self.word:
                parts.append(f"{self.word} ({WEEKDAY_ABBR[day.weekday()]}, {day:%d/%m})")
            else:
                parts.append(day_label(day, year=self.other_year))
        else:
            first, last = (day_label(d, year=self.other_year) for d in (self.day_from, self.day_to))
            parts.append(f"{first} a {last}")
        if self.period:
            parts.append(_PERIOD_TEXT[self.period])
        if self.at:
            parts.append(f"às {self.at:%H:%M}")
        elif self.after and self.before:
            parts.append(f"entre {self.after:%H:%M} e {self.before:%H:%M}")
        elif self.after or self.before:
            parts.append(f"a partir das {self.after:%H:%M}" if self.after
                         else f"antes das {self.before:%H:%M}")
        return " ".join(parts)


_Q_VEM = re.compile(r"\bq vem\b")
_DPS = re.compile(r"\bdps\b")
_PROX = re.compile(r"\bprox\.? (?=(\w+))")
_MASCULINE = {"mes", "sabado", "domingo", "fim", "final", "ano", "dia"}


class _Text:
    """The folded text; each accepted match is blanked so later patterns cannot reuse it."""

    def __init__(self, text: str):
        # "semana q vem", "sexta q vem": WhatsApp's "q" is "que"; "prox semana" is "próxima"
        s = _Q_VEM.sub("que vem", _DPS.sub("depois", " ".join(fold(text).split())))
        self.s = _PROX.sub(lambda m: "proximo " if m.group(1) in _MASCULINE else "proxima ", s)

    def take(
        self, pattern: re.Pattern[str], accept: Callable[[re.Match[str]], bool] = lambda m: True
    ) -> list[re.Match[str]]:
        found = [m for m in pattern.finditer(self.s) if accept(m)]
        for m in found:
            self.s = self.s[: m.start()] + " " * (m.end() - m.start()) + self.s[m.end() :]
        return found

    def before(self, m: re.Match[str]) -> str:
        return self.s[: m.start()].rstrip()


# -- days -------------------------------------------------------------------------------------

_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?=t|\b)")
_NUMERIC = re.compile(r"(?<![\d/:.,$])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])")
_MONTH_NAME = re.compile(
    r"\b(?:dia\s+)?(\d{1,2})o?\s+de\s+(" + "|".join(_MONTH_WORDS) + r")\b(?:\s+de\s+(\d{4})\b)?"
)
_DIA = re.compile(r"\bdia\s+(\d{1,2})o?\b(?![/:.,]\d)")
_MONTH_SCOPE = re.compile(
    r"\b(?:(?:d?o\s+)?(mes\s+que\s+vem|proximo\s+mes|mes\s+seguinte)|d?n?es[st]e\s+mes)\b"
)
_AFTER_TOMORROW = re.compile(r"\bdepois\s+de\s+amanha\b")
_TOMORROW = re.compile(r"\bamanha\b")
_TODAY = re.compile(r"\b(?:hoje|hj)\b")
_WEEKEND = re.compile(r"\b(proximo\s+)?(?:fim|final)\s+de\s+semana(\s+que\s+vem|\s+seguinte)?\b")
_WEEK = re.compile(r"\b(?:(semana\s+que\s+vem|proxima\s+semana|semana\s+seguinte)|n?es[st]a\s+semana)\b")
_WEEKDAY = re.compile(
    r"\b(?:(proxim[ao])\s+)?(" + "|".join(_WEEKDAY_WORDS) + r")(-?\s?feira)?"
    r"(\s+(?:que\s+vem|seguinte))?\b"
)
_COUNTS = {
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "quinze": 15,
    "vinte": 20, "trinta": 30,
}
# "daqui a 3 meses", "daqui uma semana", "em quinze dias", "dentro de 2 semanas"
SPAN_AHEAD = re.compile(
    r"\b(?:daqui\s+(?:a\s+)?|dentro\s+de\s+|em\s+)(?:(?:uns|umas|cerca\s+de)\s+)?"
    r"(\d{1,3}|" + "|".join(_COUNTS) + r")\s+(dias?|semanas?|mes|meses)\b"
)
# "em junho", "pra março", "no começo de maio", "fim de abril de 2027"; a month name needs its
# lead-in, so "com o Marco" is not March
MONTH_RANGE = re.compile(
    r"\b(?:(comeco|inicio|meados|meio|fim|final)\s+d[eo]\s+(?:mes\s+de\s+)?"
    r"|(?:em|para|pra|durante|(?:no\s+)?mes\s+de)\s+)"
    r"(" + "|".join(_MONTH_WORDS) + r")(?:\s+de\s+(\d{4}))?\b"
)
_MONTH_PART = {"comeco": (1, 10), "inicio": (1, 10), "meados": (11, 20), "meio": (11, 20),
               "fim": (21, 31), "final": (21, 31)}
# "a segunda", "a quinta", "segunda opção": ordinals picking an offered slot, not weekdays.
_ORDINAL_WEEKDAYS = {"segunda", "quarta", "quinta", "sexta"}
_ORDINAL_NOUN = re.compile(r"\s*(?:opcao|vez|alternativa|via|consulta|sessao|horario|vaga)\b")

# -- times ------------------------------------------------------------------------------------

_NOT_NUMBER = r"(?<![\d/:.,$])"  # not part of a date, a price or a longer number
_NOON = re.compile(r"\bmeio[- ]?dia(\s+e\s+meia)?\b")
_COLON = re.compile(_NOT_NUMBER + r"(\d{1,2}):(\d{2})(?![\d/:])(\s+e\s+meia)?")
_HOURS = re.compile(
    _NOT_NUMBER + r"(\d{1,2})\s?(?:h|hs|hrs?|horas?)"
    r"(?:\s?(\d{2})(?:\s?min(?:utos)?)?\b|\b)(\s+e\s+meia)?"
)
_OF_PERIOD = re.compile(  # "3 da tarde"
    _NOT_NUMBER + r"\b(\d{1,2})(\s+e\s+meia)?(?=\s+da\s+(?:manha|tarde|noite)\b)"
)
_AS_NUMBER = re.compile(  # "às 14", but not "as 2 primeiras"
    r"\b(?:as|das|pelas|umas|pras)\s+(\d{1,2})(\s+e\s+meia)?(?=\s*$|\s*[,.;:!?)]|\s+(?:e|ou|a|as|"
    r"ate|da|de|do|no|na|pela|pelo|com|em|hoje|amanha|depois|pode|por|pra|para|se|ta|ok|certo|"
    r"tem|teria|tinha|rola|consigo|seria|que|vc|voces|pfv|blz|beleza|"
    r"mesmo|entao|dessa|desta|nessa|nesta|proxim[ao]|semana|" + "|".join(_WEEKDAY_WORDS) + r")\b)"
)
# A number of hours after these words is a duration ("leva 1 hora"), not a time of day.
_DURATION_CUE = re.compile(
    r"\b(?:daqui\s+a|em|por|durante|dura|demora|leva|levar|ha|"
    r"(?<!partir )(?<!depois )(?<!antes )de)$"
)
# Hours as words ("umas oito", "quinze pras dez").
_HOUR_WORDS = {"uma": 1, "um": 1, "duas": 2, "dois": 2, "tres": 3, "quatro": 4, "cinco": 5,
               "seis": 6, "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12}
_MINUTE_WORDS = {"cinco": 5, "dez": 10, "quinze": 15, "vinte": 20, "vinte e cinco": 25}
_HOUR = r"(\d{1,2}|" + "|".join(_HOUR_WORDS) + r")"
# "quinze pras dez", "dez para as tres", "5 pro meio-dia": minutes before an hour
_TO_HOUR = re.compile(
    r"\b(" + "|".join(sorted(_MINUTE_WORDS, key=len, reverse=True)) + r"|\d{1,2})"
    r"(?:\s+min(?:utos)?)?\s+(?:pras|pra|para\s+as|para|pro|para\s+o)\s+(" + _HOUR[1:-1] + r"|meio[- ]?dia)\b"
)
# "umas oito", "as tres", "la pelas quatro": an hour in words after its usual lead-in
_AS_WORD = re.compile(
    r"\b(?:(?:pelas|umas|tipo)\s+(" + "|".join(_HOUR_WORDS) + r")(\s+e\s+meia)?\b"
    r"(?!\s+(?:primeir|opco|vez|hora|semana|dia|mes|pessoa|consulta|sess))"
    r"|(?:as|das)\s+(" + "|".join(_HOUR_WORDS) + r")(\s+e\s+meia)?"
    r"(?=\s*$|\s*[,.!?]|\s+(?:da\s+(?:manha|tarde|noite)|horas?)\b))"
)
# "tipo 3 da tarde", "tipo 7h": an approximate hour ("tipo" as a lead-in for a number)
_TIPO = re.compile(r"\btipo\s+(\d{1,2})(\s+e\s+meia)?\b(?!\s*[:/h]|\s+da\s)")
# Times of day said as a moment rather than a clock: each is a window of start times.
_LATE_DAY = re.compile(r"\b(?:n?o\s+)?(?:fim|final)\s+d[oa]\s+(?:dia|tarde|expediente)\b")
_EARLY = re.compile(
    r"\b(?:bem\s+cedo|cedinho|logo\s+cedo|primeira\s+hora|"
    r"antes\s+d[oe]\s+(?:trabalho|trampo|servico|expediente|serviço|emprego))\b"
)
_AFTER_LUNCH = re.compile(r"\b(?:depois|apos|dps)\s+d[oe]\s+almoco\b")
_BEFORE_LUNCH = re.compile(r"\bantes\s+d[oe]\s+almoco\b")
# "depois das 18h", "a partir das 14", "após as 10", "antes das 10": a bound, not the time
_BOUND = re.compile(r"\b(depois|a\s+partir|apos|antes)(?:\s+d[ea]s?|\s+as?)?\s*$")
# "entro as 9", "começo às 8": the start of the patient's day, so the slot ends before it
_WORK_STARTS = re.compile(r"\b(?:entro|comeco|pego|chego|bato\s+ponto)(?:\s+(?:no|la|ai|a))?"
                          r"(?:\s+(?:trabalho|trampo|servico))?\s*(?:as|a)?\s*$")
LATE_DAY_FROM = time(17, 0)  # "no fim do dia": the clinic's last hours
EARLY_BEFORE = time(9, 0)  # "cedinho", "antes do trabalho": the first hours
LUNCH_END = time(13, 0)
_PERIODS: tuple[tuple[Period, re.Pattern[str]], ...] = (
    ("manha", re.compile(r"\b(?:manha|manhazinha)\b")),
    ("tarde", re.compile(r"\b(?:tarde|tardinha)\b")),
    ("noite", re.compile(r"\b(?:noite|noitinha)\b")),
)
_NOT_PERIOD = re.compile(r"\b(?:boa|boas|mais|meia)[- ]?$")  # "boa tarde", "mais tarde"


@dataclass(frozen=True)
class _Said:
    """The times of day a message states: an exact (or approximate) time and a window."""

    at: time | None = None
    after: time | None = None
    before: time | None = None


def _find_time(t: _Text) -> _Said:
    """The first time of day written in the text, hours as written ("às 3" is 03:00 here), and
    the window the words give ("depois das 18h", "antes do trabalho", "no fim do dia")."""
    found: list[tuple[int, time, str]] = []

    def keep(m: re.Match[str], hour: int, minute: int, half: str | None) -> None:
        minute = 30 if half else minute
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            return
        lead = t.before(m)
        bound = _BOUND.search(lead)
        kind = "at"
        if _WORK_STARTS.search(lead):
            kind = "before"
        elif bound:
            kind = "before" if bound.group(1) == "antes" else "after"
        found.append((m.start(), time(hour, minute), kind))

    def hour_of(word: str) -> int:
        return int(word) if word.isdigit() else _HOUR_WORDS[word]

    for m in t.take(_TO_HOUR):
        minutes = int(m.group(1)) if m.group(1).isdigit() else _MINUTE_WORDS[m.group(1)]
        hour = 12 if m.group(2).startswith("meio") else hour_of(m.group(2))
        if 0 < minutes < 60 and 1 <= hour <= 23:
            keep(m, hour - 1, 60 - minutes, None)
    for m in t.take(_NOON):
        found.append((m.start(), time(12, 30 if m.group(1) else 0), "at"))
    for m in t.take(_COLON):
        keep(m, int(m.group(1)), int(m.group(2)), m.group(3))
    for m in t.take(_HOURS, lambda m: not _DURATION_CUE.search(t.before(m))):
        keep(m, int(m.group(1)), int(m.group(2) or 0), m.group(3))
    for m in t.take(_OF_PERIOD):
        keep(m, int(m.group(1)), 0, m.group(2))
    for m in t.take(_AS_NUMBER):
        keep(m, int(m.group(1)), 0, m.group(2))
    for m in t.take(_AS_WORD):
        keep(m, _HOUR_WORDS[m.group(1) or m.group(3)], 0, m.group(2) or m.group(4))
    for m in t.take(_TIPO):
        keep(m, int(m.group(1)), 0, m.group(2))
    at = min(((p, v) for p, v, k in found if k == "at"), default=(0, None))[1]
    after = min(((p, v) for p, v, k in found if k == "after"), default=(0, None))[1]
    before = min(((p, v) for p, v, k in found if k == "before"), default=(0, None))[1]
    if t.take(_AFTER_LUNCH):
        after = after or LUNCH_END
    if t.take(_BEFORE_LUNCH):
        before = before or time(12, 0)
    if t.take(_LATE_DAY):
        after = after or LATE_DAY_FROM
    if t.take(_EARLY) and at is None:
        before = before or EARLY_BEFORE
    return _Said(at, after, before)


def _find_period(t: _Text) -> Period | None:
    seen: set[Period] = set()
    for period, pattern in _PERIODS:
        if t.take(pattern, lambda m: not _NOT_PERIOD.search(t.before(m))):
            seen.add(period)
    # "de manhã ou à tarde" is no restriction at all
    return seen.pop() if len(seen) == 1 else None


_PM_HOURS: dict[Period | None, range] = {None: range(1, 7), "tarde": range(1, 7), "noite": range(6, 12)}


def _afternoon(at: time, period: Period | None) -> time:
    """'às 3' at a clinic means 15:00; 'às 8 da noite' means 20:00."""
    return at.replace(hour=at.hour + 12) if at.hour in _PM_HOURS.get(period, range(0)) else at


def _month_day(year: int, month: int, day: int) -> date | None:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


def _day_month(day: int, month: int, year: int | None, today: date, written: str) -> date | str:
    """A day of a month; without a year, this year's unless already past. str = why not."""
    if year is not None:
        found = _month_day(year, month, day)
        if found is None:
            return f"{written} não é uma data válida."
        return found if found >= today else f"{written} já passou."
    for y in (today.year, today.year + 1):
        found = _month_day(y, month, day)
        if found is not None and found >= today:
            return found
    return f"{written} não é uma data válida."


def _dia(day: int, today: date, next_month: bool) -> date | str:
    """'dia 15': this month if not past (or 'do mês que vem'), else next month."""
    year, month = today.year, today.month
    if next_month or day < today.day:
        year, month = _next_month(today)
    found = _month_day(year, month, day)
    if found is None:
        return f"{_MONTH_NAMES[month - 1].capitalize()} não tem dia {day}."
    return found


def _add_months(day: date, months: int) -> date:
    year, index = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, index + 1, min(day.day, calendar.monthrange(year, index + 1)[1]))


def _ahead(m: re.Match[str], today: date) -> tuple[date, bool]:
    """The day "daqui a N dias/semanas/meses" lands on, and whether the week around it is meant
    (a count of days names the day; weeks and months are approximate)."""
    count = int(m.group(1)) if m.group(1).isdigit() else _COUNTS[m.group(1)]
    unit = m.group(2)
    if unit.startswith("dia"):
        return today + timedelta(days=count), False
    if unit.startswith("semana"):
        return today + timedelta(weeks=count), True
    return _add_months(today, count), True


def _month_range(m: re.Match[str], today: date) -> tuple[date, date] | str:
    """"em junho" (or its beginning, middle, end): this year's unless over, else next year's."""
    month = _MONTH_WORDS.index(m.group(2)) + 1
    low, high = _MONTH_PART.get(m.group(1) or "", (1, 31))
    years = [int(m.group(3))] if m.group(3) else [today.year, today.year + 1]
    for year in years:
        last = date(year, month, min(high, calendar.monthrange(year, month)[1]))
        if last >= today:
            return date(year, month, low), last
    return f"{_MONTH_NAMES[month - 1].capitalize()} de {years[0]} já passou."


def _explicit_days(
    t: _Text, today: date
) -> tuple[list[date], list[str], tuple[date, date] | None]:
    """Dates written as numbers or with a month name; notes on the ones that can't be; and the
    month the patient narrowed to ("mês que vem", "em junho") as a range."""
    found: list[date | str] = []
    for m in t.take(_ISO):
        y, mo, d = (int(g) for g in m.groups())
        found.append(_day_month(d, mo, y, today, f"{d:02d}/{mo:02d}/{y}"))
    for m in t.take(_NUMERIC):
        short = int(m.group(3)) if m.group(3) else None
        year = short + 2000 if short is not None and short < 100 else short
        found.append(_day_month(int(m.group(1)), int(m.group(2)), year, today, m.group(0)))
    for m in t.take(_MONTH_NAME):
        day, month = int(m.group(1)), _MONTH_WORDS.index(m.group(2)) + 1
        year = int(m.group(3)) if m.group(3) else None
        found.append(_day_month(day, month, year, today, f"{day} de {_MONTH_NAMES[month - 1]}"))
    scope: tuple[date, date] | None = None
    named = t.take(MONTH_RANGE)
    scopes = t.take(_MONTH_SCOPE)
    next_month = bool(scopes and scopes[0].group(1))
    if named:
        span = _month_range(named[0], today)
        if isinstance(span, str):
            found.append(span)
        else:
            scope = span
    elif scopes:
        year, month = _next_month(today) if next_month else (today.year, today.month)
        scope = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    for m in t.take(_DIA):
        day = int(m.group(1))
        if named and scope:  # "em junho, dia 15"
            first = scope[0]
            written = f"{day} de {_MONTH_NAMES[first.month - 1]}"
            found.append(_day_month(day, first.month, first.year, today, written))
        else:
            found.append(_dia(day, today, next_month))
    days = [f for f in found if isinstance(f, date)]
    notes = [f for f in found if isinstance(f, str)]
    return days, notes, scope


def _is_ordinal(t: _Text, m: re.Match[str]) -> bool:
    if m.group(1) or m.group(3) or m.group(4) or m.group(2) not in _ORDINAL_WEEKDAYS:
        return False
    return bool(re.search(r"\b[ao]$", t.before(m)) or _ORDINAL_NOUN.match(t.s, m.end()))


def _named_days(t: _Text, today: date, monday: date | None) -> tuple[list[date], list[int]]:
    """Weekday names: their dates (in the week starting `monday`, if one was named) and which
    weekdays were named."""
    days: list[date] = []
    named: list[int] = []
    for m in t.take(_WEEKDAY, lambda m: not _is_ordinal(t, m)):
        wd = _WEEKDAY_WORDS.index(m.group(2))
        named.append(wd)
        week = monday or (_monday(today, weeks=1) if m.group(1) or m.group(4) else None)
        if week is not None:
            days.append(week + timedelta(days=wd))
        else:
            days.append(today + timedelta(days=(wd - today.weekday()) % 7))
    return days, named


def _monday(today: date, *, weeks: int) -> date:
    return today - timedelta(days=today.weekday() - 7 * weeks)


def parse_when(text: str, today: date) -> DateQuery | None:
    """Resolve the patient's words about when, relative to `today` (the clinic's local date).

    Returns None when `text` holds no date or time expression. Rules:
    - a weekday name is its next occurrence, today included ("terça" on a Tuesday is today);
      "próxima terça" / "terça que vem" is the one in next week (Monday to Sunday);
    - "dia 15" is this month unless already past, then next month; "15/03" is this year
      unless already past, then next year; "em junho" ("no começo de junho") is that month (its
      first ten days) this year unless already over, then next year;
    - "daqui a 10 dias" is that day; "daqui a 2 semanas" / "daqui a 3 meses" is the week
      (Monday to Sunday) of the day it lands on;
    - a bare hour from 1 to 6 ("às 3") is in the afternoon, as clinics are closed at 3 a.m.;
      hours in words ("umas oito"), minutes to an hour ("quinze pras dez" is 09:45), "meio-dia
      (e meia)" and "tipo 7h" / "lá pelas 4" are times too (an approximate time is searched as
      that time; the tools offer the nearest when it is taken);
    - "depois das 18h", "a partir das 14", "antes das 10" bound the start times (`after`,
      `before`), as do "depois do almoço" (from 13:00),
      "no fim do dia" (from 17:00, the clinic's last hours), "cedinho" / "antes do trabalho"
      (before 09:00, the first hours; "antes do trabalho, entro às 8" before 08:00);
      an exact time that contradicts the period ("de tarde às 10h") drops the period;
    - several days ("segunda ou terça") give the range from the first to the last;
    - "a segunda", "a quinta" (no "na", no "-feira") pick an offered option, not a weekday;
    - a date that doesn't exist, has passed, or disagrees with its weekday sets `ambiguous`.
    """
    t = _Text(text)
    spans = t.take(SPAN_AHEAD)
    ahead = _ahead(spans[0], today) if spans else None
    explicit, notes, month_scope = _explicit_days(t, today)
    written = _find_time(t)
    relative: list[date] = []
    word: str | None = None
    for pattern, shift, name in (
        (_AFTER_TOMORROW, 2, "depois de amanhã"),
        (_TOMORROW, 1, "amanhã"),
        (_TODAY, 0, "hoje"),
    ):
        for _ in t.take(pattern):
            relative.append(today + timedelta(days=shift))
            word = name
    weekend = t.take(_WEEKEND)
    weeks = t.take(_WEEK)
    next_week = any(m.group(1) for m in weeks)
    monday = _monday(today, weeks=1) if next_week else None
    if ahead is not None:
        monday = ahead[0] - timedelta(days=ahead[0].weekday())
    named, weekdays = _named_days(t, today, monday)
    if len(explicit) == 1 and weekdays:
        # "sexta dia 13": the date decides, the weekday must agree with it
        day, named = explicit[0], []
        wrong = [wd for wd in weekdays if wd != day.weekday()]
        if wrong:
            notes.append(f"{day:%d/%m} é {_WEEKDAY_NAMES[day.weekday()]}, não {_WEEKDAY_NAMES[wrong[0]]}.")
    period = _find_period(t)
    at = _afternoon(written.at, period) if written.at else None
    after = _afternoon(written.after, period) if written.after else None
    before = _afternoon(written.before, period) if written.before else None
    if after is not None and before is not None and before <= after:
        after = before = None  # "depois das 5, antes das 3": no window at all
    if at is not None and period is not None:
        low, high = PERIOD_BOUNDS[period]
        if not low <= at < high:
            period = None  # the exact hour is more specific than the part of the day
    if notes:
        return DateQuery(None, None, period, at, ambiguous=" ".join(notes), after=after,
                         before=before)

    days = sorted(set(explicit + relative + named))
    first: date | None = days[0] if days else None
    last: date | None = days[-1] if days else None
    if len(days) > 1 or not relative:
        word = None
    if not days and ahead is not None:
        landing, whole_week = ahead
        first = landing - timedelta(days=landing.weekday()) if whole_week else landing
        last = first + timedelta(days=6) if whole_week else landing
    elif not days and weekend:
        later = bool(weekend[0].group(1) or weekend[0].group(2))
        first = _monday(today, weeks=1 if later else 0) + timedelta(days=5)
        last = first + timedelta(days=1)
    elif not days and weeks:
        first = _monday(today, weeks=1 if next_week else 0)
        last = first + timedelta(days=6)
    elif not days and month_scope:
        first, last = month_scope
    if first is not None:
        first = max(first, today)
    if first is None and period is None and at is None and after is None and before is None:
        return None
    other_year = any(d.year != today.year for d in (first, last) if d is not None)
    return DateQuery(first, last, period, at, after=after, before=before, word=word,
                     other_year=other_year)
