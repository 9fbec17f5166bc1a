"""The retry policy's decisions, on scripted answers (the fault matrix covers them end to end)."""

from __future__ import annotations

from collections.abc import Iterable

import httpx2
import pytest

from hostup_ipv6_mcp.retry import RetryPolicy, retry_after_seconds, send_with_retries

pytestmark = pytest.mark.anyio
POLICY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002, budget=1.0)


def script(outcomes: Iterable[int | Exception], headers: dict[str, str] | None = None):
    """A `send` that answers each attempt with the next status or raises the next error."""
    pending = list(outcomes)
    sent: list[int | Exception] = []

    async def send() -> httpx2.Response:
        outcome = pending.pop(0)
        sent.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx2.Response(outcome, headers=headers or {})

    return send, sent


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_get_retries_transient_statuses(status: int) -> None:
    send, sent = script([status, status, 200], {"Retry-After": "0"})
    assert (await send_with_retries("GET", send, POLICY)).status_code == 200
    assert len(sent) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_writes_do_not_repeat_after_a_server_side_failure(status: int) -> None:
    send, sent = script([status, 201])
    assert (await send_with_retries("POST", send, POLICY)).status_code == status
    assert len(sent) == 1


async def test_writes_repeat_after_429_which_was_not_processed() -> None:
    send, sent = script([429, 201], {"Retry-After": "0"})
    assert (await send_with_retries("POST", send, POLICY)).status_code == 201
    assert len(sent) == 2


async def test_writes_repeat_when_the_connection_never_opened() -> None:
    send, sent = script([httpx2.ConnectError("refused"), 201])
    assert (await send_with_retries("DELETE", send, POLICY)).status_code == 201


@pytest.mark.parametrize("error", [httpx2.ReadTimeout("slow"), httpx2.RemoteProtocolError("dropped"), TimeoutError()])
async def test_writes_never_repeat_a_request_that_may_have_arrived(error: Exception) -> None:
    send, sent = script([error, 201])
    with pytest.raises(type(error)):
        await send_with_retries("POST", send, POLICY)
    assert len(sent) == 1


async def test_get_retries_lost_answers_then_gives_up() -> None:
    send, sent = script([httpx2.ReadTimeout("slow")] * 4)
    with pytest.raises(httpx2.ReadTimeout):
        await send_with_retries("GET", send, POLICY)
    assert len(sent) == 4


async def test_retry_after_beyond_the_budget_is_answered_not_slept() -> None:
    send, sent = script([429, 200], {"Retry-After": "120"})
    assert (await send_with_retries("GET", send, POLICY)).status_code == 429
    assert len(sent) == 1


def test_retry_after_forms() -> None:
    assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "7"})) == 7
    assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx2.Response(429)) is None


def test_garbled_retry_after_is_ignored_or_capped() -> None:
    assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "9" * 400})) == 86400
    assert retry_after_seconds(httpx2.Response(429, headers=[(b"Retry-After", "\u00b2".encode("latin-1"))])) is None
    assert retry_after_seconds(httpx2.Response(429, headers={"Retry-After": "Mon, 01 Jan 99999999999 00:00:00 GMT"})) is None
