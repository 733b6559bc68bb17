"""Invariants of the two-region cell router, as pure checks over table items.

The "router home region lost" scenario ends by reading every item of both
regions' tables (after replication has drained) and the sign-ups clients saw
acknowledged, and hands them here. Each check returns the violations it
found as sentences (empty = holds), so a failing drill says what broke.

Items are plain Python values (boto3's TypeDeserializer output) in the
router table's layout (``handlers/cell_router/store.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from handlers.cell_router.model import USER_PREFIX
from handlers.cell_router.placement import assignable_limit


@dataclass(frozen=True)
class Acknowledged:
    """A sign-up a client saw succeed: this user key was placed in this cell."""

    user_key: str
    market_id: str
    cell_id: str


def _cells(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        (str(i["marketId"]), str(i["cellId"])): i
        for i in items
        if "#" not in str(i["marketId"]) and "maxCapacity" in i
    }


def _mappings(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {
        str(i["marketId"]).removeprefix(USER_PREFIX): i
        for i in items
        if str(i["marketId"]).startswith(USER_PREFIX)
    }


def check_converged(copies: Mapping[str, list[Mapping[str, Any]]]) -> list[str]:
    """Both regions' copies hold the same items (replication drained)."""
    regions = sorted(copies)
    violations = []
    base = {_key(i): i for i in copies[regions[0]]}
    for region in regions[1:]:
        other = {_key(i): i for i in copies[region]}
        for key in sorted(set(base) | set(other)):
            if base.get(key) != other.get(key):
                violations.append(
                    f"item {key} differs between {regions[0]} and {region} after replication"
                )
    return violations


def check_placement(
    items: list[Mapping[str, Any]],
    acknowledged: Iterable[Acknowledged],
    *,
    capacity_buffer: Decimal,
) -> list[str]:
    """placed == Σ currentCapacity == mapping items; every cell's count equals
    the mappings pointing at it (no lost increment); no cell over its
    assignable limit; every acknowledged user mapped exactly where told."""
    violations = []
    cells = _cells(items)
    mappings = _mappings(items)
    acked = list(acknowledged)
    users = Counter(a.user_key for a in acked)
    for user, times in users.items():
        if times > 1:
            cells_told = sorted({(a.market_id, a.cell_id) for a in acked if a.user_key == user})
            if len(cells_told) > 1:
                violations.append(f"user {user} was told two cells: {cells_told}")
    total = sum(int(c.get("currentCapacity", 0)) for c in cells.values())
    if not (len(users) == total == len(mappings)):
        violations.append(
            f"placed {len(users)} users, Σ currentCapacity {total}, "
            f"{len(mappings)} mapping items: they must be equal"
        )
    per_cell = Counter(
        (str(m["assignedMarketId"]), str(m["assignedCellId"])) for m in mappings.values()
    )
    for key, cell in sorted(cells.items()):
        count = int(cell.get("currentCapacity", 0))
        if count != per_cell.get(key, 0):
            violations.append(
                f"cell {key[0]}/{key[1]} counts {count} users but {per_cell.get(key, 0)} "
                "mappings point at it (lost or phantom increment)"
            )
        limit = assignable_limit(int(cell["maxCapacity"]), capacity_buffer)
        if count > limit:
            violations.append(
                f"cell {key[0]}/{key[1]} holds {count} users, over its assignable limit {limit}"
            )
    for key in sorted(set(per_cell) - set(cells)):
        violations.append(f"{per_cell[key]} mappings point at missing cell {key[0]}/{key[1]}")
    for ack in acked:
        mapping = mappings.get(ack.user_key)
        if mapping is None:
            violations.append(f"acknowledged user {ack.user_key} has no mapping (lost sign-up)")
        elif (str(mapping["assignedMarketId"]), str(mapping["assignedCellId"])) != (
            ack.market_id,
            ack.cell_id,
        ):
            violations.append(
                f"user {ack.user_key} was told {ack.market_id}/{ack.cell_id} but is mapped to "
                f"{mapping['assignedMarketId']}/{mapping['assignedCellId']}"
            )
    return violations


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item["marketId"]), str(item["cellId"]))
