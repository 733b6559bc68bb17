"""CellRouterApi: Cognito, the REST API, its integration, stage and deployment."""

from __future__ import annotations

import json

import pytest

from components import api_templates
from components.cell_router_api import (
    TOKEN_PATTERN,
    CellRouterApi,
    CellRouterApiArgs,
    derived_domain_prefix,
)
from components.providers import region_providers
from support.mock_engine import ACCOUNT
from tests.pulumi_harness import ProgramRun, run_program

API = "cell-router-CellRouter"
METHOD = "aws:apigateway/method:Method"
SM_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:Orchestrator-abc"
TABLE = "tbl_router"
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/tbl_router"


def _state_machine_arn(run: ProgramRun) -> str:
    return run.named("cell-router-Orchestrator").outputs["arn"]


# --- Cognito ------------------------------------------------------------------
def test_user_pool_signs_in_by_email_with_a_strong_policy(dev_run: ProgramRun):
    pool = dev_run.named("cell-router-CellRouterPool").inputs
    assert pool["usernameAttributes"] == ["email"]
    assert pool["autoVerifiedAttributes"] == ["email"]
    assert pool["usernameConfiguration"] == {"caseSensitive": False}
    assert pool["passwordPolicy"] == {
        "minimumLength": 12,
        "requireLowercase": True,
        "requireUppercase": True,
        "requireNumbers": True,
        "requireSymbols": True,
        "temporaryPasswordValidityDays": 3,
    }
    assert pool["accountRecoverySetting"] == {
        "recoveryMechanisms": [{"name": "verified_email", "priority": 1}]
    }
    assert pool["deletionProtection"] == "ACTIVE"
    assert pool["mfaConfiguration"] == "OPTIONAL"
    assert pool["softwareTokenMfaConfiguration"] == {"enabled": True}
    assert "smsConfiguration" not in pool


def test_app_client_is_public_with_srp_password_and_code_flow(run_stack):
    run = run_stack(oauthCallbackUrls=["https://app.example.com/cb"],
                    oauthLogoutUrls=["https://app.example.com/"])  # fmt: skip
    client = run.named("cell-router-CellRouterPool-client").inputs
    assert client["userPoolId"] == run.named("cell-router-CellRouterPool").id
    assert client["generateSecret"] is False
    assert client["explicitAuthFlows"] == [
        "ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
    ]  # fmt: skip
    assert client["allowedOauthFlows"] == ["code"]
    assert client["allowedOauthFlowsUserPoolClient"] is True
    assert client["allowedOauthScopes"] == ["openid", "email", "profile"]
    assert client["supportedIdentityProviders"] == ["COGNITO"]
    assert client["callbackUrls"] == ["https://app.example.com/cb"]
    assert client["logoutUrls"] == ["https://app.example.com/"]
    assert client["preventUserExistenceErrors"] == "ENABLED"
    # Issue #10: the client may write only what sign-up needs.
    assert client["readAttributes"] == ["email", "email_verified"]
    assert client["writeAttributes"] == ["email"]


def test_an_email_change_waits_for_verification(dev_run: ProgramRun):
    pool = dev_run.named("cell-router-CellRouterPool").inputs
    assert pool["userAttributeUpdateSettings"] == {
        "attributesRequireVerificationBeforeUpdates": ["email"]
    }
    assert pool["autoVerifiedAttributes"] == ["email"]


def test_sign_up_is_open_by_default(dev_run: ProgramRun):
    pool = dev_run.named("cell-router-CellRouterPool").inputs
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": False}
    assert "lambdaConfig" not in pool
    assert not [f for f in dev_run.of_type("aws:lambda/function:Function")
                if "sign_up_gate" in f.inputs["handler"]]  # fmt: skip


def test_admin_only_sign_up(run_stack):
    pool = run_stack(signUpPolicy="adminOnly").named("cell-router-CellRouterPool").inputs
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}


def test_allowed_domains_sign_up_runs_the_gate(run_stack):
    run = run_stack(signUpPolicy="allowedDomains", signUpAllowedDomains=["Example.com"])
    gate = run.one(
        "aws:lambda/function:Function",
        lambda f: f.inputs["handler"] == "handlers.cell_router.sign_up_gate.handler",
    )
    assert gate.inputs["environment"]["variables"]["SIGN_UP_ALLOWED_DOMAINS"] == '["example.com"]'
    pool = run.named("cell-router-CellRouterPool")
    assert pool.inputs["lambdaConfig"] == {"preSignUp": gate.outputs["arn"]}
    assert pool.inputs["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": False}
    permission = run.named("cell-router-CellRouterPool-pre-sign-up-invoke").inputs
    assert permission == {"action": "lambda:InvokeFunction", "function": gate.outputs["name"],
                          "principal": "cognito-idp.amazonaws.com",
                          "sourceArn": pool.outputs["arn"]}  # fmt: skip


