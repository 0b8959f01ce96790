"""Z-API's webhook route: the secret in the URL (path or ?token=), one clinic per URL."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from atende.server.app import ServicesDep
from atende.server.bodies import inflate_capped, is_gzip, json_object, read_capped
from atende.server.channels.zapi.channel import ZapiCredentials
from atende.server.channels.zapi.parse import parse_zapi
from atende.server.http_errors import ApiError
from atende.server.signature import same_secret
from atende.server.webhooks import accept

router = APIRouter()
# Compared when a URL names no Z-API clinic, so an unknown clinic costs what a wrong secret does.
_NO_SECRET = "-" * 48


@router.post("/zapi/{tenant}", summary="Z-API callbacks (secret in ?token=)")
@router.post("/zapi/{tenant}/{secret}", summary="Z-API callbacks (secret in the path)")
async def zapi_webhook(tenant: str, request: Request, services: ServicesDep,
                       secret: str | None = None,
                       token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    started = time.perf_counter()
    account = services.credentials.account(tenant, "zapi", ZapiCredentials)
    # An unknown clinic and a wrong secret get the same answer after the same work: clinic ids
    # cannot be enumerated through this URL.
    expected = account.webhook_secret if account else _NO_SECRET
    if not same_secret(secret or token, expected) or account is None:
        raise ApiError(401, "invalid_token", "Wrong or missing webhook secret.")
    cap = services.settings.zapi_webhook_max_bytes
    raw = await read_capped(request, cap)
    if is_gzip(request):  # Z-API since Nov 2024
        raw = inflate_capped(raw, cap)
    events = parse_zapi(json_object(raw), tenant, instance_id=account.instance_id)
    return await accept(services, "zapi", events, started)
