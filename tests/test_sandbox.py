"""The sandbox emulator keeps HostUp's routed-IPv6 contract: rules, gates, scopes, accounts and
every fault kind, in process and over a real loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Network
from itertools import combinations
from typing import Any

import anyio
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostup_ipv6_mcp.models import Problem, State
from hostup_ipv6_mcp.prefixes import free_count
from hostup_ipv6_mcp.sandbox import DEFAULT_KEY, READ_ONLY_KEY, create_app, in_process_transport
from hostup_ipv6_mcp.sandbox.store import ALL_SCOPES, Account, ApiError, PoolSource

API = "/api/v2/routed-ipv6"
POOL = "2001:db8:1000::/48"  # the first /48 a fresh sandbox hands out
SEED_EXAMPLE = {  # hostup-api.md, the seed's empty account (destinations aside)
    "available": True, "reason": None, "allowedPrefixLengths": [48, 56, 64], "pools": [],
    "actions": {"canAllocatePool": {"allowed": True, "reason": None},
                "canCreateRoute": {"allowed": False, "reason": "Add a routed /48 before creating routes."}},
}  # fmt: skip


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client_for(app: Any, key: str = DEFAULT_KEY) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=in_process_transport(app), base_url="http://sandbox.test", headers=bearer(key))


async def allocate(client: httpx2.AsyncClient) -> dict[str, Any]:
    response = await client.post(API, json={"action": "allocate_pool"})
    assert response.status_code == 201, response.text
    return response.json()["pools"][-1]


async def route(client: httpx2.AsyncClient, pool_id: str, length: int, prefix: str | None = None, **more: Any):
    body = {"action": "create_route", "poolId": pool_id, "vpsId": "vps_web1", "prefixLength": length, **more}
    return await client.post(API, json=body if prefix is None else body | {"prefix": prefix})


def problem_of(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    """Check the full HostUp problem shape and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    Problem.model_validate(body)
    assert body["code"] == code and body["type"] == f"https://developer.hostup.se/errors/{code}"
    assert body["instance"] == response.request.url.path
    assert body["requestId"].startswith("req_") and body["timestamp"].endswith("Z")
    assert body["title"] and body["detail"]
    return body


def assert_consistent(state: dict[str, Any]) -> None:
    """Every gate agrees with the state it is part of."""
    State.model_validate(state)
    gates = [state["actions"]["canAllocatePool"], state["actions"]["canCreateRoute"]]
    gates += [d["actions"]["canReceiveRoute"] for d in state["destinations"]]
    destinations = {d["vpsId"]: d for d in state["destinations"]}
    assert state["actions"]["canAllocatePool"]["allowed"] == (not state["pools"])
    for pool in state["pools"]:
        parent = IPv6Network(pool["parentCidr"])
        routed = [IPv6Network(r["prefix"]) for r in pool["routes"]]
        assert all(net.subnet_of(parent) for net in routed)
        assert not any(a.overlaps(b) for a, b in combinations(routed, 2))
        assert pool["actions"]["canRelease"]["allowed"] == (not routed)
        assert pool["actions"]["canCreateRoute"]["allowed"] == (free_count(parent, routed, 64) > 0)
        for r in pool["routes"]:
            assert r["nextHop"] == destinations[r["vpsId"]]["nextHop"]
            assert r["vpsName"] == destinations[r["vpsId"]]["name"]
            gates.append(r["actions"]["canDelete"])
        gates += pool["actions"].values()
    can_create = any(p["actions"]["canCreateRoute"]["allowed"] for p in state["pools"]) and any(
        d["actions"]["canReceiveRoute"]["allowed"] for d in state["destinations"]
    )
    assert state["actions"]["canCreateRoute"]["allowed"] == can_create
    assert all(gate["allowed"] == (gate["reason"] is None) for gate in gates)


pytestmark = pytest.mark.anyio


# ----- seed, auth and scopes --------------------------------------------------------------------


