"""Offline checks of every artifact the program generates ("artifact checks";
"validator" is the cell router's ``/validate`` handler).

No Pulumi CLI, provider plugin or AWS account exists where the tests run, so
what only the engine or AWS would reject is checked here, from what the mock
engine recorded (``tests.pulumi_harness``). Each check is a plain function
returning a list of problems (one readable line each; empty: none found), so
tests feed it the real artifacts *and* planted mistakes.

* ``asl``: ASL through ``statelint``; every Lambda a task invokes exists in the
  program and the state machine's role may invoke it.
* ``iam``: IAM documents through ``parliament`` (unknown actions, condition
  keys, operators, action/resource mismatches) plus principal checks
  parliament lacks. Findings fail unless allow-listed precisely in
  ``ALLOWED_FINDINGS``, each with its reason.
* ``cfn_schemas``: ``aws-native`` inputs renamed to CloudFormation properties
  exactly as the provider does (``to_sdk_name`` inverted), with auto-names and
  the provider's default tags, validated against the resource schema cfn-lint
  ships for the resource's region, plus cfn-lint's schema-based rules.
* ``cfn_classic``: ``aws`` resources mapped by hand to their CloudFormation
  twin (``CLASSIC_MAPPERS``; the rest are ``CLASSIC_GAPS``, with why), plus
  quotas no schema carries.
* ``contact_flow``: the component's structural checker plus action types,
  parameters, error branches and operators from the flow-language reference;
  every bot and function the flow names is associated with the instance.
* ``templates``: VTL references against API Gateway's variables and the
  StartSyncExecution shapes; the rendered execution input's keys.
* ``lambda_package``: the handler resolves inside the packaged archive; the
  package imports nothing beyond the Lambda runtime and the Powertools layer
  (statically, function-level imports included, and by importing it in a
  sandboxed ``python -I -S``).
* ``artifacts``: everything above, collected from one ``ProgramRun``.
"""

from tests.offline.artifact_checks.artifacts import ProgramArtifacts
from tests.offline.artifact_checks.asl import check_state_machine
from tests.offline.artifact_checks.cfn_classic import (
    CLASSIC_GAPS,
    CLASSIC_MAPPERS,
    ProgramContext,
    check_classic_resource,
    check_dynamodb_keys,
    check_table_item,
)
from tests.offline.artifact_checks.cfn_schemas import (
    cfn_schema,
    check_native_resource,
    native_to_cfn,
    to_sdk_name,
    validate_against_schema,
)
from tests.offline.artifact_checks.contact_flow import (
    FLOW_ACTIONS,
    check_contact_flow_content,
    check_flow_actions,
    check_flow_associations,
)
from tests.offline.artifact_checks.iam import (
    ALLOWED_FINDINGS,
    PolicyDocument,
    check_policy,
    lambda_permission_document,
)
from tests.offline.artifact_checks.lambda_package import (
    ALLOWED_PACKAGES,
    LambdaSandbox,
    archive_files,
    check_handler_resolves,
    check_package_imports,
)
from tests.offline.artifact_checks.templates import (
    ACCESS_LOG_CONTEXT_VARIABLES,
    CONTEXT_VARIABLES,
    EXECUTION_INPUT_KEYS,
    check_request_template,
    check_response_template,
    check_template_references,
)

__all__ = [
    "ACCESS_LOG_CONTEXT_VARIABLES",
    "ALLOWED_FINDINGS",
    "ALLOWED_PACKAGES",
    "CLASSIC_GAPS",
    "CLASSIC_MAPPERS",
    "CONTEXT_VARIABLES",
    "EXECUTION_INPUT_KEYS",
    "FLOW_ACTIONS",
    "LambdaSandbox",
    "PolicyDocument",
    "ProgramArtifacts",
    "ProgramContext",
    "archive_files",
    "cfn_schema",
    "check_classic_resource",
    "check_contact_flow_content",
    "check_dynamodb_keys",
    "check_flow_actions",
    "check_flow_associations",
    "check_handler_resolves",
    "check_native_resource",
    "check_package_imports",
    "check_policy",
    "check_request_template",
    "check_response_template",
    "check_state_machine",
    "check_table_item",
    "check_template_references",
    "lambda_permission_document",
    "native_to_cfn",
    "to_sdk_name",
    "validate_against_schema",
]
