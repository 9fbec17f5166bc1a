"""After a write whose answer was lost: read the state once and say what really happened.

Three outcomes, never a repeated POST: the change is in the state (success, `reconciled: true`),
it is not (`not_applied`: nothing changed, a retry is safe), or the state cannot tell
(`outcome_unknown`, with what to check before doing anything else).
"""

from __future__ import annotations

from datetime import datetime

from hostup_ipv6_mcp.client import AnswerLost, HostUpClient
from hostup_ipv6_mcp.models import CreateRouteInput, ReleaseOutput, Route, State, StateResult
from hostup_ipv6_mcp.prefixes import PrefixError, parse_prefix
from hostup_ipv6_mcp.problems import ProblemError, server_problem

# How long before the request left a route may have been allocated and still count as the new
# one: HostUp's Date header aligns the clocks to about a second; without it, allow real skew.
MARGIN_WITH_DATE_SECONDS = 2
MARGIN_WITHOUT_DATE_SECONDS = 120


async def _read_state(client: HostUpClient, lost: AnswerLost, check: str) -> State:
    try:
        return await client.get_state()
    except ProblemError:
        raise _unknown(lost, check) from None


def _unknown(lost: AnswerLost, check: str, **members: object) -> ProblemError:
    return server_problem(
        "outcome_unknown",
        f"The request was sent but {lost.what}, and the state could not settle whether it took effect. "
        f"Do not retry yet: call list_routed_ipv6 and {check}",
        **members,
    )


def _not_applied(lost: AnswerLost, action: str) -> ProblemError:
    if lost.in_flight:
        return _unknown(lost, f"check again in a few seconds whether {action} happened; HostUp may still be on it.")
    return server_problem(
        "not_applied",
        f"The request was sent but {lost.what}; the state read afterwards shows {action} did not happen. "
        "Nothing was changed, so it is safe to call the tool again.",
    )


def _reconciled(state: State) -> StateResult:
    return StateResult.model_validate({**state.model_dump(), "reconciled": True})


async def allocated_pool(client: HostUpClient, lost: AnswerLost) -> StateResult:
    state = await _read_state(client, lost, "check whether pools[] now holds a /48.")
    if state.pools:
        return _reconciled(state)
    raise _not_applied(lost, "allocating the /48")


def _same_prefix(listed: str, asked: str) -> bool:
    """HostUp may write a prefix in another (e.g. uncompressed) form than the agent did."""
    try:
        return parse_prefix(listed) == parse_prefix(asked)
    except PrefixError:
        return False


def _allocated_since(route: Route, since: float) -> bool | None:
    """Whether HostUp allocated the route at or after `since` (HostUp's clock); None if unknowable."""
    try:
        return datetime.fromisoformat((route.allocatedAt or "").replace("Z", "+00:00")).timestamp() >= since
    except (ValueError, OverflowError):
        return None


async def created_route(client: HostUpClient, args: CreateRouteInput, lost: AnswerLost) -> StateResult:
    check = f"look in pool {args.poolId} for a /{args.prefixLength} routed to {args.vpsId}."
    state = await _read_state(client, lost, check)
    pool = next((p for p in state.pools if p.id == args.poolId), None)
    if pool is None:
        raise _not_applied(lost, "creating the route (the pool is gone)")
    candidates = [
        r
        for r in pool.routes
        if r.vpsId == args.vpsId
        and r.prefixLength == args.prefixLength
        and (args.prefix is None or _same_prefix(r.prefix, args.prefix))
        and (args.label is None or r.label == args.label)
    ]
    if args.prefix is not None:
        # An explicit prefix identifies the route exactly.
        if candidates:
            return _reconciled(state)
        raise _not_applied(lost, f"routing {args.prefix}")
    if client.clock_offset is None:
        since = lost.sent_at - MARGIN_WITHOUT_DATE_SECONDS
    else:
        since = lost.sent_at + client.clock_offset - MARGIN_WITH_DATE_SECONDS
    ages = [_allocated_since(r, since) for r in candidates]
    if None not in ages and ages.count(True) == 0:
        raise _not_applied(lost, "creating the route")
    if None not in ages and ages.count(True) == 1:
        return _reconciled(state)
    raise _unknown(
        lost,
        f"decide which of these routes is new before creating another: {', '.join(r.id for r in candidates)}.",
        candidateRouteIds=[r.id for r in candidates],
    )


async def deleted_route(client: HostUpClient, route_id: str, lost: AnswerLost) -> StateResult:
    state = await _read_state(client, lost, f"check whether route {route_id} is still listed.")
    if any(r.id == route_id for p in state.pools for r in p.routes):
        raise _not_applied(lost, f"deleting route {route_id}")
    return _reconciled(state)


async def released_pool(client: HostUpClient, pool_id: str, lost: AnswerLost) -> ReleaseOutput:
    state = await _read_state(client, lost, f"check whether pool {pool_id} is still listed.")
    if any(p.id == pool_id for p in state.pools):
        raise _not_applied(lost, f"releasing pool {pool_id}")
    # The lost answer carried cooldownUntil; the state does not, so it stays unknown.
    return ReleaseOutput(released=True, cooldownUntil=None, reconciled=True)