async def test_empty_account_renders_like_the_documented_seed(sandbox_client: httpx2.AsyncClient) -> None:
    state = (await sandbox_client.get(API)).json()
    assert {k: v for k, v in state.items() if k != "destinations"} == SEED_EXAMPLE
    assert list(state) == ["available", "reason", "allowedPrefixLengths", "pools", "destinations", "actions"]
    gates = {d["vpsId"]: d["actions"]["canReceiveRoute"] for d in state["destinations"]}
    assert [g["allowed"] for g in gates.values()].count(True) == 2
    assert gates["vps_old1"] == {"allowed": False, "reason": "The VPS is suspended."}
    for d in state["destinations"]:
        assert d["vpsId"].startswith("vps_") and d["primaryIp"].startswith("192.0.2.")
        assert IPv6Network(d["nextHop"]).subnet_of(IPv6Network("2001:db8:ffff::/64"))
    assert_consistent(state)


@pytest.mark.parametrize("headers", [{}, bearer("wrong-key"), {"Authorization": f"Basic {DEFAULT_KEY}"}])
async def test_missing_or_unknown_key_is_401(sandbox_app: Any, headers: dict[str, str]) -> None:
    async with httpx2.AsyncClient(transport=in_process_transport(sandbox_app), base_url="http://s") as client:
        answers = [await client.get(API, headers=headers), await client.delete(f"{API}/ripv6_x", headers=headers)]
        for response in answers:
            problem_of(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


async def test_read_only_key_reads_but_cannot_write(sandbox_app: Any) -> None:
    async with client_for(sandbox_app, READ_ONLY_KEY) as client:
        assert (await client.get(API)).status_code == 200
        for response in (
            await client.post(API, json={"action": "allocate_pool"}),
            await client.delete(f"{API}/ripv6_abc"),
            await client.delete(f"{API}/routes/ripv6rt_abc"),
        ):
            assert "write:network" in problem_of(response, 403, "forbidden")["detail"]


async def test_get_needs_both_read_scopes_and_writes_need_write_network() -> None:
    app = create_app({"net": ["read:network"], "vm": ["read:vm"], "w": ["write:network"]}, faults=[])
    async with client_for(app, "net") as net, client_for(app, "vm") as vm, client_for(app, "w") as w:
        assert "read:vm" in problem_of(await net.get(API), 403, "forbidden")["detail"]
        assert "read:network" in problem_of(await vm.get(API), 403, "forbidden")["detail"]
        detail = problem_of(await w.get(API), 403, "forbidden")["detail"]
        assert "read:network" in detail and "read:vm" in detail
        assert (await w.post(API, json={"action": "allocate_pool"})).status_code == 201


async def test_unknown_endpoints_and_methods_answer_problems(sandbox_client: httpx2.AsyncClient) -> None:
    problem_of(await sandbox_client.get("/api/v2/routed-ipv4"), 404, "not_found")
    response = await sandbox_client.put(API, json={})
    problem_of(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= set(response.headers["allow"].replace(" ", "").split(","))


# ----- pools --------------------------------------------------------------------------------------


async def test_allocate_pool_hands_out_a_48_and_flips_the_gates(sandbox_client: httpx2.AsyncClient) -> None:
    pool = await allocate(sandbox_client)
    assert pool["id"].startswith("ripv6_") and pool["parentCidr"] == POOL and pool["prefixLength"] == 48
    assert pool["status"] == "active" and pool["routes"] == []
    assert pool["allocatedAt"].endswith("Z") and pool["updatedAt"].endswith("Z")
    state = (await sandbox_client.get(API)).json()
    assert_consistent(state)
    assert state["actions"]["canCreateRoute"] == {"allowed": True, "reason": None}
    again = problem_of(await sandbox_client.post(API, json={"action": "allocate_pool"}), 409, "pool_exists")
    assert again["detail"] == state["actions"]["canAllocatePool"]["reason"]


async def test_release_cools_the_48_down_and_the_next_pool_is_another(sandbox_app: Any) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    sandbox_app.state.sandbox.clock = lambda: now
    seen = []
    async with client_for(sandbox_app) as client:
        for _ in range(3):
            pool = await allocate(client)
            seen.append(pool["parentCidr"])
            response = await client.delete(f"{API}/{pool['id']}")
            assert response.json() == {"released": True, "cooldownUntil": "2026-12-11T12:00:00Z"}
            state = (await client.get(API)).json()
            assert state["pools"] == [] and state["actions"]["canAllocatePool"]["allowed"]
    assert len(set(seen)) == 3 and all(IPv6Network(c).subnet_of(IPv6Network("2001:db8::/32")) for c in seen)


async def test_release_refuses_unknown_and_non_empty_pools(sandbox_client: httpx2.AsyncClient) -> None:
    problem_of(await sandbox_client.delete(f"{API}/ripv6_nope"), 404, "not_found")
    pool = await allocate(sandbox_client)
    route_id = (await route(sandbox_client, pool["id"], 64)).json()["pools"][0]["routes"][0]["id"]
    reason = (await sandbox_client.get(API)).json()["pools"][0]["actions"]["canRelease"]["reason"]
    assert problem_of(await sandbox_client.delete(f"{API}/{pool['id']}"), 409, "pool_not_empty")["detail"] == reason
    assert (await sandbox_client.delete(f"{API}/routes/{route_id}")).status_code == 200
    assert (await sandbox_client.delete(f"{API}/{pool['id']}")).json()["released"] is True


# ----- create_route validation ----------------------------------------------------------------------

GOOD = {"action": "create_route", "vpsId": "vps_web1", "prefixLength": 64}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [("/action", "missing_required")]),
        ({"action": "grow_pool"}, [("/action", "invalid_value")]),
        ({"action": "create_route"}, [("/poolId", "missing_required"), ("/vpsId", "missing_required"),
                                      ("/prefixLength", "missing_required")]),
        (GOOD | {"poolId": 7, "vpsId": ["x"]}, [("/poolId", "invalid_type"), ("/vpsId", "invalid_type")]),
        (GOOD | {"prefixLength": 60}, [("/prefixLength", "unsupported_prefix_length")]),
        (GOOD | {"prefixLength": "64"}, [("/prefixLength", "invalid_type")]),
        (GOOD | {"prefixLength": 64.0}, [("/prefixLength", "invalid_type")]),
        (GOOD | {"prefixLength": True}, [("/prefixLength", "invalid_type")]),
        (GOOD | {"prefix": "not-a-prefix"}, [("/prefix", "invalid_prefix")]),
        (GOOD | {"prefix": "2001:db8:1000::"}, [("/prefix", "invalid_prefix")]),
        (GOOD | {"prefix": "192.0.2.0/24"}, [("/prefix", "not_ipv6")]),
        (GOOD | {"prefix": "2001:db8:1000::1/64"}, [("/prefix", "host_bits_set")]),
        (GOOD | {"prefix": "2001:db8:1000::/56"}, [("/prefix", "prefix_length_mismatch")]),
        (GOOD | {"prefix": "2001:db8:2000::/64"}, [("/prefix", "outside_pool")]),
        (GOOD | {"prefix": 64}, [("/prefix", "invalid_type")]),
        (GOOD | {"label": 5}, [("/label", "invalid_type")]),
        (GOOD | {"prefixLength": 65, "prefix": "::ffff:1.2.3.4", "label": False},
         [("/prefixLength", "unsupported_prefix_length"), ("/prefix", "invalid_prefix"), ("/label", "invalid_type")]),
        ([GOOD], [("", "invalid_type")]),
        ("just text", [("", "invalid_type")]),
    ],
)  # fmt: skip
async def test_bad_bodies_get_one_error_per_field(sandbox_client: httpx2.AsyncClient, body: Any, errors: list) -> None:
    pool = await allocate(sandbox_client)
    if isinstance(body, dict) and "poolId" not in body and body.get("action") == "create_route" and len(body) > 1:
        body = body | {"poolId": pool["id"]}
    problem = problem_of(await sandbox_client.post(API, json=body), 400, "invalid_request")
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == errors
    assert all(e["detail"] for e in problem["errors"])
    assert (await sandbox_client.get(API)).json()["pools"][0]["routes"] == []


