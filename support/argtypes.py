"""argparse ``type`` functions with ranges, shared by the drill and bench/.

Every number a command line accepts has a range that says what makes sense
(what the stack can deploy, what a model is defined for), so bad input is a
usage error naming the option (argparse exits 2), never a traceback, a NaN or
a negative rate further down.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer_in(low: int, high: int) -> Callable[[str], int]:
    """An integer from ``low`` to ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, got {value:,}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse


def number_in(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """A finite number in the interval from ``low`` to ``high``; ``low_open`` /
    ``high_open`` exclude that end (e.g. a probability in (0, 1))."""
    left, right = ("(" if low_open else "["), (")" if high_open else "]")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(
                f"must be in {left}{low:g}, {high:g}{right}, got {text}"
            )
        return value

    parse.__name__ = "number"
    return parse
