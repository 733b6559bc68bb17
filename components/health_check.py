"""``HealthCheck``: the Lex failover's state table ``lexDR``, its two functions
(``lexDRGetRegion``, ``lexDRTest``), the probe loop and the alarms, in one region.

The program deploys one per region (both regions serve): the primary's
creates the state table as a DynamoDB global table with a replica in the
secondary; the secondary's uses that replica (``state_table``).

What it creates:

* (primary only) the state table (``LEX_STATE_TABLE``, auto-named from
  ``lexDR``): on demand, point-in-time recovery, encryption at rest,
  deletion protection as configured, streams on (global tables need them)
  and a replica per ``replica_regions`` with the same PITR and deletion
  protection (encrypted at rest with that region's AWS managed key); its item
  for the Connect region is seeded with the primary once and then **never
  touched by Pulumi again** (``ignore_changes``), so a later ``pulumi up``
  cannot undo a live failover. Which region writes which item:
  ``handlers/lex_dr/layout.py``;
* ``lexDRGetRegion`` (``handlers/lex_dr/get_region.py``) and ``lexDRTest``
  (``handlers/lex_dr/health_check.py``) via ``PythonFunction``, each with its
  own role holding exactly the statements of ``components/iam_lex.py``;
* the probe cadence: an EventBridge rule ``rate(1 minute)`` starts an EXPRESS
  state machine (``components/bot_probe_loop_asl.py``) that invokes ``lexDRTest``
  once per ``probe_interval_seconds`` within the minute;
* alarms on the handlers' own metrics (names, namespace and dimensions from
  ``handlers/lex_dr/telemetry.py``), the probe function's errors and the probe
  loop's failed or timed-out executions, to an encrypted SNS topic with an
  optional e-mail subscription.

Why a Step Functions Wait loop rather than a loop inside the function: the
README, *Architecture*, "Why a Step Functions Wait loop drives the probe".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.bot_probe_loop_asl import build_bot_probe_loop_definition, to_json
from components.function import PythonFunction, PythonFunctionArgs
from components.iam import STATES_LOG_GROUP_PREFIX
from components.iam_lex import (
    PROBE_ACTIONS,
    alarm_key_policy,
    alarm_topic_policy,
    bot_probe_loop_policy,
    bot_probe_loop_trust_policy,
    lookup_statements,
    probe_statements,
    scheduler_assume_role_policy,
    scheduler_policy,
    table_replica_arn,
)
from components.schemas import LEX_STATE_TABLE
from components.tables import table_arguments
from handlers.lex_dr import contract, layout, telemetry

#: EventBridge's finest schedule; the probe loop fills the minute.
SCHEDULE_EXPRESSION = "rate(1 minute)"

#: Worst case of one Lex runtime call in the probe (connect 0.5 s + read 1.5 s,
#: no botocore retries): ``handlers/lex_dr/aws_clients.LEX_CALL_TIMEOUT_SECONDS``.
#: Not imported, because that module imports boto3; a test keeps them equal.
LEX_CALL_TIMEOUT_SECONDS = 2
#: The original ``lexDRTest`` function's timeout; never go below it.
MIN_PROBE_TIMEOUT_SECONDS = 15


def probe_timeout_seconds(probe_attempts: int) -> int:
    """Function timeout for one round: every attempt timing out, then the
    session deletion (one more Lex call) and the state write."""
    return max(MIN_PROBE_TIMEOUT_SECONDS, probe_attempts * LEX_CALL_TIMEOUT_SECONDS + 6)


# --------------------------------------------------------------------------- #
# Alarms as data
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch metric alarm. Dimension values may be Outputs."""

    key: str
    description: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, Any]
    statistic: str = "Sum"
    comparison: str = "GreaterThanOrEqualToThreshold"
    threshold: float = 1
    period_seconds: int = 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: str = "notBreaching"


