"""The two-region router's end-of-drill invariants: each check finds the
fault it exists for (a lost increment from two writers, an over-full cell,
a user in two cells, a lost sign-up, diverged replicas) and passes a
consistent table."""

from __future__ import annotations

from decimal import Decimal

from drill.router_invariants import Acknowledged, check_converged, check_placement

BUFFER = Decimal("0.2")


def cell(cell_id: str, count: int, maximum: int = 10) -> dict:
    return {
        "marketId": "europe",
        "cellId": cell_id,
        "currentCapacity": count,
        "maxCapacity": maximum,
    }


def mapping(user: str, cell_id: str) -> dict:
    return {
        "marketId": f"USER#{user}",
        "cellId": "MAPPING",
        "assignedMarketId": "europe",
        "assignedCellId": cell_id,
    }


def consistent() -> tuple[list[dict], list[Acknowledged]]:
    items = [
        cell("c1", 2),
        cell("c2", 1),
        mapping("u1", "c1"),
        mapping("u2", "c1"),
        mapping("u3", "c2"),
    ]
    acked = [
        Acknowledged("u1", "europe", "c1"),
        Acknowledged("u2", "europe", "c1"),
        Acknowledged("u3", "europe", "c2"),
        Acknowledged("u1", "europe", "c1"),
    ]
    return items, acked


def test_consistent_table_passes() -> None:
    items, acked = consistent()
    assert check_placement(items, acked, capacity_buffer=BUFFER) == []
    assert check_converged({"us-east-1": items, "us-west-2": list(reversed(items))}) == []


def test_two_writers_lost_increment_is_found() -> None:
    """East and West each counted 1 -> 2 on c1 for different users; LWW kept 2
    although three users map to c1."""
    items, acked = consistent()
    items.append(mapping("u4", "c1"))
    acked.append(Acknowledged("u4", "europe", "c1"))
    violations = check_placement(items, acked, capacity_buffer=BUFFER)
    assert any("lost or phantom increment" in v for v in violations)
    assert any("must be equal" in v for v in violations)


def test_over_limit_user_in_two_cells_lost_sign_up_and_divergence() -> None:
    items = [cell("c1", 9), *[mapping(f"u{i}", "c1") for i in range(9)]]
    acked = [Acknowledged(f"u{i}", "europe", "c1") for i in range(9)]
    assert any(
        "over its assignable limit 8" in v
        for v in check_placement(items, acked, capacity_buffer=BUFFER)
    )
    items, acked = consistent()
    acked.append(Acknowledged("u1", "europe", "c2"))
    assert any("told two cells" in v for v in check_placement(items, acked, capacity_buffer=BUFFER))
    items, acked = consistent()
    acked.append(Acknowledged("u9", "europe", "c2"))
    assert any("lost sign-up" in v for v in check_placement(items, acked, capacity_buffer=BUFFER))
    other = [dict(i) for i in items]
    other[0]["currentCapacity"] = 3
    assert check_converged({"us-east-1": items, "us-west-2": other}) == [
        "item ('europe', 'c1') differs between us-east-1 and us-west-2 after replication"
    ]
