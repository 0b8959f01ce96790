"""The admin bearer token (`ATENDE_ADMIN_TOKEN`) guarding /admin and /api: one check for every
route that needs it (a later issue adds staff accounts)."""

from __future__ import annotations

from atende.server.app import Services
from atende.server.http_errors import ApiError
from atende.server.signature import same_secret


def is_admin(services: Services, authorization: str | None) -> bool:
    """Whether `Authorization` is `Bearer <ATENDE_ADMIN_TOKEN>` (the scheme is case-insensitive,
    as RFC 9110 says; a bare token is not accepted)."""
    expected = services.settings.admin_token
    scheme, _, given = (authorization or "").strip().partition(" ")
    if expected is None or scheme.lower() != "bearer":
        return False
    return same_secret(given.strip(), expected.get_secret_value())


def require_admin(services: Services, authorization: str | None) -> None:
    """`ApiError` 404 when no admin token is set (the routes do not exist), 401 when the
    caller's is missing or wrong."""
    if services.settings.admin_token is None:
        raise ApiError(404, "admin_disabled", "Set ATENDE_ADMIN_TOKEN to enable /admin.")
    if not is_admin(services, authorization):
        raise ApiError(401, "unauthorized", "Missing or wrong admin bearer token.")
