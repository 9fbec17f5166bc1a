"""Hostile input: nothing an agent or the network sends crashes the server, leaks the API key, or
reaches HostUp unchecked.

One server and one JSON-RPC session (`Client(..., mode="legacy")`) serve the whole module, with a
distinctive key and every log record captured at DEBUG. Hypothesis drives it from plain test
functions through a blocking portal, so its examples share that session instead of starting one
each. The stdio-only hazards (malformed lines, closed stdin, stderr) are in test_stdio.py.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pydantic_core
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client
from starlette.applications import Starlette

from hostup_ipv6_mcp.config import Settings
from hostup_ipv6_mcp.sandbox import create_app, in_process_transport
from hostup_ipv6_mcp.sandbox.store import ALL_SCOPES
from hostup_ipv6_mcp.server import build_server
from tests.helpers import FAST_RETRY

KEY = "hk_live_7Qx9-hostile-suite-NEVER-ECHO-5b2e8d"
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
SERVER_SOURCE = "hostup-ipv6-mcp"


# ----- one server for the module -----------------------------------------------------------------


class Capture(logging.Handler):
    """Every log record, formatted as a log line would be, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Upstream(httpx2.AsyncBaseTransport):
    """The in-process sandbox, with a switch that rewrites its answers into garbage (for faults
    the emulator cannot produce: truncated or mistyped JSON, huge bodies, bad encodings)."""

    def __init__(self, app: Starlette) -> None:
        self.inner = in_process_transport(app)
        self.garble: Callable[[int, bytes], tuple[int, dict[str, str], bytes]] | None = None
        self.methods: set[str] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if self.garble is None or request.method not in self.methods:
            return response
        status, headers, body = self.garble(response.status_code, await response.aread())
        return httpx2.Response(status, headers=headers, content=body)


@dataclass
class World:
    portal: BlockingPortal
    client: Client
    app: Starlette
    upstream: Upstream
    logs: Capture
    schemas: dict[str, dict[str, Any]]  # tool -> the input schema it publishes

    def call(self, tool: str, args: Any) -> tuple[bool, dict[str, Any]]:
        """(is_error, structured content) of one call, after checking it leaked nothing."""
        result = self.portal.call(self.client.call_tool, tool, args)
        text = result.content[0].text
        assert result.structured_content is not None, text[:500]
        assert json.loads(text) == result.structured_content
        self.assert_no_leak(text)
        return bool(result.is_error), result.structured_content

    def assert_no_leak(self, *texts: str) -> None:
        for text in (*texts, *self.logs.lines):
            assert KEY not in text
        self.logs.lines.clear()  # checked; keeps each check short

    @property
    def sent(self) -> int:
        """How many requests reached the emulator so far."""
        return len(self.app.state.sandbox.requests)

    def state(self) -> dict[str, Any]:
        """The emulator's state, read directly (not a request)."""
        return self.app.state.sandbox.account(KEY).state()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    app = create_app(keys={KEY: ALL_SCOPES}, faults=[])
    upstream = Upstream(app)
    # Not sandbox mode: that mode sends the emulator's own key, and the point is to send ours.
    server = build_server(Settings(api_key=KEY, api_url="https://hostup.test"), transport=upstream, retry=FAST_RETRY)
    capture, root = Capture(), logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(
            Client(server, mode="legacy")
        ) as client:
            listed = portal.call(client.list_tools)
            world = World(portal, client, app, upstream, capture, {t.name: t.input_schema for t in listed.tools})
            assert sorted(world.schemas) == sorted(TOOL_NAMES)
            state = world.call("allocate_pool", {})[1]
            pool = state["pools"][0]["id"]
            for vps in ("vps_web1", "vps_db1", "vps_web1"):
                world.call("create_route", {"poolId": pool, "vpsId": vps, "prefixLength": 64})
            yield world
            # The server is still up and serving after everything the module threw at it.
            assert world.call("list_routed_ipv6", {})[0] is False
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


# ----- what a valid argument is: the input schema the server publishes, plus what JSON Schema
# cannot say about a prefix. Written from the contract, not from the server's code. ------------

TOOL_NAMES = ["list_routed_ipv6", "plan_route", "allocate_pool", "create_route", "delete_route", "release_pool"]


