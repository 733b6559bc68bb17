"""One writer region per market: the replicated items and who may place (pure).

Why: the routing table is a DynamoDB global table, and global tables resolve
concurrent writes to one item last-writer-wins. If both regions placed users
into the same market, two increments of one cell's ``currentCapacity`` made in
different regions would collapse into one (a lost increment), and the
assignable limit would no longer hold. So each market has exactly one writer
region at a time; the other region answers reads and sends sign-ups away.

Items (same table as the cells; ``#`` cannot occur in a market id, so they
never show up in a market query or the capacity index):

* writer record — ``marketId="WRITER#<market>"``, ``cellId="WRITER"``:
  ``writerRegion`` S, ``epoch`` N (starts at 1, +1 per promotion),
  ``promotedAt`` N (epoch seconds), optional ``previousRegion`` S (the writer
  before this epoch) and ``fencedRegion`` S (a region declared lost by a forced
  promotion: its acknowledgement is not awaited and its heartbeat is not
  required until an operator heals it). Written only by the operator tool
  (``python -m ops promote``), conditional on the epoch it read, in the new
  writer's region.
* heartbeat — one item per region, ``marketId="HEARTBEAT#<region>"``,
  ``cellId="HEARTBEAT"``: ``region`` S, ``heartbeatAt`` N (epoch seconds) and
  ``seenEpochs`` M, per market with a writer record ``{"epoch": N, "since":
  N}``: the epoch this region's own table held when it wrote the heartbeat,
  and when it first held it (i.e. stopped placing under older ones). A market
  missing from the map is at epoch 0. Written only by its own region
  (``heartbeat.py``, once a minute), so no item is ever written from both
  regions at once. One item per region (not per market) keeps the partition
  signal independent of how many markets exist.
* market registry — ``marketId="WRITERS#<region>"``, ``cellId="MARKETS"``,
  ``markets`` SS: markets whose writer record the operator tool wrote in that
  region, so the heartbeat knows which records to read without a Scan.

Rules (``decide``), for a sign-up reaching region ``local``:

1. No writer record: the configured default writer (the primary) places; a
   one-region setup (no peer configured) therefore always places.
2. The record names another region ⇒ ``NOT_WRITER`` (the API answers 421
   ``WrongRegion`` naming that region).
3. The peer's heartbeat says it has seen a higher epoch than our record ⇒
   ``SUPERSEDED``: we were demoted and our copy of the record has not
   replicated yet; refuse.
4. Fence. After a promotion the new writer waits until the old writer has
   acknowledged the new epoch (its heartbeat, replicated here, shows
   ``seenEpoch >= epoch``) and then ``fence_seconds`` more; the old writer
   stops placing as soon as its own table holds the new record, so every
   write it made happened before its acknowledgement, and the extra wait
   covers the replication of those items (DynamoDB replicates items
   independently, without ordering across items) plus a request that was in
   flight. A forced promotion (old region lost) waits ``fence_seconds`` from
   the promotion instead, and records the lost region in ``fencedRegion``.
5. Partition. With a peer configured and not fenced, the peer's heartbeat
   must be fresher than ``lease_seconds``; otherwise replication or the peer
   is down and we cannot know whether the peer believes it is the writer, so
   sign-ups are refused (``PARTITIONED``) rather than risked. The old writer
   hits this rule too, which bounds how long a partitioned old writer keeps
   placing to ``lease_seconds``.

Automatic promotion (``auto_promotion``, off by default) promotes the local
region when the writer's heartbeat has been stale for ``auto_promote_after``
seconds. What it risks: a writer that is cut off but alive keeps placing for
up to ``lease_seconds``; those writes have not replicated, and when the
partition heals they meet the new writer's writes to the same cell items and
last-writer-wins drops increments. An operator who knows the old region is
down (not just unreachable) makes the same trade with ``--force``; an
operator who can wait for the acknowledgement makes none.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WRITER_PREFIX = "WRITER#"
WRITER_SORT_KEY = "WRITER"
HEARTBEAT_PREFIX = "HEARTBEAT#"
HEARTBEAT_SORT_KEY = "HEARTBEAT"
REGISTRY_PREFIX = "WRITERS#"
REGISTRY_SORT_KEY = "MARKETS"

#: Seconds the new writer waits after the old writer's acknowledgement (or,
#: forced, after the promotion): a request in flight when the record flipped
#: (the router's request budget, under 30 s) plus DynamoDB's replication lag,
#: typically under one second (ReplicationLatency metric), with margin.
DEFAULT_FENCE_SECONDS = 60
#: A peer heartbeat older than this means a partition. The heartbeat is
#: written once a minute (EventBridge's floor), so two missed beats plus lag.
DEFAULT_LEASE_SECONDS = 150
#: Automatic promotion, when on, after the writer's heartbeat is this stale.
#: Must exceed the lease so that a partitioned old writer has stopped.
DEFAULT_AUTO_PROMOTE_AFTER_SECONDS = 600


class WriterConfigError(ValueError):
    """A writer policy value is unusable; the message names the setting."""


@dataclass(frozen=True)
class WriterPolicy:
    """How this region judges writer items.

    ``default_writer``: the writer when a market has no record (the primary).
    ``peer_region``: the other region, or None in a one-region setup (then
    rules 3 to 5 have nothing to look at). Seconds as documented above.
    """

    local_region: str
    default_writer: str
    peer_region: str | None = None
    fence_seconds: int = DEFAULT_FENCE_SECONDS
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    auto_promotion: bool = False
    auto_promote_after_seconds: int = DEFAULT_AUTO_PROMOTE_AFTER_SECONDS

    def __post_init__(self) -> None:
        if not self.local_region or not self.default_writer:
            raise WriterConfigError("local_region and default_writer must be region names")
        if self.peer_region is not None and self.peer_region == self.local_region:
            raise WriterConfigError(
                f"peer_region {self.peer_region!r} must differ from the local region"
            )
        if self.default_writer not in {self.local_region, self.peer_region}:
            raise WriterConfigError(
                f"default_writer {self.default_writer!r} is neither the local region "
                f"{self.local_region!r} nor the peer {self.peer_region!r}"
            )
        for name in ("fence_seconds", "lease_seconds", "auto_promote_after_seconds"):
            if getattr(self, name) < 0:
                raise WriterConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.auto_promotion and self.auto_promote_after_seconds <= self.lease_seconds:
            raise WriterConfigError(
                "auto_promote_after_seconds must exceed lease_seconds "
                f"({self.auto_promote_after_seconds} <= {self.lease_seconds}): a cut-off "
                "writer keeps placing for up to the lease"
            )


@dataclass(frozen=True)
class WriterRecord:
    market_id: str
    region: str
    epoch: int
    promoted_at: float
    previous_region: str | None = None
    fenced_region: str | None = None


@dataclass(frozen=True)
class Heartbeat:
    region: str
    seen_epoch: int
    heartbeat_at: float
    #: When this region first held ``seen_epoch`` (the acknowledgement time);
    #: a later beat of the same epoch keeps it, so the fence does not move.
    seen_epoch_at: float = 0


class Verdict(enum.Enum):
    PLACE = "place"
    NOT_WRITER = "not-writer"
    SUPERSEDED = "superseded"
    FENCING = "fencing"
    PARTITIONED = "partitioned"


@dataclass(frozen=True)
class WriterDecision:
    verdict: Verdict
    #: The region that places this market's users (for ``WrongRegion``).
    writer_region: str
    epoch: int
    #: For FENCING/PARTITIONED: seconds after which asking again may succeed.
    retry_after_seconds: int | None = None
    reason: str = ""

    @property
    def may_place(self) -> bool:
        return self.verdict is Verdict.PLACE


def writer_key(market_id: str) -> dict[str, str]:
    return {"marketId": WRITER_PREFIX + market_id, "cellId": WRITER_SORT_KEY}


def heartbeat_key(region: str) -> dict[str, str]:
    return {"marketId": HEARTBEAT_PREFIX + region, "cellId": HEARTBEAT_SORT_KEY}


def registry_key(region: str) -> dict[str, str]:
    return {"marketId": REGISTRY_PREFIX + region, "cellId": REGISTRY_SORT_KEY}


def effective_writer(
    market_id: str, record: WriterRecord | None, policy: WriterPolicy
) -> WriterRecord:
    """The record, or the implicit epoch-0 record naming the default writer."""
    if record is not None:
        return record
    return WriterRecord(market_id=market_id, region=policy.default_writer, epoch=0, promoted_at=0)


def decide(
    market_id: str,
    record: WriterRecord | None,
    peer: Heartbeat | None,
    now: float,
    policy: WriterPolicy,
) -> WriterDecision:
    """May ``policy.local_region`` place a new user of ``market_id`` now?

    ``record`` and ``peer`` are this region's local copies (the peer's
    heartbeat as replicated here, or None if never seen). ``now`` in epoch
    seconds. Pure: the caller reads the items and maps the verdict to
    ``WrongRegion`` (NOT_WRITER) or ``ServiceUnavailable`` (the others)."""
    writer = effective_writer(market_id, record, policy)
    local = policy.local_region
    if writer.region != local:
        return WriterDecision(
            Verdict.NOT_WRITER,
            writer.region,
            writer.epoch,
            reason=f"market {market_id!r} is placed by {writer.region} (epoch {writer.epoch})",
        )
    if policy.peer_region is None:
        return WriterDecision(Verdict.PLACE, local, writer.epoch)
    peer_fenced = writer.fenced_region == policy.peer_region
    if peer is not None and peer.seen_epoch > writer.epoch:
        return WriterDecision(
            Verdict.SUPERSEDED,
            policy.peer_region,
            peer.seen_epoch,
            retry_after_seconds=policy.fence_seconds or 1,
            reason=(
                f"{policy.peer_region} has seen writer epoch {peer.seen_epoch}, newer than "
                f"this region's {writer.epoch}: this region was demoted"
            ),
        )
    if writer.previous_region == policy.peer_region:
        ready_at = _fence_ends(writer, peer, policy)
        if ready_at is None or now < ready_at:
            wait = policy.fence_seconds if ready_at is None else ready_at - now
            return WriterDecision(
                Verdict.FENCING,
                local,
                writer.epoch,
                retry_after_seconds=max(1, int(wait + 0.999)),
                reason=(
                    f"waiting for {policy.peer_region}'s last writes of epoch "
                    f"{writer.epoch - 1} to replicate"
                    + ("" if ready_at is not None else " (no acknowledgement yet)")
                ),
            )
    if not peer_fenced and not _fresh(peer, now, policy.lease_seconds):
        age = "never seen" if peer is None else f"{now - peer.heartbeat_at:.0f} s old"
        return WriterDecision(
            Verdict.PARTITIONED,
            local,
            writer.epoch,
            retry_after_seconds=30,
            reason=(
                f"{policy.peer_region}'s heartbeat is {age} (lease {policy.lease_seconds} s): "
                "replication may be partitioned, sign-ups refused"
            ),
        )
    return WriterDecision(Verdict.PLACE, local, writer.epoch)


def _fence_ends(writer: WriterRecord, peer: Heartbeat | None, policy: WriterPolicy) -> float | None:
    if writer.fenced_region == writer.previous_region:
        return writer.promoted_at + policy.fence_seconds
    if peer is None or peer.seen_epoch < writer.epoch:
        return None
    return max(peer.seen_epoch_at, writer.promoted_at) + policy.fence_seconds


def _fresh(peer: Heartbeat | None, now: float, lease_seconds: int) -> bool:
    return peer is not None and now - peer.heartbeat_at <= lease_seconds


# -- promotion -------------------------------------------------------------


class PromotionRefused(ValueError):
    """A promotion that would break the one-writer rule; the message says why
    and what to change."""


def promote(
    market_id: str,
    current: WriterRecord | None,
    target_region: str,
    now: float,
    policy: WriterPolicy,
    *,
    force: bool = False,
) -> WriterRecord:
    """The next writer record that makes ``target_region`` the writer.

    ``policy`` is the target region's (it knows both regions). ``force``
    declares the old writer lost: the new writer waits out only the fence
    bound, not the acknowledgement (see the module docstring for the risk).
    Raises ``PromotionRefused`` when the target already writes or is not
    one of the two regions."""
    regions = {policy.local_region, policy.peer_region} - {None}
    if target_region not in regions:
        raise PromotionRefused(
            f"{target_region!r} is not one of this router's regions {sorted(regions)}"
        )
    writer = effective_writer(market_id, current, policy)
    if writer.region == target_region:
        raise PromotionRefused(
            f"{target_region} is already the writer of {market_id!r} (epoch {writer.epoch})"
        )
    return WriterRecord(
        market_id=market_id,
        region=target_region,
        epoch=writer.epoch + 1,
        promoted_at=now,
        previous_region=writer.region,
        fenced_region=writer.region if force else None,
    )


def heal(current: WriterRecord | None, peer: Heartbeat | None) -> WriterRecord:
    """Clear ``fencedRegion`` once the lost region is back and has seen the
    current epoch (so it will not place). Raises ``PromotionRefused`` if not."""
    if current is None or current.fenced_region is None:
        raise PromotionRefused("no region is fenced out; nothing to heal")
    if peer is None or peer.seen_epoch < current.epoch:
        seen = "no heartbeat" if peer is None else f"epoch {peer.seen_epoch}"
        raise PromotionRefused(
            f"{current.fenced_region} has not acknowledged epoch {current.epoch} yet ({seen}); "
            "wait until its heartbeat shows it"
        )
    return WriterRecord(
        market_id=current.market_id,
        region=current.region,
        epoch=current.epoch,
        promoted_at=current.promoted_at,
        previous_region=current.previous_region,
        fenced_region=None,
    )


def auto_promotion_due(
    market_id: str,
    record: WriterRecord | None,
    writer_heartbeat: Heartbeat | None,
    now: float,
    policy: WriterPolicy,
) -> bool:
    """Opt-in: promote the local region because the writer's heartbeat (as
    replicated here) has been stale for ``auto_promote_after_seconds``."""
    if not policy.auto_promotion or policy.peer_region is None:
        return False
    writer = effective_writer(market_id, record, policy)
    if writer.region == policy.local_region:
        return False
    if writer_heartbeat is None:
        # Never heard from: judge from the promotion (or never, for epoch 0,
        # so a fresh stack does not promote before its first heartbeat).
        return writer.epoch > 0 and now - writer.promoted_at > policy.auto_promote_after_seconds
    return now - writer_heartbeat.heartbeat_at > policy.auto_promote_after_seconds


# -- item codecs (plain Python values, as boto3's TypeDeserializer gives) --


def record_item(record: WriterRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **writer_key(record.market_id),
        "writerRegion": record.region,
        "epoch": record.epoch,
        "promotedAt": int(record.promoted_at),
    }
    if record.previous_region:
        item["previousRegion"] = record.previous_region
    if record.fenced_region:
        item["fencedRegion"] = record.fenced_region
    return item


def record_from_item(item: Mapping[str, Any]) -> WriterRecord:
    market = str(item["marketId"]).removeprefix(WRITER_PREFIX)
    return WriterRecord(
        market_id=market,
        region=str(item["writerRegion"]),
        epoch=int(item["epoch"]),
        promoted_at=float(item.get("promotedAt", 0)),
        previous_region=str(item["previousRegion"]) if item.get("previousRegion") else None,
        fenced_region=str(item["fencedRegion"]) if item.get("fencedRegion") else None,
    )


def heartbeat_item(region: str, at: float, seen: Mapping[str, tuple[int, float]]) -> dict[str, Any]:
    """A region's heartbeat item; ``seen`` = market -> (epoch, since)."""
    return {
        **heartbeat_key(region),
        "region": region,
        "heartbeatAt": int(at),
        "seenEpochs": {
            market: {"epoch": epoch, "since": int(since)} for market, (epoch, since) in seen.items()
        },
    }


