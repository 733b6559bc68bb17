"""The failover simulation, small: the defaults meet the targets, one attempt does not."""

from __future__ import annotations

import math

import pytest

from bench.failover_sim import SimConfig, simulate

SMALL = {
    "detection_samples": 400,
    "mc_years": 20,
    "contrast_rounds": 20_000,
    "validation_rounds": 60_000,
    "max_failing_rounds": 20_000,
}


@pytest.fixture(scope="module")
def report():
    return simulate(SimConfig(), **SMALL)


def test_defaults_meet_the_targets(report):
    assert report.meets_targets()
    timeouts, fast = report.detection
    assert timeouts.worst_bound_s <= 30.0
    assert timeouts.max_s <= timeouts.worst_bound_s + 1e-9
    assert fast.worst_bound_s < timeouts.worst_bound_s
    assert timeouts.round_s < SimConfig().interval_s, "a failing round must fit its slot"
    three = report.false_failovers[0]
    assert three.attempts == 3
    assert three.markov_per_year < 1.0
    assert three.markov_per_year == pytest.approx(three.closed_form_per_year, rel=0.05)


def test_one_attempt_would_fail_over_thousands_of_times_a_year(report):
    one = report.false_failovers[1]
    assert one.attempts == 1
    assert one.markov_per_year > 1000
    assert not simulate(SimConfig(attempts=1), **SMALL).meets_targets()


def test_monte_carlo_agrees_with_the_exact_chain(report):
    for f in (report.false_failovers[1], *report.validation):
        expected = f.markov_per_year * f.mc_years
        assert abs(f.mc_events - expected) <= 5 * math.sqrt(expected) + 1, f


def test_markdown_table(report):
    table = report.markdown()
    assert "| timeouts" in table and "| fast errors" in table
    assert "MISSED" not in table
