"""Classic ``aws`` resources mapped by hand to their CloudFormation twin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.offline.artifact_checks.cfn_schemas import cfn_schema, validate_against_schema
from tests.offline.artifact_checks.common import RecordedResource, as_json, as_list


@dataclass(frozen=True)
class ClassicMapping:
    """How one ``aws:*`` type becomes CloudFormation properties.

    ``definition`` validates against one of the schema's definitions instead
    of the whole resource (an Integration is part of AWS::ApiGateway::Method).
    """

    cfn_type: str
    build: Callable[[RecordedResource, ProgramContext], dict[str, Any]]
    definition: str | None = None


@dataclass
class ProgramContext:
    """Cross-resource facts the mappers need (ids -> ARNs)."""

    account: str

    def instance_arn(self, region: str, instance_id: str) -> str:
        if instance_id.startswith("arn:"):
            return instance_id
        return f"arn:aws:connect:{region}:{self.account}:instance/{instance_id}"


#: Keys whose empty object is the value itself (WAF actions: ``"Allow": {}``).
_EMPTY_ON_PURPOSE = frozenset({"Allow", "Block", "Count"})


def _drop_none(value: Any) -> Any:
    """Unset inputs out (None, and objects left empty), protobuf floats to ints."""
    if isinstance(value, Mapping):
        cleaned = {k: _drop_none(v) for k, v in value.items()}
        return {
            k: v
            for k, v in cleaned.items()
            if v is not None and (v != {} or k in _EMPTY_ON_PURPOSE)
        }
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Stand-in for a name the provider generates when CloudFormation requires
#: one: auto-names respect each service's length limits (the provider trims
#: the prefix), so only names the program sets itself are worth checking.
AUTONAMED = "autonamed-a1b2c3d"


def _name(r: RecordedResource) -> str | None:
    """The physical name the program sets (None: left to auto-naming)."""
    return r.inputs.get("name")


def _lambda_function(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    logging = i.get("loggingConfig") or {}
    return {
        # The archive is validated by lambda_package (handler + imports); a stand-in here.
        "Code": {"S3Bucket": "pulumi-asset", "S3Key": "code.zip"},
        "Role": i.get("role"),
        "Runtime": i.get("runtime"),
        "Handler": i.get("handler"),
        "Timeout": i.get("timeout"),
        "MemorySize": i.get("memorySize"),
        "Architectures": i.get("architectures"),
        "Layers": i.get("layers"),
        "Description": i.get("description"),
        "Environment": {"Variables": (i.get("environment") or {}).get("variables")},
        "TracingConfig": {"Mode": (i.get("tracingConfig") or {}).get("mode")},
        "LoggingConfig": {
            "LogFormat": logging.get("logFormat"),
            "LogGroup": logging.get("logGroup"),
            "ApplicationLogLevel": logging.get("applicationLogLevel"),
            "SystemLogLevel": logging.get("systemLogLevel"),
        },
        "ReservedConcurrentExecutions": i.get("reservedConcurrentExecutions"),
    }


def _lambda_permission(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Action": i.get("action"),
        "FunctionName": i.get("function"),
        "Principal": i.get("principal"),
        "SourceArn": i.get("sourceArn"),
        "SourceAccount": i.get("sourceAccount"),
    }


def _lambda_event_invoke_config(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    destinations = i.get("destinationConfig") or {}
    return {
        "FunctionName": i.get("functionName"),
        # CloudFormation requires a qualifier; the API's unqualified config is
        # the one of $LATEST (GetFunctionEventInvokeConfig names it so).
        "Qualifier": i.get("qualifier") or "$LATEST",
        "MaximumRetryAttempts": i.get("maximumRetryAttempts"),
        "MaximumEventAgeInSeconds": i.get("maximumEventAgeInSeconds"),
        "DestinationConfig": {
            key: {"Destination": (destinations.get(field) or {}).get("destination")}
            if destinations.get(field)
            else None
            for key, field in (("OnFailure", "onFailure"), ("OnSuccess", "onSuccess"))
        },
    }


def _key_schema(hash_key: str | None, range_key: str | None) -> list[dict[str, str]]:
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return keys


def _throughput(source: Mapping[str, Any]) -> dict[str, Any] | None:
    if source.get("readCapacity") is None and source.get("writeCapacity") is None:
        return None
    return {
        "ReadCapacityUnits": source.get("readCapacity"),
        "WriteCapacityUnits": source.get("writeCapacity"),
    }


def _dynamodb_table(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    indexes = []
    for g in i.get("globalSecondaryIndexes") or []:
        keys = [
            {"AttributeName": k["attributeName"], "KeyType": k["keyType"]}
            for k in g.get("keySchemas") or []
        ] or _key_schema(g.get("hashKey"), g.get("rangeKey"))
        indexes.append(
            {
                "IndexName": g.get("name"),
                "KeySchema": keys,
                "Projection": {
                    "ProjectionType": g.get("projectionType"),
                    "NonKeyAttributes": g.get("nonKeyAttributes"),
                },
                "ProvisionedThroughput": _throughput(g),
            }
        )
    sse = i.get("serverSideEncryption") or {}
    return {
        "TableName": _name(r),
        "BillingMode": i.get("billingMode"),
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]}
            for a in i.get("attributes") or []
        ],
        "KeySchema": _key_schema(i.get("hashKey"), i.get("rangeKey")),
        "GlobalSecondaryIndexes": indexes or None,
        "ProvisionedThroughput": _throughput(i),
        "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": (i.get("pointInTimeRecovery") or {}).get("enabled")
        },
        "SSESpecification": {
            "SSEEnabled": sse.get("enabled", False),
            "KMSMasterKeyId": sse.get("kmsKeyArn"),
        },
        "DeletionProtectionEnabled": i.get("deletionProtectionEnabled"),
        "TimeToLiveSpecification": (
            {
                "AttributeName": i["ttl"].get("attributeName"),
                "Enabled": i["ttl"].get("enabled"),
            }
            if i.get("ttl")
            else None
        ),
    }


def _sqs_queue(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "QueueName": _name(r),
        "FifoQueue": i.get("fifoQueue"),
        "DelaySeconds": i.get("delaySeconds"),
        "MaximumMessageSize": i.get("maxMessageSize"),
        "MessageRetentionPeriod": i.get("messageRetentionSeconds"),
        "ReceiveMessageWaitTimeSeconds": i.get("receiveWaitTimeSeconds"),
        "VisibilityTimeout": i.get("visibilityTimeoutSeconds"),
        "SqsManagedSseEnabled": i.get("sqsManagedSseEnabled"),
        "KmsMasterKeyId": i.get("kmsMasterKeyId"),
        "RedrivePolicy": as_json(i["redrivePolicy"]) if i.get("redrivePolicy") else None,
    }


def _sqs_redrive_allow(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"RedriveAllowPolicy": as_json(r.inputs["redriveAllowPolicy"])}


def _sqs_queue_policy(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"Queues": [r.inputs.get("queueUrl")], "PolicyDocument": as_json(r.inputs["policy"])}


def _state_machine(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    logging = i.get("loggingConfiguration") or {}
    return {
        "StateMachineName": _name(r),
        "StateMachineType": i.get("type"),
        "RoleArn": i.get("roleArn"),
        "DefinitionString": i.get("definition"),
        "LoggingConfiguration": {
            "Level": logging.get("level"),
            "IncludeExecutionData": logging.get("includeExecutionData"),
            "Destinations": (
                [{"CloudWatchLogsLogGroup": {"LogGroupArn": logging["logDestination"]}}]
                if logging.get("logDestination")
                else None
            ),
        },
        "TracingConfiguration": {"Enabled": (i.get("tracingConfiguration") or {}).get("enabled")},
    }


def _log_group(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    # A name_prefix gets 26 random characters appended by the provider.
    name = i.get("name") or (
        f"{i['namePrefix']}20260101000000000000000001" if i.get("namePrefix") else _name(r)
    )
    return {
        "LogGroupName": name,
        "RetentionInDays": i.get("retentionInDays"),
        "KmsKeyId": i.get("kmsKeyId"),
    }


def _metric_alarm(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "AlarmName": _name(r),
        "AlarmDescription": i.get("alarmDescription"),
        "Namespace": i.get("namespace"),
        "MetricName": i.get("metricName"),
        "Dimensions": [{"Name": k, "Value": v} for k, v in (i.get("dimensions") or {}).items()]
        or None,
        "Statistic": i.get("statistic"),
        "ExtendedStatistic": i.get("extendedStatistic"),
        "Period": i.get("period"),
        "EvaluationPeriods": i.get("evaluationPeriods"),
        "DatapointsToAlarm": i.get("datapointsToAlarm"),
        "Threshold": i.get("threshold"),
        "ComparisonOperator": i.get("comparisonOperator"),
        "TreatMissingData": i.get("treatMissingData"),
        "AlarmActions": i.get("alarmActions"),
        "OKActions": i.get("okActions"),
        "InsufficientDataActions": i.get("insufficientDataActions"),
        "Unit": i.get("unit"),
    }


def _event_rule(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Name": _name(r),
        "Description": i.get("description"),
        "ScheduleExpression": i.get("scheduleExpression"),
        "EventPattern": as_json(i["eventPattern"]) if i.get("eventPattern") else None,
        "EventBusName": i.get("eventBusName"),
        "State": i.get("state"),
    }


def _event_target(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    retry = i.get("retryPolicy") or {}
    dead_letter = i.get("deadLetterConfig") or {}
    return {
        "Id": i.get("targetId") or r.name[:64],
        "Arn": i.get("arn"),
        "RoleArn": i.get("roleArn"),
        "Input": i.get("input"),
        "InputPath": i.get("inputPath"),
        "RetryPolicy": {
            "MaximumEventAgeInSeconds": retry.get("maximumEventAgeInSeconds"),
            "MaximumRetryAttempts": retry.get("maximumRetryAttempts"),
        },
        "DeadLetterConfig": {"Arn": dead_letter.get("arn")},
    }


def _rest_api(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    types = (i.get("endpointConfiguration") or {}).get("types")
    return {
        "Name": _name(r) or AUTONAMED,
        "Description": i.get("description"),
        "EndpointConfiguration": {"Types": as_list(types) or None},
    }


def _api_resource(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RestApiId": i.get("restApi"),
        "ParentId": i.get("parentId"),
        "PathPart": i.get("pathPart"),
    }


def _api_method(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RestApiId": i.get("restApi"),
        "ResourceId": i.get("resourceId"),
        "HttpMethod": i.get("httpMethod"),
        "AuthorizationType": i.get("authorization"),
        "AuthorizerId": i.get("authorizerId"),
        "AuthorizationScopes": i.get("authorizationScopes"),
        "ApiKeyRequired": i.get("apiKeyRequired"),
        "RequestParameters": i.get("requestParameters"),
        "RequestValidatorId": i.get("requestValidatorId"),
        "RequestModels": i.get("requestModels"),
    }


def _api_integration(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Type": i.get("type"),
        "IntegrationHttpMethod": i.get("integrationHttpMethod"),
        "Uri": i.get("uri"),
        "Credentials": i.get("credentials"),
        "RequestTemplates": i.get("requestTemplates"),
        "RequestParameters": i.get("requestParameters"),
        "PassthroughBehavior": i.get("passthroughBehavior"),
        "TimeoutInMillis": i.get("timeoutMilliseconds"),
        "ContentHandling": i.get("contentHandling"),
    }


def _api_integration_response(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "StatusCode": i.get("statusCode"),
        "SelectionPattern": i.get("selectionPattern"),
        "ResponseTemplates": i.get("responseTemplates"),
        "ResponseParameters": i.get("responseParameters"),
        "ContentHandling": i.get("contentHandling"),
    }


def _api_method_response(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "StatusCode": i.get("statusCode"),
        "ResponseModels": i.get("responseModels"),
        "ResponseParameters": i.get("responseParameters"),
    }


def _api_authorizer(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Name": _name(r) or AUTONAMED,
        "RestApiId": i.get("restApi"),
        "Type": i.get("type"),
        "ProviderARNs": i.get("providerArns"),
        "IdentitySource": i.get("identitySource"),
        "AuthorizerResultTtlInSeconds": i.get("authorizerResultTtlInSeconds"),
    }


def _api_gateway_response(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RestApiId": i.get("restApiId"),
        "ResponseType": i.get("responseType"),
        "StatusCode": i.get("statusCode"),
        "ResponseTemplates": i.get("responseTemplates"),
        "ResponseParameters": i.get("responseParameters"),
    }


def _api_deployment(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"RestApiId": r.inputs.get("restApi"), "Description": r.inputs.get("description")}


def _api_stage(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    access = i.get("accessLogSettings") or {}
    return {
        "RestApiId": i.get("restApi"),
        "DeploymentId": i.get("deployment"),
        "StageName": i.get("stageName"),
        "TracingEnabled": i.get("xrayTracingEnabled"),
        "AccessLogSetting": {
            "DestinationArn": access.get("destinationArn"),
            "Format": access.get("format"),
        },
        "Variables": i.get("variables"),
    }


def _api_method_settings(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    resource, _, method = str(i.get("methodPath", "")).rpartition("/")
    s = i.get("settings") or {}
    return {
        # "*/*" is every method of every resource ("/*" and "*" in CloudFormation).
        "ResourcePath": "/" + resource.lstrip("/") if resource != "*" else "/*",
        "HttpMethod": method,
        "ThrottlingRateLimit": s.get("throttlingRateLimit"),
        "ThrottlingBurstLimit": s.get("throttlingBurstLimit"),
        "MetricsEnabled": s.get("metricsEnabled"),
        "LoggingLevel": s.get("loggingLevel"),
        "DataTraceEnabled": s.get("dataTraceEnabled"),
        "CachingEnabled": s.get("cachingEnabled"),
    }


def _api_model(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RestApiId": i.get("restApi"),
        "Name": i.get("name"),
        "ContentType": i.get("contentType"),
        "Description": i.get("description"),
        "Schema": as_json(i["schema"]) if i.get("schema") else None,
    }


def _api_request_validator(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RestApiId": i.get("restApi"),
        "Name": i.get("name"),
        "ValidateRequestBody": i.get("validateRequestBody"),
        "ValidateRequestParameters": i.get("validateRequestParameters"),
    }


def _event_bus(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"Name": _name(r) or AUTONAMED, "Description": r.inputs.get("description")}


def _cfn_case(value: Any) -> Any:
    """Pulumi's camelCase WAF structures in CloudFormation's PascalCase."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _cfn_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cfn_case(v) for v in value]
    return value


