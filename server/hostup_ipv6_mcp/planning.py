"""plan_route's reasoning: from one read of the state, what create_route would do and why it might fail."""

from __future__ import annotations

from ipaddress import IPv6Network

from hostup_ipv6_mcp.models import Gate, PlanResult, PlanRouteInput, Problem, State
from hostup_ipv6_mcp.prefixes import PrefixError, check_child, first_free, free_count, overlapping, parse_prefix
from hostup_ipv6_mcp.problems import server_problem


def _problem(code: str, detail: str, pointer: str | None = None) -> Problem:
    members = {"errors": [{"pointer": pointer, "detail": detail, "code": code}]} if pointer else {}
    return server_problem(code, detail, **members).problem


def _gate_problem(gate: Gate | None, what: str) -> Problem | None:
    if gate is None or gate.allowed:
        return None
    return _problem("action_not_allowed", f"{what}: {gate.reason or 'HostUp gives no reason'}.")


def plan_route(state: State, args: PlanRouteInput) -> PlanResult:
    problems: list[Problem] = []
    if not state.available:
        problems.append(_problem("action_not_allowed", f"Routed IPv6 is unavailable: {state.reason or 'no reason given'}."))
    if args.prefixLength not in state.allowedPrefixLengths:
        problems.append(
            _problem(
                "invalid_request",
                f"prefixLength {args.prefixLength} is not offered; allowed: {state.allowedPrefixLengths}.",
                "/prefixLength",
            )
        )

    if args.vpsId is None:
        problems.append(_problem("invalid_request", "create_route needs vpsId: pick one from destinations[].", "/vpsId"))
    pool = next((p for p in state.pools if p.id == args.poolId), None)
    destination = next((d for d in state.destinations if d.vpsId == args.vpsId), None) if args.vpsId else None
    if args.vpsId and destination is None:
        problems.append(_problem("not_found", f"No VPS {args.vpsId} among destinations[]; use one listed there.", "/vpsId"))
    vps_gate = destination.actions.canReceiveRoute if destination else None
    if problem := _gate_problem(vps_gate, f"VPS {args.vpsId} cannot receive a route"):
        problems.append(problem)
    if pool is None:
        problems.append(_problem("not_found", f"No pool {args.poolId}; use an id from pools[].", "/poolId"))
        return PlanResult(
            ok=False, poolId=args.poolId, prefixLength=args.prefixLength, prefix=args.prefix, vpsId=args.vpsId,
            vpsGate=vps_gate, freeBlocks={}, problems=problems,
        )

    try:
        parent = parse_prefix(pool.parentCidr)
        routed = [parse_prefix(r.prefix) for r in pool.routes]
    except PrefixError as error:
        raise server_problem(
            "upstream_invalid_response", f"HostUp listed a prefix of pool {pool.id} that is not valid: {error}"
        ) from None
    if problem := _gate_problem(pool.actions.canCreateRoute, f"Pool {pool.id} cannot take a route"):
        problems.append(problem)
    prefix = _choose_prefix(args, parent, routed, problems)
    return PlanResult(
        ok=not problems,
        poolId=pool.id,
        prefixLength=args.prefixLength,
        prefix=prefix.compressed if prefix else args.prefix,
        vpsId=args.vpsId,
        parentCidr=pool.parentCidr,
        poolGate=pool.actions.canCreateRoute,
        vpsGate=vps_gate,
        freeBlocks={str(n): free_count(parent, routed, n) for n in state.allowedPrefixLengths},
        problems=problems,
    )


def _choose_prefix(
    args: PlanRouteInput, parent: IPv6Network, routed: list[IPv6Network], problems: list[Problem]
) -> IPv6Network | None:
    """The explicit prefix if it fits, else the first free block, exactly as HostUp picks it."""
    if args.prefix is None:
        chosen = first_free(parent, routed, args.prefixLength)
        if chosen is None:
            problems.append(_problem("pool_full", f"No free /{args.prefixLength} is left in {parent.compressed}."))
        return chosen
    chosen = parse_prefix(args.prefix)
    try:
        check_child(chosen, args.prefixLength, parent)
    except PrefixError as error:
        problems.append(_problem("invalid_request", str(error), "/prefix"))
        return None
    if clash := overlapping(chosen, routed):
        taken = ", ".join(n.compressed for n in clash)
        problems.append(_problem("prefix_overlap", f"{chosen.compressed} overlaps routed {taken}.", "/prefix"))
    return chosen
