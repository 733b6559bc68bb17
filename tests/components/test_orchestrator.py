"""Orchestrator: EXPRESS state machine from the ASL builder, its role and logs."""

from __future__ import annotations

import json

import pytest

from components.orchestrator import Orchestrator, OrchestratorArgs
from components.orchestrator_asl import (
    API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS,
    build_orchestrator_definition,
    to_json,
    worst_case_duration_seconds,
)
from components.providers import region_providers
from tests.pulumi_harness import ACCOUNT, ProgramRun, run_program

FUNCTIONS = ("dispatcher", "scaler", "mapper", "validator")


def _function(run: ProgramRun, module: str):
    name = f"cell-router-{module}"
    return run.one("aws:lambda/function:Function", lambda r: r.name == name)


def test_express_with_error_logging_and_no_execution_data(dev_run: ProgramRun):
    machine = dev_run.named("cell-router-Orchestrator").inputs
    log_group = dev_run.named("cell-router-Orchestrator-logs")
    assert machine["type"] == "EXPRESS"
    assert machine["loggingConfiguration"] == {
        "level": "ERROR",
        "includeExecutionData": False,
        "logDestination": f"{log_group.outputs['arn']}:*",
    }
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert log_group.inputs["namePrefix"].startswith("/aws/vendedlogs/states/")
    assert log_group.inputs["retentionInDays"] == 30
    role = dev_run.named("cell-router-Orchestrator-role")
    assert machine["roleArn"] == role.outputs["arn"]


def test_definition_is_the_builders_with_the_function_arns(dev_run: ProgramRun):
    arns = {m: _function(dev_run, m).outputs["arn"] for m in FUNCTIONS}
    expected = build_orchestrator_definition(
        dispatcher_arn=arns["dispatcher"],
        scaler_arn=arns["scaler"],
        mapper_arn=arns["mapper"],
        validator_arn=arns["validator"],
    )
    definition = dev_run.named("cell-router-Orchestrator").inputs["definition"]
    assert definition == to_json(expected)
    assert json.loads(definition) == expected


def test_functions_never_outlive_their_task_and_the_whole_fits_api_gateway(dev_run):
    definition = json.loads(dev_run.named("cell-router-Orchestrator").inputs["definition"])
    timeouts = {}
    for module in FUNCTIONS:
        fn = _function(dev_run, module)
        timeouts[fn.outputs["arn"]] = fn.inputs["timeout"]
    tasks = [s for s in definition["States"].values() if s["Type"] == "Task"]
    assert {t["Parameters"]["FunctionName"] for t in tasks} == set(timeouts)
    for task in tasks:
        assert timeouts[task["Parameters"]["FunctionName"]] <= task["TimeoutSeconds"]
    worst = worst_case_duration_seconds(definition, function_timeouts=timeouts)
    assert worst < API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS


def test_role_trust_and_policy_exactly(dev_run: ProgramRun):
    role = dev_run.named("cell-router-Orchestrator-role")
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }
    policy = dev_run.named("cell-router-Orchestrator-policy")
    assert policy.inputs["role"] == role.id
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeRouterFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                # The ASL names unqualified ARNs: no ":*" needed, none granted.
                "Resource": [_function(dev_run, m).outputs["arn"] for m in FUNCTIONS],
            },
            {
                "Sid": "DeliverLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                ],
                "Resource": "*",
            },
            {
                "Sid": "SendTraces",
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                "Resource": "*",
            },
        ],
    }


def _deploy(**overrides) -> ProgramRun:
    def program() -> None:
        p = region_providers("r", "eu-west-1", {})
        args = OrchestratorArgs(
            dispatcher_arn="arn:aws:lambda:eu-west-1:123456789012:function:d",
            scaler_arn="arn:aws:lambda:eu-west-1:123456789012:function:s",
            mapper_arn="arn:aws:lambda:eu-west-1:123456789012:function:m",
            validator_arn="arn:aws:lambda:eu-west-1:123456789012:function:v",
            **overrides,
        )
        Orchestrator("o", args, p.opts())

    return run_program({}, program=program)


def test_without_tracing_no_xray_rights():
    run = _deploy(tracing=False)
    machine = run.one("aws:sfn/stateMachine:StateMachine").inputs
    assert machine["tracingConfiguration"] == {"enabled": False}
    statements = json.loads(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert [s["Sid"] for s in statements["Statement"]] == ["InvokeRouterFunctions", "DeliverLogs"]


def test_timeouts_that_do_not_fit_are_refused_before_anything_is_declared():
    with pytest.raises(Exception, match="29 s"):
        _deploy(task_timeout_seconds=9)


def test_every_child_is_in_the_components_region():
    run = _deploy()
    for resource in run.cloud_resources():
        assert resource.region == "eu-west-1", resource.name
