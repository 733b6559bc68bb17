"""The cell-router scenario through its Python API, at small sizes."""

from __future__ import annotations

import io

from drill import cells
from drill.report import Report
from drill.session import DrillSession

SMALL = dict(users=24, cells=2, capacity=10, threads=8, api_users=3)


def run(
    stack, fault: str | None = None, faults: str | None = None
) -> tuple[cells.CellsResult, str]:
    out = io.StringIO()
    with DrillSession.open(stack, report=Report(out)) as session:
        result = cells.run(session, fault=fault, faults=faults, **SMALL)
    return result, out.getvalue()


def test_the_burst_under_aws_faults_keeps_every_invariant(dev_stack) -> None:
    """#11: conflicts, throttling and a queue that never answers during the
    burst; the checks hold, and the sweeper sends the lost request."""
    result, text = run(
        dev_stack,
        faults=(
            "dynamodb:TransactWriteItems=cancel:TransactionConflict@0.3,"
            "dynamodb=ThrottlingException@0.1,sqs:SendMessage=timeout@1"
        ),
    )
    assert result.ok, [c.line() for c in result.failed]
    assert result.faults_injected > 0
    assert (result.placed_direct, result.refused_direct) == (16, 8)
    assert result.sweep["resent"] == 1
    assert len(result.messages) == 1
    assert "AWS faults during the burst" in text


def test_small_burst_fills_to_the_limit_then_a_new_cell_takes_the_api_batch(dev_stack) -> None:
    result, text = run(dev_stack)

    assert result.ok, [c.line() for c in result.failed]
    assert result.assignable_limit == 8  # floor(10 x 0.8)
    assert result.scale_out_at == 7  # ceil(10 x 0.7)
    assert (result.placed_direct, result.refused_direct) == (16, 8)
    after_burst = {c.cell_id: c.users for c in result.occupancy_after_burst if c.market == "europe"}
    assert after_burst == {"europe-1": 8, "europe-2": 8, "europe-impaired": 0}
    assert len(result.messages) == 1
    assert result.messages[0]["type"] == "CellRequested"
    assert result.registrar_answer == {
        "marketId": "europe",
        "cellId": "europe-3",
        "created": True,
        "episodeClosed": True,
    }
    final = {c.cell_id: c.users for c in result.occupancy_final}
    assert final == {"asia-1": 0, "europe-1": 8, "europe-2": 8, "europe-3": 3, "europe-impaired": 0}
    assert result.placed_total == 19
    statuses = [(c.path, c.status) for c in result.api_calls]
    assert statuses == [
        ("/cells", 200),
        ("/cells", 200),
        ("/cells", 200),
        ("/cells", 200),
        ("/mapper", 200),
        ("/validate", 200),
        ("/validate", 200),
        ("/mapper", 404),
        ("/cellz", 400),
        ("/cells", 400),
    ]
    validations = [c.body for c in result.api_calls if c.path == "/validate"]
    assert [(v["valid"], v["healthy"]) for v in validations] == [(True, True), (False, True)]
    assert validations[1]["remediation"]["action"] == "refresh"
    for needle in ("Occupancy:", "Provisioning queue: 1 message(s).", "-> 404", "-> 400"):
        assert needle in text


def test_double_count_fault_is_caught(dev_stack) -> None:
    result, text = run(dev_stack, fault=cells.FAULT_DOUBLE_COUNT)

    assert not result.ok
    failed = {c.name for c in result.failed}
    assert "placed == sum(currentCapacity) == mapping items" in failed
    assert "every cell counts exactly the users mapped to it" in failed
    assert "SELF-TEST" in text


def test_skip_transaction_fault_is_caught(dev_stack) -> None:
    result, _ = run(dev_stack, fault=cells.FAULT_SKIP_TRANSACTION)

    failed = {c.name for c in result.failed}
    assert "placed == sum(currentCapacity) == mapping items" in failed
    assert "no cell above its assignable limit" in failed
