"""Remote mode: the MCP server over streamable HTTP, for many users and accounts at once.

Every request to /mcp carries its caller's own HostUp key as `Authorization: Bearer`; the key
lives only as long as that request and is never stored or logged. The server is stateless (no MCP
sessions, JSON responses), so any worker or replica can answer any request: scale out with
`uvicorn --factory hostup_ipv6_mcp.remote:app_from_env --workers N` or replicas behind any load
balancer, nothing sticky. The CLI's `--transport http` runs exactly that factory.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hostup_ipv6_mcp.config import ConfigError, Settings, env_value, is_loopback_host, load_settings, parse_bool
from hostup_ipv6_mcp.problems import server_problem
from hostup_ipv6_mcp.server import build_server

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
REALM = "hostup-ipv6-mcp"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# MCP messages for these tools are a few hundred bytes; the SDK's own default is 4 MiB.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
MAX_KEY_LENGTH = 1024
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
FACTORY = "hostup_ipv6_mcp.remote:app_from_env"

# The key of the request being served. Set by BearerKeyMiddleware around that one request and
# reset after it; the SDK serves each stateless request in tasks spawned from the request's own
# context, so a tool call sees its own caller's key and no other.
_caller_key: ContextVar[str | None] = ContextVar("hostup_caller_key", default=None)


@dataclass(frozen=True)
class RemoteSettings:
    """How to serve over HTTP; the HostUp settings stay in config.Settings."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    allow_server_key: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def transport_security(self) -> TransportSecuritySettings:
        """DNS-rebinding protection, on for every bind address; loopback names when no list is given."""
        loopback = is_loopback_host(self.host)
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(self.allowed_hosts or (LOOPBACK_HOSTS if loopback else ())),
            allowed_origins=list(self.allowed_origins or (LOOPBACK_ORIGINS if loopback else ())),
        )


