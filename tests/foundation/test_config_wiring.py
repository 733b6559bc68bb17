"""Settings reach the resources they are about (mock engine, recorded inputs)."""

from __future__ import annotations

import json

import pytest

from tests.pulumi_harness import ProgramRun

TABLE = "aws:dynamodb/table:Table"
FLOW = "aws:connect/contactFlow:ContactFlow"


def _tables(run: ProgramRun) -> list:
    return run.of_type(TABLE)


def test_tables_are_deletion_protected_by_default(dev_run: ProgramRun):
    tables = _tables(dev_run)
    assert {("lexDR" in t.name, "tbl_router" in t.name) for t in tables} == {
        (True, False),
        (False, True),
    }
    for table in tables:
        assert table.inputs.get("deletionProtectionEnabled") is True, table.name


def test_deletion_protection_can_be_switched_off_for_throwaway_stacks(run_stack):
    run = run_stack(tableDeletionProtection=False)
    for table in _tables(run):
        assert not table.inputs.get("deletionProtectionEnabled"), table.name


@pytest.mark.parametrize("name", [None, "Flowers (team B)"])
def test_contact_flow_name_comes_from_config(run_stack, name):
    overrides = {"connectMode": "create", "connectInstanceAlias": "flowers-dev"}
    if name is not None:
        overrides["contactFlowName"] = name
    run = run_stack(**overrides)
    flow = run.one(FLOW)
    assert flow.inputs["name"] == (name or "Flower DR Flow")
    assert json.loads(flow.inputs["content"])["Actions"]
