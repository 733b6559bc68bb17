"""Wall-clock time for the failover handlers, with one seam for simulations.

The checkers compare a peer's ``observedAt`` with their own time (staleness)
and the lookup logs the age of the last decision it saw; the drill runs
rounds on a simulated clock, so both read time here. In Lambda this is
``time.time()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch (UTC)."""
    return _source()


def iso(seconds: float | None = None) -> str:
    """``seconds`` (default: now) as ISO 8601 UTC with milliseconds."""
    value = now() if seconds is None else seconds
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")


@contextmanager
def simulated(source: Callable[[], float]) -> Iterator[None]:
    """Use ``source`` instead of the wall clock (drill and tests only)."""
    global _source
    saved = _source
    _source = source
    try:
        yield
    finally:
        _source = saved