def _int(name: str, value: str | int | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {number}.")
    return number


def _names(name: str, flag_values: Sequence[str] | None, env: Mapping[str, str]) -> tuple[str, ...]:
    raw = list(flag_values) if flag_values else (env_value(env, name) or "").split(",")
    values = tuple(value.strip() for value in raw if value.strip())
    if any(" " in value or "/" in value.removeprefix("http://").removeprefix("https://") for value in values):
        raise ConfigError(f"{name}: give host[:port] or scheme://host[:port] values, not {', '.join(values)!r}.")
    return values


def load_remote_settings(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    allowed_hosts: Sequence[str] | None = None,
    allowed_origins: Sequence[str] | None = None,
    allow_server_key: bool | None = None,
    max_body_bytes: int | None = None,
) -> RemoteSettings:
    """RemoteSettings from flags (keyword arguments, which win) and HOSTUP_* variables, refusing
    every combination that would not be safe to serve."""
    env = os.environ if env is None else env
    remote = RemoteSettings(
        host=host or env_value(env, "HOSTUP_HTTP_HOST") or DEFAULT_HOST,
        port=_int("HOSTUP_HTTP_PORT", port if port is not None else env_value(env, "HOSTUP_HTTP_PORT"),
                  DEFAULT_PORT, 0, 65535),
        workers=_int("HOSTUP_WORKERS", workers if workers is not None else env_value(env, "HOSTUP_WORKERS"), 1, 1, 64),
        allowed_hosts=_names("HOSTUP_ALLOWED_HOSTS", allowed_hosts, env),
        allowed_origins=_names("HOSTUP_ALLOWED_ORIGINS", allowed_origins, env),
        allow_server_key=allow_server_key
        or parse_bool("HOSTUP_ALLOW_SERVER_KEY", env_value(env, "HOSTUP_ALLOW_SERVER_KEY")),
        max_body_bytes=_int(
            "HOSTUP_MAX_BODY_BYTES",
            max_body_bytes if max_body_bytes is not None else env_value(env, "HOSTUP_MAX_BODY_BYTES"),
            DEFAULT_MAX_BODY_BYTES, 1024, 4 * 1024 * 1024,
        ),
    )
    loopback = is_loopback_host(remote.host)
    if not loopback and not remote.allowed_hosts:
        raise ConfigError(
            f"Refusing to serve on {remote.host}, which is not a loopback address, without an allow-list of "
            "Host headers: DNS-rebinding protection stays on for every bind address. Pass the names clients "
            "use, e.g. --allowed-host mcp.example.com (repeatable; host:* allows any port), or set "
            "HOSTUP_ALLOWED_HOSTS=mcp.example.com,10.0.0.5:8000. Browser origins: --allowed-origin or "
            "HOSTUP_ALLOWED_ORIGINS."
        )
    if remote.allow_server_key and not loopback:
        raise ConfigError(
            f"--allow-server-key (HOSTUP_ALLOW_SERVER_KEY) works only on a loopback bind address, not {remote.host}: "
            "on a shared server every caller sends their own key as Authorization: Bearer."
        )
    if settings.sandbox and remote.workers > 1:
        raise ConfigError(
            "--sandbox keeps its accounts in memory, so each of several workers would have its own. Serve one "
            "shared sandbox with `hostup-ipv6-mcp sandbox --open-accounts` and point --api-url at it instead."
        )
    if settings.api_key is not None and not remote.allow_server_key:
        raise ConfigError(
            "HOSTUP_API_KEY is set, but over HTTP each caller sends their own HostUp key as "
            "Authorization: Bearer <key> and the server stores none. Unset HOSTUP_API_KEY, or, for a "
            "single-user server bound to loopback, pass --allow-server-key (HOSTUP_ALLOW_SERVER_KEY) to "
            "use it for requests that carry no key."
        )
    return remote


def _bearer(headers: Headers) -> tuple[str | None, str | None]:
    """(key, None) for a usable bearer key, else (None, RFC 6750 error code or None when absent)."""
    raw = headers.get("authorization")
    if raw is None:
        return None, None
    scheme, _, key = raw.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None, "invalid_request"
    if len(key) > MAX_KEY_LENGTH or not all("\x21" <= char <= "\x7e" for char in key):
        return None, "invalid_token"
    return key, None


def _unauthorized(error: str | None) -> Response:
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    detail = (
        "Send your own HostUp API key with every request as `Authorization: Bearer <key>` (scopes "
        "read:network and read:vm, plus write:network for changes). This server stores no keys: each "
        "request acts for the account whose key it carries."
    )
    if error:
        detail = "The Authorization header must be `Bearer <key>`, the key in printable ASCII without spaces. " + detail
    problem = server_problem("missing_api_key", detail).problem.model_dump(mode="json", exclude_none=True)
    return JSONResponse(
        problem, status_code=401, headers={"WWW-Authenticate": challenge}, media_type="application/problem+json"
    )


def _loopback_peer(scope: Scope) -> bool:
    client = scope.get("client")
    return bool(client) and is_loopback_host(str(client[0]))


class BearerKeyMiddleware:
    """Guards everything but the health check: Host and Origin first (DNS rebinding), then the
    caller's key, which is handed to the tools for this request only."""

    def __init__(self, app: ASGIApp, *, remote: RemoteSettings) -> None:
        self.app = app
        self.guard = TransportSecurityMiddleware(remote.transport_security())
        self.allow_server_key = remote.allow_server_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        # Checked before the key too, so a rebinding page cannot even probe for the 401.
        if (rejected := await self.guard.validate_request(request)) is not None:
            await rejected(scope, receive, send)
            return
        key, error = _bearer(request.headers)
        # No key: only a loopback server that allows its own key, and only for a loopback peer
        # (the Host header is the client's to choose; the peer address is not).
        if key is None and (error or not (self.allow_server_key and _loopback_peer(scope))):
            await _unauthorized(error)(scope, receive, send)
            return
        if scope["path"] == MCP_PATH and scope["method"] == "GET":
            # A GET would open an SSE stream that never ends, and a stateless server never pushes.
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        token = _caller_key.set(key)
        try:
            await self.app(scope, receive, send)
        finally:
            _caller_key.reset(token)


async def _healthz(_: Request) -> Response:
    # Liveness of this process only: HostUp being slow must not take every replica out of rotation.
    return JSONResponse({"status": "ok"})


def create_remote_app(settings: Settings, remote: RemoteSettings | None = None) -> Starlette:
    """The ASGI app: the SDK's stateless, JSON-response streamable HTTP app at /mcp, /healthz, and
    the bearer-key guard. Call load_remote_settings first: this trusts `remote`."""
    remote = remote or RemoteSettings()
    transport = None
    if settings.sandbox:
        # Each sbx_* key is its own sandbox account, so isolation between callers is real.
        from hostup_ipv6_mcp.sandbox import create_app, in_process_transport

        transport = in_process_transport(create_app(open_accounts=True))
    server = build_server(settings, transport=transport, caller_key=_caller_key.get)
    server.custom_route(HEALTH_PATH, methods=["GET"])(_healthz)
    # No SDK auth: HostUp checks each key itself; the middleware only requires one to be present.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        max_request_body_size=remote.max_body_bytes,
        transport_security=remote.transport_security(),
        host=remote.host,
    )
    app.add_middleware(BearerKeyMiddleware, remote=remote)
    return app


