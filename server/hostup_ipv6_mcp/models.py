"""Pydantic models of HostUp's routed-IPv6 wire shapes and of the tools' inputs and outputs.

Field names are camelCase exactly as on the wire. What HostUp sends is read leniently (extra
fields kept, enumerations such as `status` open); what the agent sends is checked strictly.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from hostup_ipv6_mcp.prefixes import PrefixError, parse_prefix


class Wire(BaseModel):
    """A shape HostUp sends: unknown fields are accepted and passed on untouched."""

    model_config = ConfigDict(extra="allow")


class Gate(Wire):
    """Whether an action is allowed now, and if not, why (`reason`, sometimes `code`)."""

    allowed: bool
    reason: str | None = None
    code: str | None = None


class RouteActions(Wire):
    canDelete: Gate


class Route(Wire):
    id: str
    prefix: str
    prefixLength: int
    nextHop: str | None = None
    label: str | None = None
    vpsId: str
    vpsName: str | None = None
    status: str
    allocatedAt: str | None = None
    updatedAt: str | None = None
    actions: RouteActions


class PoolActions(Wire):
    canCreateRoute: Gate
    canRelease: Gate


class Pool(Wire):
    id: str
    parentCidr: str
    prefixLength: int
    status: str
    allocatedAt: str | None = None
    updatedAt: str | None = None
    routes: list[Route] = []
    actions: PoolActions


class DestinationActions(Wire):
    canReceiveRoute: Gate


class Destination(Wire):
    vpsId: str
    name: str | None = None
    primaryIp: str | None = None
    nextHop: str | None = None
    serviceStatus: str | None = None
    actions: DestinationActions


class AccountActions(Wire):
    canAllocatePool: Gate
    canCreateRoute: Gate


class State(Wire):
    """The account's routed-IPv6 state: GET answers it, allocate and create POSTs return it."""

    available: bool
    reason: str | None = None
    allowedPrefixLengths: list[int]
    pools: list[Pool]
    destinations: list[Destination]
    actions: AccountActions


class ReleaseResult(Wire):
    """DELETE /api/v2/routed-ipv6/{id}: whether the pool went, and until when its /48 cools down."""

    released: bool
    cooldownUntil: str | None = None


class ProblemItem(Wire):
    pointer: str | None = None
    detail: str | None = None
    code: str | None = None


class Problem(Wire):
    """An RFC 9457 problem. `code` is stable: branch on it, never on `detail`."""

    type: str = "about:blank"
    title: str | None = None
    status: int
    detail: str | None = None
    code: str
    instance: str | None = None
    requestId: str | None = None
    timestamp: str | None = None
    errors: list[ProblemItem] | None = None


# ----- tool inputs: strict, unknown arguments rejected ---------------------------------------

PoolId = Annotated[
    str, Field(pattern=r"^ripv6_[A-Za-z0-9_-]{1,64}$", description="Pool ID from list_routed_ipv6 (pools[].id).")
]
VpsId = Annotated[
    str,
    Field(pattern=r"^vps_[A-Za-z0-9_-]{1,64}$", description="VPS ID from list_routed_ipv6 (destinations[].vpsId)."),
]
RouteId = Annotated[
    str,
    Field(pattern=r"^ripv6rt_[A-Za-z0-9_-]{1,64}$", description="Route ID from list_routed_ipv6 (pools[].routes[].id)."),
]
PrefixLength = Annotated[Literal[48, 56, 64], Field(description="Size of the routed subnet: 48, 56 or 64.")]
PrefixText = Annotated[
    str,
    Field(
        max_length=64,
        description="Exact subnet, e.g. 2001:db8:1000:100::/56; its length must equal prefixLength. "
        "Omit it to get the first free block.",
    ),
]


Label = Annotated[str, Field(min_length=1, max_length=200, description="Optional note kept with the route.")]


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NoInput(ToolInput):
    pass


def _checked_prefix(prefix: str | None, info: ValidationInfo) -> str | None:
    """Normalise a given prefix; errors carry a code of their own and land on pointer /prefix."""
    if prefix is None:
        return None
    try:
        network = parse_prefix(prefix)
        length = info.data.get("prefixLength")
        if length is not None and network.prefixlen != length:
            raise PrefixError(
                "prefix_length_mismatch",
                f"The prefix is a /{network.prefixlen} but prefixLength is {length}; make them agree.",
            )
    except PrefixError as err:
        raise PydanticCustomError(err.code, str(err)) from None
    return network.compressed


class CreateRouteInput(ToolInput):
    poolId: PoolId
    vpsId: VpsId
    prefixLength: PrefixLength
    prefix: PrefixText | None = None
    label: Label | None = None

    _prefix = field_validator("prefix")(_checked_prefix)


class PlanRouteInput(ToolInput):
    poolId: PoolId
    prefixLength: PrefixLength
    vpsId: VpsId | None = None
    prefix: PrefixText | None = None
    label: Label | None = Field(None, description="Not used: accepted so create_route's arguments can be passed as they are.")

    _prefix = field_validator("prefix")(_checked_prefix)


class DeleteRouteInput(ToolInput):
    routeId: RouteId


class ReleasePoolInput(ToolInput):
    poolId: PoolId


# ----- tool outputs ----------------------------------------------------------------------------


class StateResult(State):
    """The state after the call. `reconciled` is true when the answer was lost and the change
    was confirmed by reading the state again."""

    reconciled: bool | None = None


class ReleaseOutput(ReleaseResult):
    reconciled: bool | None = None


class PlanResult(BaseModel):
    """What create_route would do with these arguments, computed from one read of the state."""

    ok: bool = Field(description="True when create_route with these arguments is expected to succeed.")
    poolId: str
    prefixLength: int
    prefix: str | None = Field(None, description="The prefix create_route would route (given or first free).")
    vpsId: str | None = None
    parentCidr: str | None = None
    poolGate: Gate | None = Field(None, description="pools[].actions.canCreateRoute")
    vpsGate: Gate | None = Field(None, description="destinations[].actions.canReceiveRoute")
    freeBlocks: dict[str, int] = Field(description="Free blocks per length, keys '48', '56', '64'.")
    problems: list[Problem] = Field(description="Every reason create_route would fail; empty when ok.")


def _compact(node: Any) -> Any:
    """The same schema in fewer bytes: tools/list is read by clients, and often by the model, on
    every session. Drops titles (they repeat names), `additionalProperties: true` and `default:
    null` (both JSON Schema's defaults), and writes `anyOf [T, null]` as `type: [T, "null"]`."""
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs"):  # maps of names, not schemas
            out[key] = {name: _compact(schema) for name, schema in value.items()}
        elif key == "title" or (key == "additionalProperties" and value is True) or (key == "default" and value is None):
            continue
        else:
            out[key] = _compact(value)
    options = out.get("anyOf")
    if options and len(options) == 2 and options[1] == {"type": "null"} and isinstance(options[0].get("type"), str):
        out.pop("anyOf")
        out = {**options[0], **out, "type": [options[0]["type"], "null"]}
    return out


@cache
def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _compact(model.model_json_schema())


@cache
def outcome_schema(result: type[BaseModel]) -> dict[str, Any]:
    """An output schema that fits both the result and a problem, with the root typed `object`
    as the SDK and the Inspector require for error results."""

    class Outcome(RootModel[result | Problem]):  # type: ignore[valid-type]
        model_config = ConfigDict(json_schema_extra={"type": "object"})

    return _compact(Outcome.model_json_schema())
