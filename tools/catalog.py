"""The clinic's services, professionals and promotions, found by the names patients type."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

from rapidfuzz.distance import Levenshtein

from atende.tenant import Professional, Promotion, Service, Tenant, fold

_Named = TypeVar("_Named", Service, Professional)
_TITLES = ("dr", "dra", "doutor", "doutora")
# Words for any appointment: a clinic may list "consulta" as its evaluation's synonym, but
# "minha consulta de limpeza" is still a limpeza.
_GENERIC = {"consulta", "consultas", "atendimento", "horario", "sessao", "procedimento"}
_CENT = Decimal("0.01")


def _words(text: str) -> str:
    """Folded, punctuation turned to spaces: 'Dr. Bruno' -> 'dr bruno', 'check-up' -> 'check up'."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).replace("_", " ").split())


def _pattern(name: str) -> re.Pattern[str]:
    """Whole words only ('canal' not in 'canalha'), allowing a plural ('restauracoes')."""
    stem, ending = (name[:-2], "(?:ao|oes|aes|aos)") if name.endswith("ao") else (name, "(?:s|es)?")
    return re.compile(rf"(?<!\w){re.escape(stem)}{ending}(?!\w)")


@dataclass(frozen=True)
class _Hit(Generic[_Named]):
    start: int
    end: int
    item: _Named
    generic: bool
    rank: int = 0  # 0 a configured name, 1 a word derived from the clinic's data


    def overlaps(self, other: _Hit[_Named]) -> bool:
        return self.start < other.end and other.start < self.end


def _hits(items: Iterable[_Named], names: _Names, text: str,
          vocabulary: _Vocabulary | None = None) -> list[_Hit[_Named]]:
    """Every mention in `text`: specific before generic, configured before derived, then
    longest first, then leftmost. Typos are mended first against `vocabulary`."""
    haystack = _words(text)
    if vocabulary is not None:
        haystack = vocabulary.mend(haystack)
    hits = [
        _Hit(m.start(), m.end(), item, generic or set(name.split()) <= _GENERIC, rank)
        for item in items
        for name, rank, generic in names[item.id]
        for m in _pattern(name).finditer(haystack)
    ]
    return sorted(hits, key=lambda h: (h.generic, h.rank, h.start - h.end, h.start))


# -- vocabulary derived from the clinic's own data --------------------------------------------

# (name, rank, generic) per item id
_Names = dict[str, list[tuple[str, int, bool]]]
# Words that head a service's name without naming it ("Aula avulsa de pilates",
# "Sessão de fisioterapia", "Tratamento de canal").
_HEADLESS = _GENERIC | {"aula", "aulas", "tratamento", "servico", "de", "da", "do", "e", "com"}
# The professions of a field, for the field's words found in the clinic's data: a patient
# asking for "um dentista" at a dental clinic wants its first visit.
_PROFESSIONS = {"dentista": ("odont", "dental", "dentes"),
                "fisioterapeuta": ("fisioterap",),
                "nutricionista": ("nutric",),
                "psicologo": ("psicolog",), "psicologa": ("psicolog",),
                "fonoaudiologo": ("fonoaudiolog",), "fonoaudiologa": ("fonoaudiolog",)}
# Everyday words near a name ("carta" is not "Carla"): never mended.
_COMMON = {
    "segunda", "terca", "quarta", "quinta", "sexta", "sabado", "domingo", "janeiro",
    "fevereiro", "marco", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
    "novembro", "dezembro", "manha", "tarde", "noite", "amanha", "semana", "marcar", "marca",
    "quero", "queria", "horario", "horarios", "carta", "cara", "caro", "clara", "claro",
    "pilha", "bruna", "renato", "mesmo", "mesma", "primeira", "primeiro", "proximo", "proxima",
    "consigo", "precisa", "preciso", "obrigado", "obrigada", "tenho", "pode", "posso",
}
# Short words that are never a nickname ("a ju" is Juliana, "a de" is nobody).
_FUNCTION = {"de", "da", "do", "no", "na", "em", "um", "uma", "me", "te", "se", "eu", "ele", "ela",
             "pra", "pro", "por", "que", "qual", "sim", "nao", "ja", "mais", "tem", "vai", "vou",
             "ta", "to", "as", "os", "hj", "pf", "ok", "sem", "seu", "sua", "meu", "mas", "aqui",
             "ai", "la", "bom", "boa", "dia", "hoje", "nem", "so", "isso", "essa", "esse"}


def _phonetic(word: str) -> str:
    """A pt-BR sound key: 'karla' ~ 'carla', 'drenajem' ~ 'drenagem', 'souza' ~ 'sousa'."""
    out = word.replace("th", "t").replace("ph", "f").replace("k", "c").replace("w", "v")
    out = out.replace("y", "i").replace("z", "s").replace("ç", "s")
    out = re.sub(r"j(?=[ei])", "g", out)
    out = re.sub(r"c(?=[ei])", "s", out)
    out = re.sub(r"(?<![aeiou])h", "", out) if not out.startswith(("ch", "lh", "nh")) else out
    return re.sub(r"(.)\1+", r"\1", out)