def test_waf_is_off_by_default_and_a_rate_rule_when_on(dev_run: ProgramRun, run_stack):
    assert dev_run.of_type("aws:wafv2/webAcl:WebAcl") == []
    run = run_stack(wafEnabled=True, wafRateLimit=500)
    # One web ACL per regional API (issue #13); the primary's is read here.
    acls = run.of_type("aws:wafv2/webAcl:WebAcl")
    assert sorted(a.region for a in acls) == ["us-east-1", "us-west-2"]
    acl = run.named(f"{API}-web-acl")
    assert acl.inputs["scope"] == "REGIONAL"
    assert acl.inputs["defaultAction"] == {"allow": {}}
    (rule,) = acl.inputs["rules"]
    assert rule["statement"] == {"rateBasedStatement": {"limit": 500, "aggregateKeyType": "IP"}}
    assert rule["action"] == {"block": {}}
    association = run.named(f"{API}-web-acl-association").inputs
    assert association == {"resourceArn": run.named(f"{API}-stage").outputs["arn"],
                           "webAclArn": acl.outputs["arn"]}  # fmt: skip


def test_bodies_are_validated_before_any_execution(dev_run: ProgramRun):
    api_id = dev_run.named(API).id
    model = dev_run.named(f"{API}-body-model").inputs
    assert (model["restApi"], model["contentType"]) == (api_id, "application/json")
    assert json.loads(model["schema"]) == api_templates.REQUEST_BODY_SCHEMA
    validator = dev_run.named(f"{API}-body-validator")
    assert validator.inputs["validateRequestBody"] is True
    methods = [m for m in dev_run.of_type(METHOD) if m.inputs["restApi"] == api_id]
    assert len(methods) == 3
    for method in methods:
        assert method.inputs["requestValidatorId"] == validator.id
        assert method.inputs["requestModels"] == {"application/json": model["name"]}


def test_domain_prefix_from_config(run_stack):
    run = run_stack(hostedUiDomainPrefix="acme-cells")
    assert run.named("cell-router-CellRouterPool-domain").inputs["domain"] == "acme-cells"
    assert run.outputs["hostedUiDomain"] == "https://acme-cells.auth.us-east-1.amazoncognito.com"


def test_domain_prefix_derived_from_the_pool_id(dev_run: ProgramRun):
    pool_id = dev_run.named("cell-router-CellRouterPool").id
    domain = dev_run.named("cell-router-CellRouterPool-domain").inputs
    assert domain["userPoolId"] == pool_id
    assert domain["managedLoginVersion"] == 1
    assert domain["domain"] == "cellrouter-" + pool_id.split("_")[1].lower()


@pytest.mark.parametrize(
    ("pool_id", "prefix"),
    [
        ("eu-west-2_AbC123xyZ", "cellrouter-abc123xyz"),
        ("us-east-1_xAWSy9", "cellrouter-xa-wsy9"),
        ("us-east-1_amazonCognito", "cellrouter-a-mazonc-ognito"),
    ],
)
def test_derived_prefix_obeys_cognitos_rules(pool_id, prefix):
    assert derived_domain_prefix(pool_id) == prefix


# --- REST API -----------------------------------------------------------------
def test_api_is_regional(dev_run: ProgramRun):
    api = dev_run.named(API).inputs
    assert api["endpointConfiguration"]["types"] == "REGIONAL"


