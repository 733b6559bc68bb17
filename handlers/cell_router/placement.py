"""Cell choice and scale-out maths (pure: no boto3, no clock, injectable RNG).

Capacity maths uses ``Decimal`` on the decimal text of the settings so that,
for example, 50 x (1 - 0.2) is exactly 40 and never 39.999...
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from decimal import Decimal

from handlers.cell_router.model import Cell

#: How many of the least-loaded cells share the first pick. Concurrent sign-ups
#: read the same index snapshot; if all of them chose the single least-loaded
#: cell, DynamoDB would cancel all but one transaction on that item
#: (TransactionConflict) and each loser would pay another round trip.
DEFAULT_SPREAD = 3


def _decimal(value: float | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def assignable_limit(max_capacity: int, buffer: float | Decimal) -> int:
    """Users a cell may be given: floor(maxCapacity x (1 - buffer))."""
    if max_capacity <= 0:
        return 0
    return max(0, math.floor(Decimal(max_capacity) * (1 - _decimal(buffer))))


def is_placeable(cell: Cell, buffer: float | Decimal) -> bool:
    return (
        cell.healthy
        and cell.active
        and cell.current_capacity < assignable_limit(cell.max_capacity, buffer)
    )


def tie_band(limit: int) -> int:
    """Loads within this many users of the least-loaded cell count as a tie:
    5 % of the assignable limit, at least one user."""
    return max(1, limit // 20)


def order_candidates(
    cells: Iterable[Cell],
    buffer: float | Decimal,
    rng: random.Random | None = None,
    spread: int = DEFAULT_SPREAD,
) -> list[Cell]:
    """Placeable cells in the order to try them.

    Least-loaded first. The head — up to ``spread`` cells whose load is within
    ``tie_band`` of the minimum — is shuffled, so concurrent sign-ups spread
    over near-equal cells instead of all contending for one item; a clearly
    emptier cell (say, a freshly provisioned one) is still always tried first.
    """
    rng = rng or random.Random()
    placeable = sorted(
        (cell for cell in cells if is_placeable(cell, buffer)),
        key=lambda cell: (cell.current_capacity, cell.cell_id),
    )
    if not placeable:
        return []
    least = placeable[0]
    band = tie_band(assignable_limit(least.max_capacity, buffer))
    head = [
        cell
        for cell in placeable[: max(1, spread)]
        if cell.current_capacity <= least.current_capacity + band
    ]
    rng.shuffle(head)
    return head + placeable[len(head) :]


def scale_out_count(max_capacity: int, threshold: float | Decimal) -> int:
    """The smallest load at which ``scale_out_due`` holds: ceil(threshold x max)."""
    return max(0, math.ceil(_decimal(threshold) * Decimal(max_capacity)))


def scale_out_due(current_capacity: int, max_capacity: int, threshold: float | Decimal) -> bool:
    """A new cell is requested once a cell holds threshold x maxCapacity users."""
    return max_capacity > 0 and current_capacity >= scale_out_count(max_capacity, threshold)
