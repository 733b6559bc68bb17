"""``Orchestrator``: the cell router's EXPRESS state machine.

The definition comes from the pure builder in ``components.orchestrator_asl``
(the same dict the offline tests run on moto), filled with the four function
ARNs once they are known. The state machine:

* is ``EXPRESS`` (API Gateway starts it with ``StartSyncExecution``);
* logs to its own log group at ``ERROR`` level **without execution data**
  (inputs hold the caller's e-mail; outputs their endpoints);
* is traced with X-Ray;
* runs as a role that may invoke exactly the four functions (the tasks name
  unqualified function ARNs, so no ``:*`` qualifier is granted) and deliver
  logs and traces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import (
    LOG_DELIVERY_ACTIONS,
    STATES_LOG_GROUP_PREFIX,
    TRACING_ACTIONS,
    service_assume_role_policy,
)
from components.orchestrator_asl import (
    DEFAULT_SCALER_TIMEOUT_SECONDS,
    DEFAULT_TASK_TIMEOUT_SECONDS,
    build_orchestrator_definition,
    to_json,
)

LOG_GROUP_PREFIX = STATES_LOG_GROUP_PREFIX


def states_trust_policy(account_id: str) -> dict[str, Any]:
    """Only Step Functions acting for this account may assume the role."""
    return service_assume_role_policy(
        "states.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account_id}}
    )


def orchestrator_policy(function_arns: list[str], tracing: bool) -> dict[str, Any]:
    """The state machine role's policy (pure)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "InvokeRouterFunctions",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": list(function_arns),
        },
        {
            "Sid": "DeliverLogs",
            "Effect": "Allow",
            "Action": list(LOG_DELIVERY_ACTIONS),
            "Resource": "*",
        },
    ]
    if tracing:
        statements.append(
            {
                "Sid": "SendTraces",
                "Effect": "Allow",
                "Action": list(TRACING_ACTIONS),
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class OrchestratorArgs:
    """Arguments of ``Orchestrator``. Timeouts go to the ASL builder and
    should equal the functions' own (``CellRouterFunctionsArgs``)."""

    dispatcher_arn: pulumi.Input[str]
    scaler_arn: pulumi.Input[str]
    mapper_arn: pulumi.Input[str]
    validator_arn: pulumi.Input[str]
    log_retention_days: int = 30
    task_timeout_seconds: int = DEFAULT_TASK_TIMEOUT_SECONDS
    scaler_timeout_seconds: int = DEFAULT_SCALER_TIMEOUT_SECONDS
    tracing: bool = True


class Orchestrator(pulumi.ComponentResource):
    """EXPRESS state machine ``Orchestrator`` with its role and log group."""

    state_machine: aws.sfn.StateMachine
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: OrchestratorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:Orchestrator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        function_arns = pulumi.Output.all(
            args.dispatcher_arn, args.scaler_arn, args.mapper_arn, args.validator_arn
        )
        # Fails at preview time, not at deploy time, when the timeouts do not
        # fit API Gateway's 29 s.
        build_orchestrator_definition(
            dispatcher_arn="arn:check",
            scaler_arn="arn:check",
            mapper_arn="arn:check",
            validator_arn="arn:check",
            task_timeout_seconds=args.task_timeout_seconds,
            scaler_timeout_seconds=args.scaler_timeout_seconds,
        )

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-Orchestrator-logs",
            name_prefix=f"{LOG_GROUP_PREFIX}{name}-Orchestrator-",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        self.role = aws.iam.Role(
            f"{name}-Orchestrator-role",
            description=f"Runs the {name} Orchestrator state machine and nothing else",
            assume_role_policy=identity.account_id.apply(
                lambda account: json.dumps(states_trust_policy(account))
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-Orchestrator-policy",
            role=self.role.id,
            policy=function_arns.apply(
                lambda arns: json.dumps(orchestrator_policy(list(arns), args.tracing))
            ),
            opts=child,
        )
        definition = function_arns.apply(
            lambda arns: to_json(
                build_orchestrator_definition(
                    dispatcher_arn=arns[0],
                    scaler_arn=arns[1],
                    mapper_arn=arns[2],
                    validator_arn=arns[3],
                    task_timeout_seconds=args.task_timeout_seconds,
                    scaler_timeout_seconds=args.scaler_timeout_seconds,
                )
            )
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-Orchestrator",
            type="EXPRESS",
            role_arn=self.role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ERROR",
                include_execution_data=False,
                log_destination=self.log_group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(
                enabled=args.tracing
            ),
            # Step Functions checks the role's log-delivery rights on create.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        self.arn = self.state_machine.arn
        self.name = self.state_machine.name
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