async def test_a_body_that_is_not_json_is_invalid(sandbox_client: httpx2.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    response = await sandbox_client.post(API, content=b"{action: allocate_pool", headers=headers)
    assert [e["pointer"] for e in problem_of(response, 400, "invalid_request")["errors"]] == [""]


async def test_unknown_pool_or_vps_is_404(sandbox_client: httpx2.AsyncClient) -> None:
    pool = await allocate(sandbox_client)
    problem_of(await route(sandbox_client, "ripv6_nope", 64), 404, "not_found")
    problem_of(await route(sandbox_client, pool["id"], 64, vpsId="vps_nope"), 404, "not_found")


async def test_a_vps_that_cannot_receive_routes_is_refused_with_its_reason(sandbox_client: httpx2.AsyncClient) -> None:
    pool = await allocate(sandbox_client)
    problem = problem_of(await route(sandbox_client, pool["id"], 64, vpsId="vps_old1"), 409, "vps_not_eligible")
    assert problem["detail"] == "The VPS is suspended."


# ----- routes ---------------------------------------------------------------------------------------


async def test_a_route_carries_its_destination_and_label(sandbox_client: httpx2.AsyncClient) -> None:
    pool = await allocate(sandbox_client)
    state = (await route(sandbox_client, pool["id"], 56, label="db replicas", vpsId="vps_db1")).json()
    assert_consistent(state)
    (r,) = state["pools"][0]["routes"]
    assert r["id"].startswith("ripv6rt_") and r["prefix"] == "2001:db8:1000::/56" and r["prefixLength"] == 56
    assert (r["vpsId"], r["vpsName"], r["label"]) == ("vps_db1", "db-1", "db replicas")
    assert r["nextHop"] == "2001:db8:ffff::11"  # the destination's
    assert r["status"] == "active" and r["actions"]["canDelete"] == {"allowed": True, "reason": None}
    unlabelled = (await route(sandbox_client, pool["id"], 64)).json()["pools"][0]["routes"][1]
    assert unlabelled["label"] is None


async def test_without_a_prefix_the_first_free_block_is_chosen_lowest_first(sandbox_client: httpx2.AsyncClient) -> None:
    pool_id = (await allocate(sandbox_client))["id"]
    steps = [  # (prefixLength, given prefix, expected prefix)
        (64, None, "2001:db8:1000::/64"),
        (56, None, "2001:db8:1000:100::/56"),
        (64, None, "2001:db8:1000:1::/64"),
        (64, "2001:db8:1000:3::/64", "2001:db8:1000:3::/64"),
        (64, None, "2001:db8:1000:2::/64"),
        (64, None, "2001:db8:1000:4::/64"),
        (56, "2001:db8:1000:300::/56", "2001:db8:1000:300::/56"),
        (56, None, "2001:db8:1000:200::/56"),
        (56, None, "2001:db8:1000:400::/56"),
    ]
    for length, given_prefix, expected in steps:
        state = (await route(sandbox_client, pool_id, length, given_prefix)).json()
        assert state["pools"][0]["routes"][-1]["prefix"] == expected
        assert_consistent(state)
    first = state["pools"][0]["routes"][0]["id"]
    await sandbox_client.delete(f"{API}/routes/{first}")
    state = (await route(sandbox_client, pool_id, 64)).json()
    assert state["pools"][0]["routes"][-1]["prefix"] == "2001:db8:1000::/64"  # the freed block comes back first


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ("2001:db8:1000:100::/56", "2001:db8:1000:105::/64"),  # inside a routed block
        ("2001:db8:1000:205::/64", "2001:db8:1000:200::/56"),  # containing a routed block
        ("2001:db8:1000:7::/64", "2001:db8:1000:7::/64"),  # the same block
        ("2001:db8:1000:7::/64", POOL),  # the whole pool
    ],
)
async def test_overlapping_routes_are_refused_both_ways(sandbox_client: Any, existing: str, new: str) -> None:
    pool_id = (await allocate(sandbox_client))["id"]
    assert (await route(sandbox_client, pool_id, IPv6Network(existing).prefixlen, existing)).status_code == 201
    problem = problem_of(await route(sandbox_client, pool_id, IPv6Network(new).prefixlen, new), 409, "prefix_overlap")
    assert existing in problem["detail"]


