"""Every tool over real JSON-RPC against the sandbox emulator."""

from __future__ import annotations

import ipaddress

import pytest

from hostup_ipv6_mcp.sandbox import DEFAULT_KEY, create_app
from hostup_ipv6_mcp.sandbox.store import READ_SCOPES
from tests.helpers import api_requests, call, connect, eligible_vps, ineligible_vps, ok, problem

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {"allocate_pool", "create_route", "delete_route", "release_pool"}
ALL_TOOLS = WRITE_TOOLS | {"list_routed_ipv6", "plan_route"}


async def test_tools_are_declared_fully() -> None:
    async with connect() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == ALL_TOOLS
    for tool in tools.values():
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object"
        assert len(tool.output_schema["anyOf"]) == 2
        hints = tool.annotations
        assert None not in (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint)
        assert hints.read_only_hint == (tool.name not in WRITE_TOOLS)
        assert hints.destructive_hint == (tool.name in {"delete_route", "release_pool"})
    assert "cooldown" in tools["release_pool"].description
    assert set(tools["create_route"].input_schema["required"]) == {"poolId", "vpsId", "prefixLength"}


async def test_a_whole_session_routes_and_tidies_up() -> None:
    app = create_app()
    async with connect(app) as client:
        state = await ok(client, "list_routed_ipv6")
        assert state["pools"] == [] and state["actions"]["canAllocatePool"]["allowed"] is True
        web, db = eligible_vps(state)

        state = await ok(client, "allocate_pool")
        pool = state["pools"][0]
        parent = ipaddress.IPv6Network(pool["parentCidr"])
        assert parent.prefixlen == 48 and parent.subnet_of(ipaddress.IPv6Network("2001:db8::/32"))

        state = await ok(client, "create_route", {"poolId": pool["id"], "vpsId": web, "prefixLength": 64})
        (route,) = state["pools"][0]["routes"]
        assert route["prefix"] == f"{parent.network_address}/64" and route["vpsId"] == web

        second = list(parent.subnets(new_prefix=56))[1].compressed
        state = await ok(
            client, "create_route",
            {"poolId": pool["id"], "vpsId": db, "prefixLength": 56, "prefix": second, "label": "db"},
        )
        routes = {r["prefix"]: r for r in state["pools"][0]["routes"]}
        assert routes[second]["label"] == "db" and routes[second]["vpsId"] == db

        refused = await problem(client, "release_pool", {"poolId": pool["id"]})
        assert refused["status"] == 409 and "source" not in refused and refused["requestId"].startswith("req_")

        for route_id in [r["id"] for r in state["pools"][0]["routes"]]:
            state = await ok(client, "delete_route", {"routeId": route_id})
        assert state["pools"][0]["routes"] == []
        released = await ok(client, "release_pool", {"poolId": pool["id"]})
        assert released["released"] is True and released["cooldownUntil"]
        state = await ok(client, "list_routed_ipv6")
        assert state["pools"] == []
    # One request per call: no extra round trips on the write path.
    methods = [m for m, _ in api_requests(app)]
    assert methods == ["GET", "POST", "POST", "POST", "DELETE", "DELETE", "DELETE", "DELETE", "GET"]


async def test_create_route_body_leaves_out_what_the_agent_did_not_give() -> None:
    app = create_app()
    async with connect(app) as client:
        state = await ok(client, "allocate_pool")
        vps = eligible_vps(state)[0]
        await ok(client, "create_route", {"poolId": state["pools"][0]["id"], "vpsId": vps, "prefixLength": 64})
    body = app.state.sandbox.requests[-1]["body"]
    assert body == {"action": "create_route", "poolId": state["pools"][0]["id"], "vpsId": vps, "prefixLength": 64}


