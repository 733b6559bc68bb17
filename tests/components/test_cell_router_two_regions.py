"""The cell router in both regions (issue #13), on the mock engine, for both
example stacks: ``MultiRegionCellRouter`` composes one ``CellRouter`` per
region on that region's providers; the routing table is a global table with
a protected, recoverable replica; every policy of a region's router names
only that region's resources; both API URLs are exported and known to both
dispatchers; the secondary's API trusts the primary's user pool through the
token authorizer, from its own replica; schedules run in both regions."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from components.cell_router import CellRouterArgs, MultiRegionCellRouterArgs, SharedRouterSettings
from components.cell_router_api import TOKEN_PATTERN, CellRouterApiArgs, UserPoolRef
from components.cell_router_functions import WriterSettings
from components.providers import RegionProviders
from components.router_data import RouterTableRef
from ops.outputs import load_outputs
from tests.pulumi_harness import ProgramRun

COMPONENT = "resilient-routing:components:"
FUNCTION = "aws:lambda/function:Function"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
METHOD = "aws:apigateway/method:Method"
AUTHORIZER = "aws:apigateway/authorizer:Authorizer"
PREFIX = {"primary": "cell-router", "secondary": "cell-router-secondary"}


@pytest.fixture(params=["dev_run", "eu_run"])
def run(request) -> ProgramRun:
    return request.getfixturevalue(request.param)


def _regions(run: ProgramRun) -> dict[str, str]:
    return {"primary": run.outputs["primaryRegion"], "secondary": run.outputs["secondaryRegion"]}


def _router(run: ProgramRun, role: str) -> list[Any]:
    """The cloud resources of ``role``'s regional router: everything under its
    ``CellRouter`` component, plus its REST API (made by the parent)."""
    name = PREFIX[role]

    def mine(resource) -> bool:
        chain = run.ancestry(resource)
        if any(c.type == COMPONENT + "CellRouter" and c.name == name for c in chain):
            return True
        return resource.name == f"{name}-CellRouter"

    return [r for r in run.cloud_resources() if mine(r)]


def _arns(value: Any) -> list[str]:
    """Every ARN string anywhere in a (parsed) document."""
    if isinstance(value, str):
        return [value] if value.startswith("arn:") else []
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arns(v)]
    if isinstance(value, list):
        return [a for v in value for a in _arns(v)]
    return []


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


# --------------------------------------------------------------------------- #
# Both regions carry a full router, on their own providers
# --------------------------------------------------------------------------- #
def test_both_regions_carry_a_full_router_on_their_own_providers(run):
    regions = _regions(run)
    counts = {}
    for role in ("primary", "secondary"):
        resources = _router(run, role)
        for resource in resources:
            assert resource.region == regions[role], resource.name
            assert f"{role}-aws" in (resource.provider or ""), resource.name
        counts[role] = Counter(r.type for r in resources)
    # What every region runs, counted.
    each = {
        FUNCTION: None,  # below
        "aws:sfn/stateMachine:StateMachine": 1,
        "aws:apigateway/restApi:RestApi": 1,
        "aws:apigateway/stage:Stage": 1,
        "aws:apigateway/deployment:Deployment": 1,
        AUTHORIZER: 1,
        METHOD: 3,
        "aws:sqs/queue:Queue": 3,  # CellProvisioning, its DLQ, CellReady-failed
        "aws:cloudwatch/eventBus:EventBus": 1,
    }
    for typ, count in each.items():
        if count is not None:
            assert counts["primary"][typ] == counts["secondary"][typ] == count, typ
    # Six router functions, the heartbeat and the authorizer in each; the
    # JWKS refresher in the pool's region only.
    assert (counts["primary"][FUNCTION], counts["secondary"][FUNCTION]) == (9, 8)
    # Rules: CellReady, sweeper, heartbeat in each; the JWKS refresh in the primary.
    assert (counts["primary"][RULE], counts["secondary"][RULE]) == (4, 3)
    # Made once, in the primary: the table (replicated), the secret
    # (replicated), the user pool and its client and domain.
    for typ in (
        "aws:dynamodb/table:Table",
        "aws-native:secretsmanager:Secret",
        "aws:cognito/userPool:UserPool",
        "aws:cognito/userPoolClient:UserPoolClient",
        "aws:cognito/userPoolDomain:UserPoolDomain",
    ):
        assert (counts["primary"][typ], counts["secondary"][typ]) == (1, 0), typ
    # The same alarms in both regions (plus the JWKS refresher's errors and
    # throttles in the primary), each to its own region's topic.
    alarm = "aws:cloudwatch/metricAlarm:MetricAlarm"
    assert counts["primary"][alarm] == counts["secondary"][alarm] + 2
    assert counts["secondary"][alarm] > 20
    for role in ("primary", "secondary"):
        for resource in _router(run, role):
            if resource.type == alarm:
                for action in resource.inputs["alarmActions"]:
                    assert _region_of(action) == regions[role], resource.name


def test_the_parent_composes_one_regional_router_per_region(dev_run: ProgramRun):
    (parent,) = [c for c in dev_run.components() if c.type == COMPONENT + "MultiRegionCellRouter"]
    regional = [c for c in dev_run.components() if c.type == COMPONENT + "CellRouter"]
    assert sorted(c.name for c in regional) == ["cell-router", "cell-router-secondary"]
    for component in regional:
        assert dev_run.parent_of(component) == parent
        children = {c.type for c in dev_run.components() if dev_run.parent_of(c) == component}
        assert children == {
            COMPONENT + t
            for t in (
                "RouterData",
                "CellRouterFunctions",
                "Orchestrator",
                "RouterAlarms",
                "CellRouterApi",
            )
        }


# --------------------------------------------------------------------------- #
# The table's replica, and the secret's
# --------------------------------------------------------------------------- #
def test_routing_table_is_global_with_a_protected_recoverable_replica(run):
    regions = _regions(run)
    table = run.named("cell-router-tbl_router").inputs
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    assert table["replicas"] == [
        {
            "regionName": regions["secondary"],
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": True,
            "propagateTags": True,
        }
    ]


def test_the_user_key_is_one_secret_replicated_to_the_secondary(run):
    regions = _regions(run)
    secret = run.named("cell-router-user-key")
    assert secret.inputs["replicaRegions"] == [{"region": regions["secondary"]}]
    assert secret.retain_on_delete
    primary_arn = run.outputs["userKeySecretArn"]
    secondary_arn = run.outputs["routerSecondaryUserKeySecretArn"]
    # AWS: a replica's ARN is the primary's except for the region.
    assert secondary_arn == primary_arn.replace(
        f":{regions['primary']}:", f":{regions['secondary']}:"
    )
    for role, arn in (("primary", primary_arn), ("secondary", secondary_arn)):
        for module in ("dispatcher", "mapper", "validator"):
            fn = run.one(FUNCTION, lambda f, n=f"{PREFIX[role]}-{module}": f.name == n)
            assert fn.inputs["environment"]["variables"]["USER_KEY_SECRET_ARN"] == arn


# --------------------------------------------------------------------------- #
# IAM names only the region's own resources
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_every_policy_of_a_regional_router_names_only_its_region(run, role):
    regions = _regions(run)
    region = regions[role]
    table_arn = run.named("cell-router-tbl_router").outputs["arn"]
    local_table = table_arn.replace(f":{regions['primary']}:", f":{region}:")
    resources = _router(run, role)
    documents = []
    for resource in resources:
        if resource.type == POLICY:
            documents.append((resource.name, json.loads(resource.inputs["policy"])))
        elif resource.type == ROLE:
            documents.append((resource.name, json.loads(resource.inputs["assumeRolePolicy"])))
        elif resource.type in ("aws:sqs/queuePolicy:QueuePolicy",
                               "aws:cloudwatch/eventBusPolicy:EventBusPolicy"):  # fmt: skip
            documents.append((resource.name, json.loads(resource.inputs["policy"])))
    assert len([d for d in documents if d[0].endswith("-policy")]) >= 10
    arns = [(name, arn) for name, document in documents for arn in _arns(document)]
    assert len(arns) > 40
    for name, arn in arns:
        # Regional ARNs name this region; global ones (IAM) none.
        assert _region_of(arn) in (region, ""), (name, arn)
    # The table the functions use is this region's replica.
    dynamodb = {arn for _, arn in arns if arn.startswith("arn:aws:dynamodb:")}
    assert dynamodb and all(arn.startswith(local_table) for arn in dynamodb), dynamodb
    # And so are the targets, permissions and environments of its functions.
    for resource in resources:
        if resource.type == FUNCTION:
            variables = resource.inputs["environment"]["variables"]
            for key, value in variables.items():
                for arn in _arns(value):
                    assert _region_of(arn) == region, (resource.name, key, arn)
            assert (
                variables.get("TABLE_NAME", run.outputs["routerTableName"])
                == (run.outputs["routerTableName"])
            )
        if resource.type in ("aws:lambda/permission:Permission", TARGET):
            for arn in _arns(resource.inputs):
                assert _region_of(arn) == region, (resource.name, arn)


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_the_heartbeat_writes_only_its_own_regions_item(run, role):
    region = _regions(run)[role]
    policy = json.loads(run.named(f"{PREFIX[role]}-heartbeat-policy").inputs["policy"])
    writes = [s for s in policy["Statement"] if s["Action"] == ["dynamodb:PutItem"]]
    assert writes == [
        {
            "Sid": "WriteOwnHeartbeat",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": writes[0]["Resource"],
            "Condition": {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"HEARTBEAT#{region}"]}
            },
        }
    ]
    # Automatic promotion is off by default: no writer record writes.
    assert not any("WRITER#*" in json.dumps(s) for s in writes)


# --------------------------------------------------------------------------- #
# Both URLs, both dispatchers
# --------------------------------------------------------------------------- #
def test_both_api_urls_are_exported_and_known_to_both_dispatchers(run):
    regions = _regions(run)
    stage_urls = {
        regions[role]: run.named(f"{PREFIX[role]}-CellRouter-stage").outputs["invokeUrl"]
        for role in ("primary", "secondary")
    }
    out = run.outputs
    assert out["routerApiUrls"] == stage_urls
    assert out["apiUrl"] == stage_urls[regions["primary"]]
    assert out["routerSecondaryApiUrl"] == stage_urls[regions["secondary"]]
    # The dispatchers' ROUTER_URLS (what WrongRegion names), from the APIs' ids.
    expected = {
        regions[role]: (
            f"https://{run.named(f'{PREFIX[role]}-CellRouter').id}.execute-api."
            f"{regions[role]}.amazonaws.com/v1"
        )
        for role in ("primary", "secondary")
    }
    for role in ("primary", "secondary"):
        env = run.one(FUNCTION, lambda f, r=role: f.name == f"{PREFIX[r]}-dispatcher").inputs[
            "environment"
        ]["variables"]
        assert json.loads(env["ROUTER_URLS"]) == expected
        other = "secondary" if role == "primary" else "primary"
        assert (env["ROUTER_REGION"], env["ROUTER_PEER_REGION"], env["ROUTER_PRIMARY_REGION"]) == (
            regions[role], regions[other], regions["primary"]
        )  # fmt: skip


def test_ops_reads_both_router_urls_from_the_outputs(dev_run: ProgramRun, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(dev_run.outputs))
    outputs = load_outputs(str(path), environ={})
    assert outputs.router_urls == dev_run.outputs["routerApiUrls"]
    assert set(outputs.router_urls) == set(outputs.regions)
    assert outputs.router_table_name == dev_run.outputs["routerTableName"]


# --------------------------------------------------------------------------- #
# Authentication in either region
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_each_api_verifies_the_primarys_pool_tokens_from_its_own_replica(run, role):
    regions = _regions(run)
    api = run.named(f"{PREFIX[role]}-CellRouter")
    function = run.one(FUNCTION, lambda f: f.name == f"{PREFIX[role]}-authorizer")
    authorizer = run.one(AUTHORIZER, lambda a: a.inputs["restApi"] == api.id)
    assert authorizer.inputs["type"] == "TOKEN"
    assert authorizer.inputs["authorizerUri"] == function.outputs["invokeArn"]
    assert authorizer.inputs["identityValidationExpression"] == TOKEN_PATTERN
    methods = [m for m in run.of_type(METHOD) if m.inputs["restApi"] == api.id]
    assert len(methods) == 3
    for method in methods:
        assert (method.inputs["authorization"], method.inputs["authorizerId"]) == (
            "CUSTOM", authorizer.id
        )  # fmt: skip
    pool = run.named("cell-router-CellRouterPool")
    env = function.inputs["environment"]["variables"]
    assert env["USER_POOL_ISSUER"] == (
        f"https://cognito-idp.{regions['primary']}.amazonaws.com/{pool.id}"
    )
    assert json.loads(env["USER_POOL_CLIENT_IDS"]) == [run.outputs["userPoolClientId"]]
    assert env["TABLE_NAME"] == run.outputs["routerTableName"]
    # Its whole grant: read the JWKS copy in its own region's table. No
    # Cognito action, nothing in the pool's region (for the secondary).
    policy = json.loads(run.named(f"{PREFIX[role]}-authorizer-policy").inputs["policy"])
    (own, _logs, _traces) = policy["Statement"]
    assert own["Action"] == ["dynamodb:GetItem"]
    assert _region_of(own["Resource"]) == regions[role]
    assert own["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["JWKS#*"]}}
    assert "cognito" not in json.dumps(policy)
    # API Gateway may invoke it for this API's authorizer only.
    permission = run.named(f"{PREFIX[role]}-CellRouter-authorizer-invoke").inputs
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == f"{api.outputs['executionArn']}/authorizers/{authorizer.id}"


def test_the_jwks_copy_is_written_in_the_pools_region_only(run):
    regions = _regions(run)
    refreshers = [f for f in run.of_type(FUNCTION) if f.name.endswith("-jwks_refresher")]
    assert [(f.name, f.region) for f in refreshers] == [
        ("cell-router-jwks_refresher", regions["primary"])
    ]
    policy = json.loads(run.named("cell-router-jwks_refresher-policy").inputs["policy"])
    assert policy["Statement"][0]["Action"] == ["dynamodb:PutItem"]
    rule = run.named("cell-router-jwks-refresh-schedule").inputs
    assert rule["scheduleExpression"] == "rate(15 minutes)"


# --------------------------------------------------------------------------- #
# Schedules in both regions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("module", ["heartbeat", "sweeper"])
def test_schedules_run_in_both_regions(run, module):
    regions = _regions(run)
    for role in ("primary", "secondary"):
        rule = run.named(f"{PREFIX[role]}-{module}-schedule")
        assert rule.region == regions[role]
        assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
        target = run.named(f"{PREFIX[role]}-{module}-target").inputs
        function = run.one(FUNCTION, lambda f, r=role: f.name == f"{PREFIX[r]}-{module}")
        assert (target["rule"], target["arn"]) == (rule.outputs["name"], function.outputs["arn"])
        assert function.inputs["handler"] == f"handlers.cell_router.{module}.handler"


def test_each_regions_dashboard_draws_its_own_router(dev_run: ProgramRun):
    for role, region in _regions(dev_run).items():
        dashboard = dev_run.one(
            "aws:cloudwatch/dashboard:Dashboard", lambda d, r=region: d.region == r
        )
        body = dashboard.inputs["dashboardBody"]
        api = dev_run.named(f"{PREFIX[role]}-CellRouter").outputs["name"]
        assert f'"ApiName","{api}"' in body
        for module in ("dispatcher", "mapper", "validator"):
            name = dev_run.one(FUNCTION, lambda f, n=f"{PREFIX[role]}-{module}": f.name == n)
            assert f'"FunctionName","{name.outputs["name"]}"' in body, (role, module)


def test_without_the_cell_router_neither_region_runs_one(run_stack):
    run = run_stack(cellRouterEnabled=False)
    assert not [r for r in run.cloud_resources() if r.name.startswith("cell-router")]
    assert "routerApiUrls" not in run.outputs


# --------------------------------------------------------------------------- #
# Bad arguments: a clear error, nothing built
# --------------------------------------------------------------------------- #
def test_bad_two_region_arguments_are_refused():
    settings = SharedRouterSettings(callback_urls=["https://a/cb"])
    with pytest.raises(ValueError, match="must use the table's replica in us-west-2"):
        CellRouterArgs(
            region="us-west-2",
            settings=settings,
            alarm_topic_arn="t",
            table=RouterTableRef("us-east-1", "t", "a", "s"),
        )
    with pytest.raises(ValueError, match=r"lease_seconds .* must cover two heartbeats"):
        WriterSettings(
            region="us-east-1",
            peer_region="us-west-2",
            primary_region="us-east-1",
            router_urls="{}",
            lease_seconds=90,
        )
    with pytest.raises(ValueError, match="writer settings"):
        WriterSettings(
            region="us-east-1", peer_region="us-east-1", primary_region="us-east-1", router_urls=""
        )
    pool = UserPoolRef("us-east-1", "p", "arn", "c", "https://d")
    with pytest.raises(ValueError, match="refresh_jwks runs in the user pool's region only"):
        CellRouterApiArgs(region="us-west-2", state_machine_arn="s", callback_urls=["https://a"],
                          logout_urls=[], table_name="t", table_arn="a", user_pool=pool,
                          refresh_jwks=True)  # fmt: skip


def test_one_region_pair_is_refused():
    same = RegionProviders.__new__(RegionProviders)
    object.__setattr__(same, "region", "us-east-1")
    with pytest.raises(ValueError, match="different regions"):
        MultiRegionCellRouterArgs(
            settings=SharedRouterSettings(callback_urls=["https://a/cb"]),
            primary=same,
            secondary=same,
            alarm_topic_arns={"us-east-1": "t"},
        )


# --------------------------------------------------------------------------- #
# The writer settings, from the stack
# --------------------------------------------------------------------------- #
def test_writer_settings_and_automatic_promotion_come_from_config(run_stack):
    run = run_stack(routerWriterFenceSeconds=30, routerWriterLeaseSeconds=200,
                    routerWriterAutoPromotion=True,
                    routerWriterAutoPromoteAfterSeconds=900)  # fmt: skip
    for role in ("primary", "secondary"):
        for module in ("dispatcher", "heartbeat"):
            fn = run.one(FUNCTION, lambda f, n=f"{PREFIX[role]}-{module}": f.name == n)
            env = fn.inputs["environment"]["variables"]
            assert (env["WRITER_FENCE_SECONDS"], env["WRITER_LEASE_SECONDS"]) == ("30", "200")
            assert env["WRITER_AUTO_PROMOTION"] == "true"
            assert env["WRITER_AUTO_PROMOTE_AFTER_SECONDS"] == "900"
        # Automatic promotion needs the writer record and this region's registry.
        region = _regions(run)[role]
        policy = json.loads(run.named(f"{PREFIX[role]}-heartbeat-policy").inputs["policy"])
        sids = {s["Sid"]: s for s in policy["Statement"]}
        assert sids["PromoteThisRegion"]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WRITER#*"]}
        }
        assert sids["RegisterPromotedMarkets"]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"WRITERS#{region}"]}
        }


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"routerWriterLeaseSeconds": 60}, "routerWriterLeaseSeconds"),  # < two heartbeats
        ({"routerWriterAutoPromoteAfterSeconds": 130}, "routerWriterAutoPromoteAfterSeconds"),
        ({"routerWriterFenceSeconds": -1}, "routerWriterFenceSeconds"),
    ],
)
def test_bad_writer_settings_name_the_key(overrides, key):
    from config import ConfigError, parse_settings
    from tests.pulumi_harness import DEV_CONFIG

    with pytest.raises(ConfigError, match=key):
        parse_settings({**DEV_CONFIG, **overrides}, stack="dev")


# --------------------------------------------------------------------------- #
# A stack deployed before #13 updates in place
# --------------------------------------------------------------------------- #
STACK_PREFIX = "urn:pulumi:dev::resilient-routing::"


def _engine_urn(parent_urn: str | None, type_: str, name: str) -> str:
    """A URN as the Pulumi engine builds it: the parent's whole qualified
    type chain, then this type (the mock monitor keeps only the last)."""
    if parent_urn:
        type_ = parent_urn[len(STACK_PREFIX) :].split("::")[0] + "$" + type_
    return f"{STACK_PREFIX}{type_}::{name}"


def _current_urn(run: ProgramRun, resource) -> str:
    urn = None
    for node in [*run.ancestry(resource), resource]:
        if node.type == "pulumi:pulumi:Stack":
            continue
        urn = _engine_urn(urn, node.type, node.name)
    return urn


def _aliased_urn(run: ProgramRun, resource) -> str | None:
    """The URN ``resource`` answers to through its own alias or, as the
    engine derives it, through an ancestor's."""
    for alias in resource.aliases:
        spec = alias.get("spec", {})
        if spec.get("noParent"):
            return _engine_urn(None, resource.type, resource.name)
        if spec.get("parentUrn"):
            return _engine_urn(spec["parentUrn"], resource.type, resource.name)
    parent = run.parent_of(resource)
    if parent is None or parent.type == "pulumi:pulumi:Stack":
        return None
    old_parent = _aliased_urn(run, parent)
    return _engine_urn(old_parent, resource.type, resource.name) if old_parent else None


