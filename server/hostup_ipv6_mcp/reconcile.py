"""After a write whose answer was lost: read the state once and say what really happened.

Three outcomes, never a repeated POST: the change is in the state (success, `reconciled: true`),
it is not (`not_applied`: nothing changed, a retry is safe), or the state cannot tell
(`outcome_unknown`, with what to check before doing anything else).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hostup_ipv6_mcp.client import AnswerLost, HostUpClient
from hostup_ipv6_mcp.models import CreateRouteInput, ReleaseOutput, State, StateResult
from hostup_ipv6_mcp.prefixes import PrefixError, parse_prefix
from hostup_ipv6_mcp.problems import ProblemError, server_problem

# How long before the request left a pool or route may have been allocated and still count as
# the new one: HostUp's Date header aligns the clocks to about a second; without it, allow real skew.
MARGIN_WITH_DATE_SECONDS = 2
MARGIN_WITHOUT_DATE_SECONDS = 120


async def _read_state(client: HostUpClient, lost: AnswerLost, check: str) -> State:
    reader = client.quick()
    try:
        return await reader.get_state()
    except ProblemError:
        raise _unknown(lost, check) from None
    finally:
        client.clock_offset = reader.clock_offset


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


def _since(client: HostUpClient, lost: AnswerLost) -> float:
    """The moment the request left, on HostUp's clock, less the margin of error."""
    if client.clock_offset is None:
        return lost.sent_at - MARGIN_WITHOUT_DATE_SECONDS
    return lost.sent_at + client.clock_offset - MARGIN_WITH_DATE_SECONDS


def _is_new(allocated_at: str | None, since: float) -> bool | None:
    """Whether HostUp allocated it at or after `since`; None when the timestamp cannot tell."""
    try:
        moment = datetime.fromisoformat((allocated_at or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # HostUp's timestamps are UTC
    return moment.timestamp() >= since


def _settle(ages: list[bool | None]) -> bool | None:
    """True: exactly one thing is new; False: nothing is; None: the timestamps cannot tell."""
    if None in ages or ages.count(True) > 1:
        return None
    return ages.count(True) == 1


def _same_prefix(listed: str, asked: str) -> bool:
    """HostUp may write a prefix in another (e.g. uncompressed) form than the agent did."""
    try:
        return parse_prefix(listed) == parse_prefix(asked)
    except PrefixError:
        return False


async def allocated_pool(client: HostUpClient, lost: AnswerLost) -> StateResult:
    state = await _read_state(client, lost, "check whether pools[] holds a /48 allocated just now.")
    new = _settle([_is_new(p.allocatedAt, _since(client, lost)) for p in state.pools])
    if new:
        return _reconciled(state)
    if new is False:
        raise _not_applied(lost, "allocating the /48")
    raise _unknown(lost, "check whether one of pools[] was allocated just now.")


async def created_route(client: HostUpClient, args: CreateRouteInput, lost: AnswerLost) -> StateResult:
    check = f"look in pool {args.poolId} for a /{args.prefixLength} routed to {args.vpsId}."
    state = await _read_state(client, lost, check)
    pool = next((p for p in state.pools if p.id == args.poolId), None)
    if pool is None:
        raise _not_applied(lost, "creating the route (the pool is gone)")
    # Not matched on label: HostUp may store it trimmed or cut, and a miss here would invite a duplicate.
    candidates = [
        r
        for r in pool.routes
        if r.vpsId == args.vpsId
        and r.prefixLength == args.prefixLength
        and (args.prefix is None or _same_prefix(r.prefix, args.prefix))
    ]
    if args.prefix is not None:
        # An explicit prefix identifies the route exactly.
        if candidates:
            return _reconciled(state)
        raise _not_applied(lost, f"routing {args.prefix}")
    new = _settle([_is_new(r.allocatedAt, _since(client, lost)) for r in candidates])
    if new:
        return _reconciled(state)
    if new is False:
        raise _not_applied(lost, "creating the route")
    raise _unknown(
        lost,
        f"decide which of these routes is new before creating another: {', '.join(r.id for r in candidates)}.",
        candidateRouteIds=[r.id for r in candidates],
    )


async def deleted_route(client: HostUpClient, route_id: str, lost: AnswerLost) -> StateResult:
    state = await _read_state(client, lost, f"check whether route {route_id} is still listed.")
    route = next((r for p in state.pools for r in p.routes if r.id == route_id), None)
    if route is None:
        return _reconciled(state)
    if route.status != "active":
        # e.g. a deletion HostUp is still carrying out
        raise _unknown(lost, f"check route {route_id}, which HostUp now lists as {route.status!r}.")
    raise _not_applied(lost, f"deleting route {route_id}")


async def released_pool(client: HostUpClient, pool_id: str, lost: AnswerLost) -> ReleaseOutput:
    state = await _read_state(client, lost, f"check whether pool {pool_id} is still listed.")
    pool = next((p for p in state.pools if p.id == pool_id), None)
    if pool is None:
        # The lost answer carried cooldownUntil; the state does not, so it stays unknown.
        return ReleaseOutput(released=True, cooldownUntil=None, reconciled=True)
    if pool.status != "active":
        raise _unknown(lost, f"check pool {pool_id}, which HostUp now lists as {pool.status!r}.")
    raise _not_applied(lost, f"releasing pool {pool_id}")