async def test_a_full_pool_closes_its_gates_and_refuses_more(sandbox_client: httpx2.AsyncClient) -> None:
    pool_id = (await allocate(sandbox_client))["id"]
    state = (await route(sandbox_client, pool_id, 48)).json()
    assert_consistent(state)
    pool = state["pools"][0]
    assert pool["routes"][0]["prefix"] == POOL
    assert not pool["actions"]["canCreateRoute"]["allowed"] and not state["actions"]["canCreateRoute"]["allowed"]
    assert not pool["actions"]["canRelease"]["allowed"]
    problem_of(await route(sandbox_client, pool_id, 64), 409, "pool_full")
    state = (await sandbox_client.delete(f"{API}/routes/{pool['routes'][0]['id']}")).json()
    assert_consistent(state)
    assert state["actions"]["canCreateRoute"]["allowed"] and state["pools"][0]["actions"]["canRelease"]["allowed"]


def test_the_pool_stays_open_while_a_64_is_free_even_with_no_56_left() -> None:
    account = Account("account-1", ALL_SCOPES, PoolSource(), lambda: datetime.now(UTC))
    pool_id = account.allocate_pool()["pools"][0]["id"]
    for block in IPv6Network(POOL).subnets(new_prefix=56):  # one /64 at the start of every /56
        prefix = f"{block.network_address}/64"
        account.create_route({"poolId": pool_id, "vpsId": "vps_web1", "prefixLength": 64, "prefix": prefix})
    with pytest.raises(ApiError) as refused:
        account.create_route({"poolId": pool_id, "vpsId": "vps_web1", "prefixLength": 56})
    assert refused.value.code == "pool_full"
    state = account.state()
    assert_consistent(state)
    assert state["pools"][0]["actions"]["canCreateRoute"]["allowed"] and state["actions"]["canCreateRoute"]["allowed"]
    state = account.create_route({"poolId": pool_id, "vpsId": "vps_web1", "prefixLength": 64})
    assert state["pools"][0]["routes"][-1]["prefix"] == "2001:db8:1000:1::/64"


