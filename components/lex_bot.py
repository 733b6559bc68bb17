"""``MultiRegionLexBot``: one Lex V2 bot definition, published in two regions.

Each region gets a ``RegionalLexBot`` child on that region's ``aws`` and
``aws-native`` providers: its own bot role (IAM), the bot
(``aws_native.lex.Bot`` with its locales built on deploy), a numbered version
published from ``DRAFT`` and a real alias (``ver_one`` by default; the test
alias ``TSTALIASID`` is refused) on that version. Pulumi AWS has no Lex V2
alias resource, hence ``pulumi-aws-native``.

New versions: a Lex version is an immutable snapshot, so the version's
description carries a fingerprint of the bot definition and the version is
*replaced* when it changes (``replace_on_changes``). Pulumi creates the new
version first, repoints the alias, then deletes the old version: callers never
see an alias without a version.

Lex Global Resiliency (``global_resiliency=True``) replaces the second bot
with a replica of the first (``replication.replica_regions``). Only a
``RegionalLexBot`` in the primary is deployed; the secondary's bot id and
alias id are the primary's (replicas keep their identifiers) and its alias ARN
is the primary's with the secondary region. Limits, per the Lex V2 guide:

* only the region pairs us-east-1/us-west-2 and eu-west-2/eu-central-1
  (checked here; any other pair raises ``ValueError``);
* the account must be allow-listed for the feature (through an Amazon Connect
  solutions architect or TAM) and the deploying principal must be allowed to
  create the Lex replication service-linked role — neither is visible before
  ``pulumi up``;
* the replica is read-only, every change goes through the primary; versions
  and aliases replicate asynchronously (``ListBotAliasReplicas`` shows their
  status), so the secondary alias can briefly lag a new version;
* resources the alias points at (Lambda code hooks, conversation log groups)
  are not replicated; this bot uses none.

The health check and the region lookup are the same in both modes: they only
see region → alias ids / ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components.bot_definitions import BotDefinition, bot_locales_input, definition_fingerprint
from components.iam import arn_in_region, service_assume_role_policy
from components.providers import RegionProviders

#: The draft test alias every bot has; never a deployment target.
TEST_ALIAS_ID = "TSTALIASID"

#: Region pairs Lex Global Resiliency replicates between (either direction).
GLOBAL_RESILIENCY_PAIRS = frozenset(
    {
        frozenset({"us-east-1", "us-west-2"}),
        frozenset({"eu-west-2", "eu-central-1"}),
    }
)


def lex_assume_role_policy() -> str:
    return json.dumps(service_assume_role_policy("lexv2.amazonaws.com"))


def lex_bot_role_policy() -> dict[str, Any]:
    """What a Lex V2 bot without sentiment analysis or code hooks needs: Polly
    to speak on voice channels (the ``AmazonLexV2BotPolicy`` managed policy).
    Polly's SynthesizeSpeech only scopes to lexicons, hence ``*``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SpeakWithPolly",
                "Effect": "Allow",
                "Action": ["polly:SynthesizeSpeech"],
                "Resource": "*",
            }
        ],
    }


def replica_arn(arn: str, region: str) -> str:
    """The same Lex ARN in another region (Global Resiliency keeps ids)."""
    return arn_in_region(arn, region, service="lex", what="Lex")


def _check_alias_name(alias_name: str) -> None:
    if alias_name == TEST_ALIAS_ID or alias_name.lower().startswith("testbotalias"):
        raise ValueError("the alias must not be the Lex test alias (TSTALIASID)")
    if not alias_name:
        raise ValueError("alias_name must not be empty")


# --------------------------------------------------------------------------- #
# One region
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class RegionalLexBotArgs:
    """Arguments of ``RegionalLexBot``.

    ``bot_name`` seeds the bot's auto-generated physical name;
    ``replica_regions`` turns on Global Resiliency for this bot.
    """

    definition: BotDefinition
    bot_name: str
    alias_name: str
    region: str
    replica_regions: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_alias_name(self.alias_name)
        if self.region in self.replica_regions:
            raise ValueError("a bot cannot replicate into its own region")


