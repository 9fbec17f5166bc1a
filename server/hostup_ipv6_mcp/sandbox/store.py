"""In-memory routed-IPv6 accounts: the API's rules and action gates, with no HTTP in sight.

Every gate is computed from the state by the same method the matching operation checks, so a
gate's `reason` and the detail of the conflict the operation raises are the same sentence.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Network
from typing import Any

from hostup_ipv6_mcp.prefixes import PrefixError, check_child, first_free, free_count, overlapping, parse_prefix

READ_SCOPES = ("read:network", "read:vm")
ALL_SCOPES = (*READ_SCOPES, "write:network")
ALLOWED_LENGTHS = [48, 56, 64]
COOLDOWN = timedelta(days=7)
SUPERNET = IPv6Network("2001:db8::/32")
FIRST_POOL = 0x1000  # the first pool is 2001:db8:1000::/48, as in HostUp's examples
LAST_POOL = 0xFFFE  # 2001:db8:ffff::/48 holds the seeded VPSs' next hops
ANY_IPV6 = IPv6Network("::/0")
NO_POOL = "Add a routed /48 before creating routes."

Clock = Callable[[], datetime]


def utc_iso(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a Z, to the second, as HostUp writes timestamps."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def gate(reason: str | None) -> dict[str, Any]:
    """An action gate: allowed exactly when there is no reason against it."""
    return {"allowed": reason is None, "reason": reason}


class ApiError(Exception):
    """A failure the API answers with a problem; `errors` only for invalid_request."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors, self.headers = status, code, detail, errors, headers


def invalid(pointer: str, code: str, detail: str) -> ApiError:
    """A 400 invalid_request with a single field error."""
    return ApiError(400, "invalid_request", "The request body failed validation.", [field_error(pointer, code, detail)])


def field_error(pointer: str, code: str, detail: str) -> dict[str, str]:
    return {"pointer": pointer, "detail": detail, "code": code}


@dataclass
class Destination:
    vps_id: str
    name: str
    primary_ip: str
    next_hop: str
    service_status: str = "active"
    blocked: str | None = None  # why the VPS cannot receive a route, if it cannot

    def render(self) -> dict[str, Any]:
        return {
            "vpsId": self.vps_id,
            "name": self.name,
            "primaryIp": self.primary_ip,
            "nextHop": self.next_hop,
            "serviceStatus": self.service_status,
            "actions": {"canReceiveRoute": gate(self.blocked)},
        }


def seed_destinations() -> dict[str, Destination]:
    """Two VPSs that can receive routes and one suspended VPS that cannot."""
    return {
        d.vps_id: d
        for d in (
            Destination("vps_web1", "web-1", "192.0.2.10", "2001:db8:ffff::10"),
            Destination("vps_db1", "db-1", "192.0.2.11", "2001:db8:ffff::11"),
            Destination("vps_old1", "old-1", "192.0.2.12", "2001:db8:ffff::12", "suspended", "The VPS is suspended."),
        )
    }


@dataclass
class Route:
    id: str
    prefix: IPv6Network
    vps: Destination
    label: str | None
    created: str

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix.compressed,
            "prefixLength": self.prefix.prefixlen,
            "nextHop": self.vps.next_hop,
            "label": self.label,
            "vpsId": self.vps.vps_id,
            "vpsName": self.vps.name,
            "status": "active",
            "allocatedAt": self.created,
            "updatedAt": self.created,
            "actions": {"canDelete": gate(None)},
        }


@dataclass
class Pool:
    id: str
    cidr: IPv6Network
    allocated_at: str
    updated_at: str
    routes: dict[str, Route] = field(default_factory=dict)

    def routed(self) -> list[IPv6Network]:
        return [route.prefix for route in self.routes.values()]

    def create_blocked(self) -> str | None:
        # A /64 is the smallest routable block: none free means nothing at all can be routed.
        if free_count(self.cidr, self.routed(), 64) == 0:
            return f"The pool {self.cidr.compressed} has no free space left; delete a route first."
        return None

    def release_blocked(self) -> str | None:
        if self.routes:
            return f"Delete the pool's {len(self.routes)} route(s) before releasing it."
        return None

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parentCidr": self.cidr.compressed,
            "prefixLength": self.cidr.prefixlen,
            "status": "active",
            "allocatedAt": self.allocated_at,
            "updatedAt": self.updated_at,
            "routes": [route.render() for route in self.routes.values()],
            "actions": {"canCreateRoute": gate(self.create_blocked()), "canRelease": gate(self.release_blocked())},
        }


class PoolSource:
    """Hands out /48s of 2001:db8::/32 to every account of one sandbox.

    It counts upwards and never hands a /48 out twice, so a released /48 cannot come back
    while it cools down, and two accounts never share one.
    """

    def __init__(self) -> None:
        self._next = FIRST_POOL

    def take(self) -> IPv6Network:
        if self._next > LAST_POOL:
            raise ApiError(503, "upstream_unavailable", "The sandbox has no /48 left to hand out; reset it.")
        index, self._next = self._next, self._next + 1
        return IPv6Network((int(SUPERNET.network_address) + (index << 80), 48))


