"""Errors as JSON `{request_id, code, message}` and a correlation id on every request."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"


class ApiError(Exception):
    """An error answered to the caller as-is: `status`, stable `code`, human `message`."""

    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details  # e.g. {"field": "services[0].price"}
        self.headers = headers


def request_id_of(request: Request) -> str:
    return getattr(request.state, "request_id", "") or "-"


def error_response(request: Request, status: int, code: str, message: str,
                   hint: str | None = None, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status,
                        content={"request_id": request_id_of(request), "code": code,
                                 "message": message, **({"hint": hint} if hint else {}),
                                 **({"details": details} if details else {})},
                        headers={**(headers or {}), REQUEST_ID_HEADER: request_id_of(request)})


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def correlate(request: Request,
                        call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() \
            else uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled_error", path=request.url.path)
            response = error_response(request, 500, "internal_error",
                                      "Something went wrong on our side; it was logged.")
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.hint, exc.details,
                              exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(request, 422, "invalid_request", f"{where}: {first.get('msg', '')}",
                              details={"field": where} if where else None)