class RegionalLexBot(pulumi.ComponentResource):
    """The bot, its role, a version from DRAFT and an alias, in one region."""

    role: aws.iam.Role
    bot: aws_native.lex.Bot
    version: aws_native.lex.BotVersion
    alias: aws_native.lex.BotAlias
    region: str
    locale_id: str
    bot_id: pulumi.Output[str]
    bot_version: pulumi.Output[str]
    alias_id: pulumi.Output[str]
    alias_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegionalLexBotArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:RegionalLexBot", name, None, opts)
        definition = args.definition
        locales = bot_locales_input(definition)
        self.region = args.region
        self.locale_id = definition.primary_locale_id

        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=lex_assume_role_policy(),
            description=f"Runs the Lex V2 bot {args.bot_name} in {args.region}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=json.dumps(lex_bot_role_policy()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bot = aws_native.lex.Bot(
            f"{name}-{args.bot_name}",
            description=definition.description,
            role_arn=self.role.arn,
            data_privacy={"child_directed": definition.child_directed},
            idle_session_ttl_in_seconds=definition.idle_session_ttl_seconds,
            auto_build_bot_locales=True,
            bot_locales=locales,
            replication=(
                {"replica_regions": list(args.replica_regions)} if args.replica_regions else None
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.version = aws_native.lex.BotVersion(
            f"{name}-version",
            bot_id=self.bot.id,
            description=f"{args.bot_name} definition {definition_fingerprint(definition)}",
            bot_version_locale_specification=[
                {
                    "locale_id": locale_id,
                    "bot_version_locale_details": {"source_bot_version": "DRAFT"},
                }
                for locale_id in definition.locale_ids
            ],
            # A changed definition needs a new immutable version, not an update.
            opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["description"]),
        )
        self.alias = aws_native.lex.BotAlias(
            f"{name}-alias",
            bot_id=self.bot.id,
            bot_alias_name=args.alias_name,
            bot_version=self.version.bot_version,
            description=f"Callers' alias of {args.bot_name} in {args.region}",
            bot_alias_locale_settings=[
                {"locale_id": locale_id, "bot_alias_locale_setting": {"enabled": True}}
                for locale_id in definition.locale_ids
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.bot_id = self.bot.id
        self.bot_version = self.version.bot_version
        self.alias_id = self.alias.bot_alias_id
        self.alias_arn = self.alias.arn
        self.register_outputs(
            {
                "botId": self.bot_id,
                "botVersion": self.bot_version,
                "aliasId": self.alias_id,
                "aliasArn": self.alias_arn,
                "roleArn": self.role.arn,
            }
        )


# --------------------------------------------------------------------------- #
# Both regions
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class MultiRegionLexBotArgs:
    """Arguments of ``MultiRegionLexBot``: any ``BotDefinition``, the alias
    name, and the providers of the primary and the secondary region."""

    definition: BotDefinition
    bot_name: str
    alias_name: str
    primary: RegionProviders
    secondary: RegionProviders
    global_resiliency: bool = False

    def __post_init__(self) -> None:
        _check_alias_name(self.alias_name)
        if self.primary.region == self.secondary.region:
            raise ValueError("primary and secondary must be different regions")
        pair = frozenset({self.primary.region, self.secondary.region})
        if self.global_resiliency and pair not in GLOBAL_RESILIENCY_PAIRS:
            supported = ", ".join("/".join(sorted(p)) for p in GLOBAL_RESILIENCY_PAIRS)
            raise ValueError(
                f"Lex Global Resiliency only replicates between {supported}; "
                f"got {self.primary.region}/{self.secondary.region}"
            )


def bots_env_json(bot_ids: Mapping[str, str], alias_ids: Mapping[str, str], locale_id: str) -> str:
    """The health check's ``BOTS`` variable: region → botId, botAliasId, localeId."""
    return json.dumps(
        {
            region: {
                "botId": bot_ids[region],
                "botAliasId": alias_ids[region],
                "localeId": locale_id,
            }
            for region in bot_ids
        },
        sort_keys=True,
    )


class MultiRegionLexBot(pulumi.ComponentResource):
    """The same bot, version and alias in the primary and the secondary region
    (or one bot replicated by Lex Global Resiliency)."""

    regional: dict[str, RegionalLexBot]
    regions: tuple[str, str]
    locale_id: str
    bot_ids: pulumi.Output[dict[str, str]]
    alias_ids: pulumi.Output[dict[str, str]]
    alias_arns: pulumi.Output[dict[str, str]]
    bots_env: pulumi.Output[str]

    def __init__(
        self, name: str, args: MultiRegionLexBotArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:MultiRegionLexBot", name, None, opts)
        primary, secondary = args.primary.region, args.secondary.region
        self.regions = (primary, secondary)
        self.locale_id = args.definition.primary_locale_id

        self.regional = {
            primary: RegionalLexBot(
                f"{name}-primary",
                RegionalLexBotArgs(
                    definition=args.definition,
                    bot_name=args.bot_name,
                    alias_name=args.alias_name,
                    region=primary,
                    replica_regions=(secondary,) if args.global_resiliency else (),
                ),
                args.primary.child_opts(self),
            )
        }
        if not args.global_resiliency:
            self.regional[secondary] = RegionalLexBot(
                f"{name}-secondary",
                RegionalLexBotArgs(
                    definition=args.definition,
                    bot_name=args.bot_name,
                    alias_name=args.alias_name,
                    region=secondary,
                ),
                args.secondary.child_opts(self),
            )

        source = self.regional[primary]
        if args.global_resiliency:
            # The replica keeps the source's bot and alias ids.
            bot_ids = {primary: source.bot_id, secondary: source.bot_id}
            alias_ids = {primary: source.alias_id, secondary: source.alias_id}
            alias_arns = {
                primary: source.alias_arn,
                secondary: source.alias_arn.apply(lambda arn: replica_arn(arn, secondary)),
            }
        else:
            replica = self.regional[secondary]
            bot_ids = {primary: source.bot_id, secondary: replica.bot_id}
            alias_ids = {primary: source.alias_id, secondary: replica.alias_id}
            alias_arns = {primary: source.alias_arn, secondary: replica.alias_arn}

        self.bot_ids = pulumi.Output.all(**bot_ids).apply(dict)
        self.alias_ids = pulumi.Output.all(**alias_ids).apply(dict)
        self.alias_arns = pulumi.Output.all(**alias_arns).apply(dict)
        locale_id = self.locale_id
        self.bots_env = pulumi.Output.all(self.bot_ids, self.alias_ids).apply(
            lambda v: bots_env_json(v[0], v[1], locale_id)
        )
        self.register_outputs(
            {
                "botIds": self.bot_ids,
                "aliasIds": self.alias_ids,
                "aliasArns": self.alias_arns,
                "botsEnv": self.bots_env,
            }
        )
