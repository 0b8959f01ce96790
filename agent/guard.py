"""The truthfulness guard: a reply may claim a booking, cancellation or change only when a
tool of this same turn succeeded with it, and only at the date and time that tool returned."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atende.tenant import fold

_CLAIMS: dict[str, re.Pattern[str]] = {
    "booked": re.compile(
        r"\b(agendei|marquei|reservei|agendad[oa]s?|marcad[oa]s?|reservad[oa]s?|"
        r"confirmad[oa]s?|(te|lhe) (espero|esperamos|aguardamos))\b"
    ),
    "cancelled": re.compile(r"\b(cancelei|desmarquei|cancelad[oa]s?|desmarcad[oa]s?)\b"),
    "rescheduled": re.compile(
        r"\b(remarquei|reagendei|remarcad[oa]s?|reagendad[oa]s?|transferid[oa]s? para|"
        r"mudei (sua|a) consulta|alterad[oa]s? para)\b"
    ),
}
_NEGATION = re.compile(r"\b(nao|nem|nenhum[a]?|ainda nao|sem)\b(\W+\w+){0,3}\W*$")
_TIME = re.compile(r"\b([01]?\d|2[0-3])(?:[:h]([0-5]\d)|h)(?!\d)")
_DATE = re.compile(r"\b([0-3]?\d)/([01]?\d)\b")
_SENTENCE = re.compile(r"(?<=[.!?\n])\s+")


@dataclass(frozen=True)
class Violation:
    claim: str
    sentence: str
    why: str


def _grounding(outcomes: Iterable[dict[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    """Actions that succeeded, and the local times/dates of the appointments tools returned."""
    actions: set[str] = set()
    times: set[str] = set()
    dates: set[str] = set()
    for artifact in outcomes:
        if not artifact.get("ok"):
            continue
        if artifact.get("action"):
            actions.add(artifact["action"])
        appts = [artifact.get("appointment"), *(artifact.get("appointments") or [])]
        if artifact.get("appointments"):
            actions.add("listed")
        for appt in filter(None, appts):
            start = datetime.fromisoformat(appt["start"])
            times.add(f"{start.hour}:{start.minute:02d}")
            dates.add(f"{start.day}/{start.month}")
    return actions, times, dates


def check_reply(reply: str, outcomes: Iterable[dict[str, Any]]) -> list[Violation]:
    """Claims in `reply` that no successful tool result of this turn (`outcomes`) supports."""
    actions, times, dates = _grounding(outcomes)
    allowed = {
        "booked": bool(actions & {"booked", "rescheduled", "listed", "confirmed"}),
        "cancelled": "cancelled" in actions,
        "rescheduled": "rescheduled" in actions,
    }
    violations: list[Violation] = []
    for sentence in _SENTENCE.split(reply):
        text = fold(sentence)
        for claim, pattern in _CLAIMS.items():
            match = pattern.search(text)
            if not match or _NEGATION.search(text[: match.start()]):
                continue
            if text.rstrip().endswith("?"):
                continue  # a question offers, it does not claim
            if not allowed[claim]:
                violations.append(Violation(claim, sentence.strip(), "no tool succeeded with it"))
                continue
            for h, m in _TIME.findall(text):
                if f"{int(h)}:{m or '00'}" not in times:
                    violations.append(Violation(claim, sentence.strip(), f"time {h}:{m or '00'}"))
            for d, mo in _DATE.findall(text):
                if f"{int(d)}/{int(mo)}" not in dates:
                    violations.append(Violation(claim, sentence.strip(), f"date {d}/{mo}"))
    return violations


def feedback(violations: list[Violation]) -> str:
    """The correction the model gets before its one retry (pt-BR, like the rest of its prompt)."""
    lines = [f"- “{v.sentence}” ({v.claim}: {v.why})" for v in violations]
    return (
        "ATENÇÃO: sua última resposta afirmou algo que nenhuma ferramenta confirmou neste turno:\n"
        + "\n".join(lines)
        + "\nReescreva sem afirmar agendamento, cancelamento ou remarcação que não aconteceu, "
        "ou chame a ferramenta certa antes de afirmar."
    )


SAFE_REPLY = (
    "Desculpe, não consegui concluir essa ação agora. Quer que eu verifique os horários de novo "
    "ou prefere falar com alguém da nossa equipe?"
)
