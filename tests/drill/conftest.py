"""Fixtures for the drill tests: one mock-engine read of each stack per module."""

from __future__ import annotations

import pytest

from drill.stack import StackModel, load_stack


@pytest.fixture(scope="module")
def dev_stack() -> StackModel:
    return load_stack("dev")


@pytest.fixture(scope="module")
def eu_stack() -> StackModel:
    return load_stack("eu")