def _close(token: str, word: str) -> bool:
    """`token` is `word` mistyped: the same sound key for a short word, one edit for a longer
    one, two for a long one."""
    if token.startswith(word) or word.startswith(token):
        return False  # "canalha" is another word than "canal", not a typo of it
    a, b = _phonetic(token), _phonetic(word)
    if len(token) <= 6 or len(word) <= 6:
        return a == b
    return Levenshtein.distance(a, b, score_cutoff=2 if min(len(token), len(word)) >= 10 else 1) \
        <= (2 if min(len(token), len(word)) >= 10 else 1)


@dataclass(frozen=True)
class _Vocabulary:
    """The words of the clinic's names, to mend a patient's typos and abbreviations."""

    words: frozenset[str]
    singles: frozenset[str] = frozenset()  # names of one word
    stems: tuple[str, ...] = ()  # whole words an abbreviation may stand for ("fisio")
    first_names: tuple[str, ...] = ()  # whose prefix after "a"/"o" is a nickname ("a ju")

    def mend(self, haystack: str) -> str:
        tokens = haystack.split()
        out = []
        for i, token in enumerate(tokens):
            out.append(self._mend(token, tokens[i - 1] if i else ""))
        return " ".join(out)

    def _mend(self, token: str, before: str) -> str:
        if token in self.singles or token in _COMMON or not token.isalpha():
            return token
        if 2 <= len(token) <= 4 and before in ("a", "o") and token not in _FUNCTION:
            names = {n for n in self.first_names if n.startswith(token) and len(n) > len(token)}
            return names.pop() if len(names) == 1 else token
        if len(token) < 5:
            return token
        stems = {w for w in self.stems if w.startswith(token) and len(w) > len(token)}
        if len(stems) == 1:
            return stems.pop()
        if token in self.words:
            return token
        close = {w for w in self.words if len(w) >= 5 and _close(token, w)}
        return close.pop() if len(close) == 1 else token


def _vocabulary(*name_sets: _Names, first_names: Sequence[str] = (),
                stems: Sequence[str] = ()) -> _Vocabulary:
    words = {w for names in name_sets for entries in names.values()
             for name, _, _ in entries for w in name.split()}
    singles = {name for names in name_sets for entries in names.values()
               for name, _, _ in entries if " " not in name}
    return _Vocabulary(frozenset(words), frozenset(singles), tuple(stems), tuple(first_names))


def _acronym(name: str, description: str) -> list[str]:
    """"RPG" spelled out in its description ("Reeducação Postural Global"): the expansion and
    its first two words."""
    letters = name.strip()
    if not (2 <= len(letters) <= 5 and letters.isalpha() and letters.isupper()):
        return []
    words = _words(description).split()
    n = len(letters)
    for i in range(len(words) - n + 1):
        run = words[i:i + n]
        if "".join(w[0] for w in run) == letters.lower():
            return [" ".join(run), " ".join(run[:2])]
    return []


def _head_words(name: str) -> tuple[str | None, str | None]:
    """A name's own noun and the word after its "de": "Drenagem linfática" -> drenagem;
    "Sessão de fisioterapia" -> (None, fisioterapia); "Aula avulsa de pilates" -> avulsa, pilates."""
    words = _words(name).split()
    head = next((w for w in words if w not in _HEADLESS), None)
    after_de = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("de", "da", "do")), None)
    if after_de == head:
        return None, after_de
    return head, after_de


def evaluation_service(tenant: Tenant) -> Service | None:
    """The clinic's first visit: an "avaliação", or the service described as the first
    consultation."""
    for svc in tenant.services:
        names = " ".join(_words(x) for x in (svc.id, svc.name, *svc.synonyms))
        if re.search(r"\bavaliac", names):
            return svc
    for svc in tenant.services:
        if re.search(r"\b(?:primeira consulta|consulta inicial)\b", _words(svc.description)):
            return svc
    return None


def _field_words(text: str) -> list[str]:
    """The fields named in `text` ("Ortodontia", "Fisioterapia ortopédica e RPG")."""
    return [w for w in _words(text).split() if len(w) >= 8 and w.endswith("ia")]


def _profession(field: str) -> str:
    """The professional of a field: ortodontia -> ortodontista, fisioterapia -> fisioterapeuta."""
    return field[:-2] + ("euta" if field.endswith("terapia") else "ista")


