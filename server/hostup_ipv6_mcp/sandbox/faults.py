"""Fault injection: what can go wrong between a client and HostUp, queued and used up per request.

A fault is a dict such as `{"kind": "status", "status": 503, "method": "POST", "times": 2}`:
  delay        sleep `seconds` (default 1), then answer normally
  status       a HostUp-style problem with `status` (429 adds Retry-After and X-RateLimit-*);
               `code`, `detail` and `retryAfter` override the defaults
  html         a proxy's HTML page with `status` (default 502; 200 gives a 200 with an HTML body)
  drop_before  the connection dies and the change is NOT applied
  drop_after   the change IS applied, then the connection dies before the answer
  refuse       the connection is refused (over real HTTP it can only be dropped: already accepted)
`method` limits a fault to one HTTP method; `times` (default 1) is how many requests it hits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import anyio
from starlette.responses import HTMLResponse, Response

from hostup_ipv6_mcp.sandbox.problems import problem_response
from hostup_ipv6_mcp.sandbox.store import ApiError, utc_iso

KINDS = ("delay", "status", "html", "drop_before", "drop_after", "refuse")
DROPS = ("drop_before", "drop_after", "refuse")
METHODS = ("GET", "POST", "DELETE")
STATUSES = {status.value for status in HTTPStatus}
KEYS = {"kind", "method", "times", "seconds", "status", "retryAfter", "code", "detail"}
RATE_LIMIT = 60  # X-RateLimit-Limit; HostUp publishes no number
DEFAULTS = {
    429: ("rate_limited", "Too many requests; wait before retrying."),
    500: ("internal_error", "An unexpected error occurred."),
    502: ("upstream_unavailable", "An upstream service is unavailable; try again later."),
    503: ("upstream_unavailable", "The service is temporarily unavailable; try again later."),
    504: ("gateway_timeout", "An upstream service did not answer in time."),
}
HTML_PAGE = (  # what a reverse proxy in front of an API answers when the API is down
    "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center><hr><center>nginx</center></body></html>"
)


class Drop(Exception):
    """The connection dies without an answer.

    The sandbox app returns it rather than raising it: uvicorn closes the socket without writing
    a byte when an ASGI app returns anything but None, which is exactly a lost connection (it logs
    this message as an error). The in-process transport raises the matching httpx2 error instead.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(f"sandbox fault {kind}: connection dropped on purpose")
        self.kind = kind


@dataclass
class Fault:
    kind: str
    method: str | None = None
    times: int = 1
    seconds: float | None = None
    status: int | None = None
    retryAfter: int | None = None
    code: str | None = None
    detail: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> Fault:
        """Check one fault dict; ValueError says what is wrong with it."""
        if not isinstance(raw, dict):
            raise ValueError('A fault is a JSON object, e.g. {"kind": "status", "status": 503}.')
        if unknown := sorted(set(raw) - KEYS):
            raise ValueError(f"Unknown fault key(s) {unknown}; known: {sorted(KEYS)}.")
        if raw.get("kind") not in KINDS:
            raise ValueError(f"Fault kind must be one of {', '.join(KINDS)}.")
        fault = cls(**raw)
        if fault.method is not None:
            fault.method = str(fault.method).upper()
            if fault.method not in METHODS:
                raise ValueError(f"Fault method must be one of {', '.join(METHODS)}.")
        _check_int("times", fault.times, 1, 10**9)
        if fault.kind == "delay":
            fault.seconds = 1.0 if fault.seconds is None else fault.seconds
            if isinstance(fault.seconds, bool) or not isinstance(fault.seconds, int | float) or fault.seconds < 0:
                raise ValueError("Fault seconds must be a number >= 0.")
        if fault.kind == "html" and fault.status is None:
            fault.status = 502
        if fault.kind == "status" or (fault.kind == "html" and fault.status != 200):
            _check_int("status", fault.status, 400, 599)
            if fault.status not in STATUSES:  # its phrase becomes the title
                raise ValueError(f"Fault status {fault.status} is not a registered HTTP status.")
        if fault.retryAfter is not None:
            _check_int("retryAfter", fault.retryAfter, 0, 10**6)
        if not all(isinstance(text, str | None) for text in (fault.code, fault.detail)):
            raise ValueError("Fault code and detail must be strings.")
        return fault

    def matches(self, method: str) -> bool:
        return self.method is None or self.method == method

    def response(self, instance: str) -> Response:
        """The answer of a `status` or `html` fault."""
        assert self.status is not None
        if self.kind == "html":
            return HTMLResponse(HTML_PAGE.format(f"{self.status} {HTTPStatus(self.status).phrase}"), self.status)
        code, detail = DEFAULTS.get(self.status, ("injected_fault", f"The sandbox injected a {self.status}."))
        headers = {}
        retry_after = 1 if self.retryAfter is None and self.status == 429 else self.retryAfter
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if self.status == 429:
            reset = datetime.now(UTC) + timedelta(seconds=retry_after or 0)
            headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = utc_iso(reset)
        error = ApiError(self.status, self.code or code, self.detail or detail, headers=headers)
        return problem_response(error, instance)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"Fault {name} must be an integer from {low} to {high}.")


class FaultQueue:
    """Faults waiting for requests, in the order they were added; each request uses at most one."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, raw: Any) -> None:
        if not isinstance(raw, list):
            raise ValueError("Faults come as a JSON list of fault objects.")
        self._faults.extend([Fault.parse(item) for item in raw])  # all or nothing

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(f).items() if v is not None} for f in self._faults]

    def take(self, method: str) -> Fault | None:
        """The first fault that matches `method`, counted as used once."""
        for fault in self._faults:
            if fault.matches(method):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None


ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


async def run(fault: Fault | None, app: ASGIApp, scope: dict, receive: Callable, send: Callable) -> Drop | None:
    """Answer one API request through `fault` (None: normally); a Drop means send nothing at all."""
    if fault is None or fault.kind == "delay":
        if fault is not None:
            await anyio.sleep(fault.seconds or 0)
        await app(scope, receive, send)
        return None
    if fault.kind == "drop_after":
        await app(scope, receive, _discard)  # applied; the answer is lost with the connection
    if fault.kind in DROPS:
        return Drop(fault.kind)
    await fault.response(scope["path"])(scope, receive, send)
    return None


async def _discard(message: dict) -> None:
    pass
