"""The SQLite store runs the scripts of `shared/tenant_config.py` (clinic configuration
versions) and `shared/staff.py` (staff, tokens, login attempts) as written: one file holds every
clinic, so the lookups that name no clinic are plain reads."""

from __future__ import annotations

from ..shared.staff import Staff
from ..shared.tenant_config import TenantConfigs
from .base import SQLiteBase


class StaffMixin(Staff, TenantConfigs, SQLiteBase):
    pass
