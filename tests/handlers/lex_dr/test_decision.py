"""decision.decide: exhaustive transitions and properties over random round sequences."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.lex_dr.decision import (
    Decision,
    HealthState,
    PeerView,
    Policy,
    RegionStreak,
    decide,
    effective_region,
)

P, S = "us-east-1", "us-west-2"
POLICY = Policy(primary=P, secondary=S)


def state(active: str = P, p: tuple[int, int] = (0, 0), s: tuple[int, int] = (0, 0), **kw):
    return HealthState(lex_region=active, streaks={P: RegionStreak(*p), S: RegionStreak(*s)}, **kw)


def rounds(initial: HealthState, seq, policy: Policy = POLICY) -> list[Decision]:
    out, current = [], initial
    for primary_ok, secondary_ok in seq:
        decision = decide(current, {P: primary_ok, S: secondary_ok}, policy)
        out.append(decision)
        current = decision.state
    return out


# --- the contract, transition by transition -------------------------------------------


def test_one_failure_does_not_switch_two_do():
    first, second = rounds(state(), [(False, True), (False, True)])
    assert (first.switched, first.active_region) == (False, P)
    assert (second.switched, second.active_region, second.reason) == (True, S, "failover")


def test_other_region_must_have_passed_this_round():
    decisions = rounds(state(), [(False, True), (False, False), (False, True)])
    assert [d.active_region for d in decisions] == [P, P, S]
    assert decisions[1].all_failing and not decisions[1].switched


def test_failback_after_three_good_primary_rounds():
    decisions = rounds(state(S), [(True, True)] * 3)
    assert [d.active_region for d in decisions] == [S, S, P]
    assert decisions[-1].reason == "failback"


def test_failback_requires_consecutive_good_rounds():
    decisions = rounds(state(S), [(True, True), (True, True), (False, True), (True, True)])
    assert all(d.active_region == S for d in decisions)


def test_no_auto_failback():
    policy = Policy(P, S, auto_failback=False)
    assert all(d.active_region == S for d in rounds(state(S), [(True, True)] * 20, policy))


def test_failing_secondary_fails_over_to_primary_even_without_auto_failback():
    policy = Policy(P, S, auto_failback=False)
    decisions = rounds(state(S), [(True, False)] * 2, policy)
    assert [d.active_region for d in decisions] == [S, P]
    assert decisions[-1].reason == "failover"


def test_both_down_is_unchanged_and_flagged():
    decisions = rounds(state(S, s=(0, 5)), [(False, False)] * 5)
    assert all(d.active_region == S and d.all_failing and not d.switched for d in decisions)


def test_flapping_never_switches():
    seq = [(False, True), (True, True)] * 50
    assert not any(d.switched for d in rounds(state(), seq))


def test_override_wins_and_streaks_still_recorded():
    d = decide(state(P, override_region=S), {P: True, S: False}, POLICY)
    assert (d.active_region, d.switched, d.reason) == (S, True, "override")
    assert d.state.streak(S) == RegionStreak(ok=0, fail=1)
    assert d.state.streak(P) == RegionStreak(ok=1, fail=0)
    assert d.state.override_region == S


def test_invalid_override_is_ignored_and_reported():
    d = decide(state(P, p=(0, 1), override_region="err"), {P: False, S: True}, POLICY)
    assert d.ignored_override == "err"
    assert (d.active_region, d.reason) == (S, "failover")


def test_empty_override_is_no_override():
    d = decide(state(P, override_region=""), {P: True, S: True}, POLICY)
    assert d.ignored_override is None and d.active_region == P


@pytest.mark.parametrize("stored", ["err", "", "eu-central-1"])
def test_legacy_or_unknown_lex_region_reads_as_primary(stored):
    d = decide(state(stored), {P: True, S: True}, POLICY)
    assert d.previous_region == P
    assert (d.active_region, d.switched) == (P, False)


def test_missing_result_is_an_error():
    with pytest.raises(ValueError, match=S):
        decide(state(), {P: True}, POLICY)


def test_invalid_policy():
    with pytest.raises(ValueError):
        Policy(P, P)
    with pytest.raises(ValueError):
        Policy(P, S, failover_threshold=0)


def test_version_is_carried_not_bumped():
    assert decide(state(version=7), {P: True, S: True}, POLICY).state.version == 7


def test_effective_region():
    assert effective_region("err", POLICY) == P
    assert effective_region(None, POLICY) == P
    assert effective_region(S, POLICY) == S


# --- exhaustive: every state with small streaks x every round outcome ----------------


def all_states(limit: int = 5):
    streaks = [(ok, 0) for ok in range(limit)] + [(0, fail) for fail in range(1, limit)]
    for active, p, s, override in itertools.product(
        [P, S, "err"], streaks, streaks, [None, P, S, "bogus"]
    ):
        yield state(active, p, s, override_region=override)


OUTCOMES = list(itertools.product([True, False], repeat=2))


@pytest.mark.parametrize("policy", [POLICY, Policy(P, S, 1, 1), Policy(P, S, 3, 2, False)])
def test_exhaustive_single_round(policy):
    checked = 0
    for before in all_states():
        for primary_ok, secondary_ok in OUTCOMES:
            results = {P: primary_ok, S: secondary_ok}
            d = decide(before, results, policy)
            active = effective_region(before.lex_region, policy)
            override = before.override_region if before.override_region in (P, S) else None
            assert d.active_region in (P, S)
            assert d.switched == (d.active_region != active)
            for r in (P, S):
                prev = before.streak(r)
                assert d.state.streak(r) == (
                    RegionStreak(prev.ok + 1, 0) if results[r] else RegionStreak(0, prev.fail + 1)
                )
            if override:
                assert d.active_region == override
            elif not (primary_ok or secondary_ok):
                assert d.all_failing and not d.switched
            elif d.reason == "failover":
                assert not results[active] and results[d.active_region]
                assert d.state.streak(active).fail >= policy.failover_threshold
            elif d.reason == "failback":
                assert active == S and d.active_region == P and policy.auto_failback
                assert d.state.streak(P).ok >= policy.failback_threshold
            else:
                assert not d.switched
                # and no transition rule applied that should have
                other = policy.other(active)
                assert not (
                    not results[active]
                    and d.state.streak(active).fail >= policy.failover_threshold
                    and results[other]
                )
                assert not (
                    active == S
                    and policy.auto_failback
                    and d.state.streak(P).ok >= policy.failback_threshold
                )
            checked += 1
    assert checked == 81 * 3 * 4 * 4


# --- properties over random sequences of rounds -----------------------------------------

policies = st.builds(
    Policy,
    primary=st.just(P),
    secondary=st.just(S),
    failover_threshold=st.integers(1, 4),
    failback_threshold=st.integers(1, 5),
    auto_failback=st.booleans(),
)
round_seq = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60)
start_region = st.sampled_from([P, S, "err"])


@settings(max_examples=300, deadline=None)
@given(policies, round_seq, start_region)
def test_properties_of_round_sequences(policy, seq, start):
    current = state(start)
    fail_run = {P: 0, S: 0}
    ok_run = {P: 0, S: 0}
    for primary_ok, secondary_ok in seq:
        results = {P: primary_ok, S: secondary_ok}
        for r in (P, S):
            fail_run[r] = 0 if results[r] else fail_run[r] + 1
            ok_run[r] = ok_run[r] + 1 if results[r] else 0
        active = effective_region(current.lex_region, policy)
        d = decide(current, results, policy)

        assert d.active_region in (P, S)
        if not (primary_ok or secondary_ok):
            assert d.active_region == active, "both failing never changes the region"
        if d.switched and d.reason == "failover":
            assert fail_run[active] >= policy.failover_threshold, "fewer than N failures"
            assert results[d.active_region], "never fail over to a region that just failed"
        if d.switched and results[active]:
            # the only way to leave a healthy active region is failback to the primary
            assert d.reason == "failback" and d.active_region == P
            assert ok_run[P] >= policy.failback_threshold
        if not policy.auto_failback:
            assert d.reason != "failback"
        current = d.state


@settings(max_examples=200, deadline=None)
@given(policies, round_seq, st.sampled_from([P, S]))
def test_override_always_wins(policy, seq, override):
    current = state(P, override_region=override)
    for primary_ok, secondary_ok in seq:
        d = decide(current, {P: primary_ok, S: secondary_ok}, policy)
        assert d.active_region == override
        current = d.state


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 6), st.integers(0, 40))
def test_alternating_failures_never_reach_a_threshold_above_one(threshold, n):
    policy = Policy(P, S, failover_threshold=threshold)
    seq = [(i % 2 == 1, True) for i in range(n)]
    assert not any(d.switched for d in rounds(state(), seq, policy))


# --- vantage points: agreement of the alive checkers ------------------------------------

FRESH, STALE = 5.0, POLICY.staleness_seconds + 0.001


def peer(p_ok: bool, s_ok: bool, age: float = FRESH) -> PeerView:
    return PeerView("peer-region", {P: p_ok, S: s_ok}, age)


def test_fresh_peer_that_sees_the_active_region_pass_vetoes_failover():
    before = state(P, p=(0, 1))
    d = decide(before, {P: False, S: True}, POLICY, [peer(True, True)])
    assert not d.switched and d.vetoed == "failover" and d.vantage_points == 2
    agreed = decide(before, {P: False, S: True}, POLICY, [peer(False, True)])
    assert agreed.switched and agreed.reason == "failover" and agreed.vetoed is None


def test_stale_or_absent_peer_does_not_vote():
    before = state(P, p=(0, 1))
    stale = decide(before, {P: False, S: True}, POLICY, [peer(True, True, STALE)])
    assert stale.switched and stale.vantage_points == 1
    at_the_bound = decide(
        before, {P: False, S: True}, POLICY, [peer(True, True, POLICY.staleness_seconds)]
    )
    assert not at_the_bound.switched, "a peer exactly at the bound is still alive"
    incomplete = PeerView("peer-region", {P: True}, FRESH)
    assert decide(before, {P: False, S: True}, POLICY, [incomplete]).switched


def test_failback_needs_the_alive_peer_to_see_the_primary_pass():
    before = state(S, p=(2, 0))
    assert decide(before, {P: True, S: True}, POLICY, [peer(False, True)]).vetoed == "failback"
    assert decide(before, {P: True, S: True}, POLICY, [peer(True, True)]).reason == "failback"


def test_partitioned_checker_alone_never_switches():
    """A checker that reaches neither bot: every round is all-failing."""
    current = state(P)
    for _ in range(20):
        d = decide(current, {P: False, S: False}, POLICY, [peer(True, True)])
        assert not d.switched and d.all_failing
        current = d.state


PEERS = [
    None,
    *(peer(a, b, age) for a in (True, False) for b in (True, False) for age in (FRESH, STALE)),
]


@pytest.mark.parametrize("policy", [POLICY, Policy(P, S, 1, 1), Policy(P, S, 3, 2, False)])
def test_exhaustive_with_a_peer(policy):
    """Every small state x outcome x peer view: a peer can only hold a switch
    back, never cause one; a dead peer changes nothing; an agreeing peer
    changes nothing."""
    checked = 0
    for before in all_states(4):
        for primary_ok, secondary_ok in OUTCOMES:
            results = {P: primary_ok, S: secondary_ok}
            alone = decide(before, results, policy)
            for view in PEERS:
                d = decide(before, results, policy, [] if view is None else [view])
                assert d.state.streaks == alone.state.streaks, "a peer never edits own streaks"
                alive = view is not None and view.alive(policy)
                if not alive:
                    assert d == replace(alone, vantage_points=1)
                    continue
                assert d.vantage_points == 2
                if d.switched:
                    assert alone.switched and d.active_region == alone.active_region
                if alone.reason == "failover":
                    agrees = not view.last_results[alone.previous_region]
                    assert d.switched == agrees and (d.vetoed == "failover") != agrees
                elif alone.reason == "failback":
                    agrees = view.last_results[P]
                    assert d.switched == agrees and (d.vetoed == "failback") != agrees
                else:
                    assert d == replace(alone, vantage_points=2)
                checked += 1
    assert checked > 0
