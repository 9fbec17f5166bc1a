"""The fault matrix: every sandbox fault against every tool, end to end over real JSON-RPC.

One row per fault x tool: what the agent gets (a success, a success with `reconciled: true`, or a
problem `code`), the requests the server sent upstream in order, and whether the change is in the
state afterwards. The README's fault matrix is the same table: change both together.

Every fault hits the FIRST request of the call once; the requests after it go through unharmed.
The matrix runs in process: there the client's per-attempt deadline cancels the sandbox app, so a
`delay` longer than the timeout is never applied and the cancelled request never reaches the
sandbox's request log (the server did send it). Over real HTTP (the tests at the end) the app runs
on after the client gave up; test_a_timed_out_write_may_still_land_over_http shows what that means.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.applications import Starlette

from hostup_ipv6_mcp.config import Settings
from hostup_ipv6_mcp.sandbox import DEFAULT_KEY, create_app, in_process_transport
from hostup_ipv6_mcp.sandbox.store import Account
from hostup_ipv6_mcp.server import build_server
from tests.helpers import FAST_RETRY, call

pytestmark = pytest.mark.anyio

TIMEOUT = 0.2  # Settings.timeout of the delay rows; the delay is longer
DELAY = 0.5
POOL = "2001:db8:1000::/48"  # a fresh sandbox's first /48
FIRST_64 = "2001:db8:1000::/64"  # what HostUp picks for a /64 in an empty pool
SECOND_64 = "2001:db8:1000:1::/64"
WEB, DB = "vps_web1", "vps_db1"

FAULTS: dict[str, dict[str, Any]] = {
    "delay": {"kind": "delay", "seconds": DELAY},  # longer than TIMEOUT: the client gives up
    "429": {"kind": "status", "status": 429, "retryAfter": 0},
    "429 long": {"kind": "status", "status": 429, "retryAfter": 3600},  # beyond the retry budget
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502},
    "503": {"kind": "status", "status": 503},
    "504": {"kind": "status", "status": 504},
    "html 502": {"kind": "html"},  # a proxy's error page
    "html 200": {"kind": "html", "status": 200},  # a 200 whose body is a web page
    "drop_before": {"kind": "drop_before"},
    "drop_after": {"kind": "drop_after"},
    "refuse": {"kind": "refuse"},
}

Snapshot = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]  # (pool CIDRs, (route prefix, vpsId))


def snapshot(state: dict[str, Any]) -> Snapshot:
    """What the matrix compares: the pools and the routes, from the store or from a tool's answer."""
    pools = tuple(p["parentCidr"] for p in state["pools"])
    return pools, tuple((r["prefix"], r["vpsId"]) for p in state["pools"] for r in p["routes"])


def account(app: Starlette) -> Account:
    found = app.state.sandbox.account(DEFAULT_KEY)
    assert found is not None
    return found


def add_pool(acct: Account) -> str:
    acct.allocate_pool()
    return next(iter(acct.pools))


def add_route(acct: Account, pool_id: str, vps: str = WEB, length: int = 64) -> str:
    before = set(acct.pools[pool_id].routes)
    acct.create_route({"poolId": pool_id, "vpsId": vps, "prefixLength": length})
    (route_id,) = set(acct.pools[pool_id].routes) - before
    return route_id


def routed_pool(acct: Account) -> dict[str, Any]:
    pool_id = add_pool(acct)
    return {"poolId": pool_id, "routeId": add_route(acct, pool_id)}


@dataclass(frozen=True)
class Tool:
    name: str
    setup: Callable[[Account], dict[str, Any]]  # arranges the account; returns the tool's arguments
    applied: Snapshot | None  # the state once the change took effect; None for the read-only tools