def test_every_method_has_the_token_authorizer_and_no_method_lacks_it(dev_run):
    # Issue #13: a Lambda TOKEN authorizer verifying tokens from the JWKS copy
    # in the region's table (docs/decisions/cross-region-auth.md).
    function = dev_run.one(
        "aws:lambda/function:Function", lambda r: r.name == "cell-router-authorizer"
    )
    authorizer = dev_run.named(f"{API}-authorizer")
    assert authorizer.inputs == {
        "restApi": dev_run.named(API).id,
        "type": "TOKEN",
        "authorizerUri": function.outputs["invokeArn"],
        "identitySource": "method.request.header.Authorization",
        "identityValidationExpression": TOKEN_PATTERN,
        "authorizerResultTtlInSeconds": 300,
    }
    api_id = dev_run.named(API).id
    methods = [m for m in dev_run.of_type(METHOD) if m.inputs["restApi"] == api_id]
    assert len(methods) == 3
    for method in methods:
        assert method.inputs["authorization"] == "CUSTOM", method.name
        assert method.inputs["authorizerId"] == authorizer.id, method.name
        assert method.inputs["httpMethod"] == "POST"
    resources = {r.id: r.inputs for r in dev_run.of_type("aws:apigateway/resource:Resource")
                 if r.inputs["restApi"] == api_id}  # fmt: skip
    assert sorted(r["pathPart"] for r in resources.values()) == ["cells", "mapper", "validate"]
    assert {m.inputs["resourceId"] for m in methods} == set(resources)


def test_integrations_start_the_orchestrator_synchronously(dev_run: ProgramRun):
    role = dev_run.named(f"{API}-integration-role")
    for route in ("cells", "mapper", "validate"):
        integration = dev_run.named(f"{API}-{route}-integration").inputs
        assert integration["type"] == "AWS"
        assert integration["integrationHttpMethod"] == "POST"
        assert integration["uri"] == "arn:aws:apigateway:us-east-1:states:action/StartSyncExecution"
        assert integration["credentials"] == role.outputs["arn"]
        assert integration["passthroughBehavior"] == "NEVER"
        assert integration["timeoutMilliseconds"] == 29000
        assert integration["requestTemplates"] == {
            "application/json": api_templates.request_template(_state_machine_arn(dev_run))
        }
        response = dev_run.named(f"{API}-{route}-integration-response").inputs
        assert response["statusCode"] == "200"
        assert "selectionPattern" not in response
        assert response["responseTemplates"] == {
            "application/json": api_templates.response_template()
        }
        codes = sorted(
            r.inputs["statusCode"]
            for r in dev_run.of_type("aws:apigateway/methodResponse:MethodResponse")
            if r.name.startswith(f"{API}-{route}-")
        )
        assert codes == ["200", "400", "403", "404", "421", "500", "503"]
        # #11: a 503 may carry Retry-After, so the method response declares it.
        (unavailable,) = (
            r.inputs
            for r in dev_run.of_type("aws:apigateway/methodResponse:MethodResponse")
            if r.name == f"{API}-{route}-503"
        )
        assert unavailable["responseParameters"] == {"method.response.header.Retry-After": False}


def test_integration_role_may_only_start_the_orchestrator(dev_run: ProgramRun):
    role = dev_run.named(f"{API}-integration-role")
    api_id = dev_run.named(API).id
    # Issue #10: only API Gateway acting for this API in this account.
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                       "Action": "sts:AssumeRole",
                       "Condition": {
                           "StringEquals": {"aws:SourceAccount": ACCOUNT},
                           "ArnLike": {"aws:SourceArn": [
                               f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
                               f"arn:aws:apigateway:us-east-1::/restapis/{api_id}*"]}}}],
    }  # fmt: skip
    policy = dev_run.named(f"{API}-integration-policy")
    assert policy.inputs["role"] == role.id
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "StartOrchestrator", "Effect": "Allow",
                       "Action": ["states:StartSyncExecution"],
                       "Resource": _state_machine_arn(dev_run)}],
    }  # fmt: skip
    attached = [a for a in dev_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] in (role.id, role.outputs.get("name"))]  # fmt: skip
    assert attached == []


def test_gateway_errors_are_json(dev_run: ProgramRun):
    api_id = dev_run.named(API).id
    responses = {r.inputs["responseType"]: r.inputs
                 for r in dev_run.of_type("aws:apigateway/response:Response")
                 if r.inputs["restApiId"] == api_id}  # fmt: skip
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        assert response["responseTemplates"] == {
            "application/json": api_templates.GATEWAY_RESPONSE_TEMPLATE
        }


