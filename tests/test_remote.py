"""Remote mode over real HTTP: the server in a subprocess on a loopback port, driven by the SDK's
streamable HTTP client, one HostUp key per user."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hostup_ipv6_mcp.cli import main
from hostup_ipv6_mcp.config import ConfigError, Settings
from hostup_ipv6_mcp.remote import create_remote_app, load_remote_settings
from tests.conftest import LiveSandbox
from tests.helpers import eligible_vps, ok, problem

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {"allocate_pool", "create_route", "delete_route", "release_pool"}
START_TIMEOUT = 30.0
LEGACY_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def user_key(name: str) -> str:
    """A fresh sandbox account per call (sbx_* keys open one on first use)."""
    return f"sbx_{name}_{uuid.uuid4().hex[:12]}"


@dataclass
class RunningServer:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def mcp(self) -> str:
        return self.base + "/mcp"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop, workers included
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def running(*args: str, env: dict[str, str] | None = None, ready_lines: int = 1) -> Iterator[RunningServer]:
    """`hostup-ipv6-mcp --transport http ARGS` on a free loopback port, until the block ends.
    Ready when /healthz answers and `ready_lines` workers have logged their startup."""
    port = _free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTUP_")}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "hostup_ipv6_mcp", "--transport", "http", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "DEBUG", *args],
                env={**base_env, **(env or {})}, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
            )
        server = RunningServer(f"http://127.0.0.1:{port}", process, log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}:\n{server.log_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not become ready:\n{server.log_text()}")
                try:
                    healthy = httpx2.get(server.base + "/healthz", timeout=1).status_code == 200
                except httpx2.HTTPError:
                    healthy = False
                if healthy and server.log_text().count("Application startup complete") >= ready_lines:
                    break
                time.sleep(0.05)
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningServer]:
    """One worker, in-process sandbox: every sbx_* key is an account of its own."""
    with running("--sandbox") as server:
        yield server


@pytest.fixture(scope="module")
def read_only_server() -> Iterator[RunningServer]:
    with running("--sandbox", "--read-only") as server:
        yield server


@asynccontextmanager
async def mcp_client(url: str, key: str | None, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


async def route_something(url: str, key: str, label: str) -> tuple[str, str]:
    """As one user: allocate the pool and route a /64 labelled `label`; (poolId, routeId)."""
    async with mcp_client(url, key) as client:
        state = await ok(client, "list_routed_ipv6")
        assert state["pools"] == [], f"{label} sees someone's pool: {state['pools']}"
        pool = (await ok(client, "allocate_pool"))["pools"][0]
        await anyio.sleep(0)  # let the other users interleave
        state = await ok(client, "create_route",
                         {"poolId": pool["id"], "vpsId": eligible_vps(state)[0], "prefixLength": 64, "label": label})
        (route,) = state["pools"][0]["routes"]
        return pool["id"], route["id"]


async def own_view(url: str, key: str) -> dict[str, Any]:
    async with mcp_client(url, key) as client:
        return await ok(client, "list_routed_ipv6")


async def for_each_user(keys: dict[str, str], job: Any) -> dict[str, Any]:
    """Run job(name, key) for every user at once; results by name."""
    results: dict[str, Any] = {}

    async def one(name: str, key: str) -> None:
        results[name] = await job(name, key)

    async with anyio.create_task_group() as group:
        for name, key in keys.items():
            group.start_soon(one, name, key)
    return results


def assert_isolated(created: dict[str, tuple[str, str]], views: dict[str, dict[str, Any]]) -> None:
    assert len({pool for pool, _ in created.values()}) == len(created), "two users got the same pool"
    for name, (pool_id, route_id) in created.items():
        (pool,) = views[name]["pools"]
        assert pool["id"] == pool_id
        assert [(r["id"], r["label"]) for r in pool["routes"]] == [(route_id, name)]


# --- over real HTTP --------------------------------------------------------------------------


def test_health_check_answers_without_key_or_known_host(sandbox_server: RunningServer) -> None:
    # Load balancers probe by IP address and send no key.
    response = httpx2.get(sandbox_server.base + "/healthz", headers={"Host": "10.1.2.3:8000"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_request_without_a_key_gets_401_with_a_challenge(sandbox_server: RunningServer) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = httpx2.post(sandbox_server.mcp, json=TOOLS_LIST, headers={**LEGACY_HEADERS, **headers})
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith('Bearer realm="hostup-ipv6-mcp"')
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "missing_api_key" and body["status"] == 401 and "Authorization: Bearer" in body["detail"]
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    # Every path but the health check is guarded, whatever the method.
    assert httpx2.get(sandbox_server.mcp).status_code == 401
    # With a key, GET is refused at once instead of opening an SSE stream that never ends.
    response = httpx2.get(sandbox_server.mcp, headers={"Authorization": "Bearer sbx_get"}, timeout=5)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert httpx2.get(sandbox_server.base + "/anything").status_code == 401


async def test_the_sdk_client_without_a_key_cannot_connect(sandbox_server: RunningServer) -> None:
    refusals = sandbox_server.log_text().count('"POST /mcp HTTP/1.1" 401')
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK reports it as an MCPError in a group
        async with mcp_client(sandbox_server.mcp, None) as client:
            await client.list_tools()
    assert sandbox_server.log_text().count('"POST /mcp HTTP/1.1" 401') > refusals


def test_forbidden_host_or_origin_is_rejected(sandbox_server: RunningServer) -> None:
    key = {"Authorization": f"Bearer {user_key('host')}"}
    port = sandbox_server.base.rsplit(":", 1)[1]

    def post(**headers: str) -> httpx2.Response:
        return httpx2.post(sandbox_server.mcp, json=TOOLS_LIST, headers={**LEGACY_HEADERS, **headers})

    assert post(**key).status_code == 200
    assert post(**key, Origin=f"http://localhost:{port}").status_code == 200
    assert post(**key, Host="evil.example").status_code == 421
    assert post(**key, Host=f"rebind.evil.example:{port}").status_code == 421
    assert post(**key, Origin="https://evil.example").status_code == 403
    # Checked before the key: a rebinding page cannot even probe for the 401.
    assert post(Host="evil.example").status_code == 421


def test_request_bodies_are_capped(sandbox_server: RunningServer) -> None:
    huge = {**TOOLS_LIST, "params": {"_meta": {"padding": "x" * 300_000}}}
    headers = {**LEGACY_HEADERS, "Authorization": f"Bearer {user_key('big')}"}
    assert httpx2.post(sandbox_server.mcp, json=huge, headers=headers).status_code == 413


async def test_two_users_at_once_never_see_each_others_pools_or_routes(sandbox_server: RunningServer) -> None:
    keys = {name: user_key(name) for name in ("alice", "bob")}
    for _ in range(3):  # several rounds, so interleavings vary
        keys = {name: user_key(name) for name in keys}
        created = await for_each_user(keys, lambda name, key: route_something(sandbox_server.mcp, key, name))
        views = await for_each_user(keys, lambda name, key: own_view(sandbox_server.mcp, key))
        assert_isolated(created, views)
    # One user's write cannot touch the other's pool: HostUp (here the sandbox) sees bob's key.
    async with mcp_client(sandbox_server.mcp, keys["bob"]) as bob:
        refused = await problem(bob, "delete_route", {"routeId": created["alice"][1]})
        assert refused["status"] == 404
    assert_isolated(created, {name: await own_view(sandbox_server.mcp, key) for name, key in keys.items()})


async def test_handshake_era_clients_get_their_own_account_too(sandbox_server: RunningServer) -> None:
    key = user_key("legacy")
    async with mcp_client(sandbox_server.mcp, key, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        pool = (await ok(client, "allocate_pool"))["pools"][0]
    assert [p["id"] for p in (await own_view(sandbox_server.mcp, key))["pools"]] == [pool["id"]]
    assert (await own_view(sandbox_server.mcp, user_key("other")))["pools"] == []


async def test_keys_never_reach_the_log(sandbox_server: RunningServer) -> None:
    key = user_key("secret")
    async with mcp_client(sandbox_server.mcp, key) as client:
        await ok(client, "allocate_pool")
        await problem(client, "release_pool", {"poolId": "ripv6_nosuchpool"})
    httpx2.post(sandbox_server.mcp, json=TOOLS_LIST, headers={**LEGACY_HEADERS, "Authorization": f"Basic {key}"})
    log = sandbox_server.log_text()
    assert "tool 'allocate_pool' -> ok" in log  # the log runs at DEBUG and did see the calls
    assert key not in log and "sbx_secret" not in log


async def test_read_only_mode_hides_and_refuses_writes_over_http(read_only_server: RunningServer) -> None:
    async with mcp_client(read_only_server.mcp, user_key("reader")) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"list_routed_ipv6", "plan_route"}
        for tool in sorted(WRITE_TOOLS):
            refused = await problem(client, tool, {})
            assert refused["code"] == "read_only_mode" and refused["status"] == 403
        await ok(client, "list_routed_ipv6")


async def test_two_workers_share_one_upstream_and_writes_land_in_the_right_account(live_sandbox: LiveSandbox) -> None:
    # Each worker is its own process, so the upstream is the separately served sandbox.
    with running("--workers", "2", "--api-url", live_sandbox.url, ready_lines=2) as server:
        log = server.log_text()
        assert log.count("Started server process") == 2 and "hostup-ipv6-mcp: MCP over streamable HTTP" in log
        keys = {f"user{i}": user_key(f"user{i}") for i in range(6)}
        created = await for_each_user(keys, lambda name, key: route_something(server.mcp, key, name))
        views = await for_each_user(keys, lambda name, key: own_view(server.mcp, key))
        assert_isolated(created, views)
        onlooker = user_key("onlooker")
        assert (await own_view(server.mcp, onlooker))["pools"] == []
    sandbox = live_sandbox.app.state.sandbox
    owners = {sandbox.account(key).name: name for name, key in keys.items()}
    writes = [r for r in sandbox.requests if r["method"] != "GET"]
    assert len(writes) == 2 * len(keys)  # one allocate and one create_route per user, nothing else
    for entry in writes:
        name = owners[entry["account"]]
        if entry["body"]["action"] == "create_route":
            assert entry["body"]["poolId"] == created[name][0] and entry["body"]["label"] == name
    assert sandbox.account(onlooker).name not in {r["account"] for r in writes}


# --- settings and refusals (no server needed) ------------------------------------------------


def test_a_non_loopback_bind_without_an_allow_list_is_refused() -> None:
    for host in ("0.0.0.0", "::", "10.0.0.5", "mcp.example.com"):
        with pytest.raises(ConfigError, match="--allowed-host"):
            load_remote_settings(Settings(), {}, host=host)
    remote = load_remote_settings(Settings(), {"HOSTUP_ALLOWED_HOSTS": "mcp.example.com, 10.0.0.5:*"}, host="0.0.0.0")
    security = remote.transport_security()
    assert security.enable_dns_rebinding_protection is True
    assert security.allowed_hosts == ["mcp.example.com", "10.0.0.5:*"] and security.allowed_origins == []


def test_loopback_gets_loopback_allow_lists_and_flags_win_over_environment() -> None:
    env = {"HOSTUP_HTTP_PORT": "9000", "HOSTUP_ALLOWED_ORIGINS": "https://a.example", "HOSTUP_MAX_BODY_BYTES": "4096"}
    remote = load_remote_settings(Settings(), env, allowed_origins=["https://b.example"])
    assert (remote.host, remote.port, remote.max_body_bytes) == ("127.0.0.1", 9000, 4096)
    security = remote.transport_security()
    assert "127.0.0.1:*" in security.allowed_hosts and security.allowed_origins == ["https://b.example"]
    for bad in ({"HOSTUP_MAX_BODY_BYTES": "0"}, {"HOSTUP_WORKERS": "many"}, {"HOSTUP_HTTP_PORT": "70000"}):
        with pytest.raises(ConfigError):
            load_remote_settings(Settings(), bad)


def test_a_server_wide_key_needs_consent_and_loopback() -> None:
    with pytest.raises(ConfigError, match="--allow-server-key"):
        load_remote_settings(Settings(api_key="hk_server"), {})
    with pytest.raises(ConfigError, match="loopback"):
        load_remote_settings(Settings(api_key="hk_server"), {"HOSTUP_ALLOWED_HOSTS": "mcp.example.com"},
                             host="0.0.0.0", allow_server_key=True)
    assert load_remote_settings(Settings(api_key="hk_server"), {"HOSTUP_ALLOW_SERVER_KEY": "1"}).allow_server_key


def test_the_in_memory_sandbox_is_refused_with_several_workers() -> None:
    with pytest.raises(ConfigError, match="--open-accounts"):
        load_remote_settings(Settings(sandbox=True), {}, workers=2)


def test_the_cli_refuses_unsafe_http_with_a_clear_message(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("HOSTUP_")]:
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as exited:
        main(["--transport", "http", "--host", "0.0.0.0"])
    assert exited.value.code == 2 and "--allowed-host" in capsys.readouterr().err
    monkeypatch.setenv("HOSTUP_API_KEY", "hk_do_not_print")
    with pytest.raises(SystemExit):
        main(["--transport", "http"])
    err = capsys.readouterr().err
    assert "HOSTUP_API_KEY is set" in err and "hk_do_not_print" not in err


async def test_the_server_key_serves_only_keyless_loopback_peers() -> None:
    # In process (ASGI) because the peer address is the point: a test cannot connect from elsewhere.
    settings = Settings(sandbox=True, api_key="sbx_server")
    app = create_remote_app(settings, load_remote_settings(settings, {}, allow_server_key=True))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "allocate_pool", "arguments": {}}}

    async def allocate(peer: str, key: str | None) -> httpx2.Response:
        headers = {**LEGACY_HEADERS, **({"Authorization": f"Bearer {key}"} if key else {})}
        transport = httpx2.ASGITransport(app, client=(peer, 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            return await http.post("/mcp", json=body, headers=headers)

    async with app.router.lifespan_context(app):
        first = await allocate("127.0.0.1", None)
        second = await allocate("127.0.0.1", None)
        own = await allocate("127.0.0.1", user_key("own"))
        remote = await allocate("203.0.113.9", None)
    pools = lambda response: json.loads(response.text)["result"]["structuredContent"]  # noqa: E731
    assert pools(first)["pools"] and pools(second)["code"] == "pool_exists"  # both used the server's account
    assert pools(own)["pools"][0]["id"] != pools(first)["pools"][0]["id"]
    assert remote.status_code == 401
