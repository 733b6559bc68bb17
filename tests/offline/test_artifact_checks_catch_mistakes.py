"""Each validator, fed one planted mistake, must report it.

Most plantings start from the artifact the program really generates (the dev
stack under the mock engine) and change one thing, so a validator that
silently checks nothing -- or checks a shape the program never produces --
fails here.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from components.orchestrator_asl import ASSIGN_CELL
from tests.offline.artifact_checks import (
    LambdaSandbox,
    PolicyDocument,
    ProgramArtifacts,
    check_classic_resource,
    check_contact_flow_content,
    check_dynamodb_keys,
    check_flow_associations,
    check_handler_resolves,
    check_native_resource,
    check_package_imports,
    check_policy,
    check_request_template,
    check_response_template,
    check_state_machine,
    check_template_references,
    to_sdk_name,
)
from tests.pulumi_harness import ACCOUNT, DEV_CONFIG, ProgramRun, run_program

CONNECT_CONFIG = {**DEV_CONFIG, "connectMode": "create", "connectInstanceAlias": "flowers-dev"}


@pytest.fixture(scope="module")
def found(dev_run: ProgramRun) -> ProgramArtifacts:
    return ProgramArtifacts(dev_run, ACCOUNT)


@pytest.fixture(scope="module")
def connect_found() -> ProgramArtifacts:
    return ProgramArtifacts(run_program(CONNECT_CONFIG), ACCOUNT)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LambdaSandbox]:
    with LambdaSandbox() as box:
        yield box


def _unreported(problems: list[str], *fragments: str) -> list[str]:
    """What the validator failed to say about a planted mistake: empty when
    it reported something and every expected fragment appears in it."""
    if not problems:
        return ["the planted mistake went unnoticed"]
    text = "\n".join(problems)
    return [f"{fragment!r} not in:\n{text}" for fragment in fragments if fragment not in text]


@dataclass
class Planted:
    """A recorded resource with changed inputs (the run stays untouched)."""

    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    region: str | None
    id: str = ""


def _plant(resource: Any, **changes: Any) -> Planted:
    inputs = copy.deepcopy(resource.inputs)
    inputs.update(changes)
    return Planted(resource.type, resource.name, inputs, resource.outputs, resource.region)


# --------------------------------------------------------------------------- #
# Step Functions
# --------------------------------------------------------------------------- #
def _orchestrator(found: ProgramArtifacts) -> tuple[dict[str, Any], list[str]]:
    machine = found.run.named("cell-router-Orchestrator")
    return json.loads(machine.inputs["definition"]), found.role_policies_of(
        machine.inputs["roleArn"]
    )


def test_asl_next_to_a_missing_state(found: ProgramArtifacts):
    definition, _ = _orchestrator(found)
    assert check_state_machine(definition) == []
    definition["States"][ASSIGN_CELL]["Next"] = "NoSuchState"
    assert not _unreported(check_state_machine(definition), "NoSuchState")


def test_asl_task_invoking_a_function_outside_the_program(found: ProgramArtifacts):
    definition, policies = _orchestrator(found)
    stranger = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:someone-elses"
    definition["States"][ASSIGN_CELL]["Parameters"]["FunctionName"] = stranger
    problems = check_state_machine(
        definition, function_arns=found.function_arns(), role_policies=policies
    )
    assert not _unreported(problems, "not a function of this program")


def test_asl_task_invoking_a_function_its_role_may_not(found: ProgramArtifacts):
    definition, _ = _orchestrator(found)
    problems = check_state_machine(
        definition, function_arns=found.function_arns(), role_policies=[]
    )
    assert not _unreported(problems, "may not invoke it")


# --------------------------------------------------------------------------- #
# IAM
# --------------------------------------------------------------------------- #
def _lookup_policy(found: ProgramArtifacts) -> PolicyDocument:
    return next(p for p in found.policies() if "lexDRGetRegion-policy" in p.source)


def test_misspelt_iam_action(found: ProgramArtifacts):
    policy = _lookup_policy(found)
    assert check_policy(policy) == []
    # The lookup's action is BatchGetItem since issue 12.
    text = json.dumps(policy.document).replace(
        '"dynamodb:BatchGetItem"', '"dynamodb:BatchGetItems"'
    )
    assert text != json.dumps(policy.document), "the planted mistake was not planted"
    assert not _unreported(
        check_policy(replace(policy, document=json.loads(text))),
        "UNKNOWN_ACTION",
        "dynamodb:BatchGetItems",
    )


def test_action_on_the_wrong_resource_type(found: ProgramArtifacts):
    policy = _lookup_policy(found)
    text = json.dumps(policy.document).replace(":table/", ":stream/")
    assert not _unreported(
        check_policy(replace(policy, document=json.loads(text))), "RESOURCE_MISMATCH"
    )


def test_resource_star_is_allowed_only_where_listed(found: ProgramArtifacts):
    xray = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"}],
    }
    assert check_policy(PolicyDocument("xray", "identity", xray)) == []
    widened = copy.deepcopy(xray)
    widened["Statement"][0]["Action"].append("dynamodb:GetItem")
    assert not _unreported(
        check_policy(PolicyDocument("widened", "identity", widened)), "RESOURCE_STAR"
    )
    # A key policy's "*" is the key itself; the same text as a role policy is not.
    key_policy = next(p for p in found.policies() if p.kind == "key")
    assert check_policy(key_policy) == []
    as_identity = {
        **key_policy.document,
        "Statement": [
            {k: v for k, v in s.items() if k != "Principal"}
            for s in key_policy.document["Statement"]
        ],
    }
    assert not _unreported(
        check_policy(PolicyDocument("kms", "identity", as_identity)), "RESOURCE_STAR"
    )


def test_misspelt_action_and_principal_in_a_trust_policy(found: ProgramArtifacts):
    trust = next(p for p in found.policies() if p.kind == "trust")
    assert check_policy(trust) == []
    text = json.dumps(trust.document)
    wrong_action = json.loads(text.replace('"sts:AssumeRole"', '"sts:AssumeRol"'))
    assert not _unreported(check_policy(replace(trust, document=wrong_action)), "sts:AssumeRol")
    principal = trust.document["Statement"][0]["Principal"]["Service"]
    wrong_principal = json.loads(text.replace(principal, principal.replace(".com", ".co")))
    assert not _unreported(
        check_policy(replace(trust, document=wrong_principal)), "unknown service principal"
    )


def test_misspelt_condition_key_in_a_lambda_permission(found: ProgramArtifacts):
    permission = next(p for p in found.policies() if p.source.startswith("lambda permission"))
    assert check_policy(permission) == []
    document = copy.deepcopy(dict(permission.document))
    document["Statement"][0]["Condition"] = {"ArnLike": {"aws:SourceArm": "arn:aws:events:*"}}
    assert not _unreported(check_policy(replace(permission, document=document)), "aws:SourceArm")


# --------------------------------------------------------------------------- #
# aws-native against CloudFormation schemas
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("cfn", "sdk"),
    [
        ("IdleSessionTTLInSeconds", "idleSessionTtlInSeconds"),
        ("S3Bucket", "s3Bucket"),
        ("ProviderARNs", "providerArns"),
        ("SSESpecification", "sseSpecification"),
        ("KMSMasterKeyId", "kmsMasterKeyId"),
        ("NluConfidenceThreshold", "nluConfidenceThreshold"),
        ("BotAliasName", "botAliasName"),
    ],
)
def test_sdk_names_follow_the_providers_naming(cfn: str, sdk: str):
    assert to_sdk_name(cfn) == sdk


def _native(found: ProgramArtifacts, token: str, **changes: Any) -> list[str]:
    resource = found.run.of_type(token)[0]
    planted = _plant(resource, **changes)
    return check_native_resource(token, planted.inputs, planted.region, planted.name)


def test_wrong_aws_native_property_name(found: ProgramArtifacts):
    assert _native(found, "aws-native:lex:BotAlias") == []
    assert not _unreported(
        _native(found, "aws-native:lex:BotAlias", botAliasNme="ver_one"), "'botAliasNme'"
    )


def test_wrong_aws_native_nested_property_name(found: ProgramArtifacts):
    settings = [{"localeId": "en_US", "botAliasLocaleSetting": {"enable": True}}]
    assert not _unreported(
        _native(found, "aws-native:lex:BotAlias", botAliasLocaleSettings=settings),
        "unknown property 'enable'",
        "'Enabled' is a required property",
    )


def test_wrong_aws_native_enum_value(found: ProgramArtifacts):
    bot = found.run.of_type("aws-native:lex:Bot")[0]
    locales = copy.deepcopy(bot.inputs["botLocales"])
    locales[0]["intents"][0]["slots"][0]["valueElicitationSetting"]["slotConstraint"] = "Mandatory"
    assert not _unreported(
        _native(found, "aws-native:lex:Bot", botLocales=locales),
        "SlotConstraint",
        "'Mandatory' is not one of",
    )


def test_missing_required_aws_native_property(found: ProgramArtifacts):
    bot = found.run.of_type("aws-native:lex:Bot")[0]
    inputs = {k: v for k, v in bot.inputs.items() if k != "dataPrivacy"}
    assert not _unreported(
        check_native_resource(bot.type, inputs, bot.region, bot.name),
        "'DataPrivacy' is a required property",
    )


def test_aws_native_pattern_type_and_read_only_violations(found: ProgramArtifacts):
    assert not _unreported(
        _native(found, "aws-native:lex:BotAlias", botAliasName="ver one"), "does not match"
    )
    assert not _unreported(
        _native(found, "aws-native:lex:Bot", idleSessionTtlInSeconds="300"), "is not of type"
    )
    assert not _unreported(_native(found, "aws-native:lex:BotVersion", botVersion="1"), "read-only")


def test_wrong_connect_integration_type(connect_found: ProgramArtifacts):
    association = connect_found.run.of_type("aws-native:connect:IntegrationAssociation")[0]
    assert (
        check_native_resource(
            association.type, association.inputs, association.region, association.name
        )
        == []
    )
    planted = _plant(association, integrationType="LEX_V2_BOT", instanceId="not-an-arn")
    assert not _unreported(
        check_native_resource(planted.type, planted.inputs, planted.region, planted.name),
        "'LEX_V2_BOT' is not one of",
        "'not-an-arn' does not match",
    )


def test_provider_default_tags_reach_the_schema(connect_found: ProgramArtifacts):
    association = connect_found.run.of_type("aws-native:connect:IntegrationAssociation")[0]
    tags = connect_found.default_tags("aws-native", association.region)
    assert tags == {"project": "resilient-routing", "stack": "dev"}
    args = (association.type, association.inputs, association.region, association.name)
    assert check_native_resource(*args, tags) == []
    assert not _unreported(check_native_resource(*args, {**tags, "aws:team": "sre"}), "'aws:team'")


# --------------------------------------------------------------------------- #
# Classic resources against their CloudFormation twins
# --------------------------------------------------------------------------- #
def test_wrong_lambda_runtime_timeout_and_handler(found: ProgramArtifacts):
    function = found.functions()[0]
    assert check_classic_resource(function, found.context()) == []
    planted = _plant(function, runtime="python3.99", timeout=0.0, handler="handlers app.handler")
    assert not _unreported(
        check_classic_resource(planted, found.context()),
        "Runtime: 'python3.99' is not one of",
        "Timeout: 0 is less than the minimum of 1",
        "Handler:",
    )


def test_wrong_log_retention_and_reserved_environment_variable(found: ProgramArtifacts):
    log_group = found.run.of_type("aws:cloudwatch/logGroup:LogGroup")[0]
    assert not _unreported(
        check_classic_resource(_plant(log_group, retentionInDays=42.0), found.context()),
        "RetentionInDays: 42",
    )
    function = found.functions()[0]
    environment = copy.deepcopy(function.inputs["environment"])
    environment["variables"]["AWS_REGION"] = "eu-west-1"
    assert not _unreported(
        check_classic_resource(_plant(function, environment=environment), found.context()),
        "AWS_REGION",
    )


def test_provisioned_table_without_capacity_and_undefined_key(found: ProgramArtifacts):
    table = found.run.of_type("aws:dynamodb/table:Table")[0]
    assert not _unreported(
        check_classic_resource(_plant(table, billingMode="PROVISIONED"), found.context()),
        "ProvisionedThroughput",
    )
    assert check_dynamodb_keys(table) == []
    assert not _unreported(check_dynamodb_keys(_plant(table, hashKey="regionCode")), "'regionCode'")
    assert not _unreported(
        check_classic_resource(_plant(table, hashKey="regionCode"), found.context()),
        "key attribute 'regionCode' has no definition",
    )


def test_lambda_environment_over_four_kilobytes(found: ProgramArtifacts):
    function = found.functions()[0]
    environment = copy.deepcopy(function.inputs["environment"])
    environment["variables"]["BIG"] = "x" * 4096
    assert not _unreported(
        check_classic_resource(_plant(function, environment=environment), found.context()),
        "over Lambda's 4 KB",
    )


def test_event_target_retry_policy_out_of_range(found: ProgramArtifacts):
    target = found.run.of_type("aws:cloudwatch/eventTarget:EventTarget")[0]
    planted = _plant(target, retryPolicy={"maximumEventAgeInSeconds": 30.0})
    assert not _unreported(
        check_classic_resource(planted, found.context()), "MaximumEventAgeInSeconds"
    )


def test_async_invoke_config_with_too_many_retries_or_a_bad_destination(found: ProgramArtifacts):
    # One per regional router since issue #13: the primary's.
    config = found.run.named("cell-router-registrar-async")
    assert check_classic_resource(config, found.context()) == []
    planted = _plant(
        config,
        maximumRetryAttempts=3.0,
        destinationConfig={"onFailure": {"destination": "CellReady-failed"}},
    )
    assert not _unreported(
        check_classic_resource(planted, found.context()), "MaximumRetryAttempts", "Destination"
    )


# --------------------------------------------------------------------------- #
# Contact flow
# --------------------------------------------------------------------------- #
def _flow(connect_found: ProgramArtifacts) -> dict[str, Any]:
    (resource,) = connect_found.contact_flows()
    return json.loads(resource.inputs["content"])


def test_dangling_contact_flow_transition(connect_found: ProgramArtifacts):
    flow = _flow(connect_found)
    assert check_contact_flow_content(flow) == []
    flow["Actions"][0]["Transitions"]["NextAction"] = "Nowhere"
    assert not _unreported(check_contact_flow_content(flow), "missing action 'Nowhere'")


def test_unknown_action_type_and_missing_parameter(connect_found: ProgramArtifacts):
    flow = _flow(connect_found)
    lookup = next(a for a in flow["Actions"] if a["Type"] == "InvokeLambdaFunction")
    del lookup["Parameters"]["LambdaFunctionARN"]
    message = next(a for a in flow["Actions"] if a["Type"] == "MessageParticipant")
    message["Type"] = "PlayPrompt"
    assert not _unreported(
        check_contact_flow_content(flow),
        "needs Parameters ['LambdaFunctionARN']",
        "unknown action Type 'PlayPrompt'",
    )


def test_error_branch_the_action_never_raises(connect_found: ProgramArtifacts):
    flow = _flow(connect_found)
    lookup = next(a for a in flow["Actions"] if a["Type"] == "InvokeLambdaFunction")
    lookup["Transitions"]["Errors"][0]["ErrorType"] = "NoMatchingCondition"
    assert not _unreported(check_contact_flow_content(flow), "raises no 'NoMatchingCondition'")


def test_flow_using_a_bot_the_instance_does_not_know(connect_found: ProgramArtifacts):
    flow = _flow(connect_found)
    aliases = connect_found.associated_lex_aliases()
    functions = connect_found.associated_functions()
    assert check_flow_associations(flow, aliases, functions) == []
    assert not _unreported(
        check_flow_associations(flow, set(list(aliases)[:1]), functions), "not associated"
    )


# --------------------------------------------------------------------------- #
# Mapping templates
# --------------------------------------------------------------------------- #
def _request(found: ProgramArtifacts) -> str:
    return found.request_templates()[0][2]


def _response(found: ProgramArtifacts) -> str:
    return found.response_templates()[0][2]


def test_request_template_writing_an_unknown_execution_input_key(found: ProgramArtifacts):
    template = _request(found)
    assert check_request_template(template, resource_path="/cells") == []
    planted = template.replace('\\"userId\\":', '\\"userId2\\":')
    assert planted != template
    assert not _unreported(check_request_template(planted), "execution input keys", "userId2")


def test_template_referencing_an_unknown_context_variable(found: ProgramArtifacts):
    # Issue #13: the identity is the TOKEN authorizer's principalId.
    planted = _request(found).replace(
        "$!context.authorizer.principalId", "$!context.authoriser.principalId"
    )
    assert planted != _request(found)
    assert not _unreported(check_request_template(planted), "$context.authoriser.principalId")
    assert not _unreported(
        check_template_references("$context.requestIdd $context.authorizer.claims"),
        "requestIdd",
        "authorizer.claims",
    )


def test_request_template_reading_identity_from_the_body(found: ProgramArtifacts):
    planted = _request(found).replace(
        '"$!context.authorizer.principalId"', "\"$!input.path('$.userId')\""
    )
    assert planted != _request(found)
    assert not _unreported(check_request_template(planted), "'$.userId'")


def test_request_template_reading_identity_from_the_email_claim(found: ProgramArtifacts):
    # A user may change their own e-mail (issue #10): never an identity.
    planted = _request(found).replace(
        '"$!context.authorizer.principalId"', '"$!context.authorizer.claims.email"'
    )
    assert planted != _request(found)
    assert not _unreported(check_request_template(planted), "is not the token's sub")


def test_response_template_reading_a_field_the_execution_lacks(found: ProgramArtifacts):
    template = _response(found)
    assert check_response_template(template) == []
    planted = template.replace("$input.path('$.output')", "$input.path('$.email2')")
    assert planted != template
    assert not _unreported(check_response_template(planted), "'$.email2'")


def test_template_using_a_variable_it_never_sets(found: ProgramArtifacts):
    planted = _response(found).replace('"$publicError"', '"$publicErr"')
    assert not _unreported(check_response_template(planted), "$publicErr")
    assert not _unreported(check_template_references("$util.escapeJson($x)"), "escapeJson")


# --------------------------------------------------------------------------- #
# Lambda packages
# --------------------------------------------------------------------------- #
def _package(root: Path, source: str, extra: dict[str, str] | None = None) -> dict[str, Path]:
    files = {
        "handlers/__init__.py": "",
        "handlers/fake/__init__.py": "",
        "handlers/fake/app.py": textwrap.dedent(source),
        **(extra or {}),
    }
    packaged = {}
    for archive_path, text in files.items():
        path = root / archive_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        packaged[archive_path] = path
    return packaged


GOOD_HANDLER = """
    import boto3
    from aws_lambda_powertools import Logger

    logger = Logger(service="fake")

    def handler(event, context):
        return {"ok": True}
