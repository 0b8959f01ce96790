"""Catalog answers behind the tools: services with prices and the promotions valid today."""

from __future__ import annotations

from typing import Any

from atende.tenant import format_price
from atende.tools.catalog import find_services, promo_price, valid_promotions
from atende.tools.scope import Scope


def list_services(scope: Scope, query: str | None) -> dict[str, Any]:
    tenant = scope.tenant
    services = find_services(tenant, query) if query else []
    if not services:
        services = list(tenant.services)
    promos = valid_promotions(tenant, scope.today)
    out = []
    for svc in services:
        promo = next((p for p in promos if svc.id in p.services), None)
        out.append({
            "id": svc.id,
            "name": svc.name,
            "price": f"{svc.price:.2f}",
            "price_text": svc.price_text,
            "duration_minutes": svc.duration_minutes,
            "description": svc.description,
            "insurance": list(svc.insurance),
            "promo_price_text": format_price(promo_price(svc, promo)) if promo else None,
            "promotion": promo.text if promo else None,
            "professionals": [p.name for p in tenant.professionals if svc.id in p.services],
        })
    return {"ok": True, "matched": bool(query and len(out) < len(tenant.services)),
            "services": out}


def list_promotions(scope: Scope) -> dict[str, Any]:
    tenant = scope.tenant
    promos = valid_promotions(tenant, scope.today)
    return {
        "ok": True,
        "promotions": [
            {
                "id": p.id,
                "text": p.text,
                "discount_percent": float(p.discount_percent) if p.discount_percent else None,
                "valid_to": p.valid_to.isoformat(),
                "services": [tenant.service(s).name for s in p.services],
                "prices": [
                    {"service": tenant.service(s).name,
                     "price_text": tenant.service(s).price_text,
                     "promo_price_text": format_price(promo_price(tenant.service(s), p))}
                    for s in p.services
                ],
            }
            for p in promos
        ],
    }
