"""The MCP Inspector CLI against the server: it lists the tools and calls each one on the sandbox,
and every error call exits with the documented code and the problem JSON on stdout.

These are the commands the README shows. Each Inspector run spawns a fresh server, so every
call meets an empty sandbox. The runs are independent and take 1-2 s each, so they all start at once
in a thread pool and the tests only read their outcomes. Inspector exit codes: 0 ok; 5 the tool
returned isError (or was not found); 1 usage, or the server failed to start, or a structured result
did not fit the tool's output schema.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
INSPECTOR = REPO / "node_modules" / ".bin" / "mcp-inspector"
SERVER = REPO / ".venv" / "bin" / "hostup-ipv6-mcp"
TIMEOUT = 60  # seconds per Inspector run; a healthy one takes 1-2 s
WORKERS = 4

READ_TOOLS = {"list_routed_ipv6", "plan_route"}
ALL_TOOLS = READ_TOOLS | {"allocate_pool", "create_route", "delete_route", "release_pool"}

# IDs that are well formed but do not exist in a fresh sandbox.
MISSING_POOL, MISSING_VPS, MISSING_ROUTE = "ripv6_missing", "vps_missing", "ripv6rt_missing"


def listing(*options: str, server: tuple[str, ...] = ("--sandbox",)) -> tuple[list[str], tuple[str, ...]]:
    return [*options, "--method", "tools/list"], server


def call(
    tool: str, args: dict[str, Any], *options: str, server: tuple[str, ...] = ("--sandbox",)
) -> tuple[list[str], tuple[str, ...]]:
    # --tool-args-json passes values verbatim; --tool-arg k=v would turn digits into numbers.
    method = ["--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(args)]
    return [*options, *method], server


# name -> (Inspector options, server arguments); one Inspector run each.
RUNS = {
    "list": listing(),
    "list_read_only": listing("-e", "HOSTUP_READ_ONLY=true"),
    "list_routed_ipv6": call("list_routed_ipv6", {}),
    "allocate_pool": call("allocate_pool", {}),
    "plan_route": call("plan_route", {"poolId": MISSING_POOL, "prefixLength": 64}),
    "create_route": call("create_route", {"poolId": MISSING_POOL, "vpsId": MISSING_VPS, "prefixLength": 64}),
    "delete_route": call("delete_route", {"routeId": MISSING_ROUTE}),
    "release_pool": call("release_pool", {"poolId": MISSING_POOL}),
    "bad_arguments": call(
        "create_route", {"poolId": MISSING_POOL, "vpsId": "vps_web1", "prefixLength": 60, "color": "blue"}
    ),
    # No --sandbox and no -e HOSTUP_API_KEY (an empty `-e HOSTUP_API_KEY=` is a usage error, exit 1).
    "no_key": call("list_routed_ipv6", {}, server=()),
}


@dataclass(frozen=True)
class Run:
    command: str
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str

    def explain(self) -> str:
        hint = ""
        if self.returncode == 1 and "data must" in self.stderr:  # "data must have required property 'x'"
            hint = "\nThe structured result does not fit the tool's output schema: a server bug."
        return (
            f"$ {self.command}\nexit {self.returncode}{hint}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )

    def output(self) -> dict[str, Any]:
        """The one JSON object on stdout; Inspector 2.12 wraps it as {"result": ...} under --format json."""
        try:
            data = json.loads(self.stdout)
        except json.JSONDecodeError:
            pytest.fail("stdout is not one JSON object\n" + self.explain())
        return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data

    def structured(self, *, is_error: bool) -> dict[str, Any]:
        """The tool result's structuredContent, after checking isError and that the text mirrors it."""
        result = self.output()
        assert result.get("isError", False) is is_error, self.explain()
        structured = result.get("structuredContent")
        assert isinstance(structured, dict), self.explain()
        texts = [block["text"] for block in result["content"] if block.get("type") == "text"]
        assert [json.loads(text) for text in texts] == [structured], "the text should be the same JSON"
        return structured