def fits(schema: dict[str, Any], value: Any) -> bool:
    """The subset of JSON Schema the tools' input schemas use."""
    if "anyOf" in schema:
        return any(fits(option, value) for option in schema["anyOf"])
    if "enum" in schema and not any(value == e and not isinstance(value, bool) for e in schema["enum"]):
        return False
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        return any(fits({**schema, "type": one}, value) for one in kind)
    if kind == "null":
        return value is None
    if kind == "integer":  # JSON has one number type: 64.0 is the integer 64
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "string":
        if not isinstance(value, str) or not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 1e100):
            return False
        # ECMA-262 `$` ends the text; Python's would also match before a final newline.
        pattern = schema.get("pattern")
        return pattern is None or re.search(re.sub(r"\$$", r"\\Z", pattern), value) is not None
    return kind is None


def is_prefix(value: Any, length: int | None) -> bool:
    """CIDR form, IPv6, no host bits, no zone, of `length` when that is known."""
    if not isinstance(value, str) or "/" not in value or "%" in value:
        return False
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        return False
    return network.version == 6 and (length is None or network.prefixlen == length)


def on_the_wire(args: dict[str, Any]) -> dict[str, Any]:
    """What the server receives: JSON has no NaN or Infinity, and the client sends them as null."""
    return json.loads(pydantic_core.to_json(args, inf_nan_mode="null"))


def bad_arguments(schema: dict[str, Any], args: dict[str, Any]) -> set[str]:
    properties = schema.get("properties", {})
    bad = {name for name in args if name not in properties} if schema.get("additionalProperties") is False else set()
    bad |= {name for name in schema.get("required", []) if name not in args}
    length_schema = properties.get("prefixLength")
    length = args.get("prefixLength") if length_schema and fits(length_schema, args.get("prefixLength")) else None
    for name, value in args.items():
        if name in properties and not fits(properties[name], value):
            bad.add(name)
        elif name == "prefix" and value is not None and not is_prefix(value, length):
            bad.add(name)
    return bad


def pointer(name: str) -> str:
    """RFC 6901, with the server's documented cut of very long names at 100 characters."""
    return "/" + name[:100].replace("~", "~0").replace("/", "~1")


def check_answer(world: World, tool: str, args: dict[str, Any]) -> None:
    before = world.sent
    is_error, data = world.call(tool, args)
    bad = bad_arguments(world.schemas[tool], on_the_wire(args))
    event("invalid" if bad else f"valid -> {data['code'] if is_error else 'result'}")
    if bad:
        assert is_error, data
        assert (data["code"], data["status"], data.get("source")) == ("invalid_request", 400, SERVER_SOURCE), data
        named = {e["pointer"] for e in data["errors"] if e.get("code") != "too_many_errors"}
        assert {"/" + p.split("/")[1] for p in named} == {pointer(name) for name in bad}, data["errors"]
        assert all(e["detail"] and e["code"] for e in data["errors"])
        assert world.sent == before, "an invalid call reached HostUp"
    elif is_error:  # valid arguments: HostUp may still refuse (unknown pool, overlap, ...)
        assert not (data["code"] == "invalid_request" and data.get("source") == SERVER_SOURCE), data
        assert isinstance(data["status"], int) and data["code"] and data["type"], data
    else:
        assert {"pools", "ok", "released"} & set(data), data


# ----- strategies --------------------------------------------------------------------------------

ABSENT = object()
LENGTHS = (48, 56, 64)
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
HUGE = st.sampled_from([
    "x" * 100_000, "é" * 50_000, "\U0001f600" * 20_000, "ripv6_" + "a" * 10_000, "vps_" + "b" * 70,
    "2001:db8::/64" + " " * 100_000, "\x00" * 1000, "\u202e" + "x" * 100, "ripv6rt_" + "\u200b" * 10,
])
NUMBERS = st.integers() | st.floats() | st.sampled_from([0, -1, -64, 47, 49, 63, 65, 128, 2**63, -(2**63), 10**100])
HOSTILE = st.one_of(JUNK, HUGE, NUMBERS, st.text(max_size=80))


Values = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]  # (valid values, hostile values)


def ids(prefix: str, real: list[str]) -> Values:
    """(well-formed ids, mostly of real objects; ids that break the format)."""
    # An index, not sampled_from(real): the ids change with the state, and hypothesis needs the
    # same draws to mean the same choices on every run.
    real_id = st.integers(0, 2**16).map(lambda i: real[i % len(real)] if real else f"{prefix}gone{i}")
    shaped = st.from_regex(rf"{prefix}[A-Za-z0-9_-]{{1,64}}", fullmatch=True)
    near = st.sampled_from([
        prefix, prefix + "a" * 65, prefix.upper() + "a", prefix + "ä", prefix + "a\n", " " + prefix + "a",
        prefix + "a/../b", prefix + "a?x=1", prefix + "a%2F", "../../" + prefix + "a", prefix + "a b",
    ])
    return st.one_of(real_id, real_id, shaped), st.one_of(near, HOSTILE)


