"""CellRouterFunctions: handlers, environment, exact IAM, the registrar's rule."""

from __future__ import annotations

import json

import parliament
import pytest

from components.cell_router_functions import (
    SCALE_PARTITIONS,
    USER_PARTITIONS,
    CellRouterFunctionsArgs,
)
from handlers.cell_router import store
from handlers.cell_router.events import (
    CELL_READY_DETAIL_TYPE,
    CELL_READY_EVENT_PATTERN,
    CELL_READY_SOURCE,
)
from tests.pulumi_harness import ProgramRun

MODULES = ("dispatcher", "scaler", "mapper", "validator", "registrar")


def _function(run: ProgramRun, module: str):
    name = f"cell-router-{module}"
    return run.one("aws:lambda/function:Function", lambda r: r.name == name)


def _statements(run: ProgramRun, module: str) -> list[dict]:
    """The caller-specific statements (PythonFunction appends logs + X-Ray)."""
    policy = json.loads(run.named(f"cell-router-{module}-policy").inputs["policy"])
    *own, logs, traces = policy["Statement"]
    assert logs["Sid"] == "WriteOwnLogs" and traces["Sid"] == "SendTraces"
    return own


def _arns(run: ProgramRun) -> dict[str, str]:
    table = run.named("cell-router-tbl_router").outputs["arn"]
    return {
        "table": table,
        "index": f"{table}/index/marketId-currentCapacity-index",
        "queue": run.named("cell-router-CellProvisioning").outputs["arn"],
    }


def test_each_function_runs_its_handler_module(dev_run: ProgramRun):
    for module in MODULES:
        fn = _function(dev_run, module).inputs
        assert fn["handler"] == f"handlers.cell_router.{module}.handler"
        assert fn["runtime"] == "python3.13"
        assert fn["tracingConfig"] == {"mode": "Active"}


def test_dispatcher_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "dispatcher") == [
        {"Sid": "ReadMappingsAndCells", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": arns["table"]},
        {"Sid": "FindLeastLoadedCells", "Effect": "Allow", "Action": ["dynamodb:Query"],
         "Resource": arns["index"]},
        {"Sid": "WriteUserMappings", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}}},
        {"Sid": "CountUsersOnCells", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
         "Resource": arns["table"],
         "Condition": {"ForAllValues:StringNotLike":
                       {"dynamodb:LeadingKeys": ["USER#*", "SCALE#*"]}}},
    ]  # fmt: skip