def text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def inspect(options: list[str], server_args: tuple[str, ...], home: Path) -> Run:
    # The Inspector hands the server only HOME, PATH, SHELL, TERM plus -e values; HOSTUP_* and MCP_* are
    # dropped here anyway, so a key in CI's environment can never reach the real HostUp from these tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTUP_", "MCP_"))} | {"HOME": str(home)}
    argv = [str(INSPECTOR), "--cli", *options, "--format", "json", "--", str(SERVER), *server_args]
    command = " ".join(argv)
    try:
        done = subprocess.run(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as expired:
        # On a timeout the captured output can arrive as bytes even with text=True.
        out, err = (text(o) for o in (expired.stdout, expired.stderr))
        return Run(command, None, out, f"{err}\n[timed out after {TIMEOUT} s]")
    return Run(command, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    assert INSPECTOR.exists(), f"{INSPECTOR.relative_to(REPO)} is missing: run make npm"
    assert SERVER.exists(), f"{SERVER.relative_to(REPO)} is missing: run make venv"
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # A HOME of its own per run: the Inspector keeps its catalog and OAuth state there.
        futures = {
            name: pool.submit(inspect, options, server, tmp_path_factory.mktemp(f"home-{name}"))
            for name, (options, server) in RUNS.items()
        }
        return {name: future.result() for name, future in futures.items()}


def tools_of(run: Run) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.explain()
    return run.output()["tools"]


def test_tools_list_offers_the_six_tools_with_input_and_output_schemas(runs: dict[str, Run]) -> None:
    tools = tools_of(runs["list"])
    assert sorted(tool["name"] for tool in tools) == sorted(ALL_TOOLS)
    for tool in tools:
        # The SDK and the Inspector want a root "type": "object" on both schemas.
        assert tool["inputSchema"]["type"] == "object", tool["name"]
        assert tool["outputSchema"]["type"] == "object", tool["name"]


def test_read_only_mode_lists_only_the_reading_tools(runs: dict[str, Run]) -> None:
    assert sorted(tool["name"] for tool in tools_of(runs["list_read_only"])) == sorted(READ_TOOLS)


def test_list_routed_ipv6_on_a_fresh_sandbox_has_no_pools(runs: dict[str, Run]) -> None:
    run = runs["list_routed_ipv6"]
    assert run.returncode == 0, run.explain()
    state = run.structured(is_error=False)
    assert state["pools"] == []
    assert state["actions"]["canAllocatePool"]["allowed"] is True


def test_allocate_pool_returns_the_one_new_pool(runs: dict[str, Run]) -> None:
    run = runs["allocate_pool"]
    assert run.returncode == 0, run.explain()
    [pool] = run.structured(is_error=False)["pools"]
    assert pool["id"].startswith("ripv6_")
    assert pool["prefixLength"] == 48
    assert pool["routes"] == []


def test_plan_route_for_a_missing_pool_is_a_result_that_says_not_ok(runs: dict[str, Run]) -> None:
    run = runs["plan_route"]
    assert run.returncode == 0, run.explain()
    plan = run.structured(is_error=False)
    assert plan["ok"] is False
    assert "not_found" in [problem["code"] for problem in plan["problems"]]


@pytest.mark.parametrize("tool", ["create_route", "delete_route", "release_pool"])
def test_writes_on_missing_ids_exit_5_with_hostups_404_problem(runs: dict[str, Run], tool: str) -> None:
    run = runs[tool]
    assert run.returncode == 5, run.explain()
    problem = run.structured(is_error=True)
    assert (problem["status"], problem["code"]) == (404, "not_found")
    assert "source" not in problem, "HostUp's own problem, passed on unchanged"


def test_bad_arguments_exit_5_with_pointers_to_each_one(runs: dict[str, Run]) -> None:
    run = runs["bad_arguments"]
    assert run.returncode == 5, run.explain()
    problem = run.structured(is_error=True)
    assert (problem["status"], problem["code"]) == (400, "invalid_request")
    assert problem["source"] == "hostup-ipv6-mcp", "the server's own problem: nothing reached HostUp"
    pointers = {item["pointer"]: item["code"] for item in problem["errors"]}
    assert pointers == {"/prefixLength": "invalid_value", "/color": "unknown_argument"}


def test_without_sandbox_or_key_a_call_exits_5_with_missing_api_key(runs: dict[str, Run]) -> None:
    run = runs["no_key"]
    assert run.returncode == 5, run.explain()
    problem = run.structured(is_error=True)
    assert (problem["status"], problem["code"]) == (401, "missing_api_key")
    assert "HOSTUP_API_KEY" in problem["detail"]
