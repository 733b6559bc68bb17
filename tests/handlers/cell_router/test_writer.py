"""One writer per market: every rule of ``writer.decide``, promotion and heal.

The last test replays a promotion step by step in both regions and checks,
at every second, that at most one region may place (the invariant the rules
exist for)."""

from __future__ import annotations

import itertools

import pytest

from handlers.cell_router import writer
from handlers.cell_router.writer import (
    Heartbeat,
    PromotionRefused,
    Verdict,
    WriterConfigError,
    WriterPolicy,
    WriterRecord,
)

EAST, WEST = "us-east-1", "us-west-2"
MARKET = "europe"


def policy(local: str = EAST, *, peer: str | None = WEST, **kwargs) -> WriterPolicy:
    return WriterPolicy(local_region=local, default_writer=EAST, peer_region=peer, **kwargs)


def beat(region: str, epoch: int, at: float, since: float | None = None) -> Heartbeat:
    return Heartbeat(
        region, seen_epoch=epoch, heartbeat_at=at, seen_epoch_at=at if since is None else since
    )


# -- defaults keep a one-region setup placing ---------------------------------


def test_one_region_without_record_places() -> None:
    one = WriterPolicy(local_region=EAST, default_writer=EAST)
    decision = writer.decide(MARKET, None, None, 1000, one)
    assert decision.verdict is Verdict.PLACE and decision.epoch == 0


def test_default_writer_places_and_the_other_region_is_sent_there() -> None:
    fresh = beat(WEST, 0, 1000)
    assert writer.decide(MARKET, None, fresh, 1000, policy(EAST)).may_place
    decision = writer.decide(MARKET, None, beat(EAST, 0, 1000), 1000, policy(WEST, peer=EAST))
    assert decision.verdict is Verdict.NOT_WRITER
    assert decision.writer_region == EAST
    assert "us-east-1" in decision.reason


def test_record_naming_other_region_is_not_writer_whatever_heartbeats_say() -> None:
    record = WriterRecord(MARKET, WEST, 3, 0, previous_region=EAST)
    decision = writer.decide(MARKET, record, beat(WEST, 3, 1000), 1000, policy(EAST))
    assert decision.verdict is Verdict.NOT_WRITER and decision.writer_region == WEST
    assert decision.epoch == 3


# -- partition ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "verdict"),
    [
        (None, Verdict.PARTITIONED),
        (beat(WEST, 0, 1000 - 151), Verdict.PARTITIONED),
        (beat(WEST, 0, 1000 - 150), Verdict.PLACE),
        (beat(WEST, 0, 1000), Verdict.PLACE),
    ],
)
def test_writer_refuses_when_peer_heartbeat_is_stale(peer, verdict) -> None:
    decision = writer.decide(MARKET, None, peer, 1000, policy(EAST))
    assert decision.verdict is verdict
    if verdict is Verdict.PARTITIONED:
        assert decision.retry_after_seconds and "lease" in decision.reason


def test_fenced_peer_heartbeat_is_not_required() -> None:
    record = WriterRecord(MARKET, WEST, 2, 0, previous_region=EAST, fenced_region=EAST)
    decision = writer.decide(MARKET, record, None, 1000, policy(WEST, peer=EAST))
    assert decision.verdict is Verdict.PLACE


# -- demotion -------------------------------------------------------------------


def test_old_writer_stops_when_peer_has_seen_newer_epoch_before_record_replicates() -> None:
    stale_local = WriterRecord(MARKET, EAST, 1, 0)
    decision = writer.decide(MARKET, stale_local, beat(WEST, 2, 1000), 1000, policy(EAST))
    assert decision.verdict is Verdict.SUPERSEDED
    assert decision.writer_region == WEST and decision.epoch == 2


# -- fence ----------------------------------------------------------------------


def promoted(at: float = 1000, *, force: bool = False) -> WriterRecord:
    return writer.promote(MARKET, None, WEST, at, policy(WEST, peer=EAST), force=force)