async def test_delete_route_answers_the_state_or_nothing(sandbox_client: httpx2.AsyncClient) -> None:
    pool_id = (await allocate(sandbox_client))["id"]
    route_id = (await route(sandbox_client, pool_id, 64)).json()["pools"][0]["routes"][0]["id"]
    response = await sandbox_client.delete(f"{API}/routes/{route_id}")
    assert response.status_code == 200 and response.json()["pools"][0]["routes"] == []
    problem_of(await sandbox_client.delete(f"{API}/routes/{route_id}"), 404, "not_found")
    app = create_app(delete_route_body="empty", faults=[])
    async with client_for(app) as client:
        route_id = (await route(client, (await allocate(client))["id"], 64)).json()["pools"][0]["routes"][0]["id"]
        response = await client.delete(f"{API}/routes/{route_id}")
        assert response.status_code == 204 and response.content == b""


# ----- accounts and the request log -------------------------------------------------------------


async def test_each_key_is_an_account_of_its_own() -> None:
    app = create_app({"key-a": ALL_SCOPES, "key-b": ALL_SCOPES}, faults=[])
    async with client_for(app, "key-a") as a, client_for(app, "key-b") as b:
        pool_a, pool_b = await allocate(a), await allocate(b)
        assert pool_a["parentCidr"] != pool_b["parentCidr"]
        route_a = (await route(a, pool_a["id"], 64)).json()["pools"][0]["routes"][0]
        assert (await b.get(API)).json()["pools"][0]["routes"] == []
        problem_of(await route(b, pool_a["id"], 64), 404, "not_found")
        problem_of(await b.delete(f"{API}/routes/{route_a['id']}"), 404, "not_found")
        problem_of(await b.delete(f"{API}/{pool_a['id']}"), 404, "not_found")
        assert len((await a.get(API)).json()["pools"][0]["routes"]) == 1


async def test_open_accounts_give_every_sbx_key_a_fresh_account() -> None:
    app = create_app(open_accounts=True, faults=[])
    async with client_for(app, "sbx_alice") as alice, client_for(app, "sbx_bob") as bob, client_for(app, "eve") as eve:
        await allocate(alice)
        assert (await bob.get(API)).json()["pools"] == []
        assert (await allocate(bob))["parentCidr"] != (await alice.get(API)).json()["pools"][0]["parentCidr"]
        problem_of(await eve.get(API), 401, "unauthorized")
    async with client_for(create_app(faults=[]), "sbx_alice") as closed:
        problem_of(await closed.get(API), 401, "unauthorized")


