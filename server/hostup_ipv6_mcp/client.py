"""HostUpClient: one async method per routed-IPv6 endpoint over a shared httpx2 connection pool.

Every failure leaves here as a ProblemError, except a write whose answer was lost, which leaves
as AnswerLost so the caller can find out from the state whether it took effect.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import anyio
import httpx2
from pydantic import BaseModel, ValidationError

from hostup_ipv6_mcp import __version__
from hostup_ipv6_mcp.models import CreateRouteInput, Problem, ReleaseResult, State
from hostup_ipv6_mcp.problems import ProblemError, server_problem
from hostup_ipv6_mcp.retry import NEVER_SENT, RetryPolicy, retry_after_seconds, send_with_retries

BASE_PATH = "/api/v2/routed-ipv6"
USER_AGENT = f"hostup-ipv6-mcp/{__version__} (+https://github.com/hostup-ipv6-mcp/hostup-ipv6-mcp)"
# A 5xx on a write says nothing about whether HostUp applied it, except 501 (never run); after
# a gateway timeout HostUp may even still be at it.
SETTLED_SERVER_ERRORS = {501}
STILL_RUNNING_STATUSES = {504, 524}
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # about 12,000 routes' worth of state
MAX_PROBLEM_BYTES = 64 * 1024  # a problem document is a few hundred bytes

ModelT = TypeVar("ModelT", bound=BaseModel)


class AnswerLost(Exception):
    """A write was sent but its answer never arrived: it may or may not have been applied."""

    def __init__(self, what: str, sent_at: float, *, in_flight: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.sent_at = sent_at  # time.time() when the request left
        # A timeout (ours or a gateway's) leaves HostUp possibly still working on the request, so
        # a state without the change does not prove it will not happen.
        self.in_flight = in_flight


def open_http(base_url: str, timeout: float, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The process-wide connection pool; open once in the server's lifespan."""
    return httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        # Connecting (and waiting for a pooled connection) must give up before the overall
        # deadline does, so a request that never left is told apart from a lost answer.
        timeout=httpx2.Timeout(timeout, connect=min(timeout / 2, 10.0), pool=min(timeout / 2, 10.0)),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        trust_env=False,
    )


