"""This checker's state item in the replicated table: read, decide,
conditional write, retry.

Which items exist and who writes each: ``handlers/lex_dr/layout.py``. A
checker reads every item of its Connect region from its local replica in one
``BatchGetItem`` (strongly consistent: it is about to conditionally update
its own item) and writes **only its own item**. Attributes it writes:

- ``lexRegion`` (S): the region callers should use, in this checker's view;
- ``epoch`` (N): the decision's epoch (see ``layout``): the highest read, +1
  on a switch;
- ``version`` (N): incremented by every write of this checker;
- ``regions`` (M): per probed region ``{okStreak N, failStreak N, lastOk
  BOOL, lastProbeAt S, lastLatencyMs N, lastMethod S, lastError S (only after
  a failure)}`` as seen from this checker's region (its vantage point);
- ``checkerRegion`` (S), ``observedAt`` (S, ISO) and ``observedAtEpoch`` (N,
  seconds): when this round was recorded; peers judge staleness by it;
- ``lastSlot`` (N): the latest probe-loop slot applied (rounds carry their
  slot; a slot is applied once, in order);
- ``updatedAt`` (S), and on a switch ``lastSwitchAt`` (S),
  ``lastSwitchReason`` (S: failover | failback | override), ``lastSwitchFrom`` (S).

It never writes ``overrideRegion``, which belongs to operators. Every write is
conditional on the ``version`` read, on the legacy ``overrideRegion`` read
(home item only; ``attribute_not_exists`` when absent) and, for a round with
a slot, on ``lastSlot`` being older; a concurrent round or operator change is
never overwritten: the loser re-reads and re-applies its own probe results,
or drops its round when its slot was applied meanwhile.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from handlers.lex_dr import clock, layout
from handlers.lex_dr.decision import Decision, HealthState, PeerView, Policy, RegionStreak
from handlers.lex_dr.layout import KEY_ATTRIBUTE, checker_key, state_keys

MAX_WRITE_ATTEMPTS = 8
MAX_BATCH_GET_ATTEMPTS = 3

_NAMES = {
    "#lex": "lexRegion",
    "#version": "version",
    "#epoch": "epoch",
    "#regions": "regions",
    "#override": "overrideRegion",
    "#updated": "updatedAt",
    "#switchAt": "lastSwitchAt",
    "#switchReason": "lastSwitchReason",
    "#switchFrom": "lastSwitchFrom",
    "#checker": "checkerRegion",
    "#observed": "observedAt",
    "#observedEpoch": "observedAtEpoch",
    "#slot": "lastSlot",
}


class StateConflictError(Exception):
    """The item kept changing under us; this round's result was not recorded."""


@dataclass(frozen=True)
class StoredState:
    """What a checker read before a round.

    ``state``: ``lex_region`` is the effective decision (the winning
    checker item, see ``layout``), ``streaks`` and ``version`` are this
    checker's own, ``override_region`` the winning override.
    """

    state: HealthState
    #: legacy ``overrideRegion`` on this checker's own item exactly as read
    raw_override: Mapping[str, Any] | None
    #: this checker's item key (``layout.checker_key``), the only item it writes
    key: str
    #: ``version`` of this checker's item exactly as read, None when absent
    raw_version: Mapping[str, Any] | None = None
    #: highest decision epoch read (the epoch ``state.lex_region`` belongs to)
    epoch: int = 0
    #: latest slot this checker applied, None when none recorded
    last_slot: int | None = None
    #: the other checkers' latest rounds (alive or not: ``decide`` filters)
    peers: tuple[PeerView, ...] = field(default_factory=tuple)
    #: this checker's last round failed the region (probe escalation)
    last_failed: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class RegionObservation:
    """What a round saw of one region, beyond pass/fail (for the item)."""

    ok: bool
    latency_ms: int
    error: str | None = None
    method: str | None = None


