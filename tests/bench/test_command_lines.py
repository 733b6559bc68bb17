"""Every number a command line takes has a range: bad values are usage errors
naming the option (exit 2, no traceback), ``--help`` works (issue #15)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from drill.argtypes import integer_in, number_in
from drill.mock_engine import ROOT
from tests.hang_guard import HANG_GUARD_SECONDS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )


SIM = "bench/failover_sim.py"
ROUND_TRIPS = ("-m", "bench.round_trips")
DRILL = ("-m", "drill")

#: (command, bad arguments, what the usage error says)
BAD = [
    ((SIM,), ["--interval", "0"], "argument --interval: invalid choice: 0 (choose from 2, 3"),
    ((SIM,), ["--interval", "7"], "argument --interval: invalid choice: 7"),
    ((SIM,), ["--attempts", "0"], "argument --attempts: must be from 1 to 5, got 0"),
    ((SIM,), ["--loss", "1.5"], "argument --loss: must be in (0, 1), got 1.5"),
    ((SIM,), ["--loss", "0"], "argument --loss: must be in (0, 1), got 0"),
    ((SIM,), ["--samples", "0"], "argument --samples: must be from 2 to 1,000,000, got 0"),
    ((SIM,), ["--timeout", "-3"], "argument --timeout: must be in (0, 60], got -3"),
    ((SIM,), ["--years", "nan"], "argument --years: must be in [0.01, 100000], got nan"),
    ((SIM,), ["--failover-threshold", "x"], "argument --failover-threshold: must be an integer"),
    ((SIM,), ["--validation-loss", "1"], "argument --validation-loss: must be in (0, 1), got 1"),
    (ROUND_TRIPS, ["0"], "argument USERS: must be from 1 to 100,000, got 0"),
    (ROUND_TRIPS, ["ten"], "argument USERS: must be an integer, got 'ten'"),
    (DRILL, ["cells", "--capacity", "2000000"], "argument --capacity: must be from 1 to 1,000,000"),
    (DRILL, ["cells", "--users", "0"], "argument --users: must be from 1 to 20,000, got 0"),
    (DRILL, ["cells", "--threads", "1000"], "argument --threads: must be from 1 to 64, got 1,000"),
    (DRILL, ["cells", "--api-users", "-1"], "argument --api-users: must be from 0 to 200, got -1"),
    (DRILL, ["cells", "--cells", "1e3"], "argument --cells: must be an integer, got '1e3'"),
]


@pytest.mark.parametrize(
    ("command", "args", "message"), BAD, ids=[f"{c[-1]} {' '.join(a)}" for c, a, _ in BAD]
)
def test_out_of_range_numbers_are_usage_errors(command, args, message):
    done = run(*command, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [(SIM,), ROUND_TRIPS, DRILL, (*DRILL, "cells")])
def test_help_works(command):
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


def test_failover_sim_at_the_edges_of_its_ranges_prints_sane_figures():
    done = run(
        SIM, "--interval", "2", "--attempts", "1", "--loss", "0.999", "--timeout", "0.01",
        "--samples", "2", "--years", "0.01", "--validation-rounds", "1",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: a target missed, honestly
    assert "nan" not in done.stdout.lower() and "Traceback" not in done.stderr
    assert "| -" not in done.stdout  # no negative figure starts a cell


def test_range_types_accept_their_bounds_and_name_them():
    import argparse

    assert integer_in(1, 5)("5") == 5
    assert number_in(0, 1, low_open=True)("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \(0, 1\]"):
        number_in(0, 1, low_open=True)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="must be from 1 to 5, got 6"):
        integer_in(1, 5)("6")
