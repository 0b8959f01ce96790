"""Z-API's webhook route: the secret in the URL (path or ?token=), one clinic per URL."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from atende.server.app import ServicesDep
from atende.server.channels.zapi.channel import ZapiCredentials
from atende.server.channels.zapi.parse import parse_zapi
from atende.server.http_errors import ApiError
from atende.server.signature import same_secret
from atende.server.webhooks import accept, json_object, read_body

router = APIRouter()


@router.post("/zapi/{tenant}", summary="Z-API callbacks (secret in ?token=)")
@router.post("/zapi/{tenant}/{secret}", summary="Z-API callbacks (secret in the path)")
async def zapi_webhook(tenant: str, request: Request, services: ServicesDep,
                       secret: str | None = None,
                       token: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    started = time.perf_counter()
    account = services.credentials.account(tenant, "zapi", ZapiCredentials)
    if account is None:
        raise ApiError(404, "unknown_webhook", "No Z-API channel is configured at this URL.")
    if not same_secret(secret or token, account.webhook_secret):
        raise ApiError(401, "invalid_token", "Wrong or missing webhook secret.")
    events = parse_zapi(json_object(await read_body(request)), tenant,
                        instance_id=account.instance_id)
    return await accept(services, "zapi", events, started)
