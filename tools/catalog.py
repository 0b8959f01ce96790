"""The clinic's services, professionals and promotions, found by the names patients type."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Generic, TypeVar

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

    def overlaps(self, other: _Hit[_Named]) -> bool:
        return self.start < other.end and other.start < self.end


def _hits(items: Iterable[_Named], names: dict[str, list[str]], text: str) -> list[_Hit[_Named]]:
    """Every mention in `text`: specific before generic, then longest first, then leftmost."""
    haystack = _words(text)
    hits = [
        _Hit(m.start(), m.end(), item, set(name.split()) <= _GENERIC)
        for item in items
        for name in names[item.id]
        for m in _pattern(name).finditer(haystack)
    ]
    return sorted(hits, key=lambda h: (h.generic, h.start - h.end, h.start))


def _service_names(tenant: Tenant) -> dict[str, list[str]]:
    return {s.id: [n for n in {_words(x) for x in (s.id, s.name, *s.synonyms)} if n] for s in tenant.services}


def find_services(tenant: Tenant, text: str) -> list[Service]:
    """Every service mentioned in `text` (by id, name or synonym), in the order mentioned."""
    hits = _hits(tenant.services, _service_names(tenant), text)
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
    hits = _hits(tenant.services, _service_names(tenant), text)
    return hits[0].item if hits else None


def find_named_service(tenant: Tenant, text: str) -> Service | None:
    """The service `text` names by its own name or synonym, not by a word for any appointment
    ("minha consulta" names none, even where "consulta" is the evaluation's synonym)."""
    hits = [h for h in _hits(tenant.services, _service_names(tenant), text) if not h.generic]
    return hits[0].item if hits else None


def _professional_names(pro: Professional) -> list[str]:
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
    return sorted(n for n in names if n)


def find_professional(tenant: Tenant, text: str) -> Professional | None:
    """The professional named in `text` ("dra ana", "Dr. Bruno", "com a Carla", "Souza").

    None when nobody is named, or when the longest mention fits two people equally.
    """
    names = {p.id: _professional_names(p) for p in tenant.professionals}
    hits = _hits(tenant.professionals, names, text)
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
