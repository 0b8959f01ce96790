"""Splitting a reply into WhatsApp bubbles: copyable things alone, long text at natural breaks.

A patient copies a Pix copia-e-cola code, a link or the clinic's address with a long press on
the bubble, which copies the whole bubble, so each gets a bubble with nothing else in it.
The rest is kept in as few bubbles as fit `max_chars` (every extra bubble to the same person
counts against Meta's pair rate limit), cut at paragraph breaks, then line breaks, then
sentence ends, then spaces; never inside a word. One word longer than `max_chars` (and a
copyable longer than it) stays whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# "https://x.com/a" or "www.x.com"; trailing sentence punctuation is not part of the link.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`“”‘’«»]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?…*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}
# A Pix BR Code is EMV TLV text: "000201" (payload format 01), then id/length/value fields,
# ending with the CRC field "6304XXXX". Values may hold spaces (merchant name, city).
_PIX_START = re.compile(r"(?<![0-9A-Za-z])000201")
_PIX_MIN_LENGTH = 30
# Left over next to a lifted-out copyable: "Acesse (" + link + ")." → "Acesse".
_OPENERS = "([{«“‘\"'"
_CLOSERS = ".,;:!?…)]}»”’\"'"
_WRAPPERS = "*_~`\"'"
_WORD = re.compile(r"\w")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
# "Dra. Ana", "Av. Paulista", "nº. 12" do not end a sentence.
_ABBREVIATIONS = frozenset({"dr", "dra", "sr", "sra", "srta", "av", "prof", "profa", "tel", "n", "nº", "r"})


def split_reply(text: str, *, max_chars: int = 1000, own_bubble: list[str] | None = None) -> list[str]:
    """The bubbles to send for `text`, in order; [] for blank text.

    Pix codes, URLs and every exact string in `own_bubble` (the clinic's address line) each
    become a bubble of their own. Text with none of them that fits `max_chars` comes back as
    one bubble, only stripped.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    text = text.strip()
    if not text:
        return []
    spans = _copyable_spans(text, own_bubble or [])
    if not spans:
        return _chunks(text, max_chars)
    bubbles: list[str] = []
    cursor = 0
    for start, end in spans:
        before, after_wrap = text[cursor:start], end
        # "*https://x.com*" or "“Rua X, 10”": the wrapper goes, the bubble must be pasteable.
        if before and end < len(text) and before[-1] == text[end] and before[-1] in _WRAPPERS:
            before, after_wrap = before[:-1], end + 1
        if cursor:
            before = before.lstrip().lstrip(_CLOSERS)
        bubbles.extend(_chunks(before.rstrip().rstrip(_OPENERS), max_chars, leftover=True))
        bubbles.append(text[start:end])
        cursor = after_wrap
    bubbles.extend(_chunks(text[cursor:].lstrip().lstrip(_CLOSERS), max_chars, leftover=True))
    return bubbles


def _copyable_spans(text: str, own_bubble: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of everything that needs its own bubble, in order."""
    found: list[tuple[int, int]] = []
    for item in {item.strip() for item in own_bubble if item.strip()}:
        found.extend((m.start(), m.end()) for m in re.finditer(re.escape(item), text))
    found.extend(_pix_spans(text))
    found.extend(_url_spans(text))
    spans: list[tuple[int, int]] = []
    for start, end in sorted(found, key=lambda span: (span[0], -span[1])):
        if not spans or start >= spans[-1][1]:
            spans.append((start, end))
    return spans


def _url_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TAIL)
        # A closing bracket belongs to the link only if the link opened it: "(veja https://x.com)".
        while url and url[-1] in _PAIRS and url.count(url[-1]) > url.count(_PAIRS[url[-1]]):
            url = url[:-1].rstrip(_URL_TAIL)
        if len(url) > len("www.") and not url.lower().endswith("://"):
            yield match.start(), match.start() + len(url)


def _pix_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in _PIX_START.finditer(text):
        end = _pix_end(text, match.start())
        if end is None:  # not well-formed TLV: take the unbroken run of characters
            run = re.match(r"\S+", text[match.start() :])
            end = match.start() + len(run.group(0)) if run else match.start()
        if end - match.start() >= _PIX_MIN_LENGTH:
            yield match.start(), end


def _pix_end(text: str, start: int) -> int | None:
    """Where the BR Code starting at `start` ends (after its CRC field), if it parses."""
    pos = start
    for _ in range(64):  # a BR Code has about a dozen top-level fields
        field_id, length = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if not (field_id.isdigit() and length.isdigit()):
            return None
        value = text[pos + 4 : pos + 4 + int(length)]
        if len(value) != int(length) or "\n" in value:
            return None
        pos += 4 + int(length)
        if field_id == "63":
            return pos if int(length) == 4 else None
    return None


def _chunks(text: str, max_chars: int, *, leftover: bool = False) -> list[str]:
    """`text` stripped and cut into pieces of at most `max_chars`; a `leftover` between two
    copyables is dropped when it has no letter or digit (a stray emoji, a dash)."""
    text = text.strip()
    if not text or (leftover and not _WORD.search(text)):
        return []
    return _split(text, max_chars, 0)


def _sentences(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        words = text[start : match.start()].split()
        last_word = words[-1] if words else ""
        if match.group(0).startswith(".") and _keeps_going(text, match.start(), last_word):
            continue
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def _keeps_going(text: str, dot: int, word: str) -> bool:
    """Whether the "." at `dot` after `word` is not a sentence end: an abbreviation, or the
    number of a numbered list item ("1. Limpeza")."""
    if word.lower().lstrip("(\"'") in _ABBREVIATIONS:
        return True
    line_start = text.rfind("\n", 0, dot) + 1
    return word.isdigit() and not text[line_start : dot - len(word)].strip()


# How to cut a piece that is too long, coarsest first, and the joint to put back.
_LEVELS: list[tuple[Callable[[str], list[str]], str]] = [
    (_PARAGRAPH_BREAK.split, "\n\n"),
    (lambda text: text.split("\n"), "\n"),
    (_sentences, " "),
    (str.split, " "),
]


def _split(text: str, max_chars: int, level: int) -> list[str]:
    if len(text) <= max_chars or level == len(_LEVELS):
        return [text]  # fits, or a single word longer than max_chars: kept whole
    cut, joint = _LEVELS[level]
    parts = [part.strip() for part in cut(text) if part.strip()]
    if len(parts) <= 1:
        return _split(text, max_chars, level + 1)
    pieces = [piece for part in parts for piece in _split(part, max_chars, level + 1)]
    return _pack(pieces, joint, max_chars)


def _pack(pieces: list[str], joint: str, max_chars: int) -> list[str]:
    """Greedily join consecutive pieces with `joint` while the result fits `max_chars`."""
    bubbles: list[str] = []
    for piece in pieces:
        if bubbles and len(bubbles[-1]) + len(joint) + len(piece) <= max_chars:
            bubbles[-1] += joint + piece
        else:
            bubbles.append(piece)
    return bubbles
