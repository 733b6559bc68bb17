"""Time budgets and retries: every AWS call fits in the time the function has left.

A function's deadline comes from its Lambda context
(``get_remaining_time_in_millis``), less :data:`RESERVE_SECONDS` for
answering. Each AWS call is made with a client whose connect and read
timeouts fit in what is left at that moment (:func:`call_timeouts`; the SDK
itself never retries, ``aws_clients``), and :func:`retrying` repeats a call
that AWS throttled, conflicted or failed transiently, with full-jitter
exponential backoff, for as long as another attempt still fits. When none
does, the caller gets ``ServiceUnavailable`` with a retry hint -- never a
500, and never a ``NoCapacity`` that is not true.

The clock is :data:`CLOCK` (monotonic time and ``time.sleep``); tests and the
drill may replace it with a simulated one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from handlers.cell_router.errors import ServiceUnavailable

T = TypeVar("T")

#: Kept back from the Lambda deadline for shaping the answer and flushing
#: metrics and logs.
RESERVE_SECONDS = 0.25
#: Used when the context cannot tell (a local call without a Lambda context).
DEFAULT_BUDGET_SECONDS = 5.0
#: (connect, read) timeouts of one attempt, longest first; an attempt uses the
#: first pair whose sum fits in the time left. DynamoDB and SQS answer in
#: milliseconds, so even the shortest pair is generous for a healthy call;
#: the longest only serves functions with a long budget (the sweeper's 30 s).
ATTEMPT_TIMEOUTS: tuple[tuple[float, float], ...] = (
    (2.0, 10.0),
    (1.0, 3.0),
    (0.5, 1.5),
    (0.25, 0.75),
    (0.1, 0.4),
    (0.05, 0.2),
)
#: Full-jitter backoff: attempt n waits uniform(0, min(cap, base x 2**n)).
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
#: What ``ServiceUnavailable`` tells the caller to wait before retrying.
RETRY_AFTER_SECONDS = 1

#: Error codes that mean "AWS is pacing us": retry after a backoff.
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "KMS.ThrottlingException",
    }
)
#: Codes of a request that lost a race or hit a transient fault: retry too.
TRANSIENT_CODES = frozenset(
    {
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
#: Cancellation reasons of a DynamoDB transaction that was not applied for a
#: reason other than its conditions: the same transaction may succeed later.
RETRYABLE_CANCELLATION_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_TRANSPORT_ERRORS = (
    ReadTimeoutError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
)


@dataclass
class Clock:
    """Monotonic seconds and a sleep; replaceable as a whole (``CLOCK``)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


#: The clock every deadline and backoff uses.
CLOCK = Clock()

_rng = random.SystemRandom()


class Deadline:
    """The moment by which the function must have answered."""

    def __init__(self, seconds: float, clock: Clock | None = None) -> None:
        self.clock = clock or CLOCK
        self.budget = max(0.0, float(seconds))
        self._end = self.clock.now() + self.budget

    @classmethod
    def from_context(cls, context: Any, reserve: float = RESERVE_SECONDS) -> Deadline:
        """The invocation's deadline: remaining time from the Lambda context
        less ``reserve`` seconds (``DEFAULT_BUDGET_SECONDS`` without one)."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000.0 if callable(remaining) else DEFAULT_BUDGET_SECONDS
        return cls(seconds - reserve)

    def remaining(self) -> float:
        return max(0.0, self._end - self.clock.now())


def call_timeouts(seconds_left: float) -> tuple[float, float] | None:
    """(connect, read) timeouts of an attempt that must end within
    ``seconds_left``; ``None`` when not even the shortest attempt fits."""
    for connect, read in ATTEMPT_TIMEOUTS:
        if connect + read <= seconds_left:
            return connect, read
    return None


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def cancellation_reasons(error: BaseException) -> list[str]:
    if not isinstance(error, ClientError):
        return []
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def is_retryable(error: BaseException) -> bool:
    """True when the same request may succeed if sent again a little later:
    throttling, a lost transaction race, a transient server or network fault.
    A failed condition, a validation error or a missing resource is not."""
    if isinstance(error, _TRANSPORT_ERRORS):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    if code in THROTTLE_CODES or code in TRANSIENT_CODES:
        return True
    if code == "TransactionCanceledException":
        reasons = {r for r in cancellation_reasons(error) if r != "None"}
        return bool(reasons) and reasons <= RETRYABLE_CANCELLATION_REASONS
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(status, int) and status >= 500


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter wait before retry number ``attempt`` (0-based)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempt))
    return (rng or _rng).uniform(0.0, ceiling)


def unavailable(what: str, cause: BaseException | None = None) -> ServiceUnavailable:
    """The error a caller gets when AWS kept failing until the deadline."""
    reason = f" ({error_code(cause) or type(cause).__name__})" if cause is not None else ""
    return ServiceUnavailable(
        f"{what} is temporarily unavailable{reason}; retry in {RETRY_AFTER_SECONDS} s",
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )


def retrying(
    call: Callable[[float], T],
    deadline: Deadline,
    *,
    what: str,
    on_retry: Callable[[BaseException], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run ``call(seconds_left)`` until it returns, retrying retryable errors
    with backoff while another attempt fits before ``deadline``.

    Raises the call's own error when it is not retryable, and
    ``ServiceUnavailable`` (retry hint included) when the deadline leaves no
    room for another attempt.
    """
    attempt = 0
    while True:
        left = deadline.remaining()
        if call_timeouts(left) is None:
            raise unavailable(what)
        try:
            return call(left)
        except (ClientError, BotoCoreError) as error:
            if not is_retryable(error):
                raise
            wait = backoff_seconds(attempt, rng)
            after = deadline.remaining() - wait
            if call_timeouts(after) is None:
                raise unavailable(what, error) from error
            if on_retry is not None:
                on_retry(error)
            deadline.clock.sleep(wait)
            attempt += 1