def prefixes(parent: ipaddress.IPv6Network | None, length: Any) -> Values:
    """(aligned blocks of the pool of `length`; everything else a prefix can be wrong with)."""
    base = int((parent or ipaddress.IPv6Network("2001:db8:1000::/48")).network_address)

    def block(length: int, index: int, host: int = 0, pad: str = "") -> str:
        size = 1 << (128 - length)
        start = base + (index % (1 << (length - 48))) * size
        return f"{pad}{ipaddress.IPv6Address(start + host % size)}/{length}{pad}"

    lengths = st.sampled_from(LENGTHS)
    index = st.integers(0, 2**16)
    valid = st.builds(block, st.just(length) if length in LENGTHS else lengths, index)
    hostile = st.one_of(
        st.builds(block, lengths, index),  # aligned, maybe of the other length
        st.builds(block, lengths, index, st.integers(1, 2**80)),  # host bits set (mostly)
        st.builds(block, lengths, index, st.just(0), st.sampled_from([" ", "\t", "\n"])),
        st.builds(lambda n, bits: f"{ipaddress.IPv6Address(n)}/{bits}", st.integers(0, 2**128 - 1),
                  st.integers(0, 128)),  # anywhere, any length
        st.sampled_from([
            "192.0.2.0/24", "10.0.0.0/8", "0.0.0.0/0", "::/0", "2001:db8::", "2001:db8::/64/64", "2001:db8::/129",
            "2001:db8::/-1", "fe80::%eth0/64", "2001:db8:1000::%1/64", "::ffff:192.0.2.0/120", "2001:db8:1000::/ 64",
            "2001:db8:1000::/0064", "2001:db8:1000::/64\x00", "２００１:db8::/64", "2001:db8:1000::/ffff:ffff::",
        ]),
        st.text(max_size=70),
        HOSTILE,
    )
    return valid, hostile


def values(state: dict[str, Any], length: Any) -> dict[str, Values]:
    """argument -> (valid values, hostile values), from the current state."""
    pool = state["pools"][0] if state["pools"] else None
    return {
        "poolId": ids("ripv6_", [p["id"] for p in state["pools"]]),
        "vpsId": ids("vps_", [d["vpsId"] for d in state["destinations"]]),
        "routeId": ids("ripv6rt_", [r["id"] for p in state["pools"] for r in p["routes"]]),
        "prefixLength": (st.sampled_from(LENGTHS),
                         st.one_of(st.sampled_from(["64", 64.0, 64.5, True, [64], {"v": 64}]), HOSTILE)),
        "prefix": prefixes(ipaddress.IPv6Network(pool["parentCidr"]) if pool else None, length),
        "label": (st.text(min_size=1, max_size=200), st.one_of(st.sampled_from(["", "x" * 201, " ", "\x00"]), HOSTILE)),
    }


@st.composite
def arguments(draw: st.DrawFn, tool: str, world: World) -> dict[str, Any]:
    """A valid call, a call with one thing wrong, or chaos, in about equal parts."""
    schema = world.schemas[tool]
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    mode = draw(st.sampled_from(["valid", "one wrong", "chaos"]))
    length = draw(st.sampled_from(LENGTHS))
    choices = values(world.state(), length)
    args: dict[str, Any] = {}
    for name in properties:
        valid, hostile = choices.get(name, (st.nothing(), HOSTILE))
        if name == "prefixLength":
            valid = st.just(length)
        if mode == "chaos":
            value = draw(st.one_of(st.just(ABSENT), st.just(None), valid, hostile))
        elif name in required:
            value = draw(valid)
        else:
            value = draw(st.one_of(st.just(ABSENT), valid))
        if value is not ABSENT:
            args[name] = value
    wrong = draw(st.sampled_from([*properties, ""])) if mode == "one wrong" else None
    if wrong:  # one argument made wrong: hostile, null, or left out
        valid, hostile = choices.get(wrong, (st.nothing(), HOSTILE))
        value = draw(st.one_of(hostile, st.just(None), st.just(ABSENT)))
        args.pop(wrong, None)
        if value is not ABSENT:
            args[wrong] = value
    if wrong == "" or (mode == "chaos" and draw(st.booleans())):  # arguments the tool does not take
        names = st.text(max_size=120).filter(lambda n: n not in properties)
        args.update(draw(st.dictionaries(names, JUNK, min_size=1, max_size=3)))
    return args


