"""Items of the replicated failover state table, who writes each, and how the
readers combine them. Pure: no AWS calls, so the components, the drill and
the tests import it freely.

The table is a DynamoDB global table (a replica per region). Global tables
resolve concurrent writes to one item last-writer-wins, so **no item is ever
written from two regions**. All items share the partition key
``connectRegion`` (S):

=========================================  ==============================  =====================
key                                        written by                      holds
=========================================  ==============================  =====================
``<connect>``                              the checker in ``<connect>``    its observations and
                                           (the primary; the item the      decision (``lexRegion``,
                                           stack seeds: the SPEC's item)   ``epoch``); legacy
                                                                           ``overrideRegion``
``<connect>#checker#<region>``             the checker in ``<region>``     its observations and
                                           (every other region)            decision
``<connect>#override#<region>``            an operator, in ``<region>``    ``overrideRegion``,
                                           only                            ``setAt``
=========================================  ==============================  =====================

``<connect>`` is the Amazon Connect region the contact flow passes as
``Details.Parameters.region`` (the primary). The legacy ``overrideRegion``
attribute on the ``<connect>`` item may only be set by an operator working
in that item's region (the primary).

**The decision** callers get is the ``lexRegion`` of the checker item with the
highest ``epoch``; a checker that switches writes ``epoch`` = the highest
epoch it read + 1, and a checker that reads a higher epoch than its own
adopts that item's ``lexRegion``. So a switch by either checker reaches both
lookups as soon as it replicates, and the two checkers never keep two
opinions. Ties (both switched from the same epoch in the same round, which
can only be the same target outside overrides) go to the later
``updatedAt``, then to the key, so every reader picks the same item.

**The override** is the ``overrideRegion`` with the latest ``setAt`` among the
override items and the legacy attribute (which counts as the oldest unless
it carries ``overrideSetAt``). Readers take it directly, so it wins in both
lookups as soon as it replicates, before any checker round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.lex_dr import contract

#: Partition key of the state table (``components/schemas.py`` is the source).
KEY_ATTRIBUTE = contract.STATE_TABLE.hash_key.name
CHECKER_MARK = "#checker#"
OVERRIDE_MARK = "#override#"


def checker_key(connect_region: str, checker_region: str) -> str:
    """The one item the checker in ``checker_region`` writes."""
    if checker_region == connect_region:
        return connect_region
    return f"{connect_region}{CHECKER_MARK}{checker_region}"


def override_key(connect_region: str, region: str) -> str:
    """The override item operators in ``region`` (and only there) write."""
    return f"{connect_region}{OVERRIDE_MARK}{region}"


def state_keys(connect_region: str, regions: Iterable[str]) -> list[str]:
    """Every key a reader needs: each region's checker item and override item."""
    keys: list[str] = []
    for region in regions:
        for key in (checker_key(connect_region, region), override_key(connect_region, region)):
            if key not in keys:
                keys.append(key)
    if connect_region not in keys:
        keys.insert(0, connect_region)
    return keys


def writer_region(key: str) -> str:
    """The only region that may write ``key`` (the drill's single-writer check)."""
    for mark in (CHECKER_MARK, OVERRIDE_MARK):
        if mark in key:
            return key.split(mark, 1)[1]
    return key


@dataclass(frozen=True)
class DecisionRecord:
    """A checker item's decision: ``lex_region`` as stored (may be ``err``)."""

    key: str
    lex_region: str
    epoch: int
    updated_at: str


def decision_of(item: Mapping[str, Any]) -> DecisionRecord | None:
    lex_region = _string(item.get("lexRegion"))
    if not lex_region:
        return None
    return DecisionRecord(
        key=_string(item.get(KEY_ATTRIBUTE)) or "",
        lex_region=lex_region,
        epoch=int_attribute(item.get("epoch")),
        updated_at=_string(item.get("updatedAt")) or "",
    )


def winning_decision(records: Iterable[DecisionRecord | None]) -> DecisionRecord | None:
    found = [r for r in records if r is not None]
    if not found:
        return None
    return max(found, key=lambda r: (r.epoch, r.updated_at, r.key))


@dataclass(frozen=True)
class OverrideRecord:
    key: str
    region: str
    set_at: str


def override_of(item: Mapping[str, Any]) -> OverrideRecord | None:
    region = _string(item.get("overrideRegion"))
    if not region:
        return None
    return OverrideRecord(
        key=_string(item.get(KEY_ATTRIBUTE)) or "",
        region=region,
        set_at=_string(item.get("setAt")) or _string(item.get("overrideSetAt")) or "",
    )


def winning_override(records: Iterable[OverrideRecord | None]) -> OverrideRecord | None:
    found = [r for r in records if r is not None]
    if not found:
        return None
    return max(found, key=lambda r: (r.set_at, r.key))


@dataclass(frozen=True)
class StateView:
    """What a reader makes of the items it read."""

    decision: DecisionRecord | None
    override: OverrideRecord | None


def view(items: Sequence[Mapping[str, Any]]) -> StateView:
    return StateView(
        decision=winning_decision(decision_of(i) for i in items if not _is_override_item(i)),
        override=winning_override(override_of(i) for i in items),
    )


def _is_override_item(item: Mapping[str, Any]) -> bool:
    return OVERRIDE_MARK in (_string(item.get(KEY_ATTRIBUTE)) or "")


def _string(attribute: Any) -> str | None:
    if isinstance(attribute, Mapping):
        value = attribute.get("S")
        return value if isinstance(value, str) else None
    return None


def int_attribute(attribute: Any) -> int:
    try:
        return int(attribute["N"]) if attribute else 0
    except (KeyError, TypeError, ValueError):
        return 0


def float_attribute(attribute: Any) -> float | None:
    try:
        return float(attribute["N"]) if attribute else None
    except (KeyError, TypeError, ValueError):
        return None
