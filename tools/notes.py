"""Practical questions answered from the clinic's own `notes` (free text in the tenant file):
parking, showers, what to wear or bring, when to arrive.

A small retrieval over the notes' sentences: the question's content words (without the
clinic's service and professional words, dates and small words) against each sentence's
words, equal when they share a stem or are one typo apart (rapidfuzz), or when both fall in
one of a few everyday topics ("estacionar" ~ "área azul", "banho" ~ "chuveiro", "levar" ~
"traga"). Nothing to say is an empty answer; the caller says so honestly.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from atende.tenant import Tenant, fold

# Everyday topics of a clinic visit: word stems (5 letters at most) that point to one topic.
_TOPICS: dict[str, tuple[str, ...]] = {
    "parking": ("estac", "carro", "zona", "azul", "manob", "moto", "bicic", "bike"),
    "shower": ("chuve", "banho", "vesti", "toalh", "troca", "armar"),
    "clothes": ("roupa", "vesti", "usar", "legg", "berma", "calca", "moleto", "meia", "tenis",
                "desca", "short"),
    "bring": ("levar", "levo", "leva", "leve", "traze", "traga", "trago", "traz"),
    "arrive": ("chega", "chegu", "anteced", "adian", "atras", "pontu"),
    "access": ("acess", "eleva", "escad", "cadei", "rampa"),
    "kids": ("crian", "filho", "filha", "bebe", "acomp"),
    "pets": ("cacho", "anima", "pet", "gato"),
    "internet": ("wifi", "inter", "senha"),
    "food": ("comer", "jejum", "cafe", "lanch", "agua"),
}
# What to do before a visit: asked as "o que levar", answered by whatever the notes tell the
# patient to do (bring, wear, arrive early) when nothing speaks of the exact thing.
_PREPARE = ("bring", "clothes", "arrive")
_SMALL = {
    "a", "o", "as", "os", "e", "de", "da", "do", "das", "dos", "em", "no", "na", "nos", "nas",
    "um", "uma", "uns", "umas", "que", "q", "com", "c", "pra", "para", "pro", "por", "se", "eu",
    "voce", "voces", "vc", "vcs", "me", "meu", "minha", "tem", "tenho", "ter", "ai", "la", "aqui",
    "isso", "esse", "essa", "algo", "alguma", "algum", "coisa", "coisas", "tipo", "qual", "quais",
    "como", "onde", "quando", "quanto", "preciso", "precisa", "posso", "pode", "podem", "sim",
    "nao", "n", "ja", "mais", "muito", "bem", "ou", "oi", "ola", "bom", "boa", "dia", "tarde",
    "noite", "hoje", "amanha", "depois", "dps", "sobre", "tambem", "tb", "tbm", "ate",
    "sao", "eh", "esta", "ta", "estou", "to", "vou", "vai", "quero", "queria", "qro",
    "gostaria", "saber", "duvida", "pergunta", "obrigado", "obrigada", "pfv", "favor",
    "marcar", "marca", "agendar", "agenda", "horario", "horarios", "consulta", "aula", "sessao",
    "fazer", "faz", "fazem", "aceita", "aceitam", "gente", "clinica", "estudio",
    "segunda", "terca", "quarta", "quinta", "sexta", "sabado", "domingo", "semana", "mes",
    # the words of a booking question ("o primeiro horário livre") say when, not what
    "primeiro", "primeira", "ultimo", "ultima", "proximo", "proxima", "livre", "livres", "hora",
    "horas", "vaga", "vagas", "cedo", "valor", "preco", "desconto", "promocao", "dispon",
    "disponivel", "disponiveis", "ainda", "agora", "logo", "outro", "outra",
}
# Times are not topics: "meio-dia e meia", "às 9h30" say when, not what ("meia" is also a sock)
_TIMES = re.compile(r"\b(?:meio[\s-]?dia|\d{1,2}\s*(?:h|:|hs|horas?)\s*\d{0,2})(?:\s+e\s+meia)?\b"
                    r"|\be\s+meia\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", fold(text)).split()


def _topics(token: str) -> set[str]:
    return {name for name, stems in _TOPICS.items() if any(token.startswith(s) for s in stems)}


def _same(a: str, b: str) -> bool:
    if a[:5] == b[:5] and min(len(a), len(b)) >= 4:
        return True
    return min(len(a), len(b)) >= 6 and Levenshtein.distance(a, b, score_cutoff=1) <= 1


@lru_cache(maxsize=64)
def _sentences(notes: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    parts = [s.strip() for s in _SENTENCE.split(" ".join(notes.split())) if s.strip()]
    return tuple((s, tuple(t for t in _tokens(s) if t not in _SMALL)) for s in parts)


def _clinic_words(tenant: Tenant) -> frozenset[str]:
    """Words of the clinic's own services and professionals: they say which visit, not what
    about it."""
    names = [*(s.name for s in tenant.services), *(x for s in tenant.services for x in s.synonyms),
             *(p.name for p in tenant.professionals), tenant.name]
    return frozenset(t for n in names for t in _tokens(n))


def _score(asked: list[str], visit: list[str], words: tuple[str, ...],
           topics: set[str] | None = None) -> float:
    score = 0.0
    covered = {t for w in words for t in _topics(w)}
    for token in asked:
        own = _topics(token)
        if any(_same(token, w) for w in words):
            score += 2
        elif own - {"bring"} and not own & covered:
            return 0.0  # "posso levar meu filho?": a sentence about bringing exams is no answer
        elif (topics or own) & covered:
            score += 1
    if score:
        score += 0.5 * sum(1 for t in visit if any(_same(t, w) for w in words))
    return score


def from_notes(tenant: Tenant, question: str) -> list[str]:
    """The sentences of the clinic's notes that answer `question`, best first (at most two);
    [] when the notes say nothing about it."""
    if not tenant.notes:
        return []
    clinic = _clinic_words(tenant)
    tokens = [t for t in _tokens(_TIMES.sub(" ", question)) if t not in _SMALL and not t.isdigit()]
    asked = [t for t in tokens if t not in clinic]
    visit = [t for t in tokens if t in clinic]
    if not asked:
        return []
    sentences = _sentences(tenant.notes)
    scored = [(_score(asked, visit, words), s) for s, words in sentences]
    best = max((sc for sc, _ in scored), default=0)
    if best == 0 and any(_topics(t) & {"bring", "clothes"} for t in asked):
        # "precisa levar alguma coisa?": what the notes tell the patient to do before coming
        prepare = set(_PREPARE)
        scored = [(_score(asked, visit, words, prepare), s) for s, words in sentences]
        best = max((sc for sc, _ in scored), default=0)
    if best == 0:
        return []
    return [s for sc, s in scored if sc == best][:2]


def asks_practical(question: str) -> bool:
    """Whether `question` touches a practical topic of a visit (parking, what to bring...)."""
    return any(_topics(t) for t in _tokens(question) if t not in _SMALL)
