"""The server as Claude Desktop runs it: a subprocess speaking JSON-RPC over stdio, here against
the emulator on a loopback port (`hostup-ipv6-mcp sandbox --port 0 --open-accounts`).

Whatever arrives on stdin, the server answers with JSON-RPC or skips the line and keeps serving;
it exits cleanly when stdin closes, even mid-call; it writes nothing but JSON-RPC to stdout; and
it never prints the API key, even at --log-level DEBUG through every upstream fault.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

TIMEOUT = 60.0  # a guard against hangs only: no test waits for it when the server behaves
SECRET = "sbx_stdio-7Hq2-NEVER-PRINT-9c41"  # the sandbox gives every sbx_ key an account of its own
INITIALIZE = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}
EOF_MARK = b""


class Sandbox:
    """The emulator in a subprocess, driven only through its HTTP control routes."""

    def __init__(self, log: Path) -> None:
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hostup_ipv6_mcp", "sandbox", "--port", "0", "--open-accounts"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
        )
        deadline = time.monotonic() + TIMEOUT
        while not (found := re.search(rb"running on http://127\.0\.0\.1:(\d+)", log.read_bytes())):
            assert self.proc.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(found.group(1))}"
        self.control = httpx2.Client(base_url=self.url + "/_sandbox", timeout=TIMEOUT)

    def fault(self, fault: dict[str, Any]) -> None:
        self.control.post("/faults", json=[fault]).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/faults").raise_for_status()

    def pending_faults(self) -> list[dict[str, Any]]:
        return self.control.get("/faults").json()["faults"]

    def requests(self) -> list[dict[str, Any]]:
        return self.control.get("/requests").json()

    def close(self) -> None:
        self.control.close()
        self.proc.kill()  # it may hold a long delayed request; nothing in it needs a graceful end
        self.proc.wait(TIMEOUT)
        self._log.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.log")
    yield running
    running.close()


class Peer:
    """One server process. Every stdout line is kept, to check at the end that all were JSON-RPC."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.stderr_path = tmp_path / f"stderr-{time.monotonic_ns()}.log"
        with self.stderr_path.open("wb") as stderr:  # a file: a DEBUG log would fill a pipe and stall the server
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hostup_ipv6_mcp", *args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
            )
        self.lines: list[bytes] = []
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._ids = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(EOF_MARK)

    def write(self, line: bytes) -> None:
        self.proc.stdin.write(line + b"\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def send(self, method: str, params: Any = None) -> int:
        self._ids += 1
        message = {"jsonrpc": "2.0", "id": self._ids, "method": method}
        if params is not None:
            message["params"] = params
        self.write(json.dumps(message).encode())
        return self._ids

    def receive(self) -> dict[str, Any]:
        line = self._queue.get(timeout=TIMEOUT)
        if line == EOF_MARK:
            raise EOFError("the server closed stdout")
        return json.loads(line)

    def request(self, method: str, params: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer to a new request, and whatever else the server wrote before it."""
        wanted, others = self.send(method, params), []
        while (message := self.receive()).get("id") != wanted:
            others.append(message)
        return message, others

    def call(self, tool: str, arguments: Any) -> dict[str, Any]:
        answer, _ = self.request("tools/call", {"name": tool, "arguments": arguments})
        return answer["result"]

    def start(self) -> dict[str, Any]:
        answer, _ = self.request("initialize", INITIALIZE)
        self.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        return answer["result"]

    def finish(self) -> int:
        """Close stdin as a client does; the exit code, once every stdout line is in."""
        self.proc.stdin.close()  # type: ignore[union-attr]
        code = self.proc.wait(TIMEOUT)
        while self._queue.get(timeout=TIMEOUT) != EOF_MARK:
            pass
        assert_only_jsonrpc(self.lines)
        return code

    def stderr(self) -> bytes:
        return self.stderr_path.read_bytes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


def assert_only_jsonrpc(lines: list[bytes]) -> None:
    for line in lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0", line[:300]
        assert "method" in message or ("id" in message and ("result" in message) != ("error" in message)), line[:300]


@pytest.fixture
def peer(sandbox: Sandbox, tmp_path: Path) -> Iterator[Peer]:
    running = Peer(tmp_path, HOSTUP_API_URL=sandbox.url, HOSTUP_API_KEY=SECRET)
    yield running
    running.kill()


# ----- malformed input ----------------------------------------------------------------------------

JUNK_LINES = [
    b"not json", b"{", b"}", b"{}", b"[]", b"[1, 2]", b'"text"', b"null", b"42", b"true", b" ", b"\t", b"",
    b'{"jsonrpc": "2.0"}', b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', b'{"id": 1, "method": "ping"}',
    b'{"jsonrpc": "2.0", "method": "notifications/no_such_thing"}',
    b'{"jsonrpc": "2.0", "id": 9001, "result": {}}',  # an answer to a request the server never made
    b'{"jsonrpc": "2.0", "id": 9002, "error": {"code": 1, "message": "x"}}',
    b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', b'{"jsonrpc": "2.0", "id": [1], "method": "ping"}',
    b'[{"jsonrpc": "2.0", "id": 9003, "method": "ping"}]',  # a batch
    b"\xff\xfe\x00\x01\x80", b"\x00" * 64, b"\x1b[31mred\x1b[0m", "ünïcödé ✓ \u202e".encode(),
    b"[" * 100_000, b'{"a":' * 50_000,
    b'{"jsonrpc": "2.0", "id": 9004, "method": "tools/call", "params": "x"}',
    b'{"jsonrpc": "2.0", "id": 9005, "method": "tools/call", "params": {"name": "list_routed_ipv6", "arguments": 7}}',
    b'{"jsonrpc": "2.0", "id": 9006, "method": "tools/call", "params": {"arguments": {}}}',
    b'{"jsonrpc": "2.0", "id": 9007, "method": "tools/call", "params": {"name": "create_route", '
    b'"arguments": {"label": "\\ud800"}}}',  # a lone surrogate: valid JSON grammar, not valid Unicode
]


def test_malformed_lines_leave_the_server_answering(peer: Peer) -> None:
    peer.start()
    for junk in JUNK_LINES:
        peer.write(junk)
        answer, others = peer.request("ping")
        assert answer["result"] == {}, junk[:80]
        # Whatever the junk drew is a JSON-RPC answer to it (never a tool result it should not have run).
        for message in others:
            assert "error" in message or message.get("id") == 9003, (junk[:80], message)
    result = peer.call("list_routed_ipv6", {})
    assert result["isError"] is False
    assert peer.finish() == 0
    assert b"Traceback" not in peer.stderr()


def test_junk_before_initialize_does_not_stop_the_session(peer: Peer) -> None:
    for junk in (b"not json", b"{}", b'{"jsonrpc": "2.0", "id": 501, "method": "tools/call", "params": '
                 b'{"name": "allocate_pool", "arguments": {}}}'):
        peer.write(junk)
    assert peer.start()["serverInfo"]["name"] == "hostup-ipv6-mcp"
    answer, _ = peer.request("tools/list")
    assert len(answer["result"]["tools"]) == 6
    assert peer.finish() == 0


def test_unknown_methods_and_bad_params_are_jsonrpc_errors(peer: Peer) -> None:
    peer.start()
    for method in ("no/such/method", "tools/destroy", "", "x" * 100_000):
        answer, _ = peer.request(method, {})
        assert answer["error"]["code"] == -32601, answer
        assert len(json.dumps(answer)) < 110_000
    for params in ({"name": "list_routed_ipv6", "arguments": [1]}, {"arguments": {}}, {"name": ["x"]}, {}):
        answer, _ = peer.request("tools/call", params)
        if "error" not in answer:  # the server may also answer with a problem result
            assert answer["result"]["isError"] is True, answer
        else:
            assert answer["error"]["code"] in (-32600, -32602), answer
    assert peer.call("list_routed_ipv6", {})["isError"] is False
    assert peer.finish() == 0


@pytest.mark.xfail(
    strict=True,
    reason="mcp 2.3's stdio transport drops a line it cannot decode without answering, even when its id "
    "is readable (params not an object, a lone surrogate escape); the client waits for that id until its "
    "own timeout. JSON-RPC 2.0 asks for an error answer.",
)
def test_a_request_that_cannot_be_decoded_still_gets_an_answer(peer: Peer) -> None:
    peer.start()
    peer.write(b'{"jsonrpc": "2.0", "id": 777, "method": "tools/call", "params": {"name": "create_route", '
               b'"arguments": {"label": "\\ud800"}}}')
    _, others = peer.request("ping")  # answered after the line above was read
    assert any(message.get("id") == 777 for message in others)


def test_huge_lines_are_answered_or_skipped_without_harm(peer: Peer, sandbox: Sandbox) -> None:
    peer.start()
    before = len(sandbox.requests())
    huge = "x" * (16 * 1024 * 1024)
    result = peer.call("create_route", {"poolId": "ripv6_a", "vpsId": "vps_web1", "prefixLength": 64, "label": huge})
    problem = result["structuredContent"]
    assert result["isError"] and problem["code"] == "invalid_request"
    assert [e["pointer"] for e in problem["errors"]] == ["/label"]
    assert len(json.dumps(result)) < 10_000, "the answer echoed the huge argument"
    assert len(sandbox.requests()) == before
    peer.write(huge.encode())  # 16 MiB that is not JSON at all
    answer, _ = peer.request("ping")
    assert answer["result"] == {}
    assert peer.finish() == 0


def test_closing_stdin_mid_call_ends_the_server_cleanly(peer: Peer, sandbox: Sandbox) -> None:
    peer.start()
    peer.call("list_routed_ipv6", {})  # connection open, account created
    delayed = sum(r["fault"] == "delay" for r in sandbox.requests())
    sandbox.fault({"kind": "delay", "seconds": 600, "method": "GET"})
    try:
        peer.send("tools/call", {"name": "list_routed_ipv6", "arguments": {}})
        deadline = time.monotonic() + TIMEOUT
        while sandbox.pending_faults():  # taken: the request is now inside the sandbox, held there
            assert time.monotonic() < deadline, "the call never reached the sandbox"
            time.sleep(0.02)
        assert peer.finish() == 0
        # The server ended while its request was still held upstream: it did not wait for it.
        assert sum(r["fault"] == "delay" for r in sandbox.requests()) == delayed
        assert b"Traceback" not in peer.stderr()
    finally:
        sandbox.clear_faults()


def test_closing_stdin_before_anything_ends_the_server_cleanly(peer: Peer) -> None:
    assert peer.finish() == 0
    assert peer.lines == []


# ----- the key ------------------------------------------------------------------------------------

FAULTS = [
    {"kind": "status", "status": status} for status in (400, 401, 403, 404, 409, 500, 502, 503, 504)
] + [
    {"kind": "status", "status": 429, "retryAfter": 0}, {"kind": "html"}, {"kind": "html", "status": 200},
    {"kind": "drop_before"}, {"kind": "drop_after"}, {"kind": "refuse"}, {"kind": "delay", "seconds": 0.01},
]


def every_tool(peer: Peer) -> list[tuple[str, dict[str, Any]]]:
    state = peer.call("list_routed_ipv6", {})["structuredContent"]
    if not state.get("pools"):
        state = peer.call("allocate_pool", {})["structuredContent"]
    pool = state["pools"][0] if state.get("pools") else {"id": "ripv6_gone", "routes": []}
    route = pool["routes"][0]["id"] if pool["routes"] else "ripv6rt_gone"
    return [
        ("list_routed_ipv6", {}),
        ("plan_route", {"poolId": pool["id"], "prefixLength": 64, "vpsId": "vps_web1"}),
        ("create_route", {"poolId": pool["id"], "prefixLength": 64, "vpsId": "vps_web1", "label": "k"}),
        ("create_route", {"poolId": pool["id"], "prefixLength": 64, "vpsId": "vps_web1", "prefix": "2001:db8::1/64"}),
        ("delete_route", {"routeId": route}),
        ("delete_route", {"routeId": "../" + route}),
        ("allocate_pool", {"force": True}),
        ("release_pool", {"poolId": pool["id"]}),
    ]


def test_the_key_is_never_printed_at_debug_level_through_every_fault(sandbox: Sandbox, tmp_path: Path) -> None:
    peer = Peer(tmp_path, "--log-level", "DEBUG", HOSTUP_API_URL=sandbox.url, HOSTUP_API_KEY=SECRET)
    try:
        peer.start()
        for method in ("tools/list", "resources/list", "prompts/list"):
            peer.request(method)
        peer.request("resources/read", {"uri": "hostup://routed-ipv6/state"})
        for fault in [None, *FAULTS]:
            for tool, args in every_tool(peer):
                if fault:
                    sandbox.fault(fault)
                result = peer.call(tool, args)
                sandbox.clear_faults()
                assert isinstance(result["structuredContent"], dict)
                if fault is None and tool == "list_routed_ipv6":
                    assert result["isError"] is False  # the key was sent, and HostUp took it
        for junk in JUNK_LINES[:12]:
            peer.write(junk)
        assert peer.finish() == 0
    finally:
        peer.kill()
    stderr = peer.stderr()
    assert b"DEBUG" in stderr and b"tool 'create_route'" in stderr  # the log was on, and it was read
    assert SECRET.encode() not in stderr
    assert all(SECRET.encode() not in line for line in peer.lines)


def test_a_refused_key_is_not_printed_either(sandbox: Sandbox, tmp_path: Path) -> None:
    wrong = "hk_live_WRONG-key-3e1f-NEVER-PRINT"  # no sbx_ prefix: the sandbox answers 401
    peer = Peer(tmp_path, "--log-level", "DEBUG", HOSTUP_API_URL=sandbox.url, HOSTUP_API_KEY=wrong)
    try:
        peer.start()
        result = peer.call("list_routed_ipv6", {})
        assert result["isError"] and result["structuredContent"]["status"] == 401
        assert peer.finish() == 0
    finally:
        peer.kill()
    assert wrong.encode() not in peer.stderr() and all(wrong.encode() not in line for line in peer.lines)


def test_a_bad_setting_is_reported_without_the_key(tmp_path: Path) -> None:
    peer = Peer(tmp_path, HOSTUP_API_KEY=SECRET, HOSTUP_TIMEOUT="soon", HOSTUP_API_URL="http://example.com")
    try:
        assert peer.finish() == 2
    finally:
        peer.kill()
    assert b"HOSTUP_TIMEOUT" in peer.stderr() and SECRET.encode() not in peer.stderr()
    assert peer.lines == []
