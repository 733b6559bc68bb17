"""Run the whole Pulumi program under the mock engine and record everything.

The engine core (``RecordingMocks``, ``_computed_outputs``, ``run_program``,
``ProgramRun``, ``Recorded``, ``stack_file_config``) lives in
``drill/mock_engine.py`` so that ``python -m drill plan`` can use it without
pytest; it is re-exported here unchanged. This module adds the region pairs
the tests use and the pytest fixtures (``run_stack``, ``dev_run``,
``eu_run``).

``RecordingMocks`` keeps every resource's type, name, inputs, provider,
parent and URN, so tests assert on recorded inputs instead of inside
``apply``. ``run_program(config)`` runs ``__main__.py`` with a fresh event
loop, ``set_mocks(..., preview=False)`` and ``set_all_config``, and returns a
``ProgramRun`` with the resources, resolved stack outputs and helpers to find
resources and the region each one lands in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from drill.mock_engine import (
    ACCOUNT,
    MAIN,
    PROJECT,
    ROOT,
    ProgramRun,
    Recorded,
    RecordingMocks,
    _computed_outputs,
    _config_value,
    _physical_name,
    _suffix,
    run_program,
    stack_file_config,
    types_of,
)

__all__ = [
    "ACCOUNT",
    "DEV_CONFIG",
    "EU_CONFIG",
    "MAIN",
    "PROJECT",
    "ROOT",
    "ProgramRun",
    "Recorded",
    "RecordingMocks",
    "_computed_outputs",
    "_config_value",
    "_physical_name",
    "_suffix",
    "dev_run",
    "eu_run",
    "run_program",
    "run_stack",
    "stack_file_config",
    "types_of",
]

DEV_CONFIG: dict[str, Any] = {"primaryRegion": "us-east-1", "secondaryRegion": "us-west-2"}
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