BAD_CALLS = [
    ("create_route", {"vpsId": "vps_web1", "prefixLength": 64}, "/poolId", "missing_required"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 60}, "/prefixLength", "invalid_value"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": "64"}, "/prefixLength", "invalid_value"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 64, "prefix": "2001:db8::1/64"}, "/prefix", "host_bits_set"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 64, "prefix": "192.0.2.0/24"}, "/prefix", "not_ipv6"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 64, "prefix": "2001:db8::/56"}, "/prefix", "prefix_length_mismatch"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 64, "force": True}, "/force", "unknown_argument"),
    ("create_route", {"poolId": "ripv6_a", "vpsId": 7, "prefixLength": 64}, "/vpsId", "invalid_type"),
    ("delete_route", {"routeId": "../../routed-ipv6/ripv6_a"}, "/routeId", "invalid_format"),
    ("delete_route", {"routeId": "ripv6_a"}, "/routeId", "invalid_format"),
    ("release_pool", {}, "/poolId", "missing_required"),
    ("list_routed_ipv6", {"verbose": True}, "/verbose", "unknown_argument"),
    ("plan_route", {"poolId": "ripv6_a", "prefixLength": 64, "vpsId": 5}, "/vpsId", "invalid_type"),
    ("plan_route", {"poolId": "ripv6_a", "prefixLength": 64, "label": ""}, "/label", "invalid_length"),
]


@pytest.mark.parametrize(("tool", "args", "pointer", "code"), BAD_CALLS)
async def test_bad_arguments_are_problems_naming_the_argument(tool: str, args: dict, pointer: str, code: str) -> None:
    app = create_app()
    async with connect(app) as client:
        data = await problem(client, tool, args)
    assert data["code"] == "invalid_request" and data["status"] == 400 and data["source"] == "hostup-ipv6-mcp"
    assert {"pointer": pointer, "code": code} in [{k: e[k] for k in ("pointer", "code")} for e in data["errors"]]
    assert api_requests(app) == []  # nothing reached HostUp


async def test_hostup_problems_pass_through_unchanged() -> None:
    async with connect() as client:
        state = await ok(client, "allocate_pool")
        pool_id = state["pools"][0]["id"]
        data = await problem(client, "create_route", {"poolId": pool_id, "vpsId": "vps_nope", "prefixLength": 64})
        assert data["status"] == 404 and data["code"] == "not_found"
        assert data["type"].startswith("https://developer.hostup.se/errors/") and "source" not in data
        assert data["instance"] == "/api/v2/routed-ipv6" and data["timestamp"]
        data = await problem(client, "create_route", {"poolId": pool_id, "vpsId": ineligible_vps(state)[0], "prefixLength": 64})
        assert data["status"] == 409
        data = await problem(client, "allocate_pool")
        assert data["status"] == 409


async def test_overlapping_route_is_refused_by_hostup() -> None:
    async with connect() as client:
        state = await ok(client, "allocate_pool")
        pool = state["pools"][0]
        vps = eligible_vps(state)[0]
        await ok(client, "create_route", {"poolId": pool["id"], "vpsId": vps, "prefixLength": 64})
        first_56 = ipaddress.IPv6Network(pool["parentCidr"]).network_address.compressed + "/56"
        data = await problem(client, "create_route", {"poolId": pool["id"], "vpsId": vps, "prefixLength": 56, "prefix": first_56})
        assert data["status"] == 409


async def test_without_a_key_the_server_says_how_to_set_one() -> None:
    # Not sandbox, no key: the server must not guess or call anywhere.
    from mcp import Client

    from hostup_ipv6_mcp.config import Settings
    from hostup_ipv6_mcp.server import build_server

    async with Client(build_server(Settings()), mode="legacy") as client:
        data = await problem(client, "list_routed_ipv6")
    assert data["code"] == "missing_api_key" and "HOSTUP_API_KEY" in data["detail"] and "--sandbox" in data["detail"]


async def test_read_only_mode_hides_and_refuses_writes() -> None:
    app = create_app()
    async with connect(app, read_only=True) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"list_routed_ipv6", "plan_route"}
        assert (await client.list_prompts()).prompts == []  # both prompts lead to write tools
        data = await problem(client, "allocate_pool")
        assert data["code"] == "read_only_mode" and data["status"] == 403
        await ok(client, "list_routed_ipv6")
    assert api_requests(app) == [("GET", "/api/v2/routed-ipv6")]


