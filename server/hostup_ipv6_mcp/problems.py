"""The one exception type every failure travels in, and the problems the server raises itself.

HostUp's problems are carried unchanged. The server's own use the same RFC 9457 shape, a `type`
under SERVER_TYPE_BASE and `"source": "hostup-ipv6-mcp"`, so an agent can tell who spoke.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hostup_ipv6_mcp.models import Problem

SERVER_TYPE_BASE = "urn:hostup-ipv6-mcp:problem:"
SOURCE = "hostup-ipv6-mcp"

# code -> (HTTP-like status, title); the README lists these.
SERVER_CODES: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "Invalid arguments"),
    "unknown_tool": (404, "Unknown tool"),
    "missing_api_key": (401, "No HostUp API key configured"),
    "read_only_mode": (403, "Server is in read-only mode"),
    "upstream_unreachable": (503, "HostUp could not be reached"),
    "upstream_timeout": (504, "HostUp did not answer in time"),
    "upstream_invalid_response": (502, "HostUp sent an answer that could not be understood"),
    "upstream_error": (502, "HostUp answered with an error that is not a problem document"),
    "state_unreadable": (502, "The change was made but the state could not be read"),
    "not_applied": (409, "The change was not applied"),
    "outcome_unknown": (409, "The outcome of the change is unknown"),
    # plan_route's predictions of why create_route would fail
    "not_found": (404, "No such pool or VPS"),
    "action_not_allowed": (409, "HostUp's gate does not allow this now"),
    "prefix_overlap": (409, "The prefix overlaps a routed one"),
    "pool_full": (409, "No free block of that length"),
    "internal_error": (500, "Internal error in hostup-ipv6-mcp"),
}


class ProblemError(Exception):
    """A failure described as a problem; `problem` is what the agent receives."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.code}")
        self.problem = problem


def server_problem(code: str, detail: str, **members: Any) -> ProblemError:
    """A problem raised by this server (not by HostUp), ready to raise."""
    status, title = SERVER_CODES[code]
    problem = Problem(
        type=SERVER_TYPE_BASE + code,
        title=title,
        status=status,
        detail=detail,
        code=code,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        source=SOURCE,
        **members,
    )
    return ProblemError(problem)
