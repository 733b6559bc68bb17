"""The failover state machine: a pure function of (state, probe results, policy).

No AWS here. The health check loads :class:`HealthState` from the table, probes
both regions, calls :func:`decide`, and writes the returned state back with a
conditional, versioned update. The failover simulation (``bench/failover_sim.py``)
drives the very same :func:`decide`.

Transitions (``active`` = the state's ``lex_region``):

- an ``override_region`` that is one of the two regions wins: ``lex_region``
  becomes the override; probe results are still recorded in the streaks;
- an ``override_region`` that is *not* one of the two regions is ignored (the
  round is decided as if it were unset) and reported in
  :attr:`Decision.ignored_override` so the caller logs a warning;
- a ``lex_region`` that is the legacy ``err`` (or any value that is not one of
  the two regions) is read as the primary;
- both regions failed this round ⇒ ``lex_region`` unchanged (fail open) and
  :attr:`Decision.all_failing` is set so the caller raises an alarm metric;
- active failed ``failover_threshold`` consecutive rounds (this one included)
  and the other region passed this round ⇒ switch to the other region;
- active is the secondary, ``auto_failback`` is on, and the primary passed
  ``failback_threshold`` consecutive rounds ⇒ switch back to the primary.

Vantage points (two checkers, one per region, each probing both bots): the
streaks in ``state`` are this checker's own. ``peers`` are the other
checkers' latest rounds as replicated to this region. A peer is *alive* when
its latest round is at most ``policy.staleness_seconds`` old; a failover or a
failback needs every alive vantage point to agree:

- failover additionally needs every alive peer's latest round to have failed
  the active region;
- failback additionally needs every alive peer's latest round to have passed
  the primary.

A peer that is dead (stale or absent) does not vote, so the surviving checker
decides alone when the other's region is lost. A checker that cannot reach
either bot fails both regions, which is ``all_failing`` and never switches;
and its peer, which sees the active region pass, vetoes any switch it would
make. Why the peer's *latest round* rather than its streak: both checkers run
on the same cadence and a failover needs ``failover_threshold`` (>= 1)
failed rounds, so with ``failover_threshold >= 2`` the peer's previous round
already failed too when replication lag hides its current one: agreement
costs no extra round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from handlers.lex_dr import contract

#: What the original wrote when neither region answered.
LEGACY_ERROR_REGION = "err"

SwitchReason = Literal["failover", "failback", "override"]


#: Consecutive failed rounds of the active region before failing over
#: (declared in ``contract.FAILOVER_THRESHOLD``).
DEFAULT_FAILOVER_THRESHOLD: int = contract.FAILOVER_THRESHOLD.default
#: Consecutive good rounds of the primary before failing back.
DEFAULT_FAILBACK_THRESHOLD: int = contract.FAILBACK_THRESHOLD.default
#: A peer checker whose latest round is older than this no longer votes.
#: A 10 s interval plus a slow round (6.3 s), cold start, schedule jitter and
#: replication lag fit inside,
#: so a live peer is never taken for dead; see bench/failover_sim.py.
DEFAULT_STALENESS_SECONDS = float(contract.STALENESS_SECONDS.default)


@dataclass(frozen=True)
class Policy:
    """The two regions and the hysteresis settings."""

    primary: str
    secondary: str
    failover_threshold: int = DEFAULT_FAILOVER_THRESHOLD
    failback_threshold: int = DEFAULT_FAILBACK_THRESHOLD
    auto_failback: bool = True
    staleness_seconds: float = DEFAULT_STALENESS_SECONDS

    def __post_init__(self) -> None:
        if not self.primary or not self.secondary or self.primary == self.secondary:
            raise ValueError("primary and secondary must be two different regions")
        if self.failover_threshold < 1 or self.failback_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        if not self.staleness_seconds > 0:
            raise ValueError("staleness_seconds must be positive")

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary, self.secondary)

    def other(self, region: str) -> str:
        return self.secondary if region == self.primary else self.primary


@dataclass(frozen=True)
class RegionStreak:
    """Consecutive passed (``ok``) and failed (``fail``) rounds; one is always 0."""

    ok: int = 0
    fail: int = 0

    def record(self, passed: bool) -> RegionStreak:
        if passed:
            return RegionStreak(ok=self.ok + 1, fail=0)
        return RegionStreak(ok=0, fail=self.fail + 1)


@dataclass(frozen=True)
class PeerView:
    """Another checker's latest round, as read from this region's replica.

    ``last_results``: region -> passed, for that round; ``age_seconds``: now
    minus the time that round was recorded (negative from clock skew counts
    as fresh).
    """

    checker_region: str
    last_results: Mapping[str, bool]
    age_seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_results", MappingProxyType(dict(self.last_results)))

    def alive(self, policy: Policy) -> bool:
        return self.age_seconds <= policy.staleness_seconds and all(
            r in self.last_results for r in policy.regions
        )


@dataclass(frozen=True)
class HealthState:
    """What the table item says before a round.

    ``lex_region`` is kept as stored (it may be the legacy ``err``);
    ``override_region`` is whatever an operator put there (may be invalid).
    ``version`` is only carried along: persistence owns it.
    """

    lex_region: str
    streaks: Mapping[str, RegionStreak] = field(default_factory=dict)
    version: int = 0
    override_region: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "streaks", MappingProxyType(dict(self.streaks)))

    def streak(self, region: str) -> RegionStreak:
        return self.streaks.get(region, RegionStreak())


@dataclass(frozen=True)
class Decision:
    """The outcome of one round.

    ``state`` is the state to persist (same ``version`` as the input).
    ``switched`` is true when the region callers are sent to changes, i.e.
    ``state.lex_region`` differs from the *effective* previous region (a
    legacy ``err`` rewritten to the primary is not a switch).
    """

    state: HealthState
    previous_region: str
    switched: bool
    reason: SwitchReason | None
    all_failing: bool
    ignored_override: str | None = None
    #: vantage points that voted: this checker plus its alive peers
    vantage_points: int = 1
    #: this checker alone would have switched; an alive peer disagreed
    vetoed: SwitchReason | None = None

    @property
    def active_region(self) -> str:
        return self.state.lex_region


def effective_region(lex_region: str | None, policy: Policy) -> str:
    """The region callers are sent to for a stored ``lexRegion`` value."""
    return lex_region if lex_region in policy.regions else policy.primary


def decide(
    state: HealthState,
    results: Mapping[str, bool],
    policy: Policy,
    peers: Sequence[PeerView] = (),
) -> Decision:
    """Apply one probe round to ``state``.

    ``results`` must hold a bool for both regions of ``policy``. An
    ``override_region`` that is not one of the two regions is ignored and
    returned in ``Decision.ignored_override`` (the caller logs a warning).
    ``peers`` are the other vantage points (see the module docstring); dead
    ones are ignored, so ``()`` is a lone checker.
    """
    missing = [r for r in policy.regions if r not in results]
    if missing:
        raise ValueError(f"no probe result for {', '.join(missing)}")

    streaks = {r: state.streak(r).record(bool(results[r])) for r in policy.regions}
    active = effective_region(state.lex_region, policy)
    all_failing = not any(results[r] for r in policy.regions)

    override = state.override_region or None
    ignored_override = None
    if override is not None and override not in policy.regions:
        ignored_override, override = override, None

    alive = [p for p in peers if p.alive(policy)]
    new_region = active
    reason: SwitchReason | None = None
    vetoed: SwitchReason | None = None
    if override is not None:
        new_region = override
        reason = "override" if override != active else None
    elif not all_failing:
        other = policy.other(active)
        if (
            not results[active]
            and streaks[active].fail >= policy.failover_threshold
            and results[other]
        ):
            if all(not p.last_results[active] for p in alive):
                new_region, reason = other, "failover"
            else:
                vetoed = "failover"
        elif (
            active == policy.secondary
            and policy.auto_failback
            and streaks[policy.primary].ok >= policy.failback_threshold
        ):
            if all(p.last_results[policy.primary] for p in alive):
                new_region, reason = policy.primary, "failback"
            else:
                vetoed = "failback"

    return Decision(
        state=replace(state, lex_region=new_region, streaks=streaks),
        previous_region=active,
        switched=new_region != active,
        reason=reason,
        all_failing=all_failing,
        ignored_override=ignored_override,
        vantage_points=1 + len(alive),
        vetoed=vetoed,
    )