class HostUpClient:
    """Calls HostUp with one API key. Cheap to create: all clients share the given pool."""

    def __init__(
        self, http: httpx2.AsyncClient, api_key: str, *, timeout: float, retry: RetryPolicy | None = None
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        # HostUp's clock minus ours, from the last answer's Date header: reconciliation compares
        # HostUp's allocatedAt with the moment a request left.
        self.clock_offset: float | None = None

    def quick(self) -> HostUpClient:
        """The same key with a short deadline and one retry, for the read that settles a lost write:
        the write already spent its time, and the agent's client will not wait forever."""
        return HostUpClient(
            self._http, self._api_key, timeout=min(self._timeout, 10.0), retry=RetryPolicy(max_attempts=2, budget=5.0)
        )

    async def get_state(self) -> State:
        return await self._call("GET", BASE_PATH, State)

    async def allocate_pool(self) -> State:
        return await self._call("POST", BASE_PATH, State, {"action": "allocate_pool"})

    async def create_route(self, args: CreateRouteInput) -> State:
        # Fields the agent left out are not sent at all, so HostUp applies its own defaults.
        body = {"action": "create_route", **args.model_dump(exclude_none=True)}
        return await self._call("POST", BASE_PATH, State, body)

    async def delete_route(self, route_id: str) -> State | None:
        """The answer's body is undocumented: the State when it is one, else None (e.g. 204)."""
        return await self._call("DELETE", f"{BASE_PATH}/routes/{route_id}", State, body_optional=True)

    async def release_pool(self, pool_id: str) -> ReleaseResult:
        return await self._call("DELETE", f"{BASE_PATH}/{pool_id}", ReleaseResult)

    async def _call(
        self,
        method: str,
        path: str,
        model: type[ModelT],
        body: dict[str, Any] | None = None,
        *,
        body_optional: bool = False,
    ) -> Any:
        sent_at = time.time()
        response = await self._request(method, path, body, sent_at)
        self.clock_offset = _clock_offset(response)
        if body_optional and (response.status_code == 204 or not response.content.strip()):
            return None
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            if body_optional and _is_json(response.content):
                return None  # an undocumented JSON body; a web page says nothing, so the state decides
            if method != "GET":
                # HostUp accepted the write; the state, not this body, tells what it did.
                raise AnswerLost(f"an unreadable HTTP {response.status_code} answer", sent_at) from None
            first = "/".join(map(str, error.errors()[0]["loc"]))
            raise server_problem(
                "upstream_invalid_response",
                f"HostUp answered HTTP {response.status_code} with a body that is not a valid {model.__name__} "
                f"({error.error_count()} errors, first at /{first}). Retry shortly; if it persists, "
                "HostUp's API may have changed.",
            ) from None

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None, sent_at: float
    ) -> httpx2.Response:
        async def send() -> httpx2.Response:
            # A total deadline per attempt: httpx2's timeouts are per phase, and an in-process
            # transport has none at all.
            with anyio.fail_after(self._timeout):
                return await self._http.request(method, path, json=body, headers=self._auth)

        try:
            response = await send_with_retries(method, send, self._retry)
        except NEVER_SENT as error:
            raise server_problem(
                "upstream_unreachable",
                f"Could not connect to HostUp ({type(error).__name__}); nothing was sent. "
                "Check HOSTUP_API_URL and the network, then retry.",
            ) from None
        except (httpx2.RequestError, TimeoutError) as error:
            timed_out = isinstance(error, TimeoutError | httpx2.TimeoutException)
            if timed_out:
                what, code = "no answer came in time", "upstream_timeout"
            elif isinstance(error, httpx2.TransportError):
                what, code = f"the connection failed ({type(error).__name__})", "upstream_unreachable"
            else:  # e.g. a body that cannot be decoded
                what, code = f"the answer could not be read ({type(error).__name__})", "upstream_invalid_response"
            if method != "GET":
                raise AnswerLost(what, sent_at, in_flight=timed_out) from None
            raise server_problem(code, f"Reading the state from HostUp failed: {what}. Retry shortly.") from None
        if response.is_success:
            if len(response.content) > MAX_ANSWER_BYTES:
                # Passed on, it would flood the agent's context: 4 MiB is about a million tokens.
                what = f"an HTTP {response.status_code} answer of {len(response.content)} bytes"
                if method != "GET":
                    raise AnswerLost(what, sent_at)
                raise server_problem(
                    "upstream_invalid_response",
                    f"HostUp sent {what}, more than the {MAX_ANSWER_BYTES} this server reads. Retry shortly; "
                    "if it persists, HostUp's API may have changed.",
                )
            return response
        status = response.status_code
        if method != "GET" and status >= 500 and status not in SETTLED_SERVER_ERRORS:
            what = f"HTTP {status} from HostUp or a proxy before it"
            raise AnswerLost(what, sent_at, in_flight=status in STILL_RUNNING_STATUSES)
        raise ProblemError(problem_from_response(response))


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except (ValueError, RecursionError):  # deep nesting is garbage too
        return False
    return True


def _clock_offset(response: httpx2.Response) -> float | None:
    try:
        return parsedate_to_datetime(response.headers["date"]).timestamp() - time.time()
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def problem_from_response(response: httpx2.Response) -> Problem:
    """HostUp's problem as sent; a body that is not one becomes a server problem with the status."""
    status = response.status_code
    try:  # an oversized body is no problem document either: passed on, it would flood the agent
        data = json.loads(response.content) if len(response.content) <= MAX_PROBLEM_BYTES else None
    except (ValueError, RecursionError):  # deep nesting is garbage too
        data = None
    if isinstance(data, dict) and ("code" in data or "title" in data):
        data.setdefault("status", status)
        data.setdefault("code", f"http_{status}")
        try:
            problem = Problem.model_validate(data)
        except ValidationError:
            problem = None
        if problem is not None:
            if status == 429 and (wait := retry_after_seconds(response)) is not None:
                # Header facts carried in the body, since the agent never sees headers.
                problem.retryAfter = int(wait + 0.999)  # type: ignore[attr-defined]
            return problem
    kind = response.headers.get("content-type", "unknown").split(";")[0]
    return server_problem(
        "upstream_error",
        f"HostUp (or a proxy in front of it) answered HTTP {status} with a {kind} body instead of a problem. "
        + ("Retry shortly." if status >= 500 else "Check the arguments and the API key."),
        upstreamStatus=status,
    ).problem