def test_the_primarys_resources_keep_their_pre_13_urns_through_aliases(dev_run: ProgramRun):
    # The URNs these resources had when RouterData, CellRouterFunctions,
    # Orchestrator and CellRouterApi were top-level components (read from a
    # run of the program before #13).
    components = "resilient-routing:components:"
    before = {
        "cell-router-tbl_router": f"{components}RouterData$aws:dynamodb/table:Table",
        "cell-router-user-key": f"{components}RouterData$aws-native:secretsmanager:Secret",
        "cell-router-CellRouterPool": f"{components}CellRouterApi$aws:cognito/userPool:UserPool",
        "cell-router-CellRouter": f"{components}CellRouterApi$aws:apigateway/restApi:RestApi",
        "cell-router-CellRouter-stage": f"{components}CellRouterApi$aws:apigateway/stage:Stage",
        "cell-router-Orchestrator": f"{components}Orchestrator$aws:sfn/stateMachine:StateMachine",
        "cell-router-CellProvisioning": f"{components}RouterData$aws:sqs/queue:Queue",
        "cell-router-dispatcher": f"{components}CellRouterFunctions${components}PythonFunction"
        "$aws:lambda/function:Function",
    }
    for name, qualified_type in before.items():
        resource = dev_run.one(
            qualified_type.split("$")[-1], lambda r, n=name: r.name == n and r.custom
        )
        old = f"{STACK_PREFIX}{qualified_type}::{name}"
        assert _current_urn(dev_run, resource) != old  # moved under the parent ...
        assert _aliased_urn(dev_run, resource) == old, name  # ... and aliased back


def test_a_failing_jwks_refresher_pages(dev_run: ProgramRun):
    # Until it recovers, new signing keys never reach either region's table.
    refresher = dev_run.one(FUNCTION, lambda f: f.name == "cell-router-jwks_refresher")
    alarm = dev_run.named("cell-router-jwks_refresher-errors").inputs
    assert alarm["dimensions"] == {"FunctionName": refresher.outputs["name"]}
    assert (alarm["metricName"], alarm["threshold"]) == ("Errors", 1)
    # The authorizer's Errors include every rejected token: not alarmed.
    names = {a.name for a in dev_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert not any("authorizer-errors" in n for n in names)


def test_the_programs_jwks_prefix_is_the_handlers():
    from components import cell_router_api
    from handlers.router_auth import jwks_store

    assert cell_router_api.JWKS_PREFIX == jwks_store.JWKS_PREFIX