def _service_names(tenant: Tenant) -> _Names:
    names: _Names = {s.id: [(n, 0, False) for n in {_words(x) for x in (s.id, s.name, *s.synonyms)}
                            if n] for s in tenant.services}
    evaluation = evaluation_service(tenant)
    data = _words(" ".join([tenant.name, *(s.name for s in tenant.services),
                            *(p.specialty for p in tenant.professionals)]))
    generic = ["consulta", *(p for p, stems in _PROFESSIONS.items()
                             if any(stem in data for stem in stems))] if evaluation else []
    # each service's own words, where no other service shares them
    derived: dict[str, list[tuple[str, int]]] = {}
    for svc in tenant.services:
        head, after = _head_words(svc.name)
        for word, rank in ((head, 1), (after, 2)):
            if word:
                derived.setdefault(word, []).append((svc.id, rank))
        for phrase in _acronym(svc.name, svc.description):
            derived.setdefault(phrase, []).append((svc.id, 1))
        for field in {f for x in (svc.name, *svc.synonyms) for f in _field_words(x)}:
            derived.setdefault(_profession(field), []).append((svc.id, 2))
    for word, owners in derived.items():
        if len({o for o, _ in owners}) == 1 and word not in generic:
            sid, rank = owners[0]
            if word not in {n for n, _, _ in names[sid]}:
                names[sid].append((word, rank, False))
    # "consulta", "dentista", "fisioterapeuta": the clinic's first visit
    if evaluation is not None:
        taken = {n for entries in names.values() for n, _, _ in entries}
        names[evaluation.id].extend((g, 3, True) for g in generic if g not in taken)
    return names


def _service_stems(tenant: Tenant) -> list[str]:
    return [w for svc in tenant.services for w in _head_words(svc.name) if w and len(w) >= 7]


def _service_vocabulary(tenant: Tenant, names: _Names) -> _Vocabulary:
    return _vocabulary(names, stems=_service_stems(tenant))


def _service_hits(tenant: Tenant, text: str) -> list[_Hit[Service]]:
    names = _service_names(tenant)
    return _hits(tenant.services, names, text, _service_vocabulary(tenant, names))


def find_services(tenant: Tenant, text: str) -> list[Service]:
    """Every service mentioned in `text` (by id, name, synonym or a word derived from the
    clinic's data), in the order mentioned."""
    hits = _service_hits(tenant, text)
    kept: list[_Hit[Service]] = []
    for hit in hits:
        if hit.generic and not hits[0].generic:
            break  # "consulta de limpeza" is a limpeza
        if not any(hit.overlaps(k) for k in kept):  # "limpeza dental", not also "dental"
            kept.append(hit)
    out: list[Service] = []
    for hit in sorted(kept, key=lambda h: h.start):
        if hit.item not in out:
            out.append(hit.item)
    return out


def find_service(tenant: Tenant, text: str) -> Service | None:
    """The service named in `text` ("quero marcar uma limpeza amanhã"); the longest name wins."""
    hits = _service_hits(tenant, text)
    return hits[0].item if hits else None


def find_named_service(tenant: Tenant, text: str) -> Service | None:
    """The service `text` names by its own name or synonym, not by a word for any appointment
    ("minha consulta" names none, even where "consulta" is the evaluation's synonym)."""
    hits = [h for h in _service_hits(tenant, text) if not h.generic]
    return hits[0].item if hits else None


def _professional_names(pro: Professional) -> list[tuple[str, int, bool]]:
    name = _words(pro.name).split()
    bare = name[1:] if name and name[0] in _TITLES else name
    titled = [f"{title} {word}" for title in _TITLES for word in bare]
    names = {
        _words(pro.id),
        _words(pro.name),
        " ".join(bare),
        *bare,
        *titled,
        *(_words(s) for s in pro.synonyms),
    }
    return [(n, 0, False) for n in sorted(n for n in names if n)]


def _first_name(pro: Professional) -> str:
    words = [w for w in _words(pro.name).split() if w not in _TITLES]
    return words[0] if words else ""


def _professionals_names(tenant: Tenant) -> _Names:
    names = {p.id: _professional_names(p) for p in tenant.professionals}
    # "a ortodontista": the one professional whose specialty is that field
    owners: dict[str, set[str]] = {}
    for pro in tenant.professionals:
        for field in _field_words(pro.specialty):
            owners.setdefault(_profession(field), set()).add(pro.id)
    for word, ids in owners.items():
        if len(ids) == 1:
            names[ids.pop()].append((word, 1, False))
    return names


def find_professional(tenant: Tenant, text: str) -> Professional | None:
    """The professional named in `text` ("dra ana", "Dr. Bruno", "com a Carla", "Souza",
    "a ortodontista", "a ju", "karla").

    None when nobody is named, or when the longest mention fits two people equally.
    """
    names = _professionals_names(tenant)
    vocabulary = _vocabulary(names, first_names=[_first_name(p) for p in tenant.professionals])
    hits = _hits(tenant.professionals, names, text, vocabulary)
    if not hits:
        return None
    best = hits[0].end - hits[0].start
    named = {h.item.id for h in hits if h.end - h.start == best}
    return hits[0].item if len(named) == 1 else None


def valid_promotions(tenant: Tenant, today: date) -> list[Promotion]:
    """The promotions running on `today` (the clinic's local date), in the file's order."""
    return [p for p in tenant.promotions if p.is_valid_on(today)]


def promo_price(service: Service, promotion: Promotion) -> Decimal:
    """`service`'s price with the promotion's discount, to the cent.

    The full price when the promotion has no percentage or names other services only.
    """
    if promotion.discount_percent is None or (promotion.services and service.id not in promotion.services):
        return service.price.quantize(_CENT)
    factor = (Decimal(100) - promotion.discount_percent) / Decimal(100)
    return (service.price * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
