"""`Choice`: an option a tool offers the patient, carried as data from the tool to the channel.

A tool result that offers options puts them under `choices` in its artifact, next to what the
model reads (the model never sees them twice). The turn exposes the ones its reply offers, and
each channel shows them its own way: Meta as a list or reply buttons the patient taps, Z-API
and the console as numbered lines under the text (`numbered`). Nobody reads them back out of
the reply's wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    id: str  # what the patient picks, echoed back when tapped: for a slot, its `slot_id`
    label: str  # the option as a line of text: "qua 11/03 às 08:00 com Dra. Ana Souza"
    title: str  # its short form, a tappable row or button title: "qua 11/03 às 08:00"
    detail: str = ""  # what tells two equal titles apart, under the title: "Dra. Ana Souza"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        return cls(id=str(data["id"]), label=str(data["label"]), title=str(data["title"]),
                   detail=str(data.get("detail") or ""))


def choices_of(items: Iterable[Mapping[str, Any]] | None) -> list[Choice]:
    """Choices stored as plain dicts (a checkpoint, an outbox row's meta) back as `Choice`s."""
    return [Choice.from_dict(item) for item in items or ()]


def numbered(text: str, choices: Sequence[Choice]) -> str:
    """The text with its choices as numbered lines below it: what a channel without tappable
    options sends (the patient answers with the number)."""
    if not choices:
        return text
    lines = "\n".join(f"{n}. {choice.label}" for n, choice in enumerate(choices, start=1))
    return f"{text.rstrip()}\n\n{lines}"


def offered(artifacts: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The choices a turn's reply offers, given the turn's tool results oldest first: those of
    the latest result that offered any, unless a later one acted (booked, cancelled, handed
    off...), which settles the question they asked."""
    current: list[dict[str, str]] = []
    for artifact in artifacts:
        if artifact.get("ok") and artifact.get("action"):
            current = []
        elif artifact.get("ok") and "choices" in artifact:  # a fresh offer replaces the last
            current = [Choice.from_dict(c).to_dict() for c in artifact["choices"] or ()]
    return current
