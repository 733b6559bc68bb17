"""``PythonFunction``: the one way this program packages and deploys Lambda code.

Every function gets, and only gets:

- its code straight from ``handlers/<family>/`` (plus ``handlers/__init__.py``
  so the import path in Lambda equals the one in the tests, and
  ``handlers/common/``, the code every family shares), located from this file
  rather than the working directory;
- its own IAM role whose inline policy holds exactly the statements the caller
  passes, plus writing to its own log group and sending X-Ray segments;
- a log group with retention (the function logs there in JSON);
- active X-Ray tracing and the public Powertools layer of its region;
- environment variables (Powertools' service name and metric namespace
  included).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import service_assume_role_policy

HANDLERS_DIR = Path(__file__).resolve().parent.parent / "handlers"

#: AWS publishes the Powertools layers from this account in every commercial region.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"

#: Lambda runtimes and architectures the handlers are written and tested for.
RUNTIMES: tuple[str, ...] = ("python3.12", "python3.13")
ARCHITECTURES: tuple[str, ...] = ("arm64", "x86_64")


def powertools_layer_arn(region: str, runtime: str, architecture: str, version: int) -> str:
    """ARN of the public Powertools for AWS Lambda (Python, v3) layer."""
    python_tag = runtime.replace(".", "")  # python3.13 -> python313
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python_tag}-{architecture}:{version}"
    )


def handler_family_dir(family: str) -> Path:
    """The folder a function family is packaged from; it must exist."""
    folder = HANDLERS_DIR / family
    if not (folder / "__init__.py").is_file():
        raise ValueError(f"no handler family {family!r} at {folder}")
    return folder


#: The folder of code every family shares; it is packaged with each of them.
COMMON_FAMILY = "common"


def code_archive(family: str) -> pulumi.AssetArchive:
    """The function's code: ``handlers/__init__.py``, every ``.py`` file of
    the family folder and of ``handlers/common/``, at the same relative paths
    (caches left out)."""
    folder = handler_family_dir(family)
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        "handlers/__init__.py": pulumi.FileAsset(str(HANDLERS_DIR / "__init__.py"))
    }
    for source in dict.fromkeys((folder, handler_family_dir(COMMON_FAMILY))):
        for path in sorted(source.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            assets[path.relative_to(HANDLERS_DIR.parent).as_posix()] = pulumi.FileAsset(str(path))
    return pulumi.AssetArchive(assets)


def lambda_assume_role_policy() -> str:
    return json.dumps(service_assume_role_policy("lambda.amazonaws.com"))


def function_policy_document(
    statements: Sequence[Mapping[str, Any]], log_group_arn: str
) -> dict[str, Any]:
    """The inline policy: the caller's statements, log writing, X-Ray.

    X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level
    permissions, hence ``*`` there and nowhere else.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            *statements,
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:*",
            },
            {
                "Sid": "SendTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            },
        ],
    }


@dataclass(frozen=True)
class PythonFunctionArgs:
    """Arguments of ``PythonFunction``.

    ``handler`` is ``module.function`` inside ``handlers/<family>/``.
    ``policy_statements`` are IAM statements (values may be Outputs) granted to
    this function alone.
    """

    family: str
    handler: str
    region: str
    description: str
    service_name: str
    metrics_namespace: str
    policy_statements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    runtime: str = "python3.13"
    architecture: str = "arm64"
    powertools_layer_version: int = 27
    log_retention_days: int = 30
    timeout_seconds: int = 10
    memory_mb: int = 256
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        module, _, function = self.handler.partition(".")
        if not module or not function or "." in function:
            raise ValueError(f"handler must be 'module.function', got {self.handler!r}")
        if not (handler_family_dir(self.family) / f"{module}.py").is_file():
            raise ValueError(f"handler module handlers/{self.family}/{module}.py does not exist")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unsupported runtime {self.runtime!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unsupported architecture {self.architecture!r}")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError("timeout_seconds must be between 1 and 900")


class PythonFunction(pulumi.ComponentResource):
    """A Lambda function with its own role, log group, tracing and layer."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: PythonFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:PythonFunction", name, None, opts)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=lambda_assume_role_policy(),
            description=f"Runs {name} ({args.family}.{args.handler}) and nothing else",
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy_json = pulumi.Output.all(
            pulumi.Output.from_input(list(args.policy_statements)), self.log_group.arn
        ).apply(lambda v: json.dumps(function_policy_document(v[0], v[1])))
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=policy_json,
            opts=pulumi.ResourceOptions(parent=self),
        )
        variables: dict[str, pulumi.Input[str]] = {
            "POWERTOOLS_SERVICE_NAME": args.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": args.metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": args.log_level,
            **args.environment,
        }
        self.function = aws.lambda_.Function(
            name,
            description=args.description,
            role=self.role.arn,
            runtime=args.runtime,
            architectures=[args.architecture],
            handler=f"handlers.{args.family}.{args.handler}",
            code=code_archive(args.family),
            layers=[
                powertools_layer_arn(
                    args.region, args.runtime, args.architecture, args.powertools_layer_version
                )
            ],
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=self.log_group.name
            ),
            # The policy must exist before the first invocation can log.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        self.arn = self.function.arn
        self.name = self.function.name
        self.role_arn = self.role.arn
        self.log_group_name = self.log_group.name
        self.register_outputs(
            {
                "arn": self.arn,
                "name": self.name,
                "roleArn": self.role_arn,
                "logGroupName": self.log_group_name,
            }
        )
