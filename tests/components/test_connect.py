"""ConnectIntegration on the mock engine, for every ``connectMode``."""

from __future__ import annotations

import json

import pytest

from components.contact_flow import check_contact_flow, lambda_arns_in, lex_alias_arns_in
from tests.pulumi_harness import EU_CONFIG, ProgramRun

INSTANCE = "aws:connect/instance:Instance"
ASSOCIATION = "aws-native:connect:IntegrationAssociation"
LAMBDA_ASSOCIATION = "aws:connect/lambdaFunctionAssociation:LambdaFunctionAssociation"
PERMISSION = "aws:lambda/permission:Permission"
FLOW = "aws:connect/contactFlow:ContactFlow"
PHONE = "aws:connect/phoneNumber:PhoneNumber"
PHONE_FLOW = "aws:connect/phoneNumberContactFlowAssociation:PhoneNumberContactFlowAssociation"
EXISTING_ID = "0f1e2d3c-4b5a-4678-9abc-def012345678"


def _connect_resources(run: ProgramRun):
    return [
        r
        for r in run.cloud_resources()
        if r.type.startswith(("aws:connect/", "aws-native:connect:"))
        or (r.type == PERMISSION and r.inputs.get("principal") == "connect.amazonaws.com")
    ]


def _lookup_arn(run: ProgramRun) -> str:
    return run.outputs["lexLookupFunctionArn"]


@pytest.fixture(scope="module")
def create_run() -> ProgramRun:
    from tests.pulumi_harness import DEV_CONFIG, run_program

    return run_program(
        {**DEV_CONFIG, "connectMode": "create", "connectInstanceAlias": "flowers-dev"}
    )


@pytest.fixture(scope="module")
def existing_run() -> ProgramRun:
    from tests.pulumi_harness import run_program

    return run_program(
        {**EU_CONFIG, "connectMode": "existing", "connectInstanceId": EXISTING_ID}, stack="eu"
    )


def test_mode_none_creates_no_connect_resources(dev_run):
    assert _connect_resources(dev_run) == []
    assert not [r for r in dev_run.components() if r.type.endswith(":ConnectIntegration")]
    assert not {k for k in dev_run.outputs if k.startswith("connect")}


def test_create_mode_creates_an_instance(create_run):
    instance = create_run.one(INSTANCE)
    assert instance.region == "us-east-1"
    assert instance.inputs == {
        "instanceAlias": "flowers-dev",
        "identityManagementType": "CONNECT_MANAGED",
        "inboundCallsEnabled": True,
        "outboundCallsEnabled": False,
        "contactFlowLogsEnabled": True,
    }
    assert create_run.outputs["connectInstanceId"] == instance.id
    assert create_run.outputs["connectInstanceArn"] == instance.outputs["arn"]


def test_existing_mode_uses_the_instance_by_id(existing_run):
    assert existing_run.of_type(INSTANCE) == []
    arn = f"arn:aws:connect:eu-west-2:123456789012:instance/{EXISTING_ID}"
    assert existing_run.outputs["connectInstanceId"] == EXISTING_ID
    assert existing_run.outputs["connectInstanceArn"] == arn
    # The account came from an invoke on the primary region's provider.
    assert ("aws:index/getCallerIdentity:getCallerIdentity", {}, "eu-west-2") in (
        existing_run.mocks.invokes
    )


