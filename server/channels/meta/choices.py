"""The numbered options in a reply ("1. qua 11/03 às 08:00 com Dra. Ana Souza"), lifted out so
Meta can show them as an interactive list the patient taps instead of typing a number."""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPTION = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*?)\s*$")
MAX_ROWS = 10  # Meta: at most 10 rows in a list message
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72


@dataclass(frozen=True)
class Choice:
    id: str
    title: str  # starts with the option number, so a tap reads like typing "1"
    description: str = ""


def extract_choices(text: str) -> tuple[str, list[Choice]]:
    """The text without its option lines, and the options (none unless they are a clean
    1..N run of 2 to 10 lines that fit Meta's row limits)."""
    lines = text.splitlines()
    found = [(i, _OPTION.match(line)) for i, line in enumerate(lines)]
    options = [(i, m) for i, m in found if m]
    numbers = [int(m[1]) for _, m in options]
    if not 2 <= len(options) <= MAX_ROWS or numbers != list(range(1, len(options) + 1)):
        return text, []
    if options[-1][0] - options[0][0] != len(options) - 1:
        return text, []  # the options must be one block
    choices = []
    for _, match in options:
        label = match[2]
        head, sep, tail = label.partition(" com ")
        title = f"{match[1]}. {head}"
        description = f"com {tail}" if sep else ""
        if len(title) > ROW_TITLE_MAX or len(description) > ROW_DESCRIPTION_MAX:
            return text, []
        choices.append(Choice(id=f"opcao-{match[1]}", title=title, description=description))
    kept = lines[: options[0][0]] + lines[options[-1][0] + 1:]
    body = "\n".join(kept).strip()
    return (body or "Escolha uma opção:"), choices