async def test_a_key_without_write_scope_gets_hostups_403() -> None:
    async with connect(create_app(keys={DEFAULT_KEY: READ_SCOPES})) as client:
        await ok(client, "list_routed_ipv6")
        data = await problem(client, "allocate_pool")
    assert data["status"] == 403 and data["code"] == "forbidden"


async def test_unknown_tool_is_a_problem() -> None:
    async with connect() as client:
        data = await problem(client, "drop_everything")
    assert data["code"] == "unknown_tool"


async def one_route(client) -> tuple[dict, str]:
    """A fresh pool with one /64 routed; returns the state and the route's id."""
    state = await ok(client, "allocate_pool")
    state = await ok(client, "create_route", {"poolId": state["pools"][0]["id"], "vpsId": eligible_vps(state)[0], "prefixLength": 64})
    return state, state["pools"][0]["routes"][0]["id"]


async def test_delete_route_reads_the_state_once_when_the_answer_has_no_body() -> None:
    app = create_app(delete_route_body="empty")
    async with connect(app) as client:
        state, route_id = await one_route(client)
        state = await ok(client, "delete_route", {"routeId": route_id})
    assert state["pools"][0]["routes"] == []
    assert [m for m, _ in api_requests(app)][-2:] == ["DELETE", "GET"]


async def test_plan_route_reports_gates_capacity_and_problems_without_changing_anything() -> None:
    app = create_app()
    async with connect(app) as client:
        state = await ok(client, "allocate_pool")
        pool = state["pools"][0]
        plan = await ok(client, "plan_route", {"poolId": pool["id"], "prefixLength": 56, "vpsId": ineligible_vps(state)[0]})
        assert plan["ok"] is False and plan["vpsGate"]["allowed"] is False
        assert [p["code"] for p in plan["problems"]] == ["action_not_allowed"]
        assert plan["freeBlocks"] == {"48": 1, "56": 256, "64": 65536}
        plan = await ok(client, "plan_route", {"poolId": "ripv6_missing", "prefixLength": 64})
        # Without vpsId create_route could not be called at all; the missing pool is a problem too.
        assert plan["ok"] is False and [p["code"] for p in plan["problems"]] == ["invalid_request", "not_found"]
        assert plan["problems"][0]["errors"][0]["pointer"] == "/vpsId"
        before = len(app.state.sandbox.requests)
        await ok(client, "create_route", {"poolId": pool["id"], "vpsId": eligible_vps(state)[0], "prefixLength": 64})
        taken = ipaddress.IPv6Network(pool["parentCidr"]).network_address.compressed + "/56"
        plan = await ok(client, "plan_route", {"poolId": pool["id"], "vpsId": eligible_vps(state)[0], "prefixLength": 56, "prefix": taken})
        assert [p["code"] for p in plan["problems"]] == ["prefix_overlap"] and plan["freeBlocks"]["56"] == 255
    assert [r["method"] for r in app.state.sandbox.requests[before:]] == ["POST", "GET"]


@pytest.mark.parametrize("seed", range(5))
async def test_plan_route_predicts_the_prefix_create_route_gets(seed: int) -> None:
    import random

    rng = random.Random(seed)
    async with connect() as client:
        state = await ok(client, "allocate_pool")
        pool_id = state["pools"][0]["id"]
        vps = eligible_vps(state)
        for _ in range(40):
            args = {"poolId": pool_id, "vpsId": rng.choice(vps), "prefixLength": rng.choice([56, 64, 64, 64])}
            if rng.random() < 0.3:
                parent = ipaddress.IPv6Network(state["pools"][0]["parentCidr"])
                offset = rng.randrange(256) << (128 - 56)
                args["prefix"] = str(ipaddress.IPv6Network((int(parent.network_address) + offset, args["prefixLength"])))
            plan = await ok(client, "plan_route", args)
            is_error, state = await call(client, "create_route", {**args, "prefix": plan["prefix"]} if plan["prefix"] else args)
            assert is_error == (not plan["ok"]), (plan, state)
            if not is_error:
                assert plan["prefix"] in {r["prefix"] for r in state["pools"][0]["routes"]}
            if rng.random() < 0.2 and not is_error:
                await ok(client, "delete_route", {"routeId": rng.choice(state["pools"][0]["routes"])["id"]})
            if is_error:
                state = await ok(client, "list_routed_ipv6")


