"""PythonFunction: packaging, role, logs, tracing, layer — on the mock engine."""

from __future__ import annotations

import json
import zipfile  # noqa: F401  (documents that the archive is built by Pulumi, not us)

import pulumi
import pytest

from components.function import (
    HANDLERS_DIR,
    PythonFunction,
    PythonFunctionArgs,
    code_archive,
    powertools_layer_arn,
)
from components.providers import region_providers
from tests.pulumi_harness import ProgramRun, run_program

STATEMENT = {
    "Sid": "ReadState",
    "Effect": "Allow",
    "Action": ["dynamodb:GetItem"],
    "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/t",
}


def _deploy(region: str = "eu-west-1", **overrides) -> ProgramRun:
    def program() -> None:
        providers = region_providers("r", region, {"project": "p"})
        args = PythonFunctionArgs(
            family="lex_dr",
            handler="__init__.handler_for_test",
            region=region,
            description="test function",
            service_name="svc",
            metrics_namespace="Ns",
            policy_statements=[STATEMENT],
            environment={"TABLE_NAME": "t"},
            **overrides,
        )
        PythonFunction("fn", args, providers.opts())

    return run_program({}, program=program)


@pytest.fixture(scope="module")
def deployed() -> ProgramRun:
    return _deploy()


def test_function_settings(deployed: ProgramRun):
    fn = deployed.one("aws:lambda/function:Function")
    assert fn.region == "eu-west-1"
    assert fn.inputs["handler"] == "handlers.lex_dr.__init__.handler_for_test"
    assert fn.inputs["runtime"] == "python3.13"
    assert fn.inputs["architectures"] == ["arm64"]
    assert fn.inputs["tracingConfig"] == {"mode": "Active"}
    assert fn.inputs["loggingConfig"]["logFormat"] == "JSON"
    log_group = deployed.one("aws:cloudwatch/logGroup:LogGroup")
    assert fn.inputs["loggingConfig"]["logGroup"] == log_group.outputs["name"]
    assert log_group.inputs["retentionInDays"] == 30
    assert fn.inputs["layers"] == [
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    ]
    env = fn.inputs["environment"]["variables"]
    assert env == {
        "POWERTOOLS_SERVICE_NAME": "svc",
        "POWERTOOLS_METRICS_NAMESPACE": "Ns",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "TABLE_NAME": "t",
    }


def test_role_policy_is_exactly_the_callers_statements_plus_logs_and_traces(deployed):
    role = deployed.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
         "Action": "sts:AssumeRole"}
    ]  # fmt: skip
    policy = deployed.one("aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"] == role.id
    statements = json.loads(policy.inputs["policy"])["Statement"]
    log_group_arn = deployed.one("aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    assert statements == [
        STATEMENT,
        {"Sid": "WriteOwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"{log_group_arn}:*"},
        {"Sid": "SendTraces", "Effect": "Allow",
         "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
    ]  # fmt: skip
    # No managed policies: the inline policy is the whole grant.
    assert deployed.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_every_child_uses_the_regions_provider(deployed):
    for resource in deployed.cloud_resources():
        assert resource.provider and "r-aws" in resource.provider, resource.name
        assert resource.region == "eu-west-1"


def test_architecture_and_runtime_change_the_layer():
    run = _deploy(region="ap-southeast-2", runtime="python3.12", architecture="x86_64",
                  powertools_layer_version=31)  # fmt: skip
    fn = run.one("aws:lambda/function:Function")
    assert fn.inputs["layers"] == [
        powertools_layer_arn("ap-southeast-2", "python3.12", "x86_64", 31)
    ]
    assert "AWSLambdaPowertoolsPythonV3-python312-x86_64:31" in fn.inputs["layers"][0]


def test_code_archive_holds_the_family_folder_at_its_import_path():
    archive = code_archive("lex_dr")
    names = set(archive.assets)
    assert "handlers/__init__.py" in names
    expected = {
        p.relative_to(HANDLERS_DIR.parent).as_posix()
        for family in ("lex_dr", "common")
        for p in (HANDLERS_DIR / family).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "handlers/common/__init__.py" in expected
    assert expected <= names
    assert not any("cell_router" in n or "__pycache__" in n for n in names)
    for asset in archive.assets.values():
        assert isinstance(asset, pulumi.FileAsset)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"handler": "nope.handler"}, "handlers/lex_dr/nope.py does not exist"),
        ({"handler": "handler"}, "must be 'module.function'"),
        ({"family": "missing"}, "no handler family 'missing'"),
        ({"runtime": "python3.9"}, "unsupported runtime"),
        ({"architecture": "mips"}, "unsupported architecture"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
def test_bad_arguments_are_refused(overrides, message):
    base = dict(family="lex_dr", handler="__init__.x", region="us-east-1", description="d",
                service_name="s", metrics_namespace="n")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        PythonFunctionArgs(**{**base, **overrides})