"""


def test_a_clean_handler_passes_in_the_sandbox(tmp_path: Path, sandbox: LambdaSandbox):
    files = _package(tmp_path, GOOD_HANDLER)
    handler = "handlers.fake.app.handler"
    assert check_handler_resolves(handler, files) == []
    assert check_package_imports(files) == []
    assert sandbox.import_handler(handler, files) == []


def test_handler_string_pointing_at_a_missing_function_or_module(tmp_path: Path):
    files = _package(tmp_path, GOOD_HANDLER)
    assert not _unreported(
        check_handler_resolves("handlers.fake.app.handle", files), "no top-level 'handle'"
    )
    assert not _unreported(
        check_handler_resolves("handlers.fake.main.handler", files), "handlers/fake/main.py"
    )
    del files["handlers/fake/__init__.py"]
    assert not _unreported(
        check_handler_resolves("handlers.fake.app.handler", files), "__init__.py"
    )


@pytest.mark.parametrize("package", ["requests", "moto", "pulumi", "yaml"])
def test_handler_importing_a_package_lambda_does_not_have(
    tmp_path: Path, sandbox: LambdaSandbox, package: str
):
    # Each is installed here, which is exactly why only a sandbox proves it.
    __import__(package)
    files = _package(
        tmp_path, f"import {package}\n\ndef handler(event, context):\n    return {{}}\n"
    )
    assert not _unreported(check_package_imports(files), f"imports {package}")
    assert not _unreported(
        sandbox.import_handler("handlers.fake.app.handler", files),
        f"No module named '{package}'",
    )


def test_import_inside_a_function_is_caught_statically(tmp_path: Path, sandbox: LambdaSandbox):
    files = _package(
        tmp_path,
        """
        def handler(event, context):
            import requests  # only fails on the first invocation in Lambda
            return requests.get("https://example.com").status_code
        """,
    )
    assert sandbox.import_handler("handlers.fake.app.handler", files) == []
    assert not _unreported(check_package_imports(files), "imports requests")


def test_import_of_a_module_missing_from_the_archive(tmp_path: Path):
    files = _package(
        tmp_path,
        """
        from handlers.fake import helpers
        from .settings import TABLE

        def handler(event, context):
            return {}
        """,
    )
    assert not _unreported(
        check_package_imports(files), "handlers.fake.helpers", "handlers.fake.settings"
    )


def test_stdlib_module_gone_in_python_313_and_guarded_imports(tmp_path: Path):
    files = _package(
        tmp_path,
        """
        import cgi
        try:
            import ujson as json
        except ImportError:
            import json

        def handler(event, context):
            return {}
        """,
    )
    assert not _unreported(check_package_imports(files, "python3.13"), "cgi")
    assert check_package_imports(files, "python3.12") == []