# ----- 1. every tool, property-based, over real JSON-RPC -----------------------------------------


@pytest.mark.parametrize("tool", TOOL_NAMES)
@PROPERTY
@given(data=st.data())
def test_any_arguments_give_a_result_or_a_problem_naming_them(world: World, tool: str, data: st.DataObject) -> None:
    check_answer(world, tool, data.draw(arguments(tool, world), label="arguments"))


def test_arguments_that_are_not_an_object_are_refused_before_any_request(world: World) -> None:
    before = world.sent
    for args in ([], ["poolId"], "poolId=ripv6_a", 7):
        with pytest.raises(Exception):  # the client library or the server refuses it as JSON-RPC
            world.portal.call(world.client.call_tool, "release_pool", args)
    assert world.sent == before
    assert world.call("list_routed_ipv6", {})[0] is False


def test_a_huge_argument_name_is_cut_and_the_problem_stays_small(world: World) -> None:
    name = "~/" * 50_000
    is_error, data = world.call("release_pool", {"poolId": "ripv6_a", name: 1})
    assert is_error and data["code"] == "invalid_request"
    assert [e["pointer"] for e in data["errors"]] == [pointer(name)]
    assert len(json.dumps(data)) < 4_000


def test_thousands_of_unknown_arguments_give_a_small_problem(world: World) -> None:
    before = world.sent
    is_error, data = world.call("list_routed_ipv6", {f"arg{i}": i for i in range(5_000)})
    assert is_error and data["code"] == "invalid_request" and world.sent == before
    assert len(json.dumps(data)) < 20_000


def test_unknown_tool_names_of_any_shape_are_problems(world: World) -> None:
    before = world.sent
    for name in ("", " ", "x" * 100_000, "list_routed_ipv6 ", "LIST_ROUTED_IPV6", "\x00", "../tools", "\U0001f600"):
        is_error, data = world.call(name, {})
        assert is_error and data["code"] == "unknown_tool", data
        assert len(data["detail"]) < 1_000
    assert world.sent == before


# ----- 3. the key, across every upstream fault ---------------------------------------------------

FAULTS = [
    {"kind": "status", "status": status} for status in (400, 401, 403, 404, 409, 422, 500, 502, 503, 504)
] + [
    {"kind": "status", "status": 429, "retryAfter": 0},
    {"kind": "status", "status": 429, "retryAfter": 3600},
    {"kind": "html"}, {"kind": "html", "status": 200}, {"kind": "html", "status": 404},
    {"kind": "drop_before"}, {"kind": "drop_after"}, {"kind": "refuse"}, {"kind": "delay", "seconds": 0.01},
]


def real_calls(world: World) -> list[tuple[str, dict[str, Any]]]:
    """One valid call per tool, with ids from the current state."""
    state = world.state()
    if not state["pools"]:
        world.call("allocate_pool", {})
        state = world.state()
    pool = state["pools"][0]
    if not pool["routes"]:
        world.call("create_route", {"poolId": pool["id"], "vpsId": "vps_db1", "prefixLength": 64})
        pool = world.state()["pools"][0]
    return [
        ("list_routed_ipv6", {}),
        ("plan_route", {"poolId": pool["id"], "prefixLength": 56, "vpsId": "vps_web1"}),
        ("create_route", {"poolId": pool["id"], "prefixLength": 64, "vpsId": "vps_web1", "label": "hostile"}),
        ("delete_route", {"routeId": pool["routes"][0]["id"]}),
        ("allocate_pool", {}),
        ("release_pool", {"poolId": pool["id"]}),
    ]


def routes(world: World) -> int:
    return sum(len(p["routes"]) for p in world.state()["pools"])


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: "-".join(str(v) for v in f.values()))
def test_no_fault_leaks_the_key_or_changes_more_than_asked(world: World, fault: dict[str, Any]) -> None:
    for tool, args in real_calls(world):
        world.app.state.sandbox.add_faults([fault])
        before = routes(world)
        is_error, data = world.call(tool, args)
        world.app.state.sandbox.clear_faults()
        if is_error:
            assert isinstance(data["status"], int) and data["code"] and data["detail"], data
            assert (data["code"], data.get("source")) != ("internal_error", SERVER_SOURCE), data
        # Retries and reconciliation never turn one call into two changes.
        assert abs(routes(world) - before) <= (1 if tool in ("create_route", "delete_route") else 0)
    world.assert_no_leak()


