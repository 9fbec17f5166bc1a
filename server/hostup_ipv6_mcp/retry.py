"""When to send a request again, in one place.

GET is safe to repeat: it is retried on network failures, 429 and 502/503/504. POST and DELETE
are repeated only when the request provably did not take effect: a 429 (HostUp documents that
a rate-limited request was not processed) or a connection that never opened. Anything else on a
write is left to reconciliation, so a lost answer never becomes a duplicate route.

A hand-written loop: the rules hinge on the HTTP method and the Retry-After header, which a
generic retry library would need as much code to express.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import anyio
import httpx2

SAFE_METHODS = {"GET"}
MAX_RETRY_AFTER = 86400.0  # a longer wait is a garbled header, not advice
RETRYABLE_READ_STATUSES = {429, 502, 503, 504}
# The connection never opened, so the request cannot have reached HostUp.
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    budget: float = 15.0  # seconds from the first send after which no new attempt starts

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many clients do not retry in step."""
        return min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.5, 1.0)


def retry_after_seconds(response: httpx2.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        return min(max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER)
    except (TypeError, ValueError, OverflowError):
        return None


def _retryable(method: str, response: httpx2.Response) -> bool:
    if response.status_code == 429:
        return True
    return method in SAFE_METHODS and response.status_code in RETRYABLE_READ_STATUSES


def _retryable_error(method: str, error: Exception) -> bool:
    return isinstance(error, NEVER_SENT) or (
        method in SAFE_METHODS and isinstance(error, httpx2.TransportError | TimeoutError)
    )


async def send_with_retries(
    method: str, send: Callable[[], Awaitable[httpx2.Response]], policy: RetryPolicy
) -> httpx2.Response:
    """Send until an answer that should not be retried, or until attempts or budget run out.

    Returns the last response (the caller turns an error status into a problem); raises the
    last transport error. A 429 whose Retry-After exceeds what is left of the budget is
    returned at once rather than slept on.
    """
    deadline = time.monotonic() + policy.budget
    for attempt in range(policy.max_attempts):
        last = attempt == policy.max_attempts - 1
        try:
            response = await send()
        except Exception as error:
            if last or not _retryable_error(method, error):
                raise
            wait = policy.backoff(attempt)
            if time.monotonic() + wait > deadline:
                raise
        else:
            if last or not _retryable(method, response):
                return response
            wait = retry_after_seconds(response) if response.status_code == 429 else None
            wait = policy.backoff(attempt) if wait is None else wait
            if time.monotonic() + wait > deadline:
                return response
        await anyio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
