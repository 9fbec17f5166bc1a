"""The main job on the sandbox: an agent session against the real server over stdio.

Run with `make demo`. The server is spawned exactly as Claude Desktop would spawn it
(`hostup-ipv6-mcp --sandbox`), and every call and its result is printed compactly.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

SERVER = Path(sys.executable).with_name("hostup-ipv6-mcp")


def summary(data: dict) -> str:
    """One line per result: the parts an agent would look at."""
    if "code" in data and "status" in data:
        pointers = [e.get("pointer") for e in data.get("errors", [])]
        return f"PROBLEM {data['status']} {data['code']}: {data['detail']}" + (f" {pointers}" if pointers else "")
    if "pools" in data:
        pools = [
            f"{p['id']} {p['parentCidr']} routes=[{', '.join(r['prefix'] + '->' + r['vpsName'] for r in p['routes'])}]"
            for p in data["pools"]
        ]
        gates = {name: gate["allowed"] for name, gate in data["actions"].items()}
        flag = " (reconciled)" if data.get("reconciled") else ""
        return f"pools={pools or '[]'} destinations={len(data['destinations'])} gates={gates}{flag}"
    return json.dumps(data, separators=(",", ":"))


async def call(session: ClientSession, name: str, args: dict | None = None) -> dict:
    result = await session.call_tool(name, args or {})
    data = result.structured_content or json.loads(result.content[0].text)
    print(f"> {name} {json.dumps(args or {}, separators=(',', ':'))}\n  {summary(data)}")
    return data


async def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTUP_")}
    params = StdioServerParameters(command=str(SERVER), args=["--sandbox"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        tools = await session.list_tools()
        print(f"connected to {init.server_info.name} {init.server_info.version}: {[t.name for t in tools.tools]}")

        state = await call(session, "list_routed_ipv6")
        web, db = (d["vpsId"] for d in state["destinations"] if d["actions"]["canReceiveRoute"]["allowed"])
        state = await call(session, "allocate_pool")
        pool = state["pools"][0]
        state = await call(session, "create_route", {"poolId": pool["id"], "vpsId": web, "prefixLength": 64})
        first = state["pools"][0]["routes"][0]["id"]

        parent = ipaddress.IPv6Network(pool["parentCidr"])
        second_56 = list(parent.subnets(new_prefix=56))[1].compressed
        plan = {"poolId": pool["id"], "vpsId": db, "prefixLength": 56, "prefix": second_56}
        await call(session, "plan_route", plan)
        state = await call(session, "create_route", {**plan, "label": "db network"})
        second = next(r["id"] for r in state["pools"][0]["routes"] if r["prefix"] == second_56)

        await call(session, "create_route", {"poolId": pool["id"], "vpsId": db, "prefixLength": 60, "prefix": "10.0.0.0/8"})
        await call(session, "release_pool", {"poolId": pool["id"]})
        await call(session, "delete_route", {"routeId": first})
        await call(session, "delete_route", {"routeId": second})
        await call(session, "release_pool", {"poolId": pool["id"]})


if __name__ == "__main__":
    anyio.run(main)
