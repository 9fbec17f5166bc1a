"""The six tools: each declared once with its input model, output model, annotations and docstring.

Tool functions stay thin: validation, problems and result shaping live in `server.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel

from hostup_ipv6_mcp import reconcile
from hostup_ipv6_mcp.client import AnswerLost, HostUpClient
from hostup_ipv6_mcp.models import (
    CreateRouteInput,
    DeleteRouteInput,
    NoInput,
    PlanResult,
    PlanRouteInput,
    ReleaseOutput,
    ReleasePoolInput,
    ReleaseResult,
    State,
    StateResult,
    ToolInput,
)
from hostup_ipv6_mcp.planning import plan_route as plan
from hostup_ipv6_mcp.problems import ProblemError, server_problem


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input: type[ToolInput]
    output: type[BaseModel]
    annotations: ToolAnnotations
    # Returns `output`, or the model `output` extends when nothing is added (State for StateResult).
    run: Callable[[HostUpClient, Any], Awaitable[BaseModel]]

    @property
    def writes(self) -> bool:
        return not self.annotations.read_only_hint


TOOLS: dict[str, ToolSpec] = {}


def tool(
    title: str, input: type[ToolInput], output: type[BaseModel], *, read_only: bool, destructive: bool, idempotent: bool
) -> Callable[[Callable[..., Awaitable[BaseModel]]], Callable[..., Awaitable[BaseModel]]]:
    """Register a tool; every annotation is explicit, since clients read a missing one as the riskier value."""

    def register(fn: Callable[..., Awaitable[BaseModel]]) -> Callable[..., Awaitable[BaseModel]]:
        TOOLS[fn.__name__] = ToolSpec(
            name=fn.__name__,
            title=title,
            description=" ".join((fn.__doc__ or "").split()),
            input=input,
            output=output,
            annotations=ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=True,
            ),
            run=fn,
        )
        return fn

    return register


@tool("List routed IPv6", NoInput, State, read_only=True, destructive=False, idempotent=True)
async def list_routed_ipv6(hostup: HostUpClient, args: NoInput) -> State:
    """Read the account's routed IPv6: pools (/48s) with their routes, the VPSs that can receive
    routes (destinations), and `actions` gates saying what is allowed now and why not. Call this
    first: every poolId, routeId and vpsId must come from here, never be guessed."""
    return await hostup.get_state()


@tool("Plan a route", PlanRouteInput, PlanResult, read_only=True, destructive=False, idempotent=True)
async def plan_route(hostup: HostUpClient, args: PlanRouteInput) -> PlanResult:
    """Dry-run create_route without changing anything: the exact prefix it would route (the given
    one, or the first free block of prefixLength, lowest address first), the pool and VPS gates,
    free blocks per length, and every problem that would make it fail. If `ok`, call create_route
    with the same arguments (pass `prefix` to pin the planned block)."""
    return plan(await hostup.get_state(), args)


@tool("Allocate the /48 pool", NoInput, StateResult, read_only=False, destructive=False, idempotent=False)
async def allocate_pool(hostup: HostUpClient, args: NoInput) -> State:
    """Add the account's routed IPv6 /48. Only when list_routed_ipv6 shows
    actions.canAllocatePool.allowed (the account has no pool yet). Returns the new state; take
    the poolId from pools[] and route subnets with plan_route and create_route."""
    try:
        return await hostup.allocate_pool()
    except AnswerLost as lost:
        return await reconcile.allocated_pool(hostup, lost)


@tool("Route a subnet to a VPS", CreateRouteInput, StateResult, read_only=False, destructive=False, idempotent=False)
async def create_route(hostup: HostUpClient, args: CreateRouteInput) -> State:
    """Route a /48, /56 or /64 of a pool to a VPS (next hop: the VPS's nextHop). Without `prefix`
    HostUp picks the first free block of that length. Check first with plan_route. Returns the
    state after the change; the new route is in pools[].routes[]. On a 409 problem, read its
    detail and the gates in list_routed_ipv6; do not retry blindly."""
    try:
        return await hostup.create_route(args)
    except AnswerLost as lost:
        return await reconcile.created_route(hostup, args, lost)


@tool("Delete a route", DeleteRouteInput, StateResult, read_only=False, destructive=True, idempotent=True)
async def delete_route(hostup: HostUpClient, args: DeleteRouteInput) -> State:
    """Stop routing a subnet: removes the route with routeId (pools[].routes[].id) and its traffic
    to the VPS stops. Returns the state after the change. Delete every route of a pool before
    release_pool."""
    try:
        state = await hostup.delete_route(args.routeId)
    except AnswerLost as lost:
        return await reconcile.deleted_route(hostup, args.routeId, lost)
    if state is not None:
        return state
    # The answer's body is undocumented; when it is not a state, read the state once.
    try:
        return await hostup.get_state()
    except ProblemError as error:
        raise server_problem(
            "state_unreadable",
            f"Route {args.routeId} was deleted (HostUp confirmed it), but reading the state afterwards failed "
            f"({error.problem.code}). Do not delete it again; call list_routed_ipv6 to see the state.",
        ) from None


@tool("Release the /48 pool", ReleasePoolInput, ReleaseOutput, read_only=False, destructive=True, idempotent=True)
async def release_pool(hostup: HostUpClient, args: ReleasePoolInput) -> ReleaseResult:
    """Give the account's /48 (poolId from pools[].id) back to HostUp. The pool must have no
    routes (pools[].actions.canRelease). The released /48 enters a cooldown until cooldownUntil
    and may not come back: a later allocate_pool can get a different /48. Ask the user first."""
    try:
        return await hostup.release_pool(args.poolId)
    except AnswerLost as lost:
        return await reconcile.released_pool(hostup, args.poolId, lost)
