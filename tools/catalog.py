"""The clinic's services, professionals and promotions, found by the names patients type."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from atende.tenant import Professional, Promotion, Service, Tenant, fold

T = TypeVar("T", Service, Professional)
_TITLES = ("dr", "dra", "doutor", "doutora")
_CENT = Decimal("0.01")


def _words(text: str) -> str:
    """Folded, punctuation turned to spaces: 'Dr. Bruno' -> 'dr bruno', 'check-up' -> 'check up'."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).replace("_", " ").split())


def _pattern(name: str) -> re.Pattern[str]:
    """Whole words only ('canal' not in 'canalha'), allowing a plural ('restauracoes')."""
    stem, ending = (name[:-2], "(?:ao|oes|aes|aos)") if name.endswith("ao") else (name, "(?:s|es)?")
    return re.compile(rf"(?<!\w){re.escape(stem)}{ending}(?!\w)")


def _hits(items: Iterable[T], names: dict[str, list[str]], text: str
          ) -> list[tuple[int, int, T]]:
    """Every mention in `text` as (start, end, item), longest first, then leftmost."""
    haystack = _words(text)
    hits = [(m.start(), m.end(), item) for item in items for name in names[item.id]
            for m in _pattern(name).finditer(haystack)]
    return sorted(hits, key=lambda h: (h[0] - h[1], h[0]))


def _service_names(tenant: Tenant) -> dict[str, list[str]]:
    return {s.id: [n for n in {_words(x) for x in (s.id, s.name, *s.synonyms)} if n]
            for s in tenant.services}


def find_services(tenant: Tenant, text: str) -> list[Service]:
    """Every service mentioned in `text` (by id, name or synonym), in the order mentioned."""
    out: list[Service] = []
    kept: list[tuple[int, int, Service]] = []
    for hit in _hits(tenant.services, _service_names(tenant), text):
        if all(hit[1] <= k[0] or k[1] <= hit[0] for k in kept):  # "limpeza dental" not "dental"
            kept.append(hit)
    for _, _, service in sorted(kept, key=lambda h: h[0]):
        if service not in out:
            out.append(service)
    return out


def find_service(tenant: Tenant, text: str) -> Service | None:
    """The service named in `text` ("quero marcar uma limpeza amanhã"); the longest name wins."""
    hits = _hits(tenant.services, _service_names(tenant), text)
    return hits[0][2] if hits else None


def _professional_names(pro: Professional) -> list[str]:
    name = _words(pro.name).split()
    bare = name[1:] if name and name[0] in _TITLES else name
    titled = [f"{title} {word}" for title in _TITLES for word in bare]
    names = {_words(pro.id), _words(pro.name), " ".join(bare), *bare, *titled,
             *(_words(s) for s in pro.synonyms)}
    return sorted(n for n in names if n)


def find_professional(tenant: Tenant, text: str) -> Professional | None:
    """The professional named in `text` ("dra ana", "Dr. Bruno", "com a Carla", "Souza").

    None when nobody is named, or when the longest mention fits two people equally.
    """
    names = {p.id: _professional_names(p) for p in tenant.professionals}
    hits = _hits(tenant.professionals, names, text)
    if not hits:
        return None
    best = hits[0][1] - hits[0][0]
    named = {h[2].id for h in hits if h[1] - h[0] == best}
    return hits[0][2] if len(named) == 1 else None


def valid_promotions(tenant: Tenant, today: date) -> list[Promotion]:
    """The promotions running on `today` (the clinic's local date), in the file's order."""
    return [p for p in tenant.promotions if p.is_valid_on(today)]


def promo_price(service: Service, promotion: Promotion) -> Decimal:
    """`service`'s price with the promotion's discount, to the cent.

    The full price when the promotion has no percentage or names other services only.
    """
    if promotion.discount_percent is None or (promotion.services and
                                              service.id not in promotion.services):
        return service.price.quantize(_CENT)
    factor = (Decimal(100) - promotion.discount_percent) / Decimal(100)
    return (service.price * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
