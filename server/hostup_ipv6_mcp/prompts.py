"""Guided workflows as MCP prompts: the safe order of tool calls for the two common jobs."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


def register(server: MCPServer) -> None:
    @server.prompt(name="route_subnet", title="Route a subnet to a VPS")
    def route_subnet(vps: str, size: str = "64") -> str:
        """Route an IPv6 /48, /56 or /64 from the account's pool to one VPS, checking before changing."""
        return (
            f"Route a /{size} of our HostUp routed IPv6 to the VPS '{vps}'. Work in this order:\n"
            "1. Call list_routed_ipv6. Find the VPS in destinations[] by name or vpsId; if "
            "actions.canReceiveRoute.allowed is false, stop and tell me its reason.\n"
            "2. If pools[] is empty and actions.canAllocatePool.allowed is true, ask me before calling "
            "allocate_pool; then use the pool id from its answer.\n"
            f"3. Call plan_route with poolId, vpsId and prefixLength {size}. If ok is false, show me "
            "each problem's detail and stop.\n"
            "4. Call create_route with the same arguments plus prefix set to the planned prefix, so the "
            "route is exactly the one planned.\n"
            "5. Report the route's prefix, nextHop and id from the answer. On a problem, follow its "
            "code: not_applied means retry is safe; outcome_unknown means check the state first."
        )

    @server.prompt(name="tidy_up", title="Delete a route and release an empty pool")
    def tidy_up(route: str) -> str:
        """Delete a route, and release the pool if it is then empty, confirming each destructive step."""
        return (
            f"Remove the routed IPv6 subnet '{route}' (a route id or prefix). Work in this order:\n"
            "1. Call list_routed_ipv6 and find the route in pools[].routes[] by id or prefix; show me "
            "its prefix, VPS and label and ask me to confirm.\n"
            "2. Call delete_route with its routeId.\n"
            "3. If that pool now has no routes and actions.canRelease.allowed is true, tell me that "
            "releasing gives the /48 back to HostUp, enters a cooldown and may not return the same "
            "/48 later, and ask whether to release it. Only then call release_pool with the poolId.\n"
            "4. Report what was deleted or released, and cooldownUntil if there was one."
        )