class Account:
    """One API key's routed-IPv6 world: its pools, routes and destinations."""

    def __init__(self, name: str, scopes: Iterable[str], source: PoolSource, clock: Clock) -> None:
        self.name, self.scopes = name, frozenset(scopes)
        self._source, self._clock = source, clock
        self.pools: dict[str, Pool] = {}
        self.destinations = seed_destinations()

    # ----- gates ---------------------------------------------------------------------------

    def allocate_blocked(self) -> str | None:
        if self.pools:
            return "The account already has a routed /48; release it before allocating another."
        return None

    def create_blocked(self) -> str | None:
        if not self.pools:
            return NO_POOL
        if all(pool.create_blocked() for pool in self.pools.values()):
            return "Every routed /48 is full; delete a route first."
        if all(d.blocked for d in self.destinations.values()):
            return "No VPS on the account can receive a route."
        return None

    def state(self) -> dict[str, Any]:
        return {
            "available": True,
            "reason": None,
            "allowedPrefixLengths": list(ALLOWED_LENGTHS),
            "pools": [pool.render() for pool in self.pools.values()],
            "destinations": [d.render() for d in self.destinations.values()],
            "actions": {
                "canAllocatePool": gate(self.allocate_blocked()),
                "canCreateRoute": gate(self.create_blocked()),
            },
        }

    # ----- operations ----------------------------------------------------------------------

    def post(self, body: Any) -> dict[str, Any]:
        """POST /api/v2/routed-ipv6: dispatch on `action`; returns the new state."""
        if not isinstance(body, dict):
            raise invalid("", "invalid_type", "The request body must be a JSON object.")
        action = body.get("action")
        if action == "allocate_pool":
            return self.allocate_pool()
        if action == "create_route":
            return self.create_route(body)
        if action is None:
            raise invalid("/action", "missing_required", "action is required: allocate_pool or create_route.")
        raise invalid("/action", "invalid_value", "action must be allocate_pool or create_route.")

    def allocate_pool(self) -> dict[str, Any]:
        if reason := self.allocate_blocked():
            raise ApiError(409, "pool_exists", reason)
        now = utc_iso(self._clock())
        pool = Pool("ripv6_" + secrets.token_hex(6), self._source.take(), now, now)
        self.pools[pool.id] = pool
        return self.state()

    def create_route(self, body: dict[str, Any]) -> dict[str, Any]:
        pool_id, vps_id, length, prefix, label = parse_create(body)
        pool = self._pool(pool_id)
        vps = self.destinations.get(vps_id)
        if vps is None:
            raise ApiError(404, "not_found", f"No VPS {vps_id} on this account.")
        if prefix is not None:
            try:
                check_child(prefix, length, pool.cidr)
            except PrefixError as err:
                raise invalid("/prefix", err.code, str(err)) from None
        if vps.blocked:
            raise ApiError(409, "vps_not_eligible", vps.blocked)
        if prefix is None:
            prefix = first_free(pool.cidr, pool.routed(), length)
            if prefix is None:
                raise ApiError(409, "pool_full", f"No free /{length} left in the pool {pool.cidr.compressed}.")
        elif clash := overlapping(prefix, pool.routed()):
            taken = ", ".join(net.compressed for net in clash)
            raise ApiError(409, "prefix_overlap", f"{prefix.compressed} overlaps the routed {taken}.")
        now = utc_iso(self._clock())
        route = Route("ripv6rt_" + secrets.token_hex(6), prefix, vps, label, now)
        pool.routes[route.id] = route
        pool.updated_at = now
        return self.state()

    def delete_route(self, route_id: str) -> dict[str, Any]:
        for pool in self.pools.values():
            if pool.routes.pop(route_id, None):
                pool.updated_at = utc_iso(self._clock())
                return self.state()
        raise ApiError(404, "not_found", f"No route {route_id} on this account.")

    def release_pool(self, pool_id: str) -> dict[str, Any]:
        pool = self._pool(pool_id)
        if reason := pool.release_blocked():
            raise ApiError(409, "pool_not_empty", reason)
        del self.pools[pool_id]
        return {"released": True, "cooldownUntil": utc_iso(self._clock() + COOLDOWN)}

    def _pool(self, pool_id: str) -> Pool:
        if pool_id not in self.pools:
            raise ApiError(404, "not_found", f"No routed-IPv6 pool {pool_id} on this account.")
        return self.pools[pool_id]


def parse_create(body: dict[str, Any]) -> tuple[str, str, int, IPv6Network | None, str | None]:
    """Check a create_route body field by field; one errors[] entry per bad field."""
    errors: list[dict[str, str]] = []
    for name in ("poolId", "vpsId"):
        if body.get(name) is None:
            errors.append(field_error(f"/{name}", "missing_required", f"{name} is required."))
        elif not isinstance(body[name], str):
            errors.append(field_error(f"/{name}", "invalid_type", f"{name} must be a string."))
    length = body.get("prefixLength")
    if length is None:
        errors.append(field_error("/prefixLength", "missing_required", "prefixLength is required."))
    elif type(length) is not int:  # bool is an int subclass; 64.0 and "64" are not integers either
        errors.append(field_error("/prefixLength", "invalid_type", "prefixLength must be an integer."))
        length = None
    elif length not in ALLOWED_LENGTHS:
        allowed = ", ".join(map(str, ALLOWED_LENGTHS))
        detail = f"prefixLength must be one of {allowed}."
        errors.append(field_error("/prefixLength", "unsupported_prefix_length", detail))
        length = None
    prefix = body.get("prefix")
    if prefix is not None:
        try:
            prefix = parse_prefix(prefix) if isinstance(prefix, str) else None
            if prefix is None:
                errors.append(field_error("/prefix", "invalid_type", "prefix must be a string in CIDR form."))
            elif length is not None:
                check_child(prefix, length, ANY_IPV6)  # only the length can fail here; the pool comes later
        except PrefixError as err:
            errors.append(field_error("/prefix", err.code, str(err)))
    label = body.get("label")
    if label is not None and not isinstance(label, str):
        errors.append(field_error("/label", "invalid_type", "label must be a string."))
    if errors:
        raise ApiError(400, "invalid_request", "The request body failed validation.", errors)
    return body["poolId"], body["vpsId"], length, prefix, label
