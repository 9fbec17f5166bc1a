"""The state as resources, for clients that attach context instead of calling tools.

`hostup://routed-ipv6/state` is the whole state; `hostup://routed-ipv6/pools/{poolId}` one pool.
Each read is one GET, with the caller's key, like list_routed_ipv6.
"""

from __future__ import annotations

import json
import re

from mcp.types import Resource, ResourceTemplate

from hostup_ipv6_mcp.client import HostUpClient
from hostup_ipv6_mcp.problems import server_problem

STATE_URI = "hostup://routed-ipv6/state"
POOL_URI_TEMPLATE = "hostup://routed-ipv6/pools/{poolId}"
POOL_URI = re.compile(r"^hostup://routed-ipv6/pools/(ripv6_[A-Za-z0-9_-]{1,64})$")
MIME = "application/json"

RESOURCES = [
    Resource(
        uri=STATE_URI,
        name="routed-ipv6-state",
        title="Routed IPv6 state",
        description="Pools, routes, eligible VPSs and action gates of the account (as list_routed_ipv6).",
        mime_type=MIME,
    )
]
TEMPLATES = [
    ResourceTemplate(
        uri_template=POOL_URI_TEMPLATE,
        name="routed-ipv6-pool",
        title="One routed IPv6 pool",
        description="One /48 pool with its routes and gates; poolId from pools[].id.",
        mime_type=MIME,
    )
]


def is_ours(uri: str) -> bool:
    return uri.startswith("hostup://routed-ipv6/")


async def read(hostup: HostUpClient, uri: str) -> str:
    """The resource's JSON text; raises ProblemError for an unknown URI or pool."""
    if uri != STATE_URI and not POOL_URI.match(uri):
        raise server_problem("not_found", f"No resource {uri[:200]}; read {STATE_URI} or {POOL_URI_TEMPLATE}.")
    state = await hostup.get_state()
    if uri == STATE_URI:
        return state.model_dump_json(exclude_none=True)
    pool_id = POOL_URI.match(uri).group(1)  # type: ignore[union-attr]
    pool = next((p for p in state.pools if p.id == pool_id), None)
    if pool is None:
        raise server_problem("not_found", f"No pool {pool_id}; pool ids are listed at {STATE_URI}.")
    return json.dumps(pool.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
