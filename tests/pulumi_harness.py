"""The mock-engine core of ``support/mock_engine.py``, re-exported unchanged for
the tests, plus the region pairs and pytest fixtures (``run_stack``,
``dev_run``, ``eu_run``) that run the program under it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from support.mock_engine import (
    ACCOUNT,
    DEV_REGIONS,
    MAIN,
    ProgramRun,
    Recorded,
    RecordingMocks,
    _computed_outputs,
    run_program,
    stack_file_config,
    types_of,
)

__all__ = [
    "ACCOUNT",
    "DEV_CONFIG",
    "EU_CONFIG",
    "MAIN",
    "ProgramRun",
    "Recorded",
    "RecordingMocks",
    "_computed_outputs",
    "dev_run",
    "eu_run",
    "run_program",
    "run_stack",
    "stack_file_config",
    "types_of",
]

#: The dev stack's pair, as the drill falls back to it.
DEV_CONFIG: dict[str, Any] = dict(DEV_REGIONS)
EU_CONFIG: dict[str, Any] = {"primaryRegion": "eu-west-2", "secondaryRegion": "eu-central-1"}


@pytest.fixture
def run_stack() -> Callable[..., ProgramRun]:
    """``run_stack(config=None, **overrides)``: run the program for the dev
    region pair (or ``config``) with keys overridden."""

    def run(config: Mapping[str, Any] | None = None, stack: str = "dev", **overrides: Any):
        return run_program({**(config or DEV_CONFIG), **overrides}, stack=stack)

    return run


@pytest.fixture(scope="module")
def dev_run() -> ProgramRun:
    """One shared run of the dev stack (read-only: don't mutate it)."""
    return run_program(DEV_CONFIG)


@pytest.fixture(scope="module")
def eu_run() -> ProgramRun:
    return run_program(EU_CONFIG, stack="eu")