def _web_acl(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    visibility = lambda v: {  # noqa: E731 - CloudWatch is spelled differently
        "CloudWatchMetricsEnabled": v.get("cloudwatchMetricsEnabled"),
        "MetricName": v.get("metricName"),
        "SampledRequestsEnabled": v.get("sampledRequestsEnabled"),
    }
    return {
        "Name": _name(r) or AUTONAMED,
        "Description": i.get("description"),
        "Scope": i.get("scope"),
        "DefaultAction": _cfn_case(i.get("defaultAction")),
        "Rules": [
            {
                "Name": rule.get("name"),
                "Priority": rule.get("priority"),
                "Action": _cfn_case(rule.get("action")),
                "Statement": _cfn_case(rule.get("statement")),
                "VisibilityConfig": visibility(rule.get("visibilityConfig") or {}),
            }
            for rule in i.get("rules") or []
        ],
        "VisibilityConfig": visibility(i.get("visibilityConfig") or {}),
    }


def _web_acl_association(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"ResourceArn": r.inputs.get("resourceArn"), "WebACLArn": r.inputs.get("webAclArn")}


def _api_account(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"CloudWatchRoleArn": r.inputs.get("cloudwatchRoleArn")}


def _user_pool(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    password = i.get("passwordPolicy") or {}
    recovery = (i.get("accountRecoverySetting") or {}).get("recoveryMechanisms") or []
    mfas = []
    if (i.get("softwareTokenMfaConfiguration") or {}).get("enabled"):
        mfas.append("SOFTWARE_TOKEN_MFA")
    if i.get("smsConfiguration"):
        mfas.append("SMS_MFA")
    return {
        "UserPoolName": _name(r),
        "UsernameAttributes": i.get("usernameAttributes"),
        "AliasAttributes": i.get("aliasAttributes"),
        "AutoVerifiedAttributes": i.get("autoVerifiedAttributes"),
        "UsernameConfiguration": {
            "CaseSensitive": (i.get("usernameConfiguration") or {}).get("caseSensitive")
        },
        "Policies": {
            "PasswordPolicy": {
                "MinimumLength": password.get("minimumLength"),
                "RequireLowercase": password.get("requireLowercase"),
                "RequireUppercase": password.get("requireUppercase"),
                "RequireNumbers": password.get("requireNumbers"),
                "RequireSymbols": password.get("requireSymbols"),
                "TemporaryPasswordValidityDays": password.get("temporaryPasswordValidityDays"),
                "PasswordHistorySize": password.get("passwordHistorySize"),
            }
        },
        "AccountRecoverySetting": {
            "RecoveryMechanisms": [
                {"Name": m.get("name"), "Priority": m.get("priority")} for m in recovery
            ]
            or None
        },
        "MfaConfiguration": i.get("mfaConfiguration"),
        "EnabledMfas": mfas or None,
        "DeletionProtection": i.get("deletionProtection"),
        "UserPoolTier": i.get("userPoolTier"),
        "UserAttributeUpdateSettings": {
            "AttributesRequireVerificationBeforeUpdate": (
                i.get("userAttributeUpdateSettings") or {}
            ).get("attributesRequireVerificationBeforeUpdates")
        }
        if i.get("userAttributeUpdateSettings")
        else None,
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": (i.get("adminCreateUserConfig") or {}).get(
                "allowAdminCreateUserOnly"
            )
        }
        if i.get("adminCreateUserConfig")
        else None,
        "LambdaConfig": {"PreSignUp": (i.get("lambdaConfig") or {}).get("preSignUp")}
        if i.get("lambdaConfig")
        else None,
    }


