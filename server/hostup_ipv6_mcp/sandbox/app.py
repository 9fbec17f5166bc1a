"""The sandbox's HTTP face: HostUp's routed-IPv6 routes, bearer auth, the request log and the
`/_sandbox/*` control routes (faults, request log, reset; no auth: it is a sandbox)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostup_ipv6_mcp.sandbox import faults as faulting
from hostup_ipv6_mcp.sandbox.faults import Drop, FaultQueue
from hostup_ipv6_mcp.sandbox.problems import problem_response
from hostup_ipv6_mcp.sandbox.store import ALL_SCOPES, READ_SCOPES, Account, ApiError, PoolSource, invalid

BASE = "/api/v2/routed-ipv6"
CONTROL = "/_sandbox"
DEFAULT_KEY = "sandbox-key"
READ_ONLY_KEY = "sandbox-read-key"
OPEN_KEY_PREFIX = "sbx_"
FAULTS_ENV = "HOSTUP_SANDBOX_FAULTS"
WRITE_SCOPES = ("write:network",)


class Sandbox:
    """What `app.state.sandbox` holds: accounts by API key, the request log, pending faults."""

    def __init__(self, keys: Mapping[str, Iterable[str]], open_accounts: bool, delete_route_body: str) -> None:
        self._keys = {key: tuple(scopes) for key, scopes in keys.items()}
        self.open_accounts = open_accounts
        self.delete_route_body = delete_route_body
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # tests may pin it
        self.requests: list[dict[str, Any]] = []
        self.faults = FaultQueue()
        self.reset()

    def reset(self) -> None:
        """Fresh seeded accounts, an empty request log and no faults."""
        self._source = PoolSource()
        self._accounts: dict[str, Account] = {}
        for key, scopes in self._keys.items():
            self._open(key, scopes)
        self.requests.clear()  # in place: callers may hold the list
        self.faults.clear()

    def account(self, key: str | None) -> Account | None:
        """The account behind an API key; with open_accounts an sbx_ key gets one on first use."""
        if key and key not in self._accounts and self.open_accounts and key.startswith(OPEN_KEY_PREFIX):
            return self._open(key, ALL_SCOPES)
        return self._accounts.get(key or "")

    def add_faults(self, faults: list[dict[str, Any]]) -> None:
        self.faults.add(faults)

    def clear_faults(self) -> None:
        self.faults.clear()

    def _open(self, key: str, scopes: Iterable[str]) -> Account:
        # Names, not keys, identify accounts in the log: keys are secrets.
        account = Account(f"account-{len(self._accounts) + 1}", scopes, self._source, lambda: self.clock())
        self._accounts[key] = account
        return account


def _bearer(headers: Headers) -> str | None:
    scheme, _, key = headers.get("authorization", "").partition(" ")
    return (key.strip() or None) if scheme.lower() == "bearer" else None


def _authorize(request: Request, needed: tuple[str, ...]) -> Account:
    account = request.app.state.sandbox.account(_bearer(request.headers))
    if account is None:
        detail = "Send a valid API key as Authorization: Bearer <key>."
        raise ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})
    if missing := [scope for scope in needed if scope not in account.scopes]:
        raise ApiError(403, "forbidden", f"The API key lacks the scope(s) {', '.join(missing)}.")
    return account


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise invalid("", "invalid_json", "The request body is not valid JSON.") from None


async def state_or_action(request: Request) -> Response:
    """GET answers the state; POST runs an action. One route, so a 405 lists both methods."""
    if request.method == "POST":
        account = _authorize(request, WRITE_SCOPES)
        return JSONResponse(account.post(await _json(request)), 201)
    return JSONResponse(_authorize(request, READ_SCOPES).state())


async def delete_route(request: Request) -> Response:
    state = _authorize(request, WRITE_SCOPES).delete_route(request.path_params["route_id"])
    # HostUp does not document this body; "empty" lets clients test the 204 case.
    if request.app.state.sandbox.delete_route_body == "empty":
        return Response(status_code=204)
    return JSONResponse(state)


async def release_pool(request: Request) -> Response:
    return JSONResponse(_authorize(request, WRITE_SCOPES).release_pool(request.path_params["pool_id"]))


async def control_faults(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    if request.method == "POST":
        try:
            sandbox.add_faults(json.loads(await request.body()))
        except ValueError as err:  # bad JSON or a bad fault
            raise ApiError(400, "invalid_request", str(err)) from None
    elif request.method == "DELETE":
        sandbox.clear_faults()
    return JSONResponse({"faults": sandbox.faults.pending()})


async def control_requests(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.requests)


async def control_reset(request: Request) -> Response:
    request.app.state.sandbox.reset()
    return JSONResponse({"reset": True})


def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc, request.url.path)


def _on_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer problems too, as the rest of v2 does."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    code, detail = {
        404: ("not_found", f"{where}: no such endpoint."),
        405: ("method_not_allowed", f"{where}: the endpoint does not take this method."),
    }.get(exc.status_code, ("invalid_request", exc.detail))
    return problem_response(ApiError(exc.status_code, code, detail, headers=exc.headers), request.url.path)


class SandboxApp(Starlette):
    """A Starlette app whose API requests pass through the fault queue and into the request log."""

    async def __call__(self, scope, receive, send):  # type: ignore[override]  # returns a Drop for uvicorn
        if scope["type"] != "http" or scope["path"].startswith(CONTROL):
            return await super().__call__(scope, receive, send)
        sandbox: Sandbox = self.state.sandbox
        body, receive = await _buffered(receive)
        account = sandbox.account(_bearer(Headers(scope=scope)))
        fault = sandbox.faults.take(scope["method"])
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "status": None,
            "body": _parsed(body),
            "account": account.name if account else None,
            "fault": fault.kind if fault else None,
        }

        async def logged_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                # Every HTTP server sends Date; from the sandbox's clock, so a pinned clock agrees with it.
                date = formatdate(sandbox.clock().timestamp(), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        drop = await faulting.run(fault, super().__call__, scope, receive, logged_send)
        if isinstance(drop, Drop):
            entry["status"] = "dropped"
        sandbox.requests.append(entry)
        return drop


async def _buffered(receive: Callable) -> tuple[bytes, Callable]:
    """Read the whole request body (to log it) and a `receive` that replays it."""
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message["type"] == "http.request" and message.get("more_body", False)
    body, replayed = b"".join(chunks), False

    async def replay() -> dict:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def create_app(
    keys: Mapping[str, Iterable[str]] | None = None,
    *,
    open_accounts: bool = False,
    delete_route_body: Literal["state", "empty"] = "state",
    faults: list[dict] | None = None,
) -> Starlette:
    """The sandbox as an ASGI app; `app.state.sandbox` is its Python control surface.

    `keys` maps API key -> scopes (default: DEFAULT_KEY with every scope, READ_ONLY_KEY with the
    read scopes); each key is its own account. `faults` defaults to $HOSTUP_SANDBOX_FAULTS.
    """
    if delete_route_body not in ("state", "empty"):
        raise ValueError("delete_route_body must be 'state' or 'empty'.")
    if keys is None:
        keys = {DEFAULT_KEY: ALL_SCOPES, READ_ONLY_KEY: READ_SCOPES}
    if faults is None:
        faults = _env_faults()
    routes = [
        Route(BASE, state_or_action, methods=["GET", "POST"]),
        Route(BASE + "/routes/{route_id}", delete_route, methods=["DELETE"]),
        Route(BASE + "/{pool_id}", release_pool, methods=["DELETE"]),
        Route(CONTROL + "/faults", control_faults, methods=["GET", "POST", "DELETE"]),
        Route(CONTROL + "/requests", control_requests, methods=["GET"]),
        Route(CONTROL + "/reset", control_reset, methods=["POST"]),
    ]
    app = SandboxApp(routes=routes, exception_handlers={ApiError: _on_api_error, HTTPException: _on_http_error})
    app.state.sandbox = Sandbox(keys, open_accounts, delete_route_body)
    app.state.sandbox.add_faults(faults)
    return app


def _env_faults() -> list[dict]:
    raw = os.environ.get(FAULTS_ENV, "").strip()
    try:
        return json.loads(raw) if raw else []
    except ValueError as err:
        raise ValueError(f"{FAULTS_ENV} must be a JSON list of faults: {err}") from None
