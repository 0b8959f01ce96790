"""The clinic's JSON API under /api/v1 (admin bearer token for now; staff accounts come later):
`blocks.py` (a professional's blocked time), `conflicts.py` (outside calendars against atende's
bookings). Every route names its clinic with `?tenant=`; errors are
`{request_id, code, message, hint?}` and change nothing."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from atende.server.api import blocks, conflicts
from atende.server.api.deps import admin

router = APIRouter(prefix="/api/v1", dependencies=[Depends(admin)])
router.include_router(blocks.router)
router.include_router(conflicts.router)

__all__ = ["router"]
