"""Fixtures for the cell router handler tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from handlers.cell_router import aws_clients, caller_cell, dispatcher, identity
from tests.handlers.cell_router.support import TABLE, Router, build_router


@pytest.fixture(autouse=True)
def _router_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    for name in (
        "DEFAULT_MARKET",
        "CAPACITY_BUFFER",
        "SCALE_OUT_THRESHOLD",
        "ENDPOINT_TTL_SECONDS",
        "VALIDATOR_DEEP_CHECK",
        "VALIDATOR_TIMEOUT_SECONDS",
        "PROVISIONING_QUEUE_URL",
        "SCALE_OUT_EPISODE_TIMEOUT_SECONDS",
        "REMEDIATION_SUPPORT_CONTACT",
        "REMEDIATION_INCIDENT_NOTICE",
        "REMEDIATION_EXPECTED_WAIT_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CELL_ENDPOINT_DOMAINS", raising=False)
    monkeypatch.delenv("MAX_CELLS_PER_MARKET", raising=False)
    monkeypatch.delenv("SLOTS_PER_CELL", raising=False)
    aws_clients.reset()
    identity.reset()
    # Slotted cells (issue #14): each test starts as a cold container.
    dispatcher.SNAPSHOTS.clear()
    caller_cell.forget_cells()
    yield
    aws_clients.reset()
    identity.reset()
    dispatcher.SNAPSHOTS.clear()
    caller_cell.forget_cells()


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    with mock_aws():
        built = build_router()
        monkeypatch.setenv("PROVISIONING_QUEUE_URL", built.queue_url)
        monkeypatch.setenv("USER_KEY_SECRET_ARN", built.secret_arn)
        yield built


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A request rejected before any metric is recorded is expected here.
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics"))
