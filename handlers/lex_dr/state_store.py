"""The failover state item in DynamoDB: read, decide, conditional write, retry.

One item per Amazon Connect region (key ``connectRegion``). Attributes this
module writes (it never writes ``overrideRegion``, which belongs to operators):

- ``lexRegion`` (S): the region callers should use;
- ``version`` (N): incremented by every write of the health check;
- ``regions`` (M): per region ``{okStreak N, failStreak N, lastOk BOOL,
  lastProbeAt S, lastLatencyMs N, lastError S (only after a failure)}``;
- ``updatedAt`` (S), and on a switch ``lastSwitchAt`` (S),
  ``lastSwitchReason`` (S: failover | failback | override), ``lastSwitchFrom`` (S).

Every write is conditional on the ``version`` and the ``overrideRegion`` read
(``attribute_not_exists`` when absent), so a concurrent round or operator
change is never overwritten: the loser re-reads and re-applies its own probe
results to the winner's state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handlers.lex_dr.decision import Decision, HealthState, Policy, RegionStreak

#: Partition key of the state table (``components/schemas.py`` is the source).
KEY_ATTRIBUTE = "connectRegion"
MAX_WRITE_ATTEMPTS = 8

_NAMES = {
    "#lex": "lexRegion",
    "#version": "version",
    "#regions": "regions",
    "#override": "overrideRegion",
    "#updated": "updatedAt",
    "#switchAt": "lastSwitchAt",
    "#switchReason": "lastSwitchReason",
    "#switchFrom": "lastSwitchFrom",
}


class StateConflictError(Exception):
    """The item kept changing under us; this round's result was not recorded."""


@dataclass(frozen=True)
class StoredState:
    state: HealthState
    #: ``overrideRegion`` exactly as read (any type), or None when absent
    raw_override: Mapping[str, Any] | None
    #: ``version`` exactly as read, or None when absent (a seeded or new item)
    raw_version: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RegionObservation:
    """What a round saw of one region, beyond pass/fail (for the item)."""

    ok: bool
    latency_ms: int
    error: str | None = None


def load(client: Any, table_name: str, connect_region: str, policy: Policy) -> StoredState:
    """Read the item (strongly consistent: it is about to be conditionally updated)."""
    response = client.get_item(
        TableName=table_name,
        Key={KEY_ATTRIBUTE: {"S": connect_region}},
        ConsistentRead=True,
    )
    item = response.get("Item") or {}
    raw_override = item.get("overrideRegion")
    override = raw_override.get("S") if raw_override else None
    regions = item.get("regions", {}).get("M", {})
    streaks = {}
    for region in policy.regions:
        entry = regions.get(region, {}).get("M", {})
        streaks[region] = RegionStreak(
            ok=_int(entry.get("okStreak")), fail=_int(entry.get("failStreak"))
        )
    lex_region = item.get("lexRegion", {}).get("S") or policy.primary
    state = HealthState(
        lex_region=lex_region,
        streaks=streaks,
        version=_int(item.get("version")),
        override_region=override,
    )
    return StoredState(state=state, raw_override=raw_override, raw_version=item.get("version"))


def save(
    client: Any,
    table_name: str,
    connect_region: str,
    stored: StoredState,
    decision: Decision,
    observations: Mapping[str, RegionObservation],
    now: str,
) -> int:
    """Write the decision if the item is still as read. Returns the new version.

    Raises ``ConditionalCheckFailedException`` (a ``ClientError``) otherwise.
    """
    new_version = stored.state.version + 1
    values: dict[str, Any] = {
        ":lex": {"S": decision.state.lex_region},
        ":version": {"N": str(new_version)},
        ":regions": {"M": _regions_value(decision, observations, now)},
        ":now": {"S": now},
    }
    sets = ["#lex = :lex", "#version = :version", "#regions = :regions", "#updated = :now"]
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

    used = " ".join(sets + conditions)
    client.update_item(
        TableName=table_name,
        Key={KEY_ATTRIBUTE: {"S": connect_region}},
        UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression=" AND ".join(conditions),
        ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
        ExpressionAttributeValues=values,
    )
    return new_version


@dataclass(frozen=True)
class RoundOutcome:
    stored: StoredState
    decision: Decision
    version: int
    conflicts: int


def apply_round(
    client: Any,
    table_name: str,
    connect_region: str,
    policy: Policy,
    decide: Callable[[HealthState], Decision],
    observations: Mapping[str, RegionObservation],
    now: Callable[[], str],
    sleep: Callable[[float], None] = time.sleep,
) -> RoundOutcome:
    """Read, decide, write conditionally; on a conflict re-read and decide again."""
    for attempt in range(MAX_WRITE_ATTEMPTS):
        stored = load(client, table_name, connect_region, policy)
        decision = decide(stored.state)
        try:
            version = save(
                client, table_name, connect_region, stored, decision, observations, now()
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
        if seen.error:
            entry["lastError"] = {"S": seen.error}
        value[region] = {"M": entry}
    return value


def _int(attribute: Mapping[str, Any] | None) -> int:
    try:
        return int(attribute["N"]) if attribute else 0
    except (KeyError, TypeError, ValueError):
        return 0
