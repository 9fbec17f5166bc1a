"""HostUp-style RFC 9457 problem responses (`application/problem+json`)."""

from __future__ import annotations

import secrets
from http import HTTPStatus

from starlette.responses import JSONResponse

from hostup_ipv6_mcp.sandbox.store import ApiError, utc_iso

TYPE_BASE = "https://developer.hostup.se/errors/"
TITLES = {
    "invalid_request": "Validation failed",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "rate_limited": "Too many requests",
    "internal_error": "Internal server error",
    "upstream_unavailable": "Upstream unavailable",
    "gateway_timeout": "Gateway timeout",
}


def problem_response(error: ApiError, instance: str) -> JSONResponse:
    """Render `error` as HostUp renders problems: stable `code`, fresh requestId and timestamp."""
    body = {
        "type": TYPE_BASE + error.code,
        "title": TITLES.get(error.code) or HTTPStatus(error.status).phrase,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "instance": instance,
        "requestId": "req_" + secrets.token_hex(8),
        "timestamp": utc_iso(),
    }
    if error.errors is not None:
        body["errors"] = error.errors
    return JSONResponse(body, error.status, headers=error.headers, media_type="application/problem+json")