def test_new_writer_waits_for_acknowledgement() -> None:
    record = promoted()
    decision = writer.decide(MARKET, record, beat(EAST, 0, 1005), 1005, policy(WEST, peer=EAST))
    assert decision.verdict is Verdict.FENCING
    assert "no acknowledgement" in decision.reason
    assert decision.retry_after_seconds == writer.DEFAULT_FENCE_SECONDS


def test_new_writer_places_fence_seconds_after_acknowledgement() -> None:
    record = promoted()
    ack = beat(EAST, 1, 1010)
    west = policy(WEST, peer=EAST)
    during = writer.decide(MARKET, record, ack, 1010 + 59, west)
    assert during.verdict is Verdict.FENCING and during.retry_after_seconds == 1
    assert writer.decide(MARKET, record, ack, 1010 + 60, west).may_place
    # later beats of the same epoch keep the acknowledgement time: the fence ends
    later = writer.next_heartbeat(EAST, record, 1100, ack)
    assert later.seen_epoch_at == 1010
    assert writer.decide(MARKET, record, later, 1100, west).may_place


def test_forced_promotion_waits_the_bound_only() -> None:
    record = promoted(force=True)
    assert record.fenced_region == EAST
    west = policy(WEST, peer=EAST)
    assert writer.decide(MARKET, record, None, 1059, west).verdict is Verdict.FENCING
    assert writer.decide(MARKET, record, None, 1060, west).may_place


# -- promotion and heal ---------------------------------------------------------


def test_promote_increments_epoch_and_names_previous() -> None:
    record = promoted()
    assert (record.region, record.epoch, record.previous_region) == (WEST, 1, EAST)
    back = writer.promote(MARKET, record, EAST, 2000, policy(EAST))
    assert (back.region, back.epoch, back.previous_region) == (EAST, 2, WEST)


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (None, EAST, "already the writer"),
        (WriterRecord(MARKET, WEST, 4, 0), WEST, "already the writer"),
        (None, "eu-west-1", "not one of this router's regions"),
    ],
)
def test_promote_refuses(current, target, message) -> None:
    with pytest.raises(PromotionRefused, match=message):
        writer.promote(MARKET, current, target, 0, policy(EAST))


def test_heal_requires_acknowledgement_from_the_lost_region() -> None:
    record = promoted(force=True)
    with pytest.raises(PromotionRefused, match="not acknowledged epoch 1"):
        writer.heal(record, beat(EAST, 0, 5000))
    with pytest.raises(PromotionRefused, match="no heartbeat"):
        writer.heal(record, None)
    healed = writer.heal(record, beat(EAST, 1, 5000))
    assert healed.fenced_region is None and healed.epoch == record.epoch
    with pytest.raises(PromotionRefused, match="nothing to heal"):
        writer.heal(healed, beat(EAST, 1, 5000))


# -- automatic promotion --------------------------------------------------------


def test_auto_promotion_is_off_by_default() -> None:
    west = policy(WEST, peer=EAST)
    assert not writer.auto_promotion_due(MARKET, None, beat(EAST, 0, 0), 10_000, west)


def test_auto_promotion_after_stale_heartbeat_only() -> None:
    west = policy(WEST, peer=EAST, auto_promotion=True)
    assert not writer.auto_promotion_due(MARKET, None, beat(EAST, 0, 1000), 1600, west)
    assert writer.auto_promotion_due(MARKET, None, beat(EAST, 0, 1000), 1601, west)
    # a fresh stack never heard from the writer: do not promote on silence alone
    assert not writer.auto_promotion_due(MARKET, None, None, 10**9, west)
    # the writer itself never promotes itself
    assert not writer.auto_promotion_due(
        MARKET, None, None, 10**9, policy(EAST, auto_promotion=True)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peer_region": EAST}, "must differ"),
        ({"peer_region": None, "default_writer": WEST}, "neither the local region"),
        ({"fence_seconds": -1}, "fence_seconds must be >= 0"),
        ({"auto_promotion": True, "auto_promote_after_seconds": 100}, "must exceed lease"),
    ],
)
def test_policy_errors_name_the_setting(kwargs, message) -> None:
    values = {"local_region": EAST, "default_writer": EAST, "peer_region": WEST, **kwargs}
    with pytest.raises(WriterConfigError, match=message):
        WriterPolicy(**values)


