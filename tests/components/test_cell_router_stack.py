"""The cell router as __main__.py composes it: region, names, outputs, switch."""

from __future__ import annotations

import pytest

from components.api_templates import request_template
from tests.pulumi_harness import DEV_CONFIG, EU_CONFIG, ProgramRun

ROUTER_COMPONENTS = {
    "resilient-routing:components:RouterData",
    "resilient-routing:components:CellRouterFunctions",
    "resilient-routing:components:Orchestrator",
    "resilient-routing:components:CellRouterApi",
}
OUTPUTS = ("apiUrl", "userPoolId", "userPoolClientId", "hostedUiDomain", "routerTableName",
           "provisioningQueueUrl", "orchestratorArn", "cellReadyFailedQueueUrl")  # fmt: skip


def _router_resources(run: ProgramRun):
    return [r for r in run.cloud_resources() if r.name.startswith("cell-router")]


@pytest.mark.parametrize(("fixture", "config"), [("dev_run", DEV_CONFIG), ("eu_run", EU_CONFIG)])
def test_each_regions_router_lands_in_its_region_on_its_providers(request, fixture, config):
    # Issue #13: the router runs in both regions; the secondary's resources
    # are the ones named cell-router-secondary-*, everything else is the
    # primary's (until #13 everything landed in the primary).
    run: ProgramRun = request.getfixturevalue(fixture)
    resources = _router_resources(run)
    primary, secondary = config["primaryRegion"], config["secondaryRegion"]
    home = [r for r in resources if not r.name.startswith("cell-router-secondary")]
    replica = [r for r in resources if r.name.startswith("cell-router-secondary")]
    assert len(home) > 60 and len(replica) > 60
    for resources, region, role in ((home, primary, "primary"), (replica, secondary, "secondary")):
        for resource in resources:
            assert resource.region == region, resource.name
            assert resource.provider and f"{role}-aws" in resource.provider, resource.name
    for api, region in (("cell-router-CellRouter", primary),
                        ("cell-router-secondary-CellRouter", secondary)):  # fmt: skip
        integration = run.named(f"{api}-cells-integration").inputs
        assert integration["uri"] == f"arn:aws:apigateway:{region}:states:action/StartSyncExecution"
    assert run.outputs["hostedUiDomain"].endswith(f".auth.{primary}.amazoncognito.com")
    assert f":{primary}:" in run.outputs["orchestratorArn"]
    assert f":{secondary}:" in run.outputs["routerSecondaryOrchestratorArn"]


def test_physical_names_are_seeded_with_the_original_names(dev_run: ProgramRun):
    seeds = {
        "aws:dynamodb/table:Table": ("tbl_router",),
        "aws:sqs/queue:Queue": ("CellProvisioning", "CellReady-failed"),
        "aws:cognito/userPool:UserPool": ("CellRouterPool",),
        "aws:apigateway/restApi:RestApi": ("CellRouter",),
        "aws:sfn/stateMachine:StateMachine": ("Orchestrator",),
    }
    for typ, names in seeds.items():
        found = [r for r in dev_run.of_type(typ) if r.name.startswith("cell-router")]
        assert found, typ
        for resource in found:
            seed = next((s for s in names if s in resource.name), None)
            assert seed, resource.name
            # Auto-named (no fixed physical name), so stacks can share an account.
            assert "name" not in resource.inputs, resource.name
            assert seed in resource.outputs["name"]


def test_outputs_are_exported_from_the_resources(dev_run: ProgramRun):
    out = dev_run.outputs
    assert set(OUTPUTS) <= set(out)
    assert out["apiUrl"] == dev_run.named("cell-router-CellRouter-stage").outputs["invokeUrl"]
    assert out["apiUrl"].endswith("/v1")
    assert out["userPoolId"] == dev_run.named("cell-router-CellRouterPool").id
    assert out["userPoolClientId"] == dev_run.named("cell-router-CellRouterPool-client").id
    assert out["routerTableName"] == dev_run.named("cell-router-tbl_router").outputs["name"]
    assert (
        out["provisioningQueueUrl"] == dev_run.named("cell-router-CellProvisioning").outputs["url"]
    )
    assert out["orchestratorArn"] == dev_run.named("cell-router-Orchestrator").outputs["arn"]
    failed = dev_run.named("cell-router-CellReady-failed").outputs["url"]
    assert out["cellReadyFailedQueueUrl"] == failed
    # The API starts exactly the exported state machine.
    integration = dev_run.named("cell-router-CellRouter-mapper-integration").inputs
    assert integration["requestTemplates"]["application/json"] == request_template(
        out["orchestratorArn"]
    )


def test_components_are_the_four_router_components(dev_run: ProgramRun):
    assert {c.type for c in dev_run.components()} >= ROUTER_COMPONENTS


def test_disabled_router_deploys_nothing_of_it(run_stack):
    run = run_stack(cellRouterEnabled=False)
    assert _router_resources(run) == []
    assert not ROUTER_COMPONENTS & {c.type for c in run.components()}
    assert not set(OUTPUTS) & set(run.outputs)