async def test_state_is_a_resource_and_each_pool_a_template() -> None:
    async with connect() as client:
        state = await ok(client, "allocate_pool")
        pool_id = state["pools"][0]["id"]
        listed = await client.list_resources()
        assert [str(r.uri) for r in listed.resources] == ["hostup://routed-ipv6/state"]
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == ["hostup://routed-ipv6/pools/{poolId}"]
        body = await client.read_resource("hostup://routed-ipv6/state")
        assert pool_id in body.contents[0].text
        body = await client.read_resource(f"hostup://routed-ipv6/pools/{pool_id}")
        assert '"parentCidr"' in body.contents[0].text


async def test_prompts_guide_the_safe_order() -> None:
    async with connect() as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"route_subnet", "tidy_up"}
        prompt = await client.get_prompt("route_subnet", {"vps": "web-1", "size": "56"})
        text = prompt.messages[0].content.text
        assert text.index("list_routed_ipv6") < text.index("plan_route") < text.index("create_route")


async def test_sandbox_mode_never_sends_a_configured_hostup_key() -> None:
    # A bundle user who entered a real key and then switched sandbox mode on.
    async with connect(api_key="hk_real_key_for_hostup") as client:
        await ok(client, "list_routed_ipv6")


async def test_a_confirmed_delete_is_not_reported_as_a_plain_failure_when_the_state_cannot_be_read() -> None:
    app = create_app(delete_route_body="empty")
    async with connect(app) as client:
        state, route_id = await one_route(client)
        app.state.sandbox.add_faults([{"kind": "status", "status": 429, "retryAfter": 3600, "method": "GET"}])
        data = await problem(client, "delete_route", {"routeId": route_id})
    assert data["code"] == "state_unreadable" and route_id in data["detail"] and "Do not delete it again" in data["detail"]
    assert app.state.sandbox.account(DEFAULT_KEY).pools[state["pools"][0]["id"]].routes == {}


async def test_a_flood_of_unknown_arguments_gets_a_small_problem() -> None:
    async with connect() as client:
        data = await problem(client, "list_routed_ipv6", {f"junk{i}": i for i in range(500)})
    assert len(data["errors"]) == 21 and data["errors"][-1]["code"] == "too_many_errors"
    assert "480 more" in data["errors"][-1]["detail"]


async def test_plan_route_takes_create_routes_arguments_as_they_are() -> None:
    async with connect() as client:
        state = await ok(client, "allocate_pool")
        args = {"poolId": state["pools"][0]["id"], "vpsId": eligible_vps(state)[0], "prefixLength": 64, "label": "web"}
        plan = await ok(client, "plan_route", args)
        assert plan["ok"] is True
        state = await ok(client, "create_route", args)
    assert state["pools"][0]["routes"][0]["prefix"] == plan["prefix"]


async def test_requests_carry_the_documented_headers_and_nothing_else_of_ours() -> None:
    app = create_app()
    seen: list[tuple[str, dict[str, str]]] = []

    async def tap(scope, receive, send):  # records what arrives, then lets the sandbox answer
        seen.append((scope["method"], {k.decode(): v.decode() for k, v in scope["headers"]}))
        return await app(scope, receive, send)

    from mcp import Client

    from hostup_ipv6_mcp.config import Settings
    from hostup_ipv6_mcp.sandbox import in_process_transport
    from hostup_ipv6_mcp.server import build_server

    server = build_server(Settings(sandbox=True), transport=in_process_transport(tap))
    async with Client(server, mode="legacy") as client:
        state = await ok(client, "allocate_pool")
        await ok(client, "list_routed_ipv6")
    (post, post_headers), (get, get_headers) = seen
    assert (post, get) == ("POST", "GET")
    for headers in (post_headers, get_headers):
        assert headers["authorization"] == f"Bearer {DEFAULT_KEY}"
        assert headers["accept"] == "application/json"
        assert headers["user-agent"].startswith("hostup-ipv6-mcp/")
    assert post_headers["content-type"] == "application/json" and "content-type" not in get_headers
    assert state["pools"]