TOOLS = {
    "list_routed_ipv6": Tool("list_routed_ipv6", lambda a: (routed_pool(a), {})[1], None),
    "plan_route": Tool(
        "plan_route", lambda a: {"poolId": add_pool(a), "vpsId": WEB, "prefixLength": 64}, None
    ),
    "allocate_pool": Tool("allocate_pool", lambda a: {}, ((POOL,), ())),
    "create_route": Tool(
        "create_route",
        lambda a: {"poolId": add_pool(a), "vpsId": WEB, "prefixLength": 64},
        ((POOL,), ((FIRST_64, WEB),)),
    ),
    "create_route+prefix": Tool(
        "create_route",
        lambda a: {"poolId": add_pool(a), "vpsId": WEB, "prefixLength": 64, "prefix": SECOND_64},
        ((POOL,), ((SECOND_64, WEB),)),
    ),
    "delete_route": Tool(
        "delete_route", lambda a: {"routeId": routed_pool(a)["routeId"]}, ((POOL,), ())
    ),
    "release_pool": Tool("release_pool", lambda a: {"poolId": add_pool(a)}, ((), ())),
}

OK = "ok"
RECONCILED = "ok, reconciled"  # success with `reconciled: true`: the answer was lost, the state shows the change
CHANGED, SAME = "changed", "unchanged"
# Problems HostUp sent itself (passed through, no "source"); every other code is the server's own.
HOSTUP_CODES = {"rate_limited", "internal_error", "upstream_unavailable"}