def app_from_env() -> Starlette:
    """`uvicorn --factory hostup_ipv6_mcp.remote:app_from_env`: every setting from HOSTUP_* variables."""
    from hostup_ipv6_mcp.cli import LOG_LEVELS, configure_logging

    level = (env_value(os.environ, "HOSTUP_LOG_LEVEL") or "WARNING").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"HOSTUP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}.")
    configure_logging(level)
    settings = load_settings()
    return create_remote_app(settings, load_remote_settings(settings))


def environment(settings: Settings, remote: RemoteSettings, log_level: str) -> dict[str, str]:
    """The HOSTUP_* variables that make app_from_env rebuild these settings (in each worker).
    The key is not among them: it can only have come from the environment already."""
    return {
        "HOSTUP_API_URL": settings.api_url,
        "HOSTUP_READ_ONLY": str(settings.read_only).lower(),
        "HOSTUP_SANDBOX": str(settings.sandbox).lower(),
        "HOSTUP_TIMEOUT": str(settings.timeout),
        "HOSTUP_HTTP_HOST": remote.host,
        "HOSTUP_HTTP_PORT": str(remote.port),
        "HOSTUP_WORKERS": str(remote.workers),
        "HOSTUP_ALLOWED_HOSTS": ",".join(remote.allowed_hosts),
        "HOSTUP_ALLOWED_ORIGINS": ",".join(remote.allowed_origins),
        "HOSTUP_ALLOW_SERVER_KEY": str(remote.allow_server_key).lower(),
        "HOSTUP_MAX_BODY_BYTES": str(remote.max_body_bytes),
        "HOSTUP_LOG_LEVEL": log_level,
    }


def serve(settings: Settings, remote: RemoteSettings, log_level: str = "WARNING") -> None:
    """Serve until interrupted, with `remote.workers` processes sharing the port."""
    import uvicorn
    import uvicorn.config

    os.environ.update(environment(settings, remote, log_level))
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    host = f"[{remote.host}]" if ":" in remote.host else remote.host
    where = f"http://{host}:{remote.port}{MCP_PATH}"
    print(
        f"hostup-ipv6-mcp: MCP over streamable HTTP on {where} ({remote.workers} worker(s), health check "
        f"{HEALTH_PATH}); each request must carry Authorization: Bearer <HostUp API key>.",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        FACTORY,
        factory=True,
        host=remote.host,
        port=remote.port,
        workers=remote.workers,
        log_config=log_config,
        log_level=log_level.lower(),
    )
