"""Day and time words in a patient message, for the offline model: which words to pass to
`check_availability`, which appointment a day names, and a day kept across messages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from atende.agent.write_guard import TIME_SLACK
from atende.tools.dates import MONTH_RANGE, PERIOD_BOUNDS, SPAN_AHEAD, parse_when

_WEEKDAYS = r"(?:segunda|terca|quarta|quinta|sexta)(?:[- ]?feira)?|sabado|domingo"
_MONTHS = ("janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro|outubro|novembro|"
           "dezembro")
_DATE_PIECES = re.compile("|".join((
    SPAN_AHEAD.pattern, MONTH_RANGE.pattern,
    r"\bdepois de amanha\b", r"\bamanha\b", r"\b(?:hoje|hj)\b",
    r"\b(?:(?:prox(?:im[oa]|\.?)|nest[ea]|ness[ea]|est[ea]|ess[ea]) )?(?:" + _WEEKDAYS + r")"
    r"(?: q(?:ue)? vem| seguinte)?\b",
    r"\b(?:(?:prox(?:im[oa]|\.?)|nest[ea]|ness[ea]|est[ea]|ess[ea]) )?(?:semana|mes)(?: q(?:ue)? vem|"
    r" seguinte)?\b",
    r"\b(?:proximo )?(?:fim|final) de semana\b",
    r"\b(?:dia )?\d{1,2}o? de (?:" + _MONTHS + r")\b",
    r"(?:\bdia )?(?<![\d/:])\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/])", r"\bdia \d{1,2}\b",
    r"\b(?:(?:de|pela|a|na|durante a|no periodo da) )?(?<!boa )(?<!mais )"
    r"(?:manha|tarde|noite)(?:zinha)?\b",
    r"\b(?:(?:as|das|pelas|umas|la pelas|por volta das|(?:depois|dps) das|antes das|a partir das|"
    r"ate as|apos as) )?\d{1,2}(?::\d{2}|h\d{0,2}| ?horas?)(?: e meia)?(?![\d:])",
    r"\b(?:as|das|pelas|umas|pras|(?:depois|dps) das|antes das|a partir das) \d{1,2}(?: e meia)?\b",
    r"\b(?:ao |de |as |a partir do )?meio[- ]?dia(?: e meia)?\b",
    # "quinze pras dez", "umas oito", "tipo 7h", "no fim do dia", "cedinho", "depois do almoço"
    r"\b(?:cinco|dez|quinze|vinte(?: e cinco)?|\d{1,2})(?: min(?:utos)?)? (?:pras|pra|para as|"
    r"para|pro|para o) (?:\d{1,2}|uma|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|onze|"
    r"doze|meio[- ]?dia)\b",
    r"\b(?:la )?(?:pelas|umas|tipo|as|das) (?:uma|duas|tres|quatro|cinco|seis|sete|oito|nove|"
    r"dez|onze|doze)(?: e meia)?\b",
    r"\b(?:tipo|la pelas|pelas|umas) \d{1,2}\b",
    r"\b(?:(?:n?o|a) )?(?:fim|final) d[oa] (?:dia|tarde|expediente)\b",
    r"\b(?:bem cedo|cedinho|logo cedo|primeira hora|antes d[oe] (?:trabalho|trampo|servico|"
    r"expediente|emprego))\b",
    r"\b(?:entro|comeco|pego|chego)(?: (?:no|la|a))?(?: (?:trabalho|trampo|servico))? "
    r"(?:as |a )?\d{1,2}(?:h\d{0,2}|:\d{2})?\b",
    r"\b(?:depois|apos|dps|antes) d[oe] almoco\b",
)))
_JOINERS = {"", "de", "da", "do", "a", "as", "na", "no", "e", "pela", "pelo", "o", "em", "ou",
            "la", "pra", "para", "que", "tipo"}


def folded_with_map(text: str) -> tuple[str, list[int]]:
    """`text` folded char by char (same letters, no accents) and each char's original index."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        decomposed = unicodedata.normalize("NFKD", ch.casefold())
        for c in decomposed:
            if not unicodedata.combining(c):
                out.append(c)
                where.append(i)
    return "".join(out), where


def _holiday_pieces(folded: str, holidays: Iterable[str]) -> list[tuple[int, int]]:
    names = sorted(holidays, key=len, reverse=True)
    if not names:
        return []
    alternatives = "|".join(re.escape(n).replace(r"\ ", r"[\s-]+") for n in names)
    # a lead-in is needed: "no Natal", "feriado de Tiradentes", but not "sou de Natal"
    pattern = re.compile(r"\b(?:(?:no|na|pro|pra|para o|para a|ate o|antes do|depois do)\s+"
                         r"(?:(?:feriado|dia)\s+(?:d[aeo]s?\s+)?)?|(?:feriado|dia)\s+(?:d[aeo]s?\s+)?)"
                         r"(?:" + alternatives + r")\b")
    return [m.span() for m in pattern.finditer(folded)]