def test_scaler_statements_exactly(dev_run: ProgramRun):
    arns = _arns(dev_run)
    assert _statements(dev_run, "scaler") == [
        {"Sid": "ReadCells", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": arns["table"]},
        {"Sid": "OpenAndReleaseScaleOutEpisodes", "Effect": "Allow",
         "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"], "Resource": arns["table"],
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SCALE#*"]}}},
        {"Sid": "RequestCells", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": arns["queue"]},
    ]  # fmt: skip


@pytest.mark.parametrize("module", ["mapper", "validator"])
def test_readers_only_get_items(dev_run: ProgramRun, module):
    assert _statements(dev_run, module) == [
        {"Sid": "ReadOwnMappingAndCell", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
         "Resource": _arns(dev_run)["table"]},
    ]  # fmt: skip


def test_registrar_statements_exactly(dev_run: ProgramRun):
    assert _statements(dev_run, "registrar") == [
        {"Sid": "UpsertCellsAndCloseEpisodes", "Effect": "Allow",
         "Action": ["dynamodb:UpdateItem"], "Resource": _arns(dev_run)["table"],
         "Condition": {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": ["USER#*"]}}},
    ]  # fmt: skip


def test_partition_conditions_match_the_store_layout():
    assert USER_PARTITIONS == store.USER_PREFIX + "*"
    assert SCALE_PARTITIONS == store.SCALE_PREFIX + "*"


def test_every_router_policy_passes_parliament(dev_run: ProgramRun):
    policies = [p for p in dev_run.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name.startswith("cell-router")]  # fmt: skip
    assert len(policies) == 7  # five functions, the state machine, the API
    for policy in policies:
        findings = parliament.analyze_policy_string(policy.inputs["policy"]).findings
        assert findings == [], (policy.name, [(f.issue, f.detail) for f in findings])


def test_environment_comes_from_config(run_stack):
    run = run_stack(defaultMarket="asia", capacityBufferPercent=25, scaleOutThresholdPercent=60,
                    endpointTtlSeconds=120, validatorDeepCheck=False, supportContact="help@x.io",
                    incidentNotice="We know.", expectedWaitMinutes=7)  # fmt: skip
    table_name = run.named("cell-router-tbl_router").outputs["name"]
    queue_url = run.named("cell-router-CellProvisioning").outputs["url"]

    def env(module: str) -> dict:
        variables = dict(_function(run, module).inputs["environment"]["variables"])
        assert variables.pop("POWERTOOLS_SERVICE_NAME") == "cell-router"
        assert variables.pop("POWERTOOLS_METRICS_NAMESPACE") == "ResilientRouting/CellRouter"
        assert variables.pop("POWERTOOLS_LOG_LEVEL") == "INFO"
        return variables

    assert env("dispatcher") == {
        "TABLE_NAME": table_name,
        "DEFAULT_MARKET": "asia",
        "CAPACITY_BUFFER": "0.25",
        "SCALE_OUT_THRESHOLD": "0.6",
        "ENDPOINT_TTL_SECONDS": "120",
    }
    assert env("scaler") == {
        "TABLE_NAME": table_name,
        "SCALE_OUT_THRESHOLD": "0.6",
        "PROVISIONING_QUEUE_URL": queue_url,
    }
    assert env("mapper") == {"TABLE_NAME": table_name, "ENDPOINT_TTL_SECONDS": "120"}
    assert env("validator") == {
        "TABLE_NAME": table_name,
        "VALIDATOR_DEEP_CHECK": "false",
        "VALIDATOR_TIMEOUT_SECONDS": "2",
        "REMEDIATION_SUPPORT_CONTACT": "help@x.io",
        "REMEDIATION_INCIDENT_NOTICE": "We know.",
        "REMEDIATION_EXPECTED_WAIT_MINUTES": "7",
    }
    assert env("registrar") == {"TABLE_NAME": table_name}  # fmt: skip


def test_environment_names_are_the_ones_the_handlers_read(dev_run: ProgramRun):
    import inspect

    from handlers.cell_router import settings

    source = inspect.getsource(settings)
    read = set(__import__("re").findall(r'"([A-Z][A-Z_]+)"', source))
    for module in MODULES:
        variables = set(_function(dev_run, module).inputs["environment"]["variables"])
        assert variables - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
                            "POWERTOOLS_LOG_LEVEL"} <= read, module  # fmt: skip


def test_timeouts_fit_the_synchronous_budget(dev_run: ProgramRun):
    timeouts = {m: _function(dev_run, m).inputs["timeout"] for m in MODULES}
    assert timeouts == {"dispatcher": 5, "scaler": 3, "mapper": 5, "validator": 5,
                        "registrar": 10}  # fmt: skip


def test_registrar_rule_pattern_is_the_events_contract(dev_run: ProgramRun):
    rule = dev_run.named("cell-router-cell-ready")
    assert json.loads(rule.inputs["eventPattern"]) == CELL_READY_EVENT_PATTERN
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": [CELL_READY_SOURCE], "detail-type": [CELL_READY_DETAIL_TYPE],
    }  # fmt: skip
    assert rule.inputs["eventBusName"] == "default"
    registrar = _function(dev_run, "registrar").outputs
    target = dev_run.named("cell-router-cell-ready-registrar").inputs
    assert target["rule"] == rule.outputs["name"]
    assert target["arn"] == registrar["arn"]
    permission = dev_run.named("cell-router-cell-ready-invoke").inputs
    assert permission == {
        "action": "lambda:InvokeFunction",
        "function": registrar["name"],
        "principal": "events.amazonaws.com",
        "sourceArn": rule.outputs["arn"],
    }


def test_bad_arguments_are_refused():
    base = dict(region="eu-west-1", table_name="t", table_arn="a", index_arn="i",
                queue_url="u", queue_arn="q")  # fmt: skip
    with pytest.raises(ValueError, match="capacity_buffer"):
        CellRouterFunctionsArgs(**base, capacity_buffer=1.0)
    with pytest.raises(ValueError, match="validator_probe_timeout_seconds"):
        CellRouterFunctionsArgs(**base, validator_probe_timeout_seconds=5)