# --- stage ----------------------------------------------------------------------
def test_stage_traces_and_logs_json_without_bodies(dev_run: ProgramRun):
    stage = dev_run.named(f"{API}-stage").inputs
    access_logs = dev_run.named(f"{API}-access-logs")
    assert stage["xrayTracingEnabled"] is True
    assert stage["deployment"] == dev_run.named(f"{API}-deployment").id
    assert stage["accessLogSettings"]["destinationArn"] == access_logs.outputs["arn"]
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format == api_templates.ACCESS_LOG_FORMAT
    assert not any("email" in v or "$input" in v for v in log_format.values())
    execution_logs = dev_run.named(f"{API}-execution-logs").inputs
    assert execution_logs["name"] == f"API-Gateway-Execution-Logs_{dev_run.named(API).id}/v1"
    assert execution_logs["retentionInDays"] == access_logs.inputs["retentionInDays"] == 30


def test_throttling_and_method_settings_from_config(run_stack):
    run = run_stack(apiThrottleRateLimit=7, apiThrottleBurstLimit=9)
    settings = run.named(f"{API}-method-settings").inputs
    assert settings["methodPath"] == "*/*"
    assert settings["stageName"] == run.named(f"{API}-stage").inputs["stageName"]
    assert settings["settings"] == {
        "throttlingRateLimit": 7,
        "throttlingBurstLimit": 9,
        "metricsEnabled": True,
        "loggingLevel": "ERROR",
        "dataTraceEnabled": False,
    }


def test_account_logging_role_is_left_alone_by_default(dev_run: ProgramRun):
    assert dev_run.of_type("aws:apigateway/account:Account") == []


# --- deployment triggers ------------------------------------------------------------
def _api_run(**overrides) -> ProgramRun:
    def program() -> None:
        p = region_providers("r", "eu-west-1", {})
        args = dict(region="eu-west-1", state_machine_arn=SM_ARN,
                    callback_urls=["https://a.example.com/cb"], logout_urls=[],
                    table_name=TABLE, table_arn=TABLE_ARN)  # fmt: skip
        CellRouterApi("api", CellRouterApiArgs(**{**args, **overrides}), p.opts())

    return run_program({}, program=program)


def _triggers(run: ProgramRun) -> dict:
    return run.one("aws:apigateway/deployment:Deployment").inputs["triggers"]


def test_deployment_redeploys_when_a_template_changes(monkeypatch):
    baseline = _triggers(_api_run())
    assert _triggers(_api_run()) == baseline  # deterministic

    original = api_templates.response_template
    monkeypatch.setattr(api_templates, "response_template", lambda: original() + "## v2\n")
    assert _triggers(_api_run()) != baseline
    monkeypatch.undo()

    original_request = api_templates.request_template
    monkeypatch.setattr(
        api_templates, "request_template", lambda arn: original_request(arn) + "## v2\n"
    )
    assert _triggers(_api_run()) != baseline
    monkeypatch.undo()

    other = SM_ARN.replace("Orchestrator-abc", "Orchestrator-def")
    assert _triggers(_api_run(state_machine_arn=other)) != baseline


def test_stage_only_settings_do_not_redeploy():
    assert _triggers(_api_run(throttle_rate_limit=1, throttle_burst_limit=1)) == _triggers(
        _api_run()
    )


def test_pool_deletion_protection_can_be_lifted():
    pool = _api_run(deletion_protection=False).one("aws:cognito/userPool:UserPool")
    assert pool.inputs["deletionProtection"] == "INACTIVE"


def test_opting_in_manages_the_account_logging_role():
    run = _api_run(manage_account_logging_role=True)
    role = run.named("api-CellRouter-account-logging-role")
    # Region-wide: destroying this stack must not break every API's logging.
    retained = {r.name for r in run.resources if r.retain_on_delete}
    assert retained == {
        "api-CellRouter-account-logging-role",
        "api-CellRouter-account-logging-policy",
        "api-CellRouter-account",
    }
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    attachment = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    account = run.one("aws:apigateway/account:Account")
    assert account.inputs["cloudwatchRoleArn"] == role.outputs["arn"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain_prefix": "my-aws-login"}, "Cognito domain prefix"),
        ({"domain_prefix": "Upper"}, "Cognito domain prefix"),
        ({"callback_urls": []}, "callback_urls"),
        ({"throttle_rate_limit": 0}, "throttling"),
        ({"stage_name": "v-1"}, "stage_name"),
    ],
)
def test_bad_arguments_are_refused(overrides, message):
    base = dict(region="eu-west-1", state_machine_arn=SM_ARN, callback_urls=["https://a/cb"],
                logout_urls=[], table_name=TABLE, table_arn=TABLE_ARN)  # fmt: skip
    with pytest.raises(ValueError, match=message):
        CellRouterApiArgs(**{**base, **overrides})