# -- codecs -----------------------------------------------------------------------


def test_items_round_trip() -> None:
    record = WriterRecord(MARKET, WEST, 7, 1234, previous_region=EAST, fenced_region=EAST)
    item = writer.record_item(record)
    assert item["marketId"] == "WRITER#europe" and item["cellId"] == "WRITER"
    assert writer.record_from_item(item) == record
    item = writer.heartbeat_item(EAST, 99, {MARKET: (7, 50)})
    assert item["marketId"] == "HEARTBEAT#us-east-1" and item["cellId"] == "HEARTBEAT"
    assert writer.market_heartbeat(item, MARKET) == beat(EAST, 7, 99, since=50)
    # a market without a record is at epoch 0 in every heartbeat
    assert writer.market_heartbeat(item, "asia") == Heartbeat(EAST, 0, 99, 0)


def test_next_heartbeat_item_keeps_acknowledgement_time_per_market() -> None:
    one = WriterRecord(MARKET, WEST, 1, 0, previous_region=EAST)
    first = writer.next_heartbeat_item(EAST, {MARKET: one}, 100)
    assert first["seenEpochs"] == {MARKET: {"epoch": 1, "since": 100}}
    second = writer.next_heartbeat_item(EAST, {MARKET: one}, 160, first)
    assert second["seenEpochs"] == {MARKET: {"epoch": 1, "since": 100}}
    two = WriterRecord(MARKET, EAST, 2, 150, previous_region=WEST)
    third = writer.next_heartbeat_item(EAST, {MARKET: two}, 220, second)
    assert third["seenEpochs"] == {MARKET: {"epoch": 2, "since": 220}}
    assert third["heartbeatAt"] == 220


# -- the invariant, replayed -------------------------------------------------------


def test_at_most_one_region_places_through_promotion_with_replication_lag() -> None:
    """Two regions, each with its own copy of the items; each item reaches the
    other region ``lag`` seconds after it is written. Heartbeats every 10 s in
    both regions; an operator promotes WEST at t=100 (written in WEST). At
    every second, at most one region may place, for every lag up to 20 s."""
    for lag, offset in itertools.product((0, 1, 5, 20), (0, 3, 7)):
        pol = {EAST: policy(EAST), WEST: policy(WEST, peer=EAST)}
        peer_of = {EAST: WEST, WEST: EAST}
        # (visible_at, item) per destination region, per key
        pending: list[tuple[float, str, str, object]] = []
        records: dict[str, WriterRecord | None] = {EAST: None, WEST: None}
        beats: dict[str, dict[str, Heartbeat]] = {EAST: {}, WEST: {}}
        placers: list[tuple[int, set[str]]] = []
        for now in range(0, 400):
            for item in [p for p in pending if p[0] <= now]:
                pending.remove(item)
                _, dest, kind, value = item
                if kind == "record":
                    records[dest] = value  # type: ignore[assignment]
                else:
                    beats[dest][value.region] = value  # type: ignore[union-attr]
            if now == 100:
                new = writer.promote(MARKET, records[WEST], WEST, now, pol[WEST])
                records[WEST] = new
                pending.append((now + lag, EAST, "record", new))
            for region in (EAST, WEST):
                if (now + (offset if region == WEST else 0)) % 10 == 0:
                    hb = writer.next_heartbeat(
                        region, records[region], now, beats[region].get(region)
                    )
                    beats[region][region] = hb
                    pending.append((now + lag, peer_of[region], "beat", hb))
            allowed = {
                region
                for region in (EAST, WEST)
                if writer.decide(
                    MARKET, records[region], beats[region].get(peer_of[region]), now, pol[region]
                ).may_place
            }
            placers.append((now, allowed))
        assert all(len(allowed) <= 1 for _, allowed in placers), (lag, offset)
        # and the promotion completes: WEST places at the end, EAST placed at the start
        assert placers[-1][1] == {WEST}
        assert placers[50][1] == {EAST}
