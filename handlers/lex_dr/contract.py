"""The Lex failover functions' environment and state table, declared once.

``lexDRGetRegion`` (``get_region.py``) and ``lexDRTest`` (``health_check.py``)
read exactly the variables below; ``components/health_check.py`` renders them
(``GET_REGION.render``, ``HEALTH_CHECK.render``), ``settings.py`` parses them,
and ``config.py`` takes every stack-fed default and bound from here
(``stack_key``). Change a default or a bound here and the stack's
``Pulumi.yaml``, the README's config table, the deployed environment and the
handler follow (tests keep them equal).

Pure: no boto3, Powertools or Pulumi (packaged with ``handlers/lex_dr``).
"""

from __future__ import annotations

from handlers.common.contract import (
    Attribute,
    Contract,
    EnvField,
    TableSchema,
)

# --------------------------------------------------------------------------- #
# State table
# --------------------------------------------------------------------------- #
#: One item per Connect region (and, in two regions, one per checker):
#: partition key ``connectRegion`` (S).
STATE_TABLE = TableSchema(logical_name="lexDR", hash_key=Attribute("connectRegion", "S"))

# --------------------------------------------------------------------------- #
# Probe methods
# --------------------------------------------------------------------------- #
PROBE_METHOD_CHOICES = ("recognize_text", "put_session")
#: ``send_message`` is the original's name of ``recognize_text``.
PROBE_METHOD_ALIASES = {"send_message": "recognize_text"}


# --------------------------------------------------------------------------- #
# Fields (each declared once; a field shared by both functions is one object)
# --------------------------------------------------------------------------- #
TABLE_NAME = EnvField("TABLE_NAME", "str", "Name of the failover state table (lexDR).")
PRIMARY_REGION = EnvField(
    "PRIMARY_REGION", "region", "Region callers use normally (the Connect region)."
)
SECONDARY_REGION = EnvField("SECONDARY_REGION", "region", "Region failed over to.")
BOT_ALIAS_ARNS = EnvField(
    "BOT_ALIAS_ARNS", "json", "JSON object: region -> Lex V2 bot alias ARN in that region."
)
BOTS = EnvField(
    "BOTS",
    "json",
    'JSON object: region -> {"botId", "botAliasId", "localeId"} of the bot probed there.',
)
CONNECT_REGION = EnvField(
    "CONNECT_REGION",
    "region",
    "Region whose state item this checker maintains (unset: PRIMARY_REGION).",
    default=None,
)
CHECKER_REGION = EnvField(
    "CHECKER_REGION",
    "region",
    "Region this checker runs in; it writes only its own item (unset: the Connect region).",
    default=None,
)
TEST_METHOD = EnvField(
    "TEST_METHOD",
    "str",
    "Probe: recognize_text (send_message is an alias) or put_session.",
    default="recognize_text",
    choices=PROBE_METHOD_CHOICES,
    aliases=PROBE_METHOD_ALIASES,
    stack_key="healthCheckTestMethod",
)
LIVENESS_METHOD = EnvField(
    "LIVENESS_METHOD",
    "str",
    "Cheap probe for rounds that are not deep (unset: every round uses TEST_METHOD).",
    default=None,
    choices=PROBE_METHOD_CHOICES,
    aliases=PROBE_METHOD_ALIASES,
)
DEEP_PROBE_EVERY = EnvField(
    "DEEP_PROBE_EVERY",
    "int",
    "A region gets the deep probe (TEST_METHOD) every Nth round.",
    default=1,
    low=1,
    high=360,
)
DEEP_PROBE_PHASE = EnvField(
    "DEEP_PROBE_PHASE",
    "int",
    "Offset of this checker's deep rounds (the two checkers interleave).",
    default=0,
    low=0,
    high=359,
)
#: An unset utterance or reply is an unconfigured probe (the handler refuses
#: recognize_text without both); a stack deploys the OrderFlowers bot's.
SAMPLE_UTTERANCE = EnvField(
    "SAMPLE_UTTERANCE",
    "str",
    "Utterance sent by a recognize_text probe.",
    default="",
    deploy_default="I would like to order some flowers.",
    stack_key="healthCheckSampleUtterance",
)
EXPECTED_RESPONSE = EnvField(
    "EXPECTED_RESPONSE",
    "str",
    "Exact first message a healthy bot replies with.",
    default="",
    deploy_default="What type of flowers would you like to order?",
    stack_key="healthCheckExpectedResponse",
)
TEST_USER = EnvField(
    "TEST_USER",
    "str",
    "Session id prefix of probes.",
    default="lexDRTestUser",
    stack_key="healthCheckTestUser",
)
FAILOVER_THRESHOLD = EnvField(
    "FAILOVER_THRESHOLD",
    "int",
    "Consecutive failed rounds before failover.",
    default=2,
    low=1,
    high=20,
    stack_key="failoverThreshold",
)
FAILBACK_THRESHOLD = EnvField(
    "FAILBACK_THRESHOLD",
    "int",
    "Consecutive good primary rounds before failback.",
    default=3,
    low=1,
    high=100,
    stack_key="failbackThreshold",
)
AUTO_FAILBACK = EnvField(
    "AUTO_FAILBACK",
    "bool",
    "Fail back to the primary automatically.",
    default=True,
    stack_key="autoFailback",
)
PROBE_ATTEMPTS = EnvField(
    "PROBE_ATTEMPTS",
    "int",
    "Attempts per region per round before it fails.",
    default=3,
    low=1,
    high=5,
    stack_key="probeAttempts",
)
PROBE_BACKOFF_MS = EnvField(
    "PROBE_BACKOFF_MS",
    "int",
    "Pause before a retried probe attempt, times the attempt number (milliseconds).",
    default=100,
    low=0,
    high=2000,
)
PROBE_INTERVAL_SECONDS = EnvField(
    "PROBE_INTERVAL_SECONDS",
    "int",
    "Seconds between probe rounds (divides 60).",
    default=10,
    low=1,
    high=10,
    stack_key="probeIntervalSeconds",
)
STALENESS_SECONDS = EnvField(
    "STALENESS_SECONDS",
    "int",
    "A checker whose latest round is older than this stops voting (the other decides alone).",
    default=25,
    low=1,
    high=600,
    stack_key="failoverStalenessSeconds",
)

# --------------------------------------------------------------------------- #
# Functions
# --------------------------------------------------------------------------- #
GET_REGION = Contract("lexDRGetRegion", (TABLE_NAME, PRIMARY_REGION, BOT_ALIAS_ARNS))

HEALTH_CHECK = Contract(
    "lexDRTest",
    (
        TABLE_NAME,
        PRIMARY_REGION,
        SECONDARY_REGION,
        CONNECT_REGION,
        CHECKER_REGION,
        STALENESS_SECONDS,
        PROBE_INTERVAL_SECONDS,
        LIVENESS_METHOD,
        DEEP_PROBE_EVERY,
        DEEP_PROBE_PHASE,
        BOTS,
        TEST_METHOD,
        SAMPLE_UTTERANCE,
        EXPECTED_RESPONSE,
        TEST_USER,
        FAILOVER_THRESHOLD,
        FAILBACK_THRESHOLD,
        AUTO_FAILBACK,
        PROBE_ATTEMPTS,
        PROBE_BACKOFF_MS,
    ),
)

CONTRACTS = (GET_REGION, HEALTH_CHECK)