def read_items(
    client: Any, table_name: str, keys: Sequence[str], consistent: bool = True
) -> list[dict[str, Any]]:
    """Every existing item of ``keys``, in one ``BatchGetItem`` (retrying
    unprocessed keys a few times; raises ``ClientError`` on failure)."""
    pending = [{KEY_ATTRIBUTE: {"S": k}} for k in keys]
    found: list[dict[str, Any]] = []
    for _ in range(MAX_BATCH_GET_ATTEMPTS):
        response = client.batch_get_item(
            RequestItems={table_name: {"Keys": pending, "ConsistentRead": consistent}}
        )
        found.extend(response.get("Responses", {}).get(table_name, []))
        pending = response.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
        if not pending:
            return found
    raise ClientError(
        {"Error": {"Code": "UnprocessedKeys", "Message": f"{len(pending)} keys unread"}},
        "BatchGetItem",
    )


def load(
    client: Any,
    table_name: str,
    connect_region: str,
    policy: Policy,
    checker_region: str | None = None,
    now: float | None = None,
) -> StoredState:
    """Read every item of ``connect_region`` and make this checker's view."""
    checker = checker_region or connect_region
    at = clock.now() if now is None else now
    own_key = checker_key(connect_region, checker)
    items = read_items(client, table_name, state_keys(connect_region, policy.regions))
    by_key = {item[KEY_ATTRIBUTE]["S"]: item for item in items}
    own = by_key.get(own_key, {})
    peers = []
    for region in policy.regions:
        key = checker_key(connect_region, region)
        if key == own_key or key not in by_key:
            continue
        peer = by_key[key]
        observed = layout.float_attribute(peer.get("observedAtEpoch"))
        peers.append(
            PeerView(
                checker_region=region,
                last_results=_last_results(peer, policy),
                age_seconds=float("inf") if observed is None else at - observed,
            )
        )
    view = layout.view(items)
    decision = view.decision
    lex_region = decision.lex_region if decision else policy.primary
    own_entries = own.get("regions", {}).get("M", {})
    streaks = {}
    last_failed = {}
    for region in policy.regions:
        entry = own_entries.get(region, {}).get("M", {})
        streaks[region] = RegionStreak(
            ok=layout.int_attribute(entry.get("okStreak")),
            fail=layout.int_attribute(entry.get("failStreak")),
        )
        last_failed[region] = entry.get("lastOk", {}).get("BOOL") is False
    state = HealthState(
        lex_region=lex_region,
        streaks=streaks,
        version=layout.int_attribute(own.get("version")),
        override_region=view.override.region if view.override else None,
    )
    raw_slot = own.get("lastSlot")
    return StoredState(
        state=state,
        raw_override=own.get("overrideRegion"),
        raw_version=own.get("version"),
        key=own_key,
        epoch=decision.epoch if decision else 0,
        last_slot=layout.int_attribute(raw_slot) if raw_slot else None,
        peers=tuple(peers),
        last_failed=last_failed,
    )


def _last_results(item: Mapping[str, Any], policy: Policy) -> dict[str, bool]:
    entries = item.get("regions", {}).get("M", {})
    results = {}
    for region in policy.regions:
        ok = entries.get(region, {}).get("M", {}).get("lastOk", {}).get("BOOL")
        if isinstance(ok, bool):
            results[region] = ok
    return results


