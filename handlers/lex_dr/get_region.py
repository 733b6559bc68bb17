"""Which region's Lex bot an Amazon Connect contact should talk to.

Connect invokes this with ``Details.Parameters.region`` (the Connect region,
the state item's key). Returns flat strings ``{"primaryCode", "botAliasArn",
"statusCode": "200"}``. ``overrideRegion`` on the item wins immediately; a
legacy ``err`` means the primary. Any failure (missing parameter, missing
item, unreadable table, unknown region value, bad ``BOT_ALIAS_ARNS``) falls
back to ``PRIMARY_REGION``, is logged, and never raises: a caller on the
primary is better than a caller on an error prompt. Only a missing
``PRIMARY_REGION`` leaves nothing to fall back to (``statusCode`` "500").

The Connect event carries the caller's phone number and attributes: only the
``region`` parameter is ever logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.lex_dr import aws_clients, telemetry
from handlers.lex_dr.decision import LEGACY_ERROR_REGION
from handlers.lex_dr.settings import ConfigurationError, GetRegionSettings, is_region
from handlers.lex_dr.state_store import KEY_ATTRIBUTE

logger = Logger(service=telemetry.GET_REGION_SERVICE)
metrics = Metrics(namespace=telemetry.METRIC_NAMESPACE, service=telemetry.GET_REGION_SERVICE)
tracer = Tracer(service=telemetry.GET_REGION_SERVICE)


class RegionLookupError(Exception):
    """Why the lookup fell back to the primary (logged, never raised out)."""


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: Any, context: LambdaContext) -> dict[str, str]:
    try:
        primary = GetRegionSettings.primary_from_env()
    except ConfigurationError:
        logger.exception("no region to fall back to")
        _count_fail_open(True)
        return {"primaryCode": "", "botAliasArn": "", "statusCode": "500"}

    try:
        settings = GetRegionSettings.from_env()
    except ConfigurationError:
        logger.exception("lookup misconfigured; failing open to the primary region")
        _count_fail_open(True)
        return _response(primary, "")

    try:
        region = _choose_region(event, settings)
    except Exception:
        # Deliberately broad: whatever went wrong, the caller gets the primary.
        logger.exception("region lookup failed; failing open to the primary region")
        _count_fail_open(True)
        region = settings.primary_region
    else:
        _count_fail_open(False)
    return _response(region, settings.bot_alias_arns.get(region, ""))


def _choose_region(event: Any, settings: GetRegionSettings) -> str:
    connect_region = _connect_region(event)
    response = aws_clients.lookup_dynamodb().get_item(
        TableName=settings.table_name,
        Key={KEY_ATTRIBUTE: {"S": connect_region}},
        ProjectionExpression="#lex, #override",
        ExpressionAttributeNames={"#lex": "lexRegion", "#override": "overrideRegion"},
    )
    item = response.get("Item")
    if item is None:
        raise RegionLookupError(f"no state item for connect region {connect_region}")

    known = settings.bot_alias_arns
    override = item.get("overrideRegion", {}).get("S")
    if override:
        if override in known:
            logger.info("override in effect", extra={"region": override})
            return override
        logger.warning("overrideRegion ignored: no bot alias ARN for it", extra={"value": override})

    lex_region = item.get("lexRegion", {}).get("S")
    if lex_region == LEGACY_ERROR_REGION:
        return settings.primary_region
    if lex_region not in known:
        raise RegionLookupError(f"lexRegion {lex_region!r} has no bot alias ARN")
    return lex_region


def _connect_region(event: Any) -> str:
    try:
        value = event["Details"]["Parameters"]["region"]
    except (KeyError, TypeError):
        raise RegionLookupError("event has no Details.Parameters.region") from None
    if not is_region(value):
        raise RegionLookupError("Details.Parameters.region is not a region name")
    return value


def _response(region: str, alias_arn: str) -> dict[str, str]:
    if not alias_arn:
        logger.warning("no bot alias ARN for region", extra={"region": region})
    return {"primaryCode": region, "botAliasArn": alias_arn, "statusCode": "200"}


def _count_fail_open(failed_open: bool) -> None:
    metrics.add_metric(
        name=telemetry.METRIC_LOOKUP_FAILED_OPEN, unit=MetricUnit.Count, value=int(failed_open)
    )