def metric_alarms(
    name: str,
    specs: Iterable[AlarmSpec],
    topic_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """One CloudWatch alarm per spec, ``f"{name}-{spec.key}"``, notifying
    ``topic_arn`` on ALARM and on OK; keyed by ``spec.key``."""
    return {
        spec.key: aws.cloudwatch.MetricAlarm(
            f"{name}-{spec.key}",
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions=dict(spec.dimensions),
            statistic=spec.statistic,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            period=spec.period_seconds,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=spec.treat_missing_data,
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            opts=opts,
        )
        for spec in specs
    }


def _handler_dimensions(metric: str) -> dict[str, str]:
    """The exact dimension set a handler emits ``metric`` with (service only
    here: the per-region probe metrics are not alarmed on)."""
    names = telemetry.METRIC_DIMENSIONS[metric]
    if names != (telemetry.SERVICE_DIMENSION,):
        raise ValueError(f"{metric} has per-region dimensions {names}; alarm per region")
    return {telemetry.SERVICE_DIMENSION: telemetry.METRIC_SERVICE[metric]}


def failover_alarm_specs(
    probe_function_name: Any, state_machine_arn: Any, *, has_peer: bool = False
) -> list[AlarmSpec]:
    """The failover's alarms in one region: a switch, both regions down, the
    health check silent or failing, the lookup failing open or serving its
    last known decision, and (with a peer checker) the peer silent or the
    vantage points disagreeing."""
    namespace = telemetry.METRIC_NAMESPACE
    peer_alarms = [
        AlarmSpec(
            key="peer-checker-silent",
            description=(
                "This checker decided alone for 3 minutes: the other region's checker "
                "reports nothing (its region, Lambda, Step Functions or replication is down)."
            ),
            namespace=namespace,
            metric_name=telemetry.METRIC_PEER_CHECKERS_ALIVE,
            dimensions=_handler_dimensions(telemetry.METRIC_PEER_CHECKERS_ALIVE),
            statistic="Maximum",
            comparison="LessThanThreshold",
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data="breaching",
        ),
        AlarmSpec(
            key="vantage-points-disagree",
            description=(
                "The checkers disagreed on a switch in 2 of the last 3 minutes: one of them "
                "cannot reach a bot the other reaches (a network fault near one checker)."
            ),
            namespace=namespace,
            metric_name=telemetry.METRIC_SWITCH_VETOED,
            dimensions=_handler_dimensions(telemetry.METRIC_SWITCH_VETOED),
            evaluation_periods=3,
            datapoints_to_alarm=2,
        ),
    ]
    return [
        *(peer_alarms if has_peer else []),
        AlarmSpec(
            key="lookup-serving-last-known",
            description=(
                "The region lookup could read no replica of the state table and answered "
                "the last decision it had seen."
            ),
            namespace=namespace,
            metric_name=telemetry.METRIC_LOOKUP_SERVED_LAST_KNOWN,
            dimensions=_handler_dimensions(telemetry.METRIC_LOOKUP_SERVED_LAST_KNOWN),
            period_seconds=300,
        ),
        AlarmSpec(
            key="region-switched",
            description="The Lex failover switched the active region (failover or failback).",
            namespace=namespace,
            metric_name=telemetry.METRIC_REGION_SWITCHED,
            dimensions=_handler_dimensions(telemetry.METRIC_REGION_SWITCHED),
        ),
        AlarmSpec(
            key="all-regions-failing",
            description="Both Lex regions failed a probe round; callers stay on the last good one.",
            namespace=namespace,
            metric_name=telemetry.METRIC_ALL_REGIONS_FAILING,
            dimensions=_handler_dimensions(telemetry.METRIC_ALL_REGIONS_FAILING),
        ),
        AlarmSpec(
            key="health-check-silent",
            description="No probe round reported for 3 minutes: the health check is not running.",
            namespace=namespace,
            metric_name=telemetry.METRIC_REGION_SWITCHED,
            dimensions=_handler_dimensions(telemetry.METRIC_REGION_SWITCHED),
            statistic="SampleCount",
            comparison="LessThanThreshold",
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data="breaching",
        ),
        AlarmSpec(
            key="probe-function-errors",
            description="The probe function (lexDRTest) failed in 2 of the last 5 minutes.",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": probe_function_name},
            evaluation_periods=5,
            datapoints_to_alarm=2,
        ),
        AlarmSpec(
            key="probe-loop-failed",
            description="A probe loop execution failed.",
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": state_machine_arn},
        ),
        AlarmSpec(
            key="probe-loop-timed-out",
            description="A probe loop execution timed out.",
            namespace="AWS/States",
            metric_name="ExecutionsTimedOut",
            dimensions={"StateMachineArn": state_machine_arn},
        ),
        AlarmSpec(
            key="lookup-failing-open",
            description="The region lookup fell back to the primary because of an error.",
            namespace=namespace,
            metric_name=telemetry.METRIC_LOOKUP_FAILED_OPEN,
            dimensions=_handler_dimensions(telemetry.METRIC_LOOKUP_FAILED_OPEN),
            period_seconds=300,
        ),
    ]


# --------------------------------------------------------------------------- #
# The component
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class StateTableRef:
    """A replica of the state table in the instance's region."""

    name: pulumi.Input[str]
    arn: pulumi.Input[str]


@dataclass(frozen=True)
class HealthCheckArgs:
    """Arguments of ``HealthCheck``.

    ``bots_env`` is the ``BOTS`` JSON (``MultiRegionLexBot.bots_env``);
    ``alias_arns`` maps region → alias ARN (``MultiRegionLexBot.alias_arns``).
    The state item is keyed by the primary region, where Connect lives
    (``ConnectIntegration`` asks the lookup for that same key).
    """

    primary_region: str
    secondary_region: str
    bots_env: pulumi.Input[str]
    alias_arns: pulumi.Input[Mapping[str, str]]
    # Defaults and bounds: handlers/lex_dr/contract.py (declared once).
    test_method: str = contract.TEST_METHOD.deployed_default
    sample_utterance: str = contract.SAMPLE_UTTERANCE.deployed_default
    expected_response: str = contract.EXPECTED_RESPONSE.deployed_default
    test_user: str = contract.TEST_USER.deployed_default
    failover_threshold: int = contract.FAILOVER_THRESHOLD.deployed_default
    failback_threshold: int = contract.FAILBACK_THRESHOLD.deployed_default
    auto_failback: bool = contract.AUTO_FAILBACK.deployed_default
    probe_interval_seconds: int = contract.PROBE_INTERVAL_SECONDS.deployed_default
    probe_attempts: int = contract.PROBE_ATTEMPTS.deployed_default
    lambda_runtime: str = "python3.13"
    lambda_architecture: str = "arm64"
    powertools_layer_version: int = 27
    log_retention_days: int = 30
    alarm_email: str | None = None
    deletion_protection: bool = False
    #: the region this checker and lookup run in (default: the primary); the
    #: resources land on the providers given in ``opts``, which must be this
    #: region's
    region: str | None = None
    #: an existing replica of the state table in ``region`` (the secondary's
    #: instance gets the primary's); None: create the table here
    state_table: StateTableRef | None = None
    #: when creating the table: regions to replicate it to (a global table)
    replica_regions: tuple[str, ...] = ()
    #: a peer checker whose latest round is older than this no longer votes
    staleness_seconds: int = contract.STALENESS_SECONDS.deployed_default
    #: cheap probe for the rounds that are not deep (None: every round deep)
    liveness_method: str | None = None
    #: deep probe (``test_method``) of each region every this many seconds
    deep_probe_every_seconds: int | None = None
    #: offset of this checker's deep probes, in rounds (the two interleave)
    deep_probe_phase: int = 0

    def __post_init__(self) -> None:
        if self.primary_region == self.secondary_region:
            raise ValueError("primary and secondary region must differ")
        if self.test_method not in PROBE_ACTIONS:
            raise ValueError(f"test_method must be one of {', '.join(PROBE_ACTIONS)}")
        if self.liveness_method is not None and self.liveness_method not in PROBE_ACTIONS:
            raise ValueError(f"liveness_method must be one of {', '.join(PROBE_ACTIONS)} or None")
        for attr, f in (
            ("probe_attempts", contract.PROBE_ATTEMPTS),
            ("staleness_seconds", contract.STALENESS_SECONDS),
        ):
            try:
                f.render(getattr(self, attr))
            except ValueError as problem:
                raise ValueError(f"{attr}: {problem}") from None
        if self.region is not None and self.region not in (
            self.primary_region,
            self.secondary_region,
        ):
            raise ValueError("region must be the primary or the secondary region")
        if self.state_table is not None and self.replica_regions:
            raise ValueError("replica_regions only applies when this instance creates the table")
        for replica in self.replica_regions:
            if replica == self.home_region:
                raise ValueError("a table cannot replicate into its own region")
        every = self.deep_probe_every_seconds
        if every is not None and (
            every < self.probe_interval_seconds or every % self.probe_interval_seconds
        ):
            raise ValueError(
                "deep_probe_every_seconds must be a multiple of probe_interval_seconds "
                f"({self.probe_interval_seconds}), got {every}"
            )

    @property
    def home_region(self) -> str:
        return self.region or self.primary_region

    @property
    def deep_probe_every_rounds(self) -> int:
        if self.deep_probe_every_seconds is None:
            return 1
        return self.deep_probe_every_seconds // self.probe_interval_seconds


class HealthCheck(pulumi.ComponentResource):
    """State table ``lexDR``, lookup (``lexDRGetRegion``) and probe (``lexDRTest``)
    functions, probe loop, alarms."""

    table: aws.dynamodb.Table | None
    state_item: aws.dynamodb.TableItem | None
    region: str
    lookup: PythonFunction
    probe: PythonFunction
    state_machine: aws.sfn.StateMachine
    schedule: aws.cloudwatch.EventRule
    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    lookup_function_arn: pulumi.Output[str]
    lookup_function_name: pulumi.Output[str]
    probe_function_arn: pulumi.Output[str]
    state_machine_arn: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: HealthCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:HealthCheck", name, None, opts)
        self.region = args.home_region
        self.table, self.state_item, self.table_name, self.table_arn = self._state(name, args)
        # Another region's checker reads and writes the same items: a peer.
        has_peer = bool(args.replica_regions) or args.state_table is not None
        self.lookup, self.probe = self._functions(name, args, has_peer)
        account = self._account()
        self.state_machine, self.schedule = self._probe_loop(name, args, account)
        self.topic, self.alarms = self._alarms(name, args, account, has_peer)

        self.lookup_function_arn = self.lookup.arn
        self.lookup_function_name = self.lookup.name
        self.probe_function_arn = self.probe.arn
        self.state_machine_arn = self.state_machine.arn
        self.alarm_topic_arn = self.topic.arn
        self.register_outputs(
            {
                "tableName": self.table_name,
                "lookupFunctionArn": self.lookup_function_arn,
                "probeFunctionArn": self.probe_function_arn,
                "stateMachineArn": self.state_machine_arn,
                "alarmTopicArn": self.alarm_topic_arn,
            }
        )

    def _state(
        self, name: str, args: HealthCheckArgs
    ) -> tuple[
        aws.dynamodb.Table | None,
        aws.dynamodb.TableItem | None,
        pulumi.Output[str],
        pulumi.Output[str],
    ]:
        """The state table ``lexDR`` and its seeded item (when this instance
        creates it), and the name and ARN of the table or replica it uses."""
        if args.state_table is not None:
            return (
                None,
                None,
                pulumi.Output.from_input(args.state_table.name),
                pulumi.Output.from_input(args.state_table.arn),
            )
        schema = LEX_STATE_TABLE
        primary = args.primary_region
        table = aws.dynamodb.Table(
            f"{name}-{schema.logical_name}",
            **table_arguments(
                schema,
                deletion_protection=args.deletion_protection,
                replica_regions=args.replica_regions,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        item = aws.dynamodb.TableItem(
            f"{name}-{schema.logical_name}-seed",
            table_name=table.name,
            hash_key=table.hash_key,
            item=json.dumps({schema.hash_key.name: {"S": primary}, "lexRegion": {"S": primary}}),
            # Seeded once; from then on the health check owns the item. A later
            # `pulumi up` must never put lexRegion back to the primary.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["item"]),
        )
        return table, item, table.name, table.arn

    def _functions(
        self, name: str, args: HealthCheckArgs, has_peer: bool
    ) -> tuple[PythonFunction, PythonFunction]:
        """``lexDRGetRegion`` (the lookup) and ``lexDRTest`` (one probe round)."""
        primary, secondary = args.primary_region, args.secondary_region
        region = self.region
        other = secondary if region == primary else primary
        table_name, table_arn = self.table_name, self.table_arn
        other_replica_arn = table_arn.apply(lambda arn: table_replica_arn(arn, other))
        # The Connect region is the primary: its checker owns the SPEC's item.
        own_key = layout.checker_key(primary, region)
        alias_arns = pulumi.Output.from_input(args.alias_arns)
        common = dict(
            family="lex_dr",
            region=region,
            metrics_namespace=telemetry.METRIC_NAMESPACE,
            runtime=args.lambda_runtime,
            architecture=args.lambda_architecture,
            powertools_layer_version=args.powertools_layer_version,
            log_retention_days=args.log_retention_days,
        )
        lookup = PythonFunction(
            f"{name}-lexDRGetRegion",
            PythonFunctionArgs(
                handler="get_region.handler",
                description="Amazon Connect asks which region's Lex bot to use",
                service_name=telemetry.GET_REGION_SERVICE,
                policy_statements=lookup_statements(
                    table_arn, [other_replica_arn] if has_peer else []
                ),
                environment=contract.GET_REGION.render(
                    table_name=table_name,
                    primary_region=primary,
                    bot_alias_arns=alias_arns.apply(dict),
                ),
                # Connect waits at most 8 s; the lookup fails open well before.
                timeout_seconds=5,
                **common,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        timeout = probe_timeout_seconds(args.probe_attempts)
        probe = PythonFunction(
            f"{name}-lexDRTest",
            PythonFunctionArgs(
                handler="health_check.handler",
                description="One probe round of the Lex bots in both regions",
                service_name=telemetry.HEALTH_CHECK_SERVICE,
                policy_statements=probe_statements(
                    table_arn,
                    [
                        alias_arns.apply(lambda a: a[primary]),
                        alias_arns.apply(lambda a: a[secondary]),
                    ],
                    args.test_method,
                    own_key=own_key,
                    liveness_method=args.liveness_method,
                ),
                environment=contract.HEALTH_CHECK.render(
                    table_name=table_name,
                    primary_region=primary,
                    secondary_region=secondary,
                    connect_region=args.primary_region,
                    checker_region=region,
                    staleness_seconds=args.staleness_seconds,
                    probe_interval_seconds=args.probe_interval_seconds,
                    # Absent unless set: every round is deep.
                    liveness_method=args.liveness_method,
                    deep_probe_every=args.deep_probe_every_rounds if args.liveness_method else None,
                    deep_probe_phase=args.deep_probe_phase if args.liveness_method else None,
                    bots=args.bots_env,
                    test_method=args.test_method,
                    sample_utterance=args.sample_utterance,
                    expected_response=args.expected_response,
                    test_user=args.test_user,
                    failover_threshold=args.failover_threshold,
                    failback_threshold=args.failback_threshold,
                    auto_failback=args.auto_failback,
                    probe_attempts=args.probe_attempts,
                ),
                timeout_seconds=timeout,
                **common,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return lookup, probe

    def _account(self) -> pulumi.Output[list[str]]:
        """``[account id, partition, region]`` of the deploying credentials
        and this component's provider, for the policies that must name them."""
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        here = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self))
        return pulumi.Output.all(identity.account_id, partition.partition, here.region)

    def _probe_loop(
        self, name: str, args: HealthCheckArgs, account: pulumi.Output[list[str]]
    ) -> tuple[aws.sfn.StateMachine, aws.cloudwatch.EventRule]:
        """The probe cadence: an EventBridge rule every minute starts an
        EXPRESS state machine that invokes ``lexDRTest`` once per
        ``probe_interval_seconds`` (why a Step Functions loop: module docstring)."""
        loop_logs = aws.cloudwatch.LogGroup(
            f"{name}-probe-loop-logs",
            name_prefix=f"{STATES_LOG_GROUP_PREFIX}{name}-probe-loop-",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        loop_role = aws.iam.Role(
            f"{name}-probe-loop-role",
            # Only Step Functions running this account's probe loop (the
            # machine is auto-named from f"{name}-probe-loop").
            assume_role_policy=account.apply(
                lambda v: json.dumps(
                    bot_probe_loop_trust_policy(v[0], v[2], f"{name}-probe-loop", v[1])
                )
            ),
            description=f"Runs the Lex failover probe loop of {name}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        loop_policy = aws.iam.RolePolicy(
            f"{name}-probe-loop-policy",
            role=loop_role.id,
            policy=self.probe.arn.apply(lambda arn: json.dumps(bot_probe_loop_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        interval = args.probe_interval_seconds
        round_timeout = probe_timeout_seconds(args.probe_attempts) + 5
        state_machine = aws.sfn.StateMachine(
            f"{name}-probe-loop",
            type="EXPRESS",
            role_arn=loop_role.arn,
            definition=self.probe.arn.apply(
                lambda arn: to_json(
                    build_bot_probe_loop_definition(
                        probe_function_arn=arn,
                        interval_seconds=interval,
                        round_timeout_seconds=round_timeout,
                    )
                )
            ),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ERROR",
                include_execution_data=False,
                log_destination=loop_logs.arn.apply(lambda arn: f"{arn}:*"),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[loop_policy]),
        )
        return state_machine, self._schedule(name, state_machine)

    def _schedule(self, name: str, state_machine: aws.sfn.StateMachine) -> aws.cloudwatch.EventRule:
        """The EventBridge rule that starts ``state_machine`` every minute,
        with a role that may start only that machine."""
        schedule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            description="Starts one minute of Lex probe rounds",
            schedule_expression=SCHEDULE_EXPRESSION,
            opts=pulumi.ResourceOptions(parent=self),
        )
        scheduler_role = aws.iam.Role(
            f"{name}-scheduler-role",
            assume_role_policy=schedule.arn.apply(
                lambda arn: json.dumps(scheduler_assume_role_policy(arn))
            ),
            description=f"Lets the schedule of {name} start its probe loop",
            opts=pulumi.ResourceOptions(parent=self),
        )
        scheduler_role_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=scheduler_role.id,
            policy=state_machine.arn.apply(lambda arn: json.dumps(scheduler_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            rule=schedule.name,
            arn=state_machine.arn,
            role_arn=scheduler_role.arn,
            input="{}",
            # A start more than a minute late overlaps the next one: drop it.
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=60, maximum_retry_attempts=2
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_role_policy]),
        )
        return schedule

    def _alarms(
        self,
        name: str,
        args: HealthCheckArgs,
        account: pulumi.Output[list[str]],
        has_peer: bool,
    ) -> tuple[aws.sns.Topic, dict[str, aws.cloudwatch.MetricAlarm]]:
        """The encrypted alarm topic (and its optional e-mail subscription)
        and the alarms of :func:`failover_alarm_specs` on it."""
        key = aws.kms.Key(
            f"{name}-alarm-key",
            description=f"Encrypts the alarm topic of {name}",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=account.apply(lambda v: json.dumps(alarm_key_policy(v[0], v[1], v[2]))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        topic = aws.sns.Topic(
            f"{name}-alarms",
            kms_master_key_id=key.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        topic_policy = aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: json.dumps(alarm_topic_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=pulumi.ResourceOptions(parent=self),
            )
        alarms = metric_alarms(
            name,
            failover_alarm_specs(self.probe.name, self.state_machine.arn, has_peer=has_peer),
            topic.arn,
            pulumi.ResourceOptions(parent=self, depends_on=[topic_policy]),
        )
        return topic, alarms

    def replica_in(self, region: str) -> StateTableRef:
        """This instance's state table as its global-table replica in
        ``region`` (the ``state_table`` of the checker that runs there)."""
        return StateTableRef(
            name=self.table_name,
            arn=self.table_arn.apply(lambda arn: table_replica_arn(arn, region)),
        )