@pytest.mark.parametrize("fixture", ["create_run", "existing_run"])
def test_both_bot_aliases_are_associated_for_lex_v2(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    instance_arn = run.outputs["connectInstanceArn"]
    associations = run.of_type(ASSOCIATION)
    assert len(associations) == 2
    for association in associations:
        assert association.inputs["integrationType"] == "LEX_BOT"
        assert association.inputs["instanceId"] == instance_arn
    assert sorted(a.inputs["integrationArn"] for a in associations) == sorted(
        run.outputs["lexBotAliasArns"].values()
    )


@pytest.mark.parametrize("fixture", ["create_run", "existing_run"])
def test_lookup_function_is_associated_and_invocable_by_this_instance_only(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    association = run.one(LAMBDA_ASSOCIATION)
    assert association.inputs == {
        "instanceId": run.outputs["connectInstanceId"],
        "functionArn": _lookup_arn(run),
    }
    permission = run.one(PERMISSION, lambda p: p.name.startswith("lex-connect-"))
    assert permission.inputs == {
        "action": "lambda:InvokeFunction",
        "function": _lookup_arn(run),
        "principal": "connect.amazonaws.com",
        "sourceArn": run.outputs["connectInstanceArn"],
        "sourceAccount": "123456789012",
    }


@pytest.mark.parametrize("fixture", ["create_run", "existing_run"])
def test_contact_flow_is_generated_from_the_deployed_arns(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    flow_resource = run.one(FLOW)
    assert flow_resource.inputs["name"] == "Flower DR Flow"
    assert flow_resource.inputs["type"] == "CONTACT_FLOW"
    assert flow_resource.inputs["instanceId"] == run.outputs["connectInstanceId"]
    flow = json.loads(flow_resource.inputs["content"])
    assert check_contact_flow(flow) == []
    assert lambda_arns_in(flow) == [_lookup_arn(run)]
    aliases = lex_alias_arns_in(flow)
    assert aliases[0] == "$.External.botAliasArn"
    assert set(aliases[1:]) == set(run.outputs["lexBotAliasArns"].values())
    lookup = next(a for a in flow["Actions"] if a["Type"] == "InvokeLambdaFunction")
    assert lookup["Parameters"]["LambdaInvocationAttributes"] == {
        "region": run.outputs["primaryRegion"]
    }
    assert run.outputs["connectContactFlowId"] == flow_resource.outputs["contactFlowId"]


@pytest.mark.parametrize("fixture", ["create_run", "existing_run"])
def test_connect_lives_in_the_primary_region_without_a_phone_number(request, fixture):
    run: ProgramRun = request.getfixturevalue(fixture)
    primary = run.outputs["primaryRegion"]
    for resource in _connect_resources(run):
        assert resource.region == primary, resource.name
        assert "primary-aws" in resource.provider
    assert run.of_type(PHONE) == [] and run.of_type(PHONE_FLOW) == []
    assert "connectPhoneNumber" not in run.outputs


def test_claimed_phone_number_points_at_the_flow(run_stack):
    run = run_stack(
        connectMode="create",
        connectInstanceAlias="flowers-dev",
        claimPhoneNumber=True,
        phoneNumberCountryCode="GB",
        phoneNumberType="TOLL_FREE",
    )
    phone = run.one(PHONE)
    assert phone.inputs["targetArn"] == run.outputs["connectInstanceArn"]
    assert (phone.inputs["countryCode"], phone.inputs["type"]) == ("GB", "TOLL_FREE")
    link = run.one(PHONE_FLOW)
    assert link.inputs == {
        "instanceId": run.outputs["connectInstanceId"],
        "phoneNumberId": phone.id,
        "contactFlowId": run.one(FLOW).outputs["contactFlowId"],
    }
    assert run.outputs["connectPhoneNumber"] == phone.outputs["phoneNumber"]


def test_global_resiliency_associates_the_replica_alias(run_stack):
    run = run_stack(connectMode="existing", connectInstanceId=EXISTING_ID, lexGlobalResiliency=True)
    (alias,) = run.of_type("aws-native:lex:BotAlias")
    primary_arn = alias.outputs["arn"]
    assert sorted(a.inputs["integrationArn"] for a in run.of_type(ASSOCIATION)) == sorted(
        [primary_arn, primary_arn.replace(":us-east-1:", ":us-west-2:")]
    )


# --- Amazon Connect Global Resiliency (issue 12) ------------------------------------------

REPLICA_ID = "1a2b3c4d-5e6f-4789-8abc-0123456789ab"


@pytest.fixture(scope="module")
def acgr_run() -> ProgramRun:
    from tests.pulumi_harness import DEV_CONFIG, run_program

    return run_program(
        {
            **DEV_CONFIG,
            "connectMode": "existing",
            "connectInstanceId": EXISTING_ID,
            "connectReplicaInstanceId": REPLICA_ID,
        }
    )


def test_replica_instance_gets_both_aliases_the_secondary_lookup_and_the_flow(acgr_run):
    run = acgr_run
    secondary = run.outputs["secondaryRegion"]
    replica_arn = run.outputs["connectReplicaInstanceArn"]
    assert replica_arn == f"arn:aws:connect:{secondary}:123456789012:instance/{REPLICA_ID}"
    replica = [r for r in _connect_resources(run) if r.name.startswith("lex-connect-replica-")]
    assert replica, "no replica resources"
    for resource in replica:
        assert resource.region == secondary, resource.name
        assert "secondary-aws" in resource.provider, resource.name
    associations = [a for a in run.of_type(ASSOCIATION) if a.name.startswith("lex-connect-replica")]
    assert sorted(a.inputs["integrationArn"] for a in associations) == sorted(
        run.outputs["lexBotAliasArns"].values()
    )
    assert {a.inputs["instanceId"] for a in associations} == {replica_arn}
    lookup = run.one(LAMBDA_ASSOCIATION, lambda a: a.name.startswith("lex-connect-replica"))
    assert lookup.inputs["functionArn"] == run.outputs["lexSecondaryLookupFunctionArn"]
    assert lookup.inputs["instanceId"] == REPLICA_ID
    flow = json.loads(
        run.one(FLOW, lambda f: f.name.startswith("lex-connect-replica")).inputs["content"]
    )
    assert check_contact_flow(flow) == []
    assert lambda_arns_in(flow) == [run.outputs["lexSecondaryLookupFunctionArn"]]
    invoke = next(a for a in flow["Actions"] if a["Type"] == "InvokeLambdaFunction")
    # the same lookup key as the primary's flow: the pair's Connect region
    assert invoke["Parameters"]["LambdaInvocationAttributes"] == {
        "region": run.outputs["primaryRegion"]
    }


def test_replica_is_off_by_default(existing_run):
    assert "connectReplicaInstanceArn" not in existing_run.outputs
    assert not [r for r in _connect_resources(existing_run) if "replica" in r.name]