def save(
    client: Any,
    table_name: str,
    connect_region: str,
    stored: StoredState,
    decision: Decision,
    observations: Mapping[str, RegionObservation],
    now: str,
    *,
    now_epoch: float | None = None,
    checker_region: str | None = None,
    slot: int | None = None,
) -> int:
    """Write the decision to this checker's own item if it is still as read.
    Returns the new version.

    Raises ``ConditionalCheckFailedException`` (a ``ClientError``) otherwise.
    """
    new_version = stored.state.version + 1
    epoch = stored.epoch + (1 if decision.switched else 0)
    values: dict[str, Any] = {
        ":lex": {"S": decision.state.lex_region},
        ":version": {"N": str(new_version)},
        ":epoch": {"N": str(epoch)},
        ":regions": {"M": _regions_value(decision, observations, now)},
        ":now": {"S": now},
        ":checker": {"S": checker_region or connect_region},
    }
    sets = [
        "#lex = :lex",
        "#version = :version",
        "#epoch = :epoch",
        "#regions = :regions",
        "#updated = :now",
        "#checker = :checker",
        "#observed = :now",
    ]
    if now_epoch is not None:
        sets.append("#observedEpoch = :observedEpoch")
        values[":observedEpoch"] = {"N": f"{now_epoch:.3f}"}
    if decision.switched:
        sets += ["#switchAt = :now", "#switchReason = :reason", "#switchFrom = :from"]
        values[":reason"] = {"S": decision.reason or "unknown"}
        values[":from"] = {"S": decision.previous_region}

    if stored.raw_version is not None:
        conditions = ["#version = :expected"]
        values[":expected"] = dict(stored.raw_version)
    else:
        conditions = ["attribute_not_exists(#version)"]
    if stored.raw_override is None:
        conditions.append("attribute_not_exists(#override)")
    else:
        conditions.append("#override = :override")
        values[":override"] = dict(stored.raw_override)
    if slot is not None:
        sets.append("#slot = :slot")
        values[":slot"] = {"N": str(slot)}
        conditions.append("(attribute_not_exists(#slot) OR #slot < :slot)")

    used = " ".join(sets + conditions)
    client.update_item(
        TableName=table_name,
        Key={KEY_ATTRIBUTE: {"S": stored.key}},
        UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression=" AND ".join(conditions),
        ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
        ExpressionAttributeValues=values,
    )
    return new_version


@dataclass(frozen=True)
class RoundOutcome:
    stored: StoredState
    decision: Decision | None
    version: int
    conflicts: int
    #: the round's slot had already been applied (a duplicate or late round)
    skipped: bool = False


def slot_already_applied(stored: StoredState, slot: int | None) -> bool:
    return slot is not None and stored.last_slot is not None and stored.last_slot >= slot


def apply_round(
    client: Any,
    table_name: str,
    connect_region: str,
    policy: Policy,
    decide: Callable[[HealthState], Decision]
    | Callable[[HealthState, Sequence[PeerView]], Decision],
    observations: Mapping[str, RegionObservation],
    now: Callable[[], str],
    sleep: Callable[[float], None] = time.sleep,
    *,
    checker_region: str | None = None,
    slot: int | None = None,
    now_epoch: Callable[[], float] | None = None,
    with_peers: bool = False,
) -> RoundOutcome:
    """Read, decide, write conditionally; on a conflict re-read and decide
    again. A round whose ``slot`` was applied meanwhile is dropped
    (``skipped``), never counted twice. ``with_peers``: ``decide`` takes
    ``(state, peers)``."""
    for attempt in range(MAX_WRITE_ATTEMPTS):
        at = now_epoch() if now_epoch else None
        stored = load(client, table_name, connect_region, policy, checker_region, at)
        if slot_already_applied(stored, slot):
            return RoundOutcome(stored, None, stored.state.version, attempt, skipped=True)
        decision = decide(stored.state, stored.peers) if with_peers else decide(stored.state)
        try:
            version = save(
                client,
                table_name,
                connect_region,
                stored,
                decision,
                observations,
                now(),
                now_epoch=at,
                checker_region=checker_region,
                slot=slot,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # Full jitter so colliding rounds do not collide again in lockstep;
            # capped so all retries together stay well inside the function timeout.
            sleep(random.uniform(0, min(0.4, 0.025 * 2**attempt)))
            continue
        return RoundOutcome(stored, decision, version, conflicts=attempt)
    raise StateConflictError(
        f"state item for {connect_region} changed {MAX_WRITE_ATTEMPTS} times during one round"
    )


def _regions_value(
    decision: Decision, observations: Mapping[str, RegionObservation], now: str
) -> dict[str, Any]:
    value = {}
    for region, streak in decision.state.streaks.items():
        seen = observations[region]
        entry: dict[str, Any] = {
            "okStreak": {"N": str(streak.ok)},
            "failStreak": {"N": str(streak.fail)},
            "lastOk": {"BOOL": seen.ok},
            "lastProbeAt": {"S": now},
            "lastLatencyMs": {"N": str(seen.latency_ms)},
        }
        if seen.method:
            entry["lastMethod"] = {"S": seen.method}
        if seen.error:
            entry["lastError"] = {"S": seen.error}
        value[region] = {"M": entry}
    return value
