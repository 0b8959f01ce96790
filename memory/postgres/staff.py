"""The Postgres store runs the scripts of `shared/tenant_config.py` (clinic configuration
versions) and `shared/staff.py` (staff, tokens, login attempts) under the tenant's row-level
security; the reads that name no clinic yet (every clinic's version in force, the clinic of an
e-mail or of a token hash) are the SECURITY DEFINER functions of
20261208000400_tenant_config.sql, which tell nothing else."""

from __future__ import annotations

from ..shared.staff import Staff
from ..shared.tenant_config import TenantConfigs
from .base import PostgresBase


class StaffMixin(Staff, TenantConfigs, PostgresBase):
    _HEADS = "SELECT tenant_id, version FROM public.atende_config_heads()"
    _EMAIL_TENANT = "SELECT public.atende_staff_email_tenant(:email) AS tenant_id"
    _TOKEN_TENANT = "SELECT public.atende_staff_token_tenant(:token_hash) AS tenant_id"