async def test_the_log_names_accounts_never_keys_and_reset_starts_over(sandbox_app: Any) -> None:
    sandbox = sandbox_app.state.sandbox
    async with client_for(sandbox_app) as client, client_for(sandbox_app, READ_ONLY_KEY) as reader:
        await allocate(client)
        await reader.get(API)
        await client.post("/_sandbox/faults", json=[{"kind": "status", "status": 503}])
        await client.get("/_sandbox/requests")
    assert [(r["method"], r["path"], r["status"], r["account"]) for r in sandbox.requests] == [
        ("POST", API, 201, "account-1"),
        ("GET", API, 200, "account-2"),
    ]
    assert sandbox.requests[0]["body"] == {"action": "allocate_pool"} and sandbox.requests[1]["body"] is None
    assert DEFAULT_KEY not in json.dumps(sandbox.requests) and READ_ONLY_KEY not in json.dumps(sandbox.requests)
    sandbox.reset()
    assert sandbox.requests == [] and sandbox.faults.pending() == []
    async with client_for(sandbox_app) as client:
        assert (await client.get(API)).json()["pools"] == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["allocate", "create", "delete", "release"]),
                          st.sampled_from([48, 56, 64]), st.sampled_from(["vps_web1", "vps_db1", "vps_old1"]),
                          st.integers(0, 3), st.booleans()), max_size=25))  # fmt: skip
def test_gates_always_predict_what_the_operation_does(ops: list) -> None:
    account = Account("account-1", ALL_SCOPES, PoolSource(), lambda: datetime.now(UTC))
    for op, length, vps, index, explicit in ops:
        state = account.state()
        assert_consistent(state)
        pool = next(iter(account.pools.values()), None)
        try:
            if op == "allocate":
                allowed = state["actions"]["canAllocatePool"]["allowed"]
                account.allocate_pool()
            elif op == "release" and pool:
                allowed = state["pools"][0]["actions"]["canRelease"]["allowed"]
                account.release_pool(pool.id)
            elif op == "delete" and pool and pool.routes:
                allowed = True
                account.delete_route(list(pool.routes)[index % len(pool.routes)])
            elif op == "create" and pool:
                allowed = state["actions"]["canCreateRoute"]["allowed"]
                body = {"poolId": pool.id, "vpsId": vps, "prefixLength": length}
                if explicit:  # one of the first four blocks of that length
                    start = int(pool.cidr.network_address) + index * 2 ** (128 - length) * (length > 48)
                    body["prefix"] = IPv6Network((start, length)).compressed
                account.create_route(body)
            else:
                continue
            assert allowed, (op, state)  # a closed gate always means a refusal
        except ApiError as err:
            assert err.status == 409, err.code
            assert op == "create" or not allowed, (op, err.code)  # only create may fail behind an open gate


# ----- faults in process -------------------------------------------------------------------------


async def test_a_delay_fault_answers_normally_after_sleeping(sandbox_app: Any) -> None:
    sandbox_app.state.sandbox.add_faults([{"kind": "delay", "seconds": 0.01}])
    async with client_for(sandbox_app) as client:
        assert (await client.get(API)).status_code == 200
    assert sandbox_app.state.sandbox.requests == [
        {"method": "GET", "path": API, "status": 200, "body": None, "account": "account-1", "fault": "delay"}
    ]


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "rate_limited"), (500, "internal_error"), (502, "upstream_unavailable"),
     (503, "upstream_unavailable"), (504, "gateway_timeout")],
)  # fmt: skip
async def test_status_faults_answer_problems_and_change_nothing(sandbox_app: Any, status: int, code: str) -> None:
    sandbox_app.state.sandbox.add_faults([{"kind": "status", "status": status, "retryAfter": 3}])
    async with client_for(sandbox_app) as client:
        response = await client.post(API, json={"action": "allocate_pool"})
        problem_of(response, status, code)
        assert response.headers["retry-after"] == "3"
        if status == 429:
            assert response.headers["x-ratelimit-remaining"] == "0" and int(response.headers["x-ratelimit-limit"]) > 0
            reset = datetime.fromisoformat(response.headers["x-ratelimit-reset"])
            assert reset > datetime.now(UTC) - timedelta(minutes=1)
        assert (await client.get(API)).json()["pools"] == []  # used up: the next request is normal
    assert [r["status"] for r in sandbox_app.state.sandbox.requests] == [status, 200]


