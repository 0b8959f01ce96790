"""The clinic's JSON API under /api/v1. `router` (admin bearer token, the clinic named with
`?tenant=`): `blocks.py` (a professional's blocked time), `conflicts.py` (outside calendars
against atende's bookings). Staff identities (`auth.py`: API token, session cookie or the admin
token; roles; the clinic from the identity) guard `session.py` (login, logout, me) and
`config.py` (the clinic configuration, owners only), mounted beside it in `server/app.py`.
Errors are `{request_id, code, message, hint?, details?}` and change nothing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from atende.server.api import blocks, conflicts
from atende.server.api.deps import admin

router = APIRouter(prefix="/api/v1", dependencies=[Depends(admin)])
router.include_router(blocks.router)
router.include_router(conflicts.router)

__all__ = ["router"]