def extract_when(text: str, today: date, holidays: Iterable[str] = ()) -> str | None:
    """The patient's own words about day/time ("amanhã de manhã"), joined, or None.

    `holidays` are folded holiday names ("tiradentes"); "no feriado de Tiradentes" is passed on
    as said, for `check_availability` to read with the clinic's calendar.
    """
    folded, where = folded_with_map(text)
    named = _holiday_pieces(folded, holidays)
    pieces = sorted([*named, *(m.span() for m in _DATE_PIECES.finditer(folded)
                               if not any(a < m.end() and m.start() < b for a, b in named))])
    if not pieces:
        return parse_fallback(text, today)
    groups: list[list[int]] = [list(pieces[0])]
    for start, end in pieces[1:]:
        gap = re.sub(r"[^a-z0-9]+", " ", folded[groups[-1][1]:start]).split()
        if all(w in _JOINERS for w in gap):
            groups[-1][1] = end
        else:
            groups.append([start, end])
    said = " ".join(text[where[a]:where[b - 1] + 1].strip() for a, b in groups)
    if named:
        return said
    whole = parse_when(text, today)
    if whole is None:
        return None
    # the pieces must mean what the whole message means; if not, let the server read it all
    return said if parse_when(said, today) == whole else text.strip()


def day_pieces(text: str, today: date) -> list[str]:
    """Each separate day the message names, as said ("a de amanhã, quinta dá?" -> ["amanhã",
    "quinta"]): in a move, the one an appointment is on and the one it goes to."""
    folded, where = folded_with_map(text)
    out = []
    for m in _DATE_PIECES.finditer(folded):
        said = text[where[m.start()]:where[m.end() - 1] + 1].strip()
        query = parse_when(said, today)
        if query is not None and query.day_from is not None:
            out.append(said)
    return out


def parse_fallback(text: str, today: date) -> str | None:
    """When no known piece was found but the date parser still sees a date, pass it all."""
    return text.strip() if parse_when(text, today) is not None else None


def on_day(text: str | None, starts: list[datetime], today: date) -> list[int]:
    """The items (by index) whose start falls on the day/time `text` names ("a de quinta")."""
    query = parse_when(text, today) if text else None
    if query is None or query.day_from is None or query.day_to is None:
        return []
    return [i for i, start in enumerate(starts)
            if query.day_from <= start.date() <= query.day_to
            and (query.at is None or start.time().replace(second=0) == query.at)]


def fitting(starts: list[datetime], when: str | None, today: date) -> list[int]:
    """The options (by index, in order) that fit what the patient asked (`when`, the words the
    search was made with): its days, period, time window and exact time. With nothing asked,
    all of them; with an exact time, those at it, or else those near it (nearest first)."""
    query = parse_when(when, today) if when else None
    if query is None or query.ambiguous:
        return list(range(len(starts)))
    low, high = PERIOD_BOUNDS[query.period] if query.period else (time.min, time.max)
    low, high = max(low, query.after or time.min), min(high, query.before or time.max)
    out = []
    for i, start in enumerate(starts):
        wall = start.time().replace(second=0, microsecond=0)
        if query.day_from and query.day_to and not query.day_from <= start.date() <= query.day_to:
            continue
        if not low <= wall < high:
            continue
        out.append(i)
    if query.at is None:
        return out
    # an exact time: the options at it, else the nearest within the write guard's slack
    def off(i: int) -> timedelta:
        asked = starts[i].replace(hour=query.at.hour, minute=query.at.minute)
        return abs(starts[i] - asked)
    return sorted((i for i in out if off(i) <= TIME_SLACK), key=off)


def split_when(text: str, today: date) -> tuple[str | None, str | None]:
    """"remarcar a de quinta para sexta" -> ("quinta", "sexta"): the days before and after a
    "para"/"pra" (or "pode ser", "que tal", "prefiro") that leads straight into a day;
    (None, None) without one ("dá pra remarcar").
    A time alone after it keeps the day before it ("de quarta pras 17h" -> "quarta 17h")."""
    for m in re.finditer(r"\b(?:para|pra|pro|pras|pros|pode ser|que tal|prefiro|melhor)\b", text,
                         flags=re.IGNORECASE):
        after = text[m.end():]
        folded, _ = folded_with_map(after)
        first = _DATE_PIECES.search(folded)
        if first and set(folded[: first.start()].split()) <= _LEAD_IN:
            old, new = extract_when(text[: m.start()], today), extract_when(after, today)
            # "de quarta pras 17h": another time on the same day
            return old, keep_day(new, old, today) if new else new
    return None, None


_LEAD_IN = {"o", "a", "os", "as", "dia", "na", "no", "de", "outro", "outra"}


def keep_day(new: str, old: str | None, today: date) -> str:
    """"tem à tarde?" after an offer for "amanhã de manhã" means "amanhã à tarde": words with
    only a period or a time keep the day (or days) being looked at."""
    asked, before = parse_when(new, today), parse_when(old, today) if old else None
    if (asked is None or asked.day_from is not None or asked.ambiguous or before is None
            or before.day_from is None or old is None):
        return new
    folded, where = folded_with_map(old)
    days = [old[where[a]:where[b - 1] + 1].strip()
            for a, b in (m.span() for m in _DATE_PIECES.finditer(folded))]
    days = [d for d in days if (q := parse_when(d, today)) is not None and q.day_from is not None]
    joined = f"{' '.join(days)} {new.strip()}"
    both = parse_when(joined, today)
    if (both is None or (both.day_from, both.day_to) != (before.day_from, before.day_to)
            or (both.period, both.at) != (asked.period, asked.at)):
        return new
    return joined
