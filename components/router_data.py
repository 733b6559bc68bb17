"""``RouterData``: ``tbl_router`` (the cell router's table) and ``CellProvisioning``
(its provisioning queue).

* ``tbl_router`` from ``components.schemas.ROUTER_TABLE`` (keys and the
  capacity index are defined there and nowhere else): on-demand by default,
  provisioned on request (the index gets the same capacity), point-in-time
  recovery, encryption with the AWS managed key, deletion protection.
* ``CellProvisioning``: a standard queue (as in the original; the scaler
  deduplicates requests in the table, not in the queue) with SQS-managed
  encryption and a dead-letter queue that only it may redrive into.
* the user-key secret: a Secrets Manager secret whose value (64 random
  letters and digits) is the HMAC key the handlers derive user keys with
  (``handlers/cell_router/identity.py``). It is an ``aws-native`` secret
  with ``generate_secret_string``: Secrets Manager draws the value once, at
  creation, and keeps it across updates. (pulumi-aws has no generating
  secret; ``aws.secretsmanager.get_random_password`` is an invoke that would
  draw a new value on every ``pulumi up`` and re-key every user; pulumi-random
  is not a dependency of this program.) The value never passes through Pulumi
  state. Changing ``generate_secret_string`` or replacing the secret re-keys
  every user -- each would be placed anew -- so it is retained on delete and
  should be treated like the table. With ``replica_regions`` the secret is
  replicated there too (``ReplicaRegions``): Secrets Manager copies the one
  generated value, so a user's key is the same in both regions, and the
  replica's ARN is the primary's with the region swapped
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html).
* Replica mode (``RouterDataArgs.table``, issue #13): a regional router in a
  replica region creates no table and no secret; it reads the table's
  replica and the secret's replica in its own region (``RouterData.replica_in``)
  and owns only its provisioning queue, dead-letter queue and their alarms.
* Alarms: the queue's backlog (the provisioning layer is not keeping up) and
  any message in the dead-letter queue (a request it could not handle), to
  an SNS topic -- the caller's, or one created here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components.iam import arn_in_region
from components.iam_lex import table_replica_arn
from components.schemas import ROUTER_INDEX_NAME, ROUTER_TABLE
from components.tables import BILLING_MODES, table_arguments

#: Longest SQS allows: a dead letter is evidence, keep it for the investigation.
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600
DEAD_LETTER_RETENTION_SECONDS = SQS_MAX_RETENTION_SECONDS
#: A request the provisioning layer failed to handle this often is poison.
MAX_RECEIVE_COUNT = 5
#: Characters of the generated user-key HMAC key (letters and digits: ~380 bits).
USER_KEY_LENGTH = 64


def secret_replica_arn(secret_arn: str, region: str) -> str:
    """The ARN of a replicated secret in ``region`` (AWS: the same ARN except
    for the region)."""
    return arn_in_region(secret_arn, region, service="secretsmanager", what="Secrets Manager")


@dataclass(frozen=True)
class RouterTableRef:
    """The routing table and the user-key secret as seen from one region:
    the primary's own, or their replicas in a replica region."""

    region: str
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    user_key_secret_arn: pulumi.Input[str]


@dataclass(frozen=True)
class RouterDataArgs:
    """Arguments of ``RouterData``.

    ``alarm_topic_arn``: where alarms go — the stack's one alarm topic
    (``HealthCheck.alarm_topic_arn``); required.
    """

    billing_mode: str = "PAY_PER_REQUEST"
    read_capacity: int = 5
    write_capacity: int = 5
    queue_alarm_depth: int = 10
    queue_alarm_minutes: int = 5
    alarm_topic_arn: pulumi.Input[str] | None = None
    deletion_protection: bool = True
    #: Regions holding a replica of the routing table (a global table), so
    #: the router there reads locally; empty = one-region table.
    replica_regions: tuple[str, ...] = ()
    #: Replica mode: use this (replica) table and secret, create neither.
    table: RouterTableRef | None = None

    def __post_init__(self) -> None:
        if self.billing_mode not in BILLING_MODES:
            raise ValueError(f"billing_mode must be one of {BILLING_MODES}")
        if self.billing_mode == "PROVISIONED" and (
            self.read_capacity < 1 or self.write_capacity < 1
        ):
            raise ValueError("PROVISIONED needs read_capacity and write_capacity of at least 1")
        if self.queue_alarm_depth < 1:
            raise ValueError("queue_alarm_depth must be at least 1")
        if self.queue_alarm_minutes < 1:
            raise ValueError("queue_alarm_minutes must be at least 1")
        if self.alarm_topic_arn is None:
            raise ValueError("alarm_topic_arn is required: alarms go to the stack's topic")
        if self.table is not None and self.replica_regions:
            raise ValueError(
                "replica_regions belongs to the region that creates the table; "
                "a router on a replica (table=...) creates no table"
            )


