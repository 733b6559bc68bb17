"""The dispatcher behind the one-writer-per-market gate (issue #13), on moto.

The table plays one region's replica; writer items that "arrive" from the
other region are put directly. Every refusal writes nothing."""

from __future__ import annotations

import time

import pytest

from handlers.cell_router import dispatcher, writer, writer_gate, writer_store
from handlers.cell_router.errors import ServiceUnavailable, WrongRegion
from handlers.cell_router.writer import WriterRecord
from tests.handlers.cell_router.support import TABLE, request

EAST, WEST = "us-east-1", "us-west-2"
URLS = (
    '{"us-east-1": "https://east.example.com/prod", "us-west-2": "https://west.example.com/prod"}'
)


@pytest.fixture(autouse=True)
def _two_regions(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTER_PEER_REGION", WEST)
    monkeypatch.setenv("ROUTER_REGION", EAST)
    monkeypatch.setenv("ROUTER_PRIMARY_REGION", EAST)
    monkeypatch.setenv("ROUTER_URLS", URLS)
    writer_gate.forget()
    yield
    writer_gate.forget()


def as_region(monkeypatch: pytest.MonkeyPatch, local: str) -> None:
    monkeypatch.setenv("ROUTER_REGION", local)
    monkeypatch.setenv("ROUTER_PEER_REGION", WEST if local == EAST else EAST)


def beat_from(router, region: str, epoch: int = 0) -> None:
    now = time.time()
    item = writer.heartbeat_item(region, now, {"europe": (epoch, now)} if epoch else {})
    writer_store.write_heartbeat(router.ddb, TABLE, item)


def test_non_writer_region_sends_sign_ups_to_the_writer(router, lambda_context, monkeypatch):
    as_region(monkeypatch, WEST)
    router.put_cell("c1")
    beat_from(router, EAST)
    before = router.snapshot()
    with pytest.raises(WrongRegion) as raised:
        dispatcher.handler(request(), lambda_context)
    assert raised.value.region == EAST
    assert raised.value.router_url == "https://east.example.com/prod"
    assert "us-east-1" in str(raised.value) and "https://east.example.com/prod" in str(raised.value)
    assert router.snapshot() == before


def test_known_user_is_answered_in_the_non_writer_region(router, lambda_context, monkeypatch):
    router.put_cell("c1")
    beat_from(router, WEST)
    placed = dispatcher.handler(request(), lambda_context)
    as_region(monkeypatch, WEST)
    writer_gate.forget()
    again = dispatcher.handler(request(), lambda_context)
    assert (again["cellId"], again["newAssignment"]) == (placed["cellId"], False)


def test_writer_places_while_the_peer_beats(router, lambda_context):
    router.put_cell("c1")
    beat_from(router, WEST)
    result = dispatcher.handler(request(), lambda_context)
    assert result["newAssignment"] is True and router.load("c1") == 1


def test_partition_refuses_sign_ups_with_a_retry_hint(router, lambda_context):
    router.put_cell("c1")  # no heartbeat from WEST ever arrived
    before = router.snapshot()
    with pytest.raises(ServiceUnavailable, match="partitioned") as raised:
        dispatcher.handler(request(), lambda_context)
    assert raised.value.retry_after_seconds >= 1
    assert router.snapshot() == before


def test_stale_cached_decision_never_places(router, lambda_context, monkeypatch):
    """EAST cached "I write, epoch 0"; a promotion of WEST then replicates in.
    The next sign-up's transaction fails its writer check: nothing written,
    and the client is sent to WEST."""
    # The cached decision must outlive the test: with the default 5 s, a slow
    # machine would re-read the gate instead, and WrongRegion would come from
    # the gate without the transaction's writer check ever being tried.
    monkeypatch.setenv("WRITER_CHECK_CACHE_SECONDS", "3600")
    router.put_cell("c1")
    beat_from(router, WEST)
    dispatcher.handler(request("first"), lambda_context)
    promoted = WriterRecord("europe", WEST, 1, time.time(), previous_region=EAST)
    writer_store.put_record(router.ddb, TABLE, promoted, None)
    before = [i for i in router.items() if not i["marketId"]["S"].startswith("WRITER")]
    with pytest.raises(WrongRegion) as raised:
        dispatcher.handler(request("second"), lambda_context)
    assert raised.value.region == WEST
    assert router.load("c1") == 1
    assert [i for i in router.items() if not i["marketId"]["S"].startswith("WRITER")] == before