async def test_429_has_a_retry_after_by_default_and_codes_can_be_overridden(sandbox_app: Any) -> None:
    faults = [{"kind": "status", "status": 429}, {"kind": "status", "status": 409, "code": "cooldown_active"}]
    sandbox_app.state.sandbox.add_faults(faults)
    async with client_for(sandbox_app) as client:
        assert (await client.get(API)).headers["retry-after"] == "1"
        problem_of(await client.get(API), 409, "cooldown_active")


@pytest.mark.parametrize("status", [502, 200])
async def test_html_fault_answers_a_proxy_page(sandbox_app: Any, status: int) -> None:
    sandbox_app.state.sandbox.add_faults([{"kind": "html"} | ({"status": 200} if status == 200 else {})])
    async with client_for(sandbox_app) as client:
        response = await client.get(API)
    assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.parametrize(
    ("kind", "error", "applied"),
    [("drop_before", httpx2.RemoteProtocolError, False), ("drop_after", httpx2.RemoteProtocolError, True),
     ("refuse", httpx2.ConnectError, False)],
)  # fmt: skip
async def test_connection_faults_raise_network_errors(sandbox_app: Any, kind: str, error: type, applied: bool) -> None:
    sandbox_app.state.sandbox.add_faults([{"kind": kind}])
    async with client_for(sandbox_app) as client:
        with pytest.raises(error) as caught:
            await client.post(API, json={"action": "allocate_pool"})
        assert caught.value.request.method == "POST"
        assert len((await client.get(API)).json()["pools"]) == int(applied)
    assert sandbox_app.state.sandbox.requests[0]["status"] == "dropped"


async def test_faults_filter_by_method_and_hit_times_requests(sandbox_app: Any) -> None:
    sandbox_app.state.sandbox.add_faults([{"kind": "status", "status": 503, "method": "post", "times": 2}])
    async with client_for(sandbox_app) as client:
        assert (await client.get(API)).status_code == 200
        assert (await client.post(API, json={"action": "allocate_pool"})).status_code == 503
        assert sandbox_app.state.sandbox.faults.pending()[0]["times"] == 1
        assert (await client.post(API, json={"action": "allocate_pool"})).status_code == 503
        assert (await client.post(API, json={"action": "allocate_pool"})).status_code == 201
    sandbox_app.state.sandbox.add_faults([{"kind": "refuse"}])
    sandbox_app.state.sandbox.clear_faults()
    assert sandbox_app.state.sandbox.faults.pending() == []


@pytest.mark.parametrize(
    "faults",
    [{"kind": "delay"}, [{"kind": "explode"}], [{"kind": "status"}], [{"kind": "status", "status": 200}],
     [{"kind": "status", "status": 499}], [{"kind": "delay", "seconds": -1}],
     [{"kind": "status", "status": 503, "times": 0}], [{"kind": "html", "method": "PATCH"}],
     [{"kind": "drop_after", "time": 2}], ["refuse"]],
)  # fmt: skip
async def test_bad_faults_are_refused_whole(sandbox_app: Any, faults: Any) -> None:
    sandbox = sandbox_app.state.sandbox
    with pytest.raises(ValueError):
        sandbox.add_faults([{"kind": "refuse"}, *faults] if isinstance(faults, list) else faults)
    assert sandbox.faults.pending() == []
    async with client_for(sandbox_app) as client:
        problem_of(await client.post("/_sandbox/faults", json=faults), 400, "invalid_request")


def test_faults_preload_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTUP_SANDBOX_FAULTS", '[{"kind": "status", "status": 503, "times": 2}]')
    assert create_app().state.sandbox.faults.pending() == [{"kind": "status", "status": 503, "times": 2}]
    assert create_app(faults=[]).state.sandbox.faults.pending() == []
    monkeypatch.setenv("HOSTUP_SANDBOX_FAULTS", "[{oops")
    with pytest.raises(ValueError, match="HOSTUP_SANDBOX_FAULTS"):
        create_app()


# ----- over a real port ----------------------------------------------------------------------------