def market_heartbeat(item: Mapping[str, Any], market_id: str) -> Heartbeat:
    """One market's view of a region's heartbeat item."""
    entry = (item.get("seenEpochs") or {}).get(market_id) or {}
    return Heartbeat(
        region=str(item["region"]),
        seen_epoch=int(entry.get("epoch", 0)),
        heartbeat_at=float(item["heartbeatAt"]),
        seen_epoch_at=float(entry.get("since", 0)),
    )


def next_heartbeat_item(
    region: str,
    records: Mapping[str, WriterRecord],
    now: float,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """This region's next heartbeat item from the writer records its own
    table holds now (``records``: market -> record); keeps each market's
    ``since`` from ``previous`` (its own last item) while the epoch is unchanged."""
    seen = {}
    for market, record in records.items():
        last = market_heartbeat(previous, market) if previous else None
        seen[market] = (record.epoch, next_heartbeat(region, record, now, last).seen_epoch_at)
    return heartbeat_item(region, now, seen)


def next_heartbeat(
    local_region: str, record: WriterRecord | None, now: float, previous: Heartbeat | None = None
) -> Heartbeat:
    """This region's next heartbeat: the epoch its own table holds now, and
    when it first held it (kept from ``previous``, its own last beat, while
    the epoch is unchanged). Written after the record is read, so
    ``seenEpoch >= e`` acknowledges that this region has stopped placing under
    any epoch below ``e`` since ``seenEpochAt``."""
    epoch = record.epoch if record else 0
    since = previous.seen_epoch_at if previous and previous.seen_epoch == epoch else now
    return Heartbeat(local_region, seen_epoch=epoch, heartbeat_at=now, seen_epoch_at=since)