def test_a_wrong_key_is_refused_without_echoing_it(world: World) -> None:
    wrong = KEY[::-1]
    server = build_server(Settings(api_key=wrong, api_url="https://hostup.test"), transport=world.upstream,
                          retry=FAST_RETRY)

    async def ask() -> Any:
        async with Client(server, mode="legacy") as client:
            return await client.call_tool("list_routed_ipv6", {})

    result = world.portal.call(ask)
    assert result.is_error and result.structured_content["status"] == 401
    assert wrong not in result.content[0].text and all(wrong not in line for line in world.logs.lines)
    world.assert_no_leak(result.content[0].text)


# ----- 4. upstream garbage ------------------------------------------------------------------------

JSON_TYPE = {"content-type": "application/json"}


def padded(status: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    data = json.loads(body)
    data["padding"] = "x" * (20 * 1024 * 1024)  # a valid state, but 20 MiB of it
    return status, JSON_TYPE, json.dumps(data).encode()


def bad_cidrs(status: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    data = json.loads(body)
    for pool in data.get("pools", []):
        pool["parentCidr"] = "not-a-prefix"
        for route in pool["routes"]:
            route["prefix"] = "10.0.0.0/8"
    return status, JSON_TYPE, json.dumps(data).encode()


GARBAGE: dict[str, Callable[[int, bytes], tuple[int, dict[str, str], bytes]]] = {
    "truncated JSON": lambda status, body: (status, JSON_TYPE, body[: len(body) // 2]),
    "wrong types": lambda status, _: (status, JSON_TYPE, b'{"available":"yes","allowedPrefixLengths":"all",'
                                      b'"pools":{"a":1},"destinations":null,"actions":[]}'),
    "JSON null": lambda status, _: (status, JSON_TYPE, b"null"),
    "JSON list": lambda status, _: (status, JSON_TYPE, b"[1, 2, 3]"),
    "empty 200": lambda _, __: (200, JSON_TYPE, b""),
    "not UTF-8": lambda status, _: (status, JSON_TYPE, b"\xff\xfe\x00{garbage"),
    "lone surrogate": lambda status, body: (status, JSON_TYPE, body.replace(b'"pools"', b'"x":"\\ud800","pools"', 1)),
    "deep nesting": lambda status, _: (status, JSON_TYPE, b"[" * 200_000),
    "deep nesting 500": lambda _, __: (500, JSON_TYPE, b"[" * 200_000),
    "mistyped problem": lambda _, __: (500, {"content-type": "application/problem+json"},
                                       b'{"status":"x","code":5,"title":[1],"errors":"all"}'),
    "bad gzip": lambda status, _: (status, {**JSON_TYPE, "content-encoding": "gzip"}, b"not gzip at all"),
    "huge junk": lambda status, _: (status, JSON_TYPE, b"x" * (20 * 1024 * 1024)),
    "huge valid JSON": padded,
    "prefixes that are not prefixes": bad_cidrs,
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_upstream_garbage_gives_a_clear_problem(world: World, garbage: str) -> None:
    for tool, args in real_calls(world):
        world.upstream.garble = GARBAGE[garbage]
        # Reads see garbage on every attempt; writes only on the write itself, so the state read
        # that reconciles it tells the truth.
        world.upstream.methods = {"GET"} if tool in ("list_routed_ipv6", "plan_route") else {"POST", "DELETE"}
        before = routes(world)
        try:
            is_error, data = world.call(tool, args)
        finally:
            world.upstream.garble = None
        assert len(json.dumps(data)) < 64_000, "a huge upstream body reached the agent"
        if is_error:
            assert (data["code"], data.get("source")) != ("internal_error", SERVER_SOURCE), data
            assert isinstance(data["status"], int) and data["detail"], data
        elif garbage != "prefixes that are not prefixes" and tool in ("list_routed_ipv6", "plan_route"):
            pytest.fail(f"{tool} passed garbage on as a result: {json.dumps(data)[:300]}")
        assert abs(routes(world) - before) <= (1 if tool in ("create_route", "delete_route") else 0)
    assert world.call("list_routed_ipv6", {})[0] is False
    world.assert_no_leak()
