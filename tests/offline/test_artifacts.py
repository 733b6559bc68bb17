"""Every artifact the program generates, validated without a cloud.

The whole program runs under the mock engine for four stacks: the dev pair,
the EU pair, Connect created with a claimed number (so the flow, the
associations and the phone number exist), and a variant with Lex Global
Resiliency, a provisioned router table and an alarm e-mail. Each artifact of
each run goes through the checks of ``tests.offline.artifact_checks``; a
failure names the resource, the field and what AWS would say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.offline.artifact_checks import (
    ACCESS_LOG_CONTEXT_VARIABLES,
    CLASSIC_GAPS,
    CLASSIC_MAPPERS,
    LambdaSandbox,
    ProgramArtifacts,
    archive_files,
    check_classic_resource,
    check_contact_flow_content,
    check_flow_associations,
    check_handler_resolves,
    check_native_resource,
    check_package_imports,
    check_policy,
    check_request_template,
    check_response_template,
    check_state_machine,
    check_table_item,
    check_template_references,
)
from tests.pulumi_harness import ACCOUNT, DEV_CONFIG, ProgramRun, run_program

CONNECT_CONFIG = {
    **DEV_CONFIG,
    "connectMode": "create",
    "connectInstanceAlias": "flowers-dev",
    "claimPhoneNumber": True,
}
VARIANT_CONFIG = {
    **DEV_CONFIG,
    "lexGlobalResiliency": True,
    "routerTableBillingMode": "PROVISIONED",
    "alarmEmail": "oncall@example.com",
    # Issue #10's optional admission controls, so their resources are checked.
    "wafEnabled": True,
    "signUpPolicy": "allowedDomains",
    "signUpAllowedDomains": ["example.com"],
    "provisioningPrincipals": ["arn:aws:iam::210987654321:role/cell-provisioner"],
    "cellEndpointDomains": ["cells.example.com"],
}
RUNS = ("dev", "eu", "connect", "variant")


@pytest.fixture(scope="module")
def connect_run() -> ProgramRun:
    return run_program(CONNECT_CONFIG)


@pytest.fixture(scope="module")
def variant_run() -> ProgramRun:
    return run_program(VARIANT_CONFIG, stack="variant")


@pytest.fixture(scope="module", params=RUNS)
def artifacts(request: pytest.FixtureRequest) -> ProgramArtifacts:
    return ProgramArtifacts(request.getfixturevalue(f"{request.param}_run"), ACCOUNT)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LambdaSandbox]:
    with LambdaSandbox() as box:
        yield box


def _no_problems(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- #
# Nothing passes vacuously
# --------------------------------------------------------------------------- #
def test_every_kind_of_artifact_is_collected(connect_run: ProgramRun):
    found = ProgramArtifacts(connect_run, ACCOUNT)
    # Changed by issue 12: a probe loop per region; by issue 13: an
    # Orchestrator per region.
    assert len(found.state_machines()) == 4
    assert len(found.functions()) >= 7
    assert len(found.policies()) >= 25
    assert {p.kind for p in found.policies()} == {"identity", "trust", "resource", "key"}
    assert {r.type for r in found.native_resources()} == {
        "aws-native:lex:Bot",
        "aws-native:lex:BotVersion",
        "aws-native:lex:BotAlias",
        "aws-native:connect:IntegrationAssociation",
        # The cell router's user-key secret (issue #10).
        "aws-native:secretsmanager:Secret",
    }
    assert len(found.contact_flows()) == 1
    # Three routes per regional API (issue #13: two APIs).
    assert len(found.request_templates()) == 6
    assert len(found.response_templates()) == 6
    assert found.gateway_response_templates() and found.access_log_formats()


# --------------------------------------------------------------------------- #
# The artifact checks, on everything
# --------------------------------------------------------------------------- #
def test_state_machines_pass_statelint_and_invoke_only_permitted_functions(artifacts):
    for machine in artifacts.state_machines():
        problems = check_state_machine(
            machine.inputs["definition"],
            function_arns=artifacts.function_arns(),
            role_policies=artifacts.role_policies_of(machine.inputs["roleArn"]),
        )
        _no_problems([f"{machine.name}: {p}" for p in problems])


def test_iam_documents_pass_parliament(artifacts):
    problems = [p for policy in artifacts.policies() for p in check_policy(policy)]
    _no_problems(problems)


def test_aws_native_inputs_match_the_cloudformation_schemas(artifacts):
    problems = [
        p
        for r in artifacts.native_resources()
        for p in check_native_resource(
            r.type, r.inputs, r.region, r.name, artifacts.default_tags("aws-native", r.region)
        )
    ]
    _no_problems(problems)


def test_classic_resources_match_their_cloudformation_twins(artifacts):
    context = artifacts.context()
    problems = [
        p for r in artifacts.classic_resources() for p in check_classic_resource(r, context)
    ]
    _no_problems(problems)


def test_every_classic_type_is_checked_or_a_documented_gap(artifacts):
    types = {r.type for r in artifacts.classic_resources()}
    assert not types - set(CLASSIC_MAPPERS) - set(CLASSIC_GAPS), "map these or document why not"


def test_seeded_items_carry_their_tables_key(artifacts):
    tables = artifacts.run.of_type("aws:dynamodb/table:Table")
    problems = []
    by_name = {t.outputs["name"]: t for t in tables}
    for item in artifacts.run.of_type("aws:dynamodb/tableItem:TableItem"):
        problems += check_table_item(item, by_name[item.inputs["tableName"]])
    _no_problems(problems)


def test_contact_flow_is_well_formed_and_uses_only_associated_bots(connect_run: ProgramRun):
    found = ProgramArtifacts(connect_run, ACCOUNT)
    (flow_resource,) = found.contact_flows()
    flow = json.loads(flow_resource.inputs["content"])
    problems = check_contact_flow_content(flow) + check_flow_associations(
        flow, found.associated_lex_aliases(), found.associated_functions()
    )
    _no_problems(problems)


def test_request_templates_build_the_execution_input_the_handlers_read(artifacts):
    machines = {m.outputs["arn"] for m in artifacts.state_machines()}
    paths = artifacts.integration_paths()
    problems = [
        f"{name}: {p}"
        for name, _, template in artifacts.request_templates()
        for p in check_request_template(
            template, state_machine_arns=machines, resource_path=paths[name]
        )
    ]
    _no_problems(problems)


def test_response_templates_read_only_what_start_sync_execution_returns(artifacts):
    problems = [
        f"{name}: {p}"
        for name, _, template in artifacts.response_templates()
        for p in check_response_template(template)
    ]
    _no_problems(problems)


def test_gateway_responses_and_access_logs_use_only_api_gateway_variables(artifacts):
    problems = [
        f"{name}: {p}"
        for name, _, template in artifacts.gateway_response_templates()
        for p in check_template_references(template)
    ] + [
        f"{name}: {p}"
        for name, log_format in artifacts.access_log_formats()
        for p in check_template_references(
            log_format, context_variables=ACCESS_LOG_CONTEXT_VARIABLES
        )
    ]
    _no_problems(problems)


def test_every_handler_resolves_and_imports_only_runtime_and_layer_packages(artifacts):
    functions = artifacts.functions()
    assert len(functions) >= 7
    problems = []
    for function in functions:
        files = archive_files(function.inputs["code"])
        problems += check_handler_resolves(function.inputs["handler"], files)
        problems += check_package_imports(files, function.inputs["runtime"])
    _no_problems(problems)


def test_every_handler_imports_in_the_lambda_sandbox(dev_run: ProgramRun, sandbox: LambdaSandbox):
    # The code is the same in every stack, so one stack's functions suffice.
    functions = ProgramArtifacts(dev_run, ACCOUNT).functions()
    assert len(functions) >= 7

    def import_in_sandbox(function) -> list[str]:
        return sandbox.import_handler(
            function.inputs["handler"],
            archive_files(function.inputs["code"]),
            (function.inputs.get("environment") or {}).get("variables"),
            function.region,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        imported = list(pool.map(import_in_sandbox, functions))
    _no_problems([p for found in imported for p in found])
