"""Issue #11, case by case: the router under AWS's real failure modes.

Each test is one demonstration from the issue, on moto with the
botocore-level fault injector (``support.faults``) and, where time matters, a
simulated clock: it failed on 3f97398 and passes now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from handlers.cell_router import (
    aws_clients,
    budget,
    dispatcher,
    scaleout,
    scaler,
    sweeper,
)
from handlers.cell_router.errors import (
    NoCapacity,
    ProvisioningUnavailable,
    ServiceUnavailable,
    UnknownMarket,
)
from support.faults import FaultInjector
from support.sfn import FakeLambdaContext
from tests.handlers.cell_router.support import TABLE, Router, SimulatedClock, request

NOW = 2_000_000_000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedClock]:
    """Simulated time for deadlines and backoff, and a fixed wall clock."""
    simulated = SimulatedClock()
    monkeypatch.setattr(budget, "CLOCK", simulated)
    wall = [NOW]
    monkeypatch.setattr(scaleout, "wall_clock", lambda: wall[0] + simulated.now())
    yield simulated


def _faults(spec: str, clock: SimulatedClock | None = None) -> FaultInjector:
    injector = FaultInjector(spec, seed=3, sleep=clock.sleep if clock else (lambda _: None))
    aws_clients.reset()
    return injector


def _context(seconds: float) -> FakeLambdaContext:
    return FakeLambdaContext(timeout_seconds=seconds)


def _episode(router: Router, **attributes: Any) -> None:
    item = {
        "marketId": {"S": "SCALE#europe"},
        "cellId": {"S": "SCALE_OUT"},
        "status": {"S": "OPEN"},
    }
    for name, value in attributes.items():
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": value}
    router.ddb.put_item(TableName=TABLE, Item=item)


# --------------------------------------------------------------------------- #
# 1. time budgets
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seconds_left", [0.3, 0.5, 1.0, 2.0, 2.75, 4.75, 30.0])
def test_every_client_attempt_fits_in_the_time_left(seconds_left: float) -> None:
    for make in (aws_clients.dynamodb, aws_clients.sqs):
        config = make(seconds_left).meta.config
        assert config.connect_timeout + config.read_timeout <= seconds_left
        # One attempt per call: retries are budget.retrying's, deadline-aware.
        assert config.retries["total_max_attempts"] == 1
    aws_clients.reset()


def test_a_hung_queue_costs_the_scaler_no_more_than_its_timeout(
    router: Router, clock: SimulatedClock
) -> None:
    """Was: 3 x (2 s + 5 s) of SQS time inside a 3 s Scaler."""
    router.put_cell("c1", current=35)
    injector = _faults("sqs:SendMessage=timeout", clock)
    placed = {
        "cellId": "c1",
        "marketId": "europe",
        "endpoints": [],
        "ttlSeconds": 300,
        "newAssignment": True,
        "cellLoad": {"currentCapacity": 35, "maxCapacity": 50},
    }
    with injector.active(), pytest.raises(ProvisioningUnavailable):
        scaler.handler(placed, _context(3))
    assert injector.total_injected >= 1
    assert clock.now() <= 3.0
    marker = router.marker()
    assert marker is not None and marker["sent"] == {"BOOL": False}


def test_a_request_lost_to_a_timeout_is_sent_by_a_later_crossing(
    router: Router, clock: SimulatedClock
) -> None:
    """Was: the episode stayed OPEN for 2 hours and four later crossings were
    all deduplicated with nothing sent."""
    router.put_cell("c1", current=34)
    with _faults("sqs:SendMessage=timeout", clock).active():
        first = dispatcher.handler(request("u0"), _context(5))
        with pytest.raises(ProvisioningUnavailable):
            scaler.handler(first, _context(3))
    aws_clients.reset()
    clock.sleep(scaleout_resend_seconds())
    sent = [
        scaler.handler(dispatcher.handler(request(f"u{i}"), _context(5)), _context(3))
        for i in range(1, 5)
    ]
    assert [s["provisioningRequested"] for s in sent] == [True, False, False, False]
    (message,) = router.messages()
    assert message["episodeId"] == router.marker()["episodeId"]["S"]


def scaleout_resend_seconds() -> int:
    from handlers.cell_router import settings

    return settings.scale_out_resend_seconds()


# --------------------------------------------------------------------------- #
# 2. durable requests: the sweeper
# --------------------------------------------------------------------------- #
def test_the_sweeper_resends_unsent_and_stale_episodes_with_their_own_id(
    router: Router, clock: SimulatedClock
) -> None:
    now = int(NOW)
    router.put_cell("c1")
    router.put_cell("a1", market="asia")
    router.put_cell("x1", market="mars")
    store = _store()
    for market in ("europe", "asia", "mars"):
        store.remember_market(market, "2026-01-01T00:00:00Z")
    # europe: opened 2 minutes ago and never sent (the sender died).
    _episode(router, episodeId="unsent", sent=False, openedAtEpoch=now - 120,
             lastSentAtEpoch=now - 120)  # fmt: skip
    # asia: sent 3 hours ago, no cell since (the request was lost downstream).
    router.ddb.put_item(
        TableName=TABLE,
        Item={"marketId": {"S": "SCALE#asia"}, "cellId": {"S": "SCALE_OUT"},
              "status": {"S": "OPEN"}, "episodeId": {"S": "stale"}, "sent": {"BOOL": True},
              "openedAtEpoch": {"N": str(now - 3 * 3600)},
              "lastSentAtEpoch": {"N": str(now - 3 * 3600)}},
    )  # fmt: skip
    # mars: sent a minute ago: in hand, not due.
    router.ddb.put_item(
        TableName=TABLE,
        Item={"marketId": {"S": "SCALE#mars"}, "cellId": {"S": "SCALE_OUT"},
              "status": {"S": "OPEN"}, "episodeId": {"S": "fresh"}, "sent": {"BOOL": True},
              "openedAtEpoch": {"N": str(now - 60)}, "lastSentAtEpoch": {"N": str(now - 60)}},
    )  # fmt: skip

    summary = sweeper.handler({}, _context(30))
    assert summary == {"markets": 3, "openEpisodes": 3, "resent": 2, "failed": 0}
    messages = sorted(router.messages(), key=lambda m: m["marketId"])
    assert [(m["marketId"], m["episodeId"]) for m in messages] == [
        ("asia", "stale"),
        ("europe", "unsent"),
    ]
    assert router.marker()["sent"] == {"BOOL": True}
    # Just resent: the next sweep has nothing to do.
    assert sweeper.handler({}, _context(30))["resent"] == 0
    assert router.messages() == []


def test_a_sweep_that_cannot_send_counts_the_failure_and_keeps_the_episode_due(
    router: Router, clock: SimulatedClock
) -> None:
    now = int(NOW)
    _store().remember_market("europe", "2026-01-01T00:00:00Z")
    _episode(router, episodeId="unsent", sent=False, openedAtEpoch=now - 120,
             lastSentAtEpoch=now - 120)  # fmt: skip
    with _faults("sqs:SendMessage=InternalError", clock).active():
        assert sweeper.handler({}, _context(30))["failed"] == 1
    aws_clients.reset()
    assert router.marker()["sent"] == {"BOOL": False}
    clock.sleep(61)
    assert sweeper.handler({}, _context(30))["resent"] == 1
    assert [m["episodeId"] for m in router.messages()] == ["unsent"]


def _store() -> Any:
    from handlers.cell_router.store import RouterStore

    return RouterStore(TABLE)


# --------------------------------------------------------------------------- #
# 3. a market that cannot place anyone asks for capacity
# --------------------------------------------------------------------------- #
def test_full_market_with_a_stale_episode_asks_again(router: Router, clock: SimulatedClock) -> None:
    """Was: five NoCapacity answers and no message, because the stale-episode
    takeover lived in the Scaler, which runs only after a placement."""
    router.put_cell("c1", current=40)
    router.put_cell("c2", current=40)
    three_hours_ago = int(NOW) - 3 * 3600
    _episode(router, episodeId="old", sent=True, openedAtEpoch=three_hours_ago,
             lastSentAtEpoch=three_hours_ago)  # fmt: skip
    for i in range(5):
        with pytest.raises(NoCapacity):
            dispatcher.handler(request(f"u{i}"), _context(5))
    (message,) = router.messages()
    assert message["episodeId"] == "old"


@pytest.mark.parametrize("market_state", ["all unhealthy", "no cells"])
def test_a_market_that_cannot_place_anyone_requests_one_cell(
    router: Router, clock: SimulatedClock, market_state: str
) -> None:
    if market_state == "all unhealthy":
        router.put_cell("c1", healthy=False)
        router.put_cell("c2", status="DRAINING")
    for i in range(5):
        with pytest.raises(NoCapacity):
            dispatcher.handler(request(f"u{i}"), _context(5))
    (message,) = router.messages()
    assert (message["marketId"], message["reason"]) == ("europe", "no-capacity")
    assert message["triggeringCellId"] is None
    assert router.mappings() == []


# --------------------------------------------------------------------------- #
# 4. errors that tell the truth
# --------------------------------------------------------------------------- #
def test_a_transaction_cancelled_for_throttling_is_retried_not_a_500(
    router: Router, clock: SimulatedClock
) -> None:
    router.put_cell("c1")
    injector = _faults("dynamodb:TransactWriteItems=cancel:ThrottlingError*2", clock)
    with injector.active():
        result = dispatcher.handler(request(), _context(5))
    assert (result["cellId"], result["newAssignment"]) == ("c1", True)
    assert injector.total_injected == 2
    assert router.load("c1") == 1


def test_a_throttled_get_item_past_the_deadline_is_service_unavailable(
    router: Router, clock: SimulatedClock
) -> None:
    router.put_cell("c1")
    before = router.snapshot()
    injector = _faults("dynamodb:GetItem=ThrottlingException", clock)
    with injector.active(), pytest.raises(ServiceUnavailable) as caught:
        dispatcher.handler(request(), _context(5))
    assert caught.value.retry_after_seconds == 1
    assert injector.total_injected > 3
    assert clock.now() <= 5.0
    assert router.snapshot() == before


def test_two_conflicts_on_the_only_fresh_cell_still_place_the_user(
    router: Router, clock: SimulatedClock
) -> None:
    """Was: two TransactionConflicts retried with no backoff ended in
    NoCapacity while the cell had 40 free slots."""
    router.put_cell("fresh")
    injector = _faults("dynamodb:TransactWriteItems=cancel:TransactionConflict*2", clock)
    with injector.active():
        result = dispatcher.handler(request(), _context(5))
    assert result["cellId"] == "fresh"
    assert injector.total_injected == 2
    assert clock.now() > 0  # it backed off between the attempts


def test_thirty_percent_conflicts_refuse_nobody(router: Router, clock: SimulatedClock) -> None:
    """Was: 4 of 30 sign-ups refused at a 30 % conflict rate."""
    router.put_cell("fresh", maximum=100)
    injector = _faults("dynamodb:TransactWriteItems=cancel:TransactionConflict@0.3", clock)
    with injector.active():
        placed = [dispatcher.handler(request(f"u{i}"), _context(5)) for i in range(30)]
    assert all(p["cellId"] == "fresh" for p in placed)
    assert router.load("fresh") == 30
    assert injector.total_injected >= 3


@pytest.mark.parametrize("market", ["mars", "Europe"])
def test_an_unknown_or_miscased_market_is_unknown_market(
    router: Router, clock: SimulatedClock, market: str
) -> None:
    """Was: NoCapacity "retry later", the same as a full market."""
    router.put_cell("c1")
    before = router.snapshot()
    with pytest.raises(UnknownMarket) as caught:
        dispatcher.handler(request(body={"marketId": market}), _context(5))
    if market == "Europe":
        assert "did you mean 'europe'" in str(caught.value)
    assert router.snapshot() == before
    assert router.messages() == []


def test_a_market_the_registrar_knows_is_known_without_cells(
    router: Router, clock: SimulatedClock
) -> None:
    _store().remember_market("asia", "2026-01-01T00:00:00Z")
    with pytest.raises(NoCapacity):
        dispatcher.handler(request(body={"marketId": "asia"}), _context(5))
    (message,) = router.messages()
    assert message["marketId"] == "asia"


# --------------------------------------------------------------------------- #
# 5. paging never hides a placeable cell
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("stale_entries", [False, True])
def test_fifty_unhealthy_empty_cells_do_not_hide_a_healthy_one(
    router: Router, clock: SimulatedClock, stale_entries: bool
) -> None:
    """Was: unhealthy cells filtered after the page limit; 50 unhealthy cells
    at load 0 made sign-ups fail while a healthy cell had room.
    ``stale_entries``: the unhealthy cells are still in the placeable index
    (marked unhealthy by a write that did not remove the entry)."""
    for i in range(50):
        router.put_cell(f"sick{i:02}", healthy=False, listed=True if stale_entries else None)
    router.put_cell("ok", current=20)
    result = dispatcher.handler(request(), _context(5))
    assert result["cellId"] == "ok"
    if stale_entries:
        # The entries the dispatcher saw are repaired, so the next sign-up
        # pays less.
        listed = [i for i in router.items() if "placeableMarketId" in i]
        assert len(listed) < 51


def test_a_placeable_cell_missing_from_the_index_is_found_and_listed(
    router: Router, clock: SimulatedClock
) -> None:
    """A cell from before the index (or an operator's write) is found by
    the refusal path's consistent read, used, and put back in the index."""
    router.put_cell("legacy", current=3, listed=False)
    result = dispatcher.handler(request(), _context(5))
    assert result["cellId"] == "legacy"
    assert router.cell("legacy")["placeableMarketId"] == {"S": "europe"}
    assert router.messages() == []


def test_the_last_slot_takes_the_cell_out_of_the_index(
    router: Router, clock: SimulatedClock
) -> None:
    router.put_cell("c1", current=39)
    assert dispatcher.handler(request(), _context(5))["cellId"] == "c1"
    assert "placeableMarketId" not in router.cell("c1")
    assert router.load("c1") == 40