async def test_the_api_and_control_routes_work_over_http(live_sandbox: Any) -> None:
    async with httpx2.AsyncClient(base_url=live_sandbox.url, headers=bearer("sbx_live")) as client:
        pool = await allocate(client)
        assert (await route(client, pool["id"], 64)).status_code == 201
        problem_of(await client.get(API, headers=bearer("nope")), 401, "unauthorized")
        faults = (await client.post("/_sandbox/faults", json=[{"kind": "status", "status": 503}])).json()["faults"]
        assert faults == [{"kind": "status", "times": 1, "status": 503}]
        assert (await client.get("/_sandbox/faults")).json() == {"faults": faults}
        assert (await client.delete("/_sandbox/faults")).json() == {"faults": []}
        log = (await client.get("/_sandbox/requests")).json()
        assert [(r["method"], r["status"], r["account"]) for r in log] == [
            ("POST", 201, "account-3"), ("POST", 201, "account-3"), ("GET", 401, None)]  # fmt: skip
        assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
        assert (await client.get(API)).json()["pools"] == []
        assert (await client.get("/_sandbox/requests")).json() == [
            {"method": "GET", "path": API, "status": 200, "body": None, "account": "account-3", "fault": None}
        ]


@pytest.mark.parametrize(
    ("fault", "outcome", "applied"),
    [
        ({"kind": "delay", "seconds": 0.01}, 201, True),
        ({"kind": "status", "status": 429}, 429, False),
        ({"kind": "status", "status": 500}, 500, False),
        ({"kind": "status", "status": 502}, 502, False),
        ({"kind": "status", "status": 503}, 503, False),
        ({"kind": "status", "status": 504}, 504, False),
        ({"kind": "html"}, 502, False),
        ({"kind": "html", "status": 200}, 200, False),
        ({"kind": "drop_before"}, httpx2.RemoteProtocolError, False),
        ({"kind": "drop_after"}, httpx2.RemoteProtocolError, True),
        ({"kind": "refuse"}, httpx2.RemoteProtocolError, False),  # already accepted: it can only be dropped
    ],
)
async def test_every_fault_kind_over_http(live_sandbox: Any, fault: dict, outcome: Any, applied: bool) -> None:
    async with httpx2.AsyncClient(base_url=live_sandbox.url, headers=bearer(DEFAULT_KEY)) as client:
        await client.post("/_sandbox/faults", json=[fault | {"method": "POST"}])
        if isinstance(outcome, int):
            response = await client.post(API, json={"action": "allocate_pool"})
            assert response.status_code == outcome
            if response.headers["content-type"] == "application/problem+json":
                assert response.json()["status"] == outcome
        else:
            with pytest.raises(outcome):
                await client.post(API, json={"action": "allocate_pool"})
        assert len((await client.get(API)).json()["pools"]) == int(applied)
        (first, _) = (await client.get("/_sandbox/requests")).json()
        assert first["fault"] == fault["kind"]
        assert first["status"] == (outcome if isinstance(outcome, int) else "dropped")


async def test_a_delay_longer_than_the_client_timeout_is_a_read_timeout(live_sandbox: Any) -> None:
    live_sandbox.app.state.sandbox.add_faults([{"kind": "delay", "seconds": 0.3}])
    async with httpx2.AsyncClient(base_url=live_sandbox.url, headers=bearer(DEFAULT_KEY), timeout=0.05) as client:
        with pytest.raises(httpx2.ReadTimeout):
            await client.get(API)
    with anyio.fail_after(10):  # let the server finish, so the request cannot land in another test's log
        while not live_sandbox.app.state.sandbox.requests:
            await anyio.sleep(0.01)


def test_serve_logs_only_to_stderr_and_names_the_keys(tmp_path: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from hostup_ipv6_mcp.sandbox import serve; serve(port={port}, open_accounts=True)"
    env = {k: v for k, v in os.environ.items() if k != "HOSTUP_SANDBOX_FAULTS"}
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=stdout, stderr=stderr, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    response = httpx2.get(f"http://127.0.0.1:{port}{API}", headers=bearer(DEFAULT_KEY))
                    break
                except httpx2.ConnectError:
                    assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                    time.sleep(0.05)
            assert response.status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert out.read_bytes() == b""
    log = err.read_text()
    assert DEFAULT_KEY in log and READ_ONLY_KEY in log and "sbx_" in log and "GET /api/v2/routed-ipv6" in log