def queue_depth_alarm(
    resource_name: str,
    queue_name: pulumi.Input[str],
    *,
    description: str,
    threshold: int,
    minutes: int,
    topic_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm (and all-clear) when a queue has held ``threshold`` visible
    messages for ``minutes`` one-minute periods (SQS reports every minute)."""
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        alarm_description=description,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        period=60,
        evaluation_periods=minutes,
        threshold=threshold,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        opts=opts,
    )


class RouterData(pulumi.ComponentResource):
    """``tbl_router`` (the routing table), ``CellProvisioning`` (the provisioning
    queue), its DLQ and their alarms (in replica mode: the queues and alarms,
    on the table's replica)."""

    table: aws.dynamodb.Table | None
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    index_arn: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    user_key_secret: aws_native.secretsmanager.Secret | None
    user_key_secret_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RouterDataArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:RouterData", name, None, opts)
        self._name = name
        self.replica_regions = args.replica_regions
        if args.table is None:
            self._table(args)
            self._user_key_secret(args)
        else:
            self._replica(args.table)
        self.index_arn = pulumi.Output.concat(self.table_arn, "/index/", ROUTER_INDEX_NAME)
        self._queues()
        self.alarm_topic_arn = pulumi.Output.from_input(args.alarm_topic_arn)
        self._alarms(args)
        self.register_outputs(
            {
                "tableName": self.table_name,
                "tableArn": self.table_arn,
                "indexArn": self.index_arn,
                "queueUrl": self.queue_url,
                "queueArn": self.queue_arn,
                "deadLetterQueueArn": self.dead_letter_queue_arn,
                "userKeySecretArn": self.user_key_secret_arn,
                "alarmTopicArn": self.alarm_topic_arn,
            }
        )

    def replica_in(self, region: str) -> RouterTableRef:
        """The table's and the secret's replicas in ``region`` (one of
        ``replica_regions``): same names, ARNs with the region swapped."""
        if region not in self.replica_regions:
            raise ValueError(
                f"the routing table has no replica in {region} (replicas: "
                f"{', '.join(self.replica_regions) or 'none'})"
            )
        return RouterTableRef(
            region=region,
            table_name=self.table_name,
            table_arn=self.table_arn.apply(lambda arn: table_replica_arn(arn, region)),
            user_key_secret_arn=self.user_key_secret_arn.apply(
                lambda arn: secret_replica_arn(arn, region)
            ),
        )

    def _table(self, args: RouterDataArgs) -> None:
        self.table = aws.dynamodb.Table(
            f"{self._name}-{ROUTER_TABLE.logical_name}",
            **table_arguments(
                ROUTER_TABLE,
                deletion_protection=args.deletion_protection,
                billing_mode=args.billing_mode,
                read_capacity=args.read_capacity,
                write_capacity=args.write_capacity,
                replica_regions=args.replica_regions,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn

    def _user_key_secret(self, args: RouterDataArgs) -> None:
        self.user_key_secret = aws_native.secretsmanager.Secret(
            f"{self._name}-user-key",
            description=(
                "HMAC key of the cell router's user keys: replacing it re-keys every user"
            ),
            generate_secret_string=aws_native.secretsmanager.SecretGenerateSecretStringArgs(
                password_length=USER_KEY_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
            # One generated value, copied by Secrets Manager: the same user
            # key in every region the router runs in.
            replica_regions=[
                aws_native.secretsmanager.SecretReplicaRegionArgs(region=region)
                for region in args.replica_regions
            ]
            or None,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.deletion_protection),
        )
        # CloudFormation's Ref of AWS::SecretsManager::Secret: the secret's ARN.
        self.user_key_secret_arn = self.user_key_secret.id

    def _replica(self, table: RouterTableRef) -> None:
        self.table = None
        self.user_key_secret = None
        self.table_name = pulumi.Output.from_input(table.table_name)
        self.table_arn = pulumi.Output.from_input(table.table_arn)
        self.user_key_secret_arn = pulumi.Output.from_input(table.user_key_secret_arn)

    def _queues(self) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.dead_letter_queue = aws.sqs.Queue(
            f"{self._name}-CellProvisioning-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{self._name}-CellProvisioning",
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(
                {
                    "deadLetterTargetArn": self.dead_letter_queue.arn,
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                }
            ),
            opts=child,
        )
        # Only CellProvisioning may use the DLQ (set after both exist: the
        # two policies name each other).
        aws.sqs.RedriveAllowPolicy(
            f"{self._name}-CellProvisioning-dlq-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
            ),
            opts=child,
        )
        self.queue_url = self.queue.url
        self.queue_arn = self.queue.arn
        self.dead_letter_queue_arn = self.dead_letter_queue.arn

    def _alarms(self, args: RouterDataArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        topic_arn = self.alarm_topic_arn
        # Every alarm is exposed (``alarms``): the stack's dashboard lists them all.
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self.alarms["CellProvisioning-backlog"] = queue_depth_alarm(
            f"{self._name}-CellProvisioning-backlog",
            self.queue.name,
            description=(
                f"CellProvisioning has held at least {args.queue_alarm_depth} visible "
                f"requests for {args.queue_alarm_minutes} minutes: the provisioning "
                "layer is not consuming them, and markets may run out of cells."
            ),
            threshold=args.queue_alarm_depth,
            minutes=args.queue_alarm_minutes,
            topic_arn=topic_arn,
            opts=child,
        )
        self.alarms["CellProvisioning-dlq-depth"] = queue_depth_alarm(
            f"{self._name}-CellProvisioning-dlq-depth",
            self.dead_letter_queue.name,
            description=(
                "A cell provisioning request was given up on and sits in the "
                "dead-letter queue: a market asked for a cell it may never get."
            ),
            threshold=1,
            minutes=1,
            topic_arn=topic_arn,
            opts=child,
        )