def _user_pool_client(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    units = i.get("tokenValidityUnits") or {}
    return {
        "ClientName": _name(r),
        "UserPoolId": i.get("userPoolId"),
        "GenerateSecret": i.get("generateSecret"),
        "ExplicitAuthFlows": i.get("explicitAuthFlows"),
        "AllowedOAuthFlows": i.get("allowedOauthFlows"),
        "AllowedOAuthFlowsUserPoolClient": i.get("allowedOauthFlowsUserPoolClient"),
        "AllowedOAuthScopes": i.get("allowedOauthScopes"),
        "SupportedIdentityProviders": i.get("supportedIdentityProviders"),
        "CallbackURLs": i.get("callbackUrls"),
        "LogoutURLs": i.get("logoutUrls"),
        "DefaultRedirectURI": i.get("defaultRedirectUri"),
        "PreventUserExistenceErrors": i.get("preventUserExistenceErrors"),
        "ReadAttributes": i.get("readAttributes"),
        "WriteAttributes": i.get("writeAttributes"),
        "EnableTokenRevocation": i.get("enableTokenRevocation"),
        "AccessTokenValidity": i.get("accessTokenValidity"),
        "IdTokenValidity": i.get("idTokenValidity"),
        "RefreshTokenValidity": i.get("refreshTokenValidity"),
        "AuthSessionValidity": i.get("authSessionValidity"),
        "TokenValidityUnits": {
            "AccessToken": units.get("accessToken"),
            "IdToken": units.get("idToken"),
            "RefreshToken": units.get("refreshToken"),
        },
    }


def _user_pool_domain(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Domain": i.get("domain"),
        "UserPoolId": i.get("userPoolId"),
        "ManagedLoginVersion": i.get("managedLoginVersion"),
    }


def _sns_topic(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "TopicName": _name(r),
        "KmsMasterKeyId": i.get("kmsMasterKeyId"),
        "FifoTopic": i.get("fifoTopic"),
        "DisplayName": i.get("displayName"),
    }


def _sns_subscription(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "TopicArn": i.get("topic"),
        "Protocol": i.get("protocol"),
        "Endpoint": i.get("endpoint"),
    }


def _sns_topic_policy(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {"Topics": [r.inputs.get("arn")], "PolicyDocument": as_json(r.inputs.get("policy"))}


def _kms_key(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "Description": i.get("description"),
        "EnableKeyRotation": i.get("enableKeyRotation"),
        "PendingWindowInDays": i.get("deletionWindowInDays"),
        "KeyPolicy": as_json(i["policy"]) if i.get("policy") else None,
        "KeyUsage": i.get("keyUsage"),
        "KeySpec": i.get("customerMasterKeySpec"),
    }


def _iam_role(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "RoleName": _name(r),
        "AssumeRolePolicyDocument": as_json(i.get("assumeRolePolicy")),
        "Description": i.get("description"),
        "MaxSessionDuration": i.get("maxSessionDuration"),
        "Path": i.get("path"),
        "PermissionsBoundary": i.get("permissionsBoundary"),
    }


def _iam_role_policy(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    return {
        "PolicyName": _name(r) or AUTONAMED,
        "RoleName": r.inputs.get("role"),
        "PolicyDocument": as_json(r.inputs.get("policy")),
    }


def _connect_instance(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "IdentityManagementType": i.get("identityManagementType"),
        "InstanceAlias": i.get("instanceAlias"),
        "DirectoryId": i.get("directoryId"),
        "Attributes": {
            "InboundCalls": i.get("inboundCallsEnabled"),
            "OutboundCalls": i.get("outboundCallsEnabled"),
            "ContactflowLogs": i.get("contactFlowLogsEnabled"),
            "ContactLens": i.get("contactLensEnabled"),
            "AutoResolveBestVoices": i.get("autoResolveBestVoicesEnabled"),
            "EarlyMedia": i.get("earlyMediaEnabled"),
        },
    }


def _connect_contact_flow(r: RecordedResource, c: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "InstanceArn": c.instance_arn(r.region or "", str(i.get("instanceId"))),
        "Name": i.get("name"),
        "Type": i.get("type"),
        "Description": i.get("description"),
        "Content": i.get("content"),
    }


def _connect_phone_number(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    i = r.inputs
    return {
        "TargetArn": i.get("targetArn"),
        "CountryCode": i.get("countryCode"),
        "Type": i.get("type"),
        "Description": i.get("description"),
        "Prefix": i.get("prefix"),
    }


def _connect_lambda_association(r: RecordedResource, c: ProgramContext) -> dict[str, Any]:
    # Classic LambdaFunctionAssociation is CloudFormation's LAMBDA_FUNCTION
    # IntegrationAssociation (same AssociateLambdaFunction API).
    i = r.inputs
    return {
        "InstanceId": c.instance_arn(r.region or "", str(i.get("instanceId"))),
        "IntegrationType": "LAMBDA_FUNCTION",
        "IntegrationArn": i.get("functionArn"),
    }


def _dashboard(r: RecordedResource, _: ProgramContext) -> dict[str, Any]:
    # The body itself is checked by artifact_checks.dashboard.check_dashboard_body.
    i = r.inputs
    return {"DashboardName": i.get("dashboardName"), "DashboardBody": i.get("dashboardBody")}


CLASSIC_MAPPERS: dict[str, ClassicMapping] = {
    "aws:lambda/function:Function": ClassicMapping("AWS::Lambda::Function", _lambda_function),
    "aws:lambda/permission:Permission": ClassicMapping(
        "AWS::Lambda::Permission", _lambda_permission
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": ClassicMapping(
        "AWS::Lambda::EventInvokeConfig", _lambda_event_invoke_config
    ),
    "aws:dynamodb/table:Table": ClassicMapping("AWS::DynamoDB::Table", _dynamodb_table),
    "aws:sqs/queue:Queue": ClassicMapping("AWS::SQS::Queue", _sqs_queue),
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": ClassicMapping(
        "AWS::SQS::Queue", _sqs_redrive_allow
    ),
    "aws:sqs/queuePolicy:QueuePolicy": ClassicMapping("AWS::SQS::QueuePolicy", _sqs_queue_policy),
    "aws:sfn/stateMachine:StateMachine": ClassicMapping(
        "AWS::StepFunctions::StateMachine", _state_machine
    ),
    "aws:cloudwatch/logGroup:LogGroup": ClassicMapping("AWS::Logs::LogGroup", _log_group),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ClassicMapping(
        "AWS::CloudWatch::Alarm", _metric_alarm
    ),
    "aws:cloudwatch/dashboard:Dashboard": ClassicMapping("AWS::CloudWatch::Dashboard", _dashboard),
    "aws:cloudwatch/eventRule:EventRule": ClassicMapping("AWS::Events::Rule", _event_rule),
    "aws:cloudwatch/eventTarget:EventTarget": ClassicMapping(
        "AWS::Events::Rule", _event_target, definition="Target"
    ),
    "aws:apigateway/restApi:RestApi": ClassicMapping("AWS::ApiGateway::RestApi", _rest_api),
    "aws:apigateway/resource:Resource": ClassicMapping("AWS::ApiGateway::Resource", _api_resource),
    "aws:apigateway/method:Method": ClassicMapping("AWS::ApiGateway::Method", _api_method),
    "aws:apigateway/integration:Integration": ClassicMapping(
        "AWS::ApiGateway::Method", _api_integration, definition="Integration"
    ),
    "aws:apigateway/integrationResponse:IntegrationResponse": ClassicMapping(
        "AWS::ApiGateway::Method", _api_integration_response, definition="IntegrationResponse"
    ),
    "aws:apigateway/methodResponse:MethodResponse": ClassicMapping(
        "AWS::ApiGateway::Method", _api_method_response, definition="MethodResponse"
    ),
    "aws:apigateway/authorizer:Authorizer": ClassicMapping(
        "AWS::ApiGateway::Authorizer", _api_authorizer
    ),
    "aws:apigateway/response:Response": ClassicMapping(
        "AWS::ApiGateway::GatewayResponse", _api_gateway_response
    ),
    "aws:apigateway/deployment:Deployment": ClassicMapping(
        "AWS::ApiGateway::Deployment", _api_deployment
    ),
    "aws:apigateway/stage:Stage": ClassicMapping("AWS::ApiGateway::Stage", _api_stage),
    "aws:apigateway/methodSettings:MethodSettings": ClassicMapping(
        "AWS::ApiGateway::Stage", _api_method_settings, definition="MethodSetting"
    ),
    "aws:apigateway/account:Account": ClassicMapping("AWS::ApiGateway::Account", _api_account),
    "aws:apigateway/model:Model": ClassicMapping("AWS::ApiGateway::Model", _api_model),
    "aws:apigateway/requestValidator:RequestValidator": ClassicMapping(
        "AWS::ApiGateway::RequestValidator", _api_request_validator
    ),
    "aws:cloudwatch/eventBus:EventBus": ClassicMapping("AWS::Events::EventBus", _event_bus),
    "aws:wafv2/webAcl:WebAcl": ClassicMapping("AWS::WAFv2::WebACL", _web_acl),
    "aws:wafv2/webAclAssociation:WebAclAssociation": ClassicMapping(
        "AWS::WAFv2::WebACLAssociation", _web_acl_association
    ),
    "aws:cognito/userPool:UserPool": ClassicMapping("AWS::Cognito::UserPool", _user_pool),
    "aws:cognito/userPoolClient:UserPoolClient": ClassicMapping(
        "AWS::Cognito::UserPoolClient", _user_pool_client
    ),
    "aws:cognito/userPoolDomain:UserPoolDomain": ClassicMapping(
        "AWS::Cognito::UserPoolDomain", _user_pool_domain
    ),
    "aws:sns/topic:Topic": ClassicMapping("AWS::SNS::Topic", _sns_topic),
    "aws:sns/topicSubscription:TopicSubscription": ClassicMapping(
        "AWS::SNS::Subscription", _sns_subscription
    ),
    "aws:sns/topicPolicy:TopicPolicy": ClassicMapping("AWS::SNS::TopicPolicy", _sns_topic_policy),
    "aws:kms/key:Key": ClassicMapping("AWS::KMS::Key", _kms_key),
    "aws:iam/role:Role": ClassicMapping("AWS::IAM::Role", _iam_role),
    "aws:iam/rolePolicy:RolePolicy": ClassicMapping("AWS::IAM::RolePolicy", _iam_role_policy),
    "aws:connect/instance:Instance": ClassicMapping("AWS::Connect::Instance", _connect_instance),
    "aws:connect/contactFlow:ContactFlow": ClassicMapping(
        "AWS::Connect::ContactFlow", _connect_contact_flow
    ),
    "aws:connect/phoneNumber:PhoneNumber": ClassicMapping(
        "AWS::Connect::PhoneNumber", _connect_phone_number
    ),
    "aws:connect/lambdaFunctionAssociation:LambdaFunctionAssociation": ClassicMapping(
        "AWS::Connect::IntegrationAssociation", _connect_lambda_association
    ),
}

#: Classic types with no schema check, and why. A type in neither table fails
#: the coverage test, so a new resource type is a decision, not an accident.
CLASSIC_GAPS: dict[str, str] = {
    "aws:dynamodb/tableItem:TableItem": (
        "no CloudFormation resource; check_table_items checks the item's key instead"
    ),
    "aws:connect/phoneNumberContactFlowAssociation:PhoneNumberContactFlowAssociation": (
        "no CloudFormation resource (AssociatePhoneNumberContactFlow API only)"
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        "only an AWS managed policy ARN, checked where it is declared"
    ),
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": (
        "the bus's whole policy document, where AWS::Events::EventBusPolicy holds one "
        "statement; checked as a resource policy (check_policies, parliament) instead"
    ),
}


def check_classic_resource(resource: RecordedResource, context: ProgramContext) -> list[str]:
    """The resource's CloudFormation twin against cfn-lint's schema, plus the
    type's service limits the schema does not express (``EXTRA_CHECKS``)."""
    mapping = CLASSIC_MAPPERS.get(resource.type)
    where = f"{resource.type} {resource.name}"
    extra = EXTRA_CHECKS.get(resource.type)
    problems = extra(resource) if extra else []
    if mapping is None:
        if resource.type not in CLASSIC_GAPS:
            problems.append(f"{where}: no schema mapping (add one)")
        return problems
    region = resource.region or "us-east-1"
    schema = cfn_schema(mapping.cfn_type, region)
    if schema is None:
        return [*problems, f"{where}: {mapping.cfn_type} is not available in {region}"]
    properties = _drop_none(mapping.build(resource, context))
    return problems + validate_against_schema(
        properties, schema, where, definition=mapping.definition
    )


#: Lambda quotas: "Environment variables: 4 KB" (all keys and values
#: together) and "Function layers: five" (Lambda Developer Guide, quotas).
LAMBDA_ENVIRONMENT_BYTES = 4096
LAMBDA_MAX_LAYERS = 5


def check_lambda_limits(resource: RecordedResource) -> list[str]:
    """Quotas CreateFunction enforces that no schema carries."""
    where = f"{resource.type} {resource.name}"
    variables = (resource.inputs.get("environment") or {}).get("variables") or {}
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in variables.items())
    problems = []
    if size > LAMBDA_ENVIRONMENT_BYTES:
        problems.append(f"{where}: environment is {size} bytes, over Lambda's 4 KB")
    if len(resource.inputs.get("layers") or []) > LAMBDA_MAX_LAYERS:
        problems.append(f"{where}: more than {LAMBDA_MAX_LAYERS} layers")
    return problems


def check_dynamodb_keys(resource: RecordedResource) -> list[str]:
    """What DynamoDB's CreateTable rejects beyond the schema: a key attribute
    that is not defined, or a defined attribute no key uses."""
    i = resource.inputs
    defined = {a["name"] for a in i.get("attributes") or []}
    used = {i.get("hashKey"), i.get("rangeKey")}
    for g in i.get("globalSecondaryIndexes") or []:
        used |= {k["attributeName"] for k in g.get("keySchemas") or []}
        used |= {g.get("hashKey"), g.get("rangeKey")}
    used.discard(None)
    where = f"{resource.type} {resource.name}"
    return [f"{where}: key attribute {a!r} has no definition" for a in sorted(used - defined)] + [
        f"{where}: attribute {a!r} is defined but no key uses it" for a in sorted(defined - used)
    ]


def check_table_item(item: RecordedResource, table: RecordedResource) -> list[str]:
    """A seeded item carries the table's key attributes with their types."""
    document = as_json(item.inputs.get("item"))
    types = {a["name"]: a["type"] for a in table.inputs.get("attributes") or []}
    problems = []
    for key in (table.inputs.get("hashKey"), table.inputs.get("rangeKey")):
        if key is None:
            continue
        value = document.get(key)
        if not isinstance(value, Mapping) or set(value) != {types.get(key)}:
            problems.append(f"{item.name}: key {key!r} must be {{{types.get(key)!r}: ...}}")
    return problems


EXTRA_CHECKS: dict[str, Callable[[RecordedResource], list[str]]] = {
    "aws:lambda/function:Function": check_lambda_limits,
    "aws:dynamodb/table:Table": check_dynamodb_keys,
}
