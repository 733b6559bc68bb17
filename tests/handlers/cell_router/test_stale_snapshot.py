"""A stale capacity-index snapshot must never hide the scale-out point.

The index the dispatcher reads is eventually consistent, and concurrent
sign-ups land between its read and its transaction. Here a concurrent writer
raises the cell's load after the dispatcher's Query and before its
TransactWriteItems (a botocore ``before-call`` hook on the dispatcher's own
client: the interleaving real DynamoDB allows, with no change to our code).
The sign-up that really brings the cell to 70 % must report it, so the
scaler requests a cell; before the transaction carried the threshold, it
reported the stale load + 1 and the request was never sent.
"""

from __future__ import annotations

from handlers.cell_router import aws_clients, dispatcher, scaler
from tests.handlers.cell_router.support import TABLE, request


def _sneak_in_writers(router, cell_id: str, to_load: int):
    """Before the dispatcher's first transaction, set the cell's load."""
    done = []

    def before_transaction(**_kwargs):
        if not done:
            done.append(True)
            router.ddb.update_item(
                TableName=TABLE,
                Key={"marketId": {"S": "europe"}, "cellId": {"S": cell_id}},
                UpdateExpression="SET currentCapacity = :n",
                ExpressionAttributeValues={":n": {"N": str(to_load)}},
            )

    client = aws_clients.dynamodb()
    client.meta.events.register("before-call.dynamodb.TransactWriteItems", before_transaction)
    return done


def test_concurrent_load_between_read_and_write_still_triggers_scale_out(router, lambda_context):
    router.put_cell("c1", current=30, maximum=50)  # snapshot: 30, well below 35
    fired = _sneak_in_writers(router, "c1", to_load=34)  # really: 34, so we make 35

    result = dispatcher.handler(request("late"), lambda_context)

    assert fired, "the concurrent writer did not run"
    assert result["newAssignment"] is True
    assert router.load("c1") == 35
    assert result["cellLoad"] == {"currentCapacity": 35, "maxCapacity": 50}
    assert scaler.handler(result, lambda_context) == {"provisioningRequested": True}
    assert len(router.messages()) == 1


def test_no_correction_needed_costs_one_transaction(router, lambda_context):
    router.put_cell("c1", current=10, maximum=50)
    calls = []
    client = aws_clients.dynamodb()
    client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", lambda **_: calls.append(1)
    )

    result = dispatcher.handler(request("early"), lambda_context)

    assert result["cellLoad"] == {"currentCapacity": 11, "maxCapacity": 50}
    assert len(calls) == 1
    assert scaler.handler(result, lambda_context) == {"provisioningRequested": False}


def test_a_cell_filled_meanwhile_is_skipped_not_miscounted(router, lambda_context):
    # c1 is clearly the least loaded, so it is tried first (no tie shuffle).
    router.put_cell("c1", current=30, maximum=50)
    router.put_cell("c2", current=39, maximum=50)
    # Between read and write c1 fills to its assignable limit (40 of 50):
    # the user goes to c2 and c1 stays at 40.
    _sneak_in_writers(router, "c1", to_load=40)

    result = dispatcher.handler(request("both"), lambda_context)

    assert result["cellId"] == "c2"
    assert router.load("c1") == 40
    assert router.load("c2") == 40
    assert len(router.mappings()) == 1