# fmt: off
MATRIX = [
    # fault          tool                   agent sees                   upstream requests  state after
    ("delay",        "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("delay",        "plan_route",          OK,                          "GET GET",         SAME),
    ("delay",        "allocate_pool",       "outcome_unknown",           "POST GET",        SAME),
    ("delay",        "create_route",        "outcome_unknown",           "POST GET",        SAME),
    ("delay",        "create_route+prefix", "outcome_unknown",           "POST GET",        SAME),
    ("delay",        "delete_route",        "outcome_unknown",           "DELETE GET",      SAME),
    ("delay",        "release_pool",        "outcome_unknown",           "DELETE GET",      SAME),

    ("429",          "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("429",          "plan_route",          OK,                          "GET GET",         SAME),
    ("429",          "allocate_pool",       OK,                          "POST POST",       CHANGED),
    ("429",          "create_route",        OK,                          "POST POST",       CHANGED),
    ("429",          "create_route+prefix", OK,                          "POST POST",       CHANGED),
    ("429",          "delete_route",        OK,                          "DELETE DELETE",   CHANGED),
    ("429",          "release_pool",        OK,                          "DELETE DELETE",   CHANGED),

    ("429 long",     "list_routed_ipv6",    "rate_limited",              "GET",             SAME),
    ("429 long",     "plan_route",          "rate_limited",              "GET",             SAME),
    ("429 long",     "allocate_pool",       "rate_limited",              "POST",            SAME),
    ("429 long",     "create_route",        "rate_limited",              "POST",            SAME),
    ("429 long",     "create_route+prefix", "rate_limited",              "POST",            SAME),
    ("429 long",     "delete_route",        "rate_limited",              "DELETE",          SAME),
    ("429 long",     "release_pool",        "rate_limited",              "DELETE",          SAME),

    ("500",          "list_routed_ipv6",    "internal_error",            "GET",             SAME),
    ("500",          "plan_route",          "internal_error",            "GET",             SAME),
    ("500",          "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("500",          "create_route",        "not_applied",               "POST GET",        SAME),
    ("500",          "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("500",          "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("500",          "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("502",          "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("502",          "plan_route",          OK,                          "GET GET",         SAME),
    ("502",          "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("502",          "create_route",        "not_applied",               "POST GET",        SAME),
    ("502",          "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("502",          "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("502",          "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("503",          "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("503",          "plan_route",          OK,                          "GET GET",         SAME),
    ("503",          "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("503",          "create_route",        "not_applied",               "POST GET",        SAME),
    ("503",          "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("503",          "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("503",          "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("504",          "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("504",          "plan_route",          OK,                          "GET GET",         SAME),
    ("504",          "allocate_pool",       "outcome_unknown",           "POST GET",        SAME),
    ("504",          "create_route",        "outcome_unknown",           "POST GET",        SAME),
    ("504",          "create_route+prefix", "outcome_unknown",           "POST GET",        SAME),
    ("504",          "delete_route",        "outcome_unknown",           "DELETE GET",      SAME),
    ("504",          "release_pool",        "outcome_unknown",           "DELETE GET",      SAME),

    ("html 502",     "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("html 502",     "plan_route",          OK,                          "GET GET",         SAME),
    ("html 502",     "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("html 502",     "create_route",        "not_applied",               "POST GET",        SAME),
    ("html 502",     "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("html 502",     "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("html 502",     "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("html 200",     "list_routed_ipv6",    "upstream_invalid_response", "GET",             SAME),
    ("html 200",     "plan_route",          "upstream_invalid_response", "GET",             SAME),
    ("html 200",     "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("html 200",     "create_route",        "not_applied",               "POST GET",        SAME),
    ("html 200",     "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("html 200",     "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("html 200",     "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("drop_before",  "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("drop_before",  "plan_route",          OK,                          "GET GET",         SAME),
    ("drop_before",  "allocate_pool",       "not_applied",               "POST GET",        SAME),
    ("drop_before",  "create_route",        "not_applied",               "POST GET",        SAME),
    ("drop_before",  "create_route+prefix", "not_applied",               "POST GET",        SAME),
    ("drop_before",  "delete_route",        "not_applied",               "DELETE GET",      SAME),
    ("drop_before",  "release_pool",        "not_applied",               "DELETE GET",      SAME),

    ("drop_after",   "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("drop_after",   "plan_route",          OK,                          "GET GET",         SAME),
    ("drop_after",   "allocate_pool",       RECONCILED,                  "POST GET",        CHANGED),
    ("drop_after",   "create_route",        RECONCILED,                  "POST GET",        CHANGED),
    ("drop_after",   "create_route+prefix", RECONCILED,                  "POST GET",        CHANGED),
    ("drop_after",   "delete_route",        RECONCILED,                  "DELETE GET",      CHANGED),
    ("drop_after",   "release_pool",        RECONCILED,                  "DELETE GET",      CHANGED),

    ("refuse",       "list_routed_ipv6",    OK,                          "GET GET",         SAME),
    ("refuse",       "plan_route",          OK,                          "GET GET",         SAME),
    ("refuse",       "allocate_pool",       OK,                          "POST POST",       CHANGED),
    ("refuse",       "create_route",        OK,                          "POST POST",       CHANGED),
    ("refuse",       "create_route+prefix", OK,                          "POST POST",       CHANGED),
    ("refuse",       "delete_route",        OK,                          "DELETE DELETE",   CHANGED),
    ("refuse",       "release_pool",        OK,                          "DELETE DELETE",   CHANGED),
]
# fmt: on


class Recording(httpx2.AsyncBaseTransport):
    """Passes requests on and notes each one's method: what the server SENT, even when the sandbox
    never logs it (a request the client's deadline cancelled)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner, self.sent = inner, []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(request.method)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def serve(app: Starlette, **settings: Any) -> AsyncIterator[tuple[Client, list[str]]]:
    """tests.helpers.connect, plus the list of methods the server sent upstream."""
    recording = Recording(in_process_transport(app))
    server = build_server(Settings(sandbox=True, **settings), transport=recording, retry=FAST_RETRY)
    async with Client(server, mode="legacy") as client:
        yield client, recording.sent


def logged(app: Starlette) -> str:
    return " ".join(r["method"] for r in app.state.sandbox.requests)


async def logged_over_http(app: Starlette, count: int) -> str:
    """The log once it holds `count` requests: uvicorn logs a request after its answer went out."""
    with anyio.fail_after(10):
        while len(app.state.sandbox.requests) < count:
            await anyio.sleep(0.01)
    return logged(app)


def check_answer(is_error: bool, data: dict[str, Any], answer: str, store: Snapshot) -> None:
    if answer in (OK, RECONCILED):
        assert not is_error, data
        assert data.get("reconciled", False) is (answer == RECONCILED), data
        if "pools" in data:  # a state: the one the store holds now
            assert snapshot(data) == store
        return
    assert is_error, data
    assert data["code"] == answer, data
    if answer in HOSTUP_CODES:
        assert "source" not in data and data["requestId"].startswith("req_"), data
    else:
        assert data["source"] == "hostup-ipv6-mcp", data


@pytest.mark.parametrize(
    ("fault", "tool", "answer", "requests", "after"), MATRIX, ids=[f"{f}-{t}" for f, t, *_ in MATRIX]
)
async def test_fault_matrix(fault: str, tool: str, answer: str, requests: str, after: str) -> None:
    spec = TOOLS[tool]
    app = create_app(faults=[])
    args = spec.setup(account(app))
    before = snapshot(account(app).state())
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS[fault]])
    settings = {"timeout": TIMEOUT} if fault == "delay" else {}

    async with serve(app, **settings) as (client, sent):
        started = time.monotonic()
        is_error, data = await call(client, spec.name, args)
        elapsed = time.monotonic() - started

    store = snapshot(account(app).state())
    check_answer(is_error, data, answer, store)
    assert " ".join(sent) == requests
    # In process the timed-out request was cancelled inside the sandbox: sent, never logged.
    assert logged(app) == (requests.split(" ", 1)[1] if fault == "delay" else requests)
    assert app.state.sandbox.faults.pending() == []  # the fault was used
    assert store == (before if after == SAME else spec.applied)
    if fault == "429 long":  # the wait is the agent's to make: said, not slept
        assert data["status"] == 429 and data["retryAfter"] == 3600 and elapsed < 1.0
    if tool == "plan_route" and not is_error:
        assert data["ok"] is True and data["prefix"] == FIRST_64
    if tool == "release_pool" and not is_error:
        assert data["released"] is True
        assert ("cooldownUntil" in data) is (answer == OK)  # a lost answer's cooldown stays unknown


def test_the_matrix_is_complete() -> None:
    cells = [(fault, tool) for fault, tool, *_ in MATRIX]
    assert sorted(cells) == sorted((fault, tool) for fault in FAULTS for tool in TOOLS)


# ----- a fault that lasts: every attempt fails ---------------------------------------------------

ATTEMPTS = FAST_RETRY.max_attempts  # 3

# fmt: off
PERSISTENT = [
    # fault          tool                agent sees              upstream requests
    ("delay",        "list_routed_ipv6", "upstream_timeout",     "GET GET GET"),
    ("429",          "list_routed_ipv6", "rate_limited",         "GET GET GET"),
    ("502",          "list_routed_ipv6", "upstream_unavailable", "GET GET GET"),
    ("503",          "list_routed_ipv6", "upstream_unavailable", "GET GET GET"),
    ("504",          "list_routed_ipv6", "gateway_timeout",      "GET GET GET"),
    ("html 502",     "list_routed_ipv6", "upstream_error",       "GET GET GET"),
    ("drop_before",  "list_routed_ipv6", "upstream_unreachable", "GET GET GET"),
    ("refuse",       "list_routed_ipv6", "upstream_unreachable", "GET GET GET"),
    ("429",          "create_route",     "rate_limited",         "POST POST POST"),
    ("refuse",       "create_route",     "upstream_unreachable", "POST POST POST"),
]
# fmt: on


@pytest.mark.parametrize(
    ("fault", "tool", "answer", "requests"), PERSISTENT, ids=[f"{f}-{t}" for f, t, *_ in PERSISTENT]
)
async def test_a_lasting_fault_ends_as_a_problem_after_every_attempt(
    fault: str, tool: str, answer: str, requests: str
) -> None:
    app = create_app(faults=[])
    args = TOOLS[tool].setup(account(app))
    before = snapshot(account(app).state())
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS[fault] | {"times": ATTEMPTS}])
    async with serve(app, **({"timeout": TIMEOUT} if fault == "delay" else {})) as (client, sent):
        is_error, data = await call(client, TOOLS[tool].name, args)
    assert is_error and data["code"] == answer, data
    assert " ".join(sent) == requests
    assert snapshot(account(app).state()) == before
    if answer == "upstream_error":
        assert data["upstreamStatus"] == 502 and "text/html" in data["detail"]


# ----- outcome_unknown: when the state cannot settle it -------------------------------------------


@pytest.mark.parametrize("tool", [name for name, spec in TOOLS.items() if spec.applied is not None])
async def test_a_lost_answer_whose_state_cannot_be_read_is_outcome_unknown(tool: str) -> None:
    # The write lands but its answer is lost, and then every read of the state fails too. That
    # read is quick (two attempts): the write already spent its time.
    app = create_app(faults=[])
    args = TOOLS[tool].setup(account(app))
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS["drop_after"], FAULTS["503"] | {"method": "GET", "times": 2}])
    async with serve(app) as (client, sent):
        is_error, data = await call(client, TOOLS[tool].name, args)
    assert is_error and data["code"] == "outcome_unknown" and data["source"] == "hostup-ipv6-mcp", data
    assert "Do not retry" in data["detail"] and "list_routed_ipv6" in data["detail"]
    write = sent[0]
    assert sent == [write, "GET", "GET"] and write in {"POST", "DELETE"}
    assert snapshot(account(app).state()) == TOOLS[tool].applied  # applied once, never repeated


async def test_create_route_with_two_recent_candidates_is_outcome_unknown() -> None:
    # A /64 to the same VPS was routed moments ago: after a lost answer both routes look new.
    app = create_app(faults=[])
    pool_id = add_pool(account(app))
    earlier = add_route(account(app), pool_id)
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS["drop_after"]])
    async with serve(app) as (client, sent):
        is_error, data = await call(client, "create_route", {"poolId": pool_id, "vpsId": WEB, "prefixLength": 64})
        assert is_error and data["code"] == "outcome_unknown", data
        (new,) = set(account(app).pools[pool_id].routes) - {earlier}
        assert sorted(data["candidateRouteIds"]) == sorted([earlier, new])
        assert all(route_id in data["detail"] for route_id in (earlier, new))
        # Nothing was sent again: exactly the two routes, no third.
        assert sent == ["POST", "GET"]
        assert snapshot(account(app).state())[1] == ((FIRST_64, WEB), (SECOND_64, WEB))
        # The agent's next step, as the detail says: read the state and decide from it.
        is_error, state = await call(client, "list_routed_ipv6")
        assert not is_error and len(state["pools"][0]["routes"]) == 2


async def test_create_route_tells_an_old_route_from_the_new_one_by_its_age() -> None:
    app = create_app(faults=[])
    app.state.sandbox.clock = lambda: datetime.now(UTC) - timedelta(hours=1)
    pool_id = add_pool(account(app))
    add_route(account(app), pool_id)  # an hour old: beyond the clock-skew allowance
    app.state.sandbox.clock = lambda: datetime.now(UTC)
    app.state.sandbox.add_faults([FAULTS["drop_after"]])
    async with serve(app) as (client, sent):
        is_error, data = await call(client, "create_route", {"poolId": pool_id, "vpsId": WEB, "prefixLength": 64})
    assert not is_error and data["reconciled"] is True, data
    assert sent == ["POST", "GET"]
    assert snapshot(account(app).state())[1] == ((FIRST_64, WEB), (SECOND_64, WEB))


async def test_an_older_route_does_not_make_an_unapplied_create_look_applied() -> None:
    # The answer is lost BEFORE anything happened; a route to the same VPS and length made a minute
    # earlier (by HostUp's clock, which its Date header aligns with ours) is told apart from a new one.
    app = create_app(faults=[])
    app.state.sandbox.clock = lambda: datetime.now(UTC) - timedelta(minutes=1)
    pool_id = add_pool(account(app))
    add_route(account(app), pool_id)
    app.state.sandbox.clock = lambda: datetime.now(UTC)
    app.state.sandbox.add_faults([FAULTS["drop_before"]])
    async with serve(app) as (client, sent):
        is_error, data = await call(client, "create_route", {"poolId": pool_id, "vpsId": WEB, "prefixLength": 64})
    assert sent == ["POST", "GET"]
    assert snapshot(account(app).state())[1] == ((FIRST_64, WEB),)  # nothing new
    assert is_error and data["code"] == "not_applied", data


# ----- over real HTTP: uvicorn on a loopback port --------------------------------------------------


@asynccontextmanager
async def serve_http(url: str, **settings: Any) -> AsyncIterator[Client]:
    """The server as in production: no sandbox, no injected transport, HOSTUP_API_URL = the port."""
    server = build_server(Settings(api_key=DEFAULT_KEY, api_url=url, sandbox=False, **settings), retry=FAST_RETRY)
    async with Client(server, mode="legacy") as client:
        yield client


# fmt: off
OVER_HTTP = [
    # fault          agent sees      logged requests  state after
    ("drop_after",   RECONCILED,     "POST GET",      CHANGED),
    ("drop_before",  "not_applied",  "POST GET",      SAME),
    ("refuse",       "not_applied",  "POST GET",      SAME),  # accepted, then dropped: NOT retried as in process
    ("502",          "not_applied",  "POST GET",      SAME),
    ("429",          OK,             "POST POST",     CHANGED),
]
# fmt: on


@pytest.mark.parametrize(("fault", "answer", "requests", "after"), OVER_HTTP, ids=[row[0] for row in OVER_HTTP])
async def test_create_route_faults_over_http(
    live_sandbox: Any, fault: str, answer: str, requests: str, after: str
) -> None:
    app = live_sandbox.app
    args = TOOLS["create_route"].setup(account(app))
    before = snapshot(account(app).state())
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS[fault]])
    async with serve_http(live_sandbox.url) as client:
        is_error, data = await call(client, "create_route", args)
        store = snapshot(account(app).state())
        check_answer(is_error, data, answer, store)
        assert await logged_over_http(app, len(requests.split())) == requests
        assert store == (before if after == SAME else TOOLS["create_route"].applied)  # never a duplicate
        is_error, state = await call(client, "list_routed_ipv6")
        assert not is_error and snapshot(state) == store


async def test_a_timed_out_write_may_still_land_over_http(live_sandbox: Any) -> None:
    # Over a real connection the client gives up after TIMEOUT but HostUp (here: uvicorn) goes on
    # and applies the write DELAY seconds in. The state read right after the timeout cannot show
    # it yet, so the agent must not be told that nothing happened.
    app = live_sandbox.app
    args = TOOLS["create_route"].setup(account(app))
    app.state.sandbox.requests.clear()
    app.state.sandbox.add_faults([FAULTS["delay"] | {"method": "POST"}])
    async with serve_http(live_sandbox.url, timeout=TIMEOUT) as client:
        is_error, data = await call(client, "create_route", args)
    # Wait for the delayed POST, which also keeps it out of the next test's log.
    assert await logged_over_http(app, 2) == "GET POST"  # the reconciling read was answered before the delayed write
    assert snapshot(account(app).state()) == TOOLS["create_route"].applied
    assert is_error and data["code"] == "outcome_unknown", data
