"""CloudWatch dashboard bodies and the metrics they (and the alarms) read.

Structure, from the *Dashboard Body Structure and Syntax* reference
(docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html):
top-level keys, the 24-column grid, widget types and their properties, the
metric array format (``[Namespace, MetricName, DimName, DimValue, ...,
{rendering}]`` with ``"."`` for "same as the previous entry", or ``[{expression,
id, label}]``), periods (multiples of 60), statistics, annotations (one alarm
*or* horizontal/vertical lines, never an alarm beside ``metrics``), alarm
widgets (1-100 alarm ARNs). Search expressions follow *CloudWatch search
expression syntax* (``SEARCH('{Namespace,Dim,...} MetricName="X" Dim="v"',
'Stat', period)``; a schema matches only metrics with exactly those
dimensions).

What is read is checked against what is emitted: custom metrics against the
records of ``tests/offline/emf_capture.py`` (the handlers' own EMF output on
moto), AWS metrics against :data:`AWS_METRICS` (each namespace's documented
metrics and dimension sets) and the stack's recorded resources (a
``FunctionName`` must name a function of the stack in the widget's region).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.offline.artifact_checks.common import RecordedResource, short

WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
TOP_LEVEL_KEYS = {"widgets", "variables", "start", "end", "periodOverride"}
WIDGET_KEYS = {"type", "x", "y", "width", "height", "properties"}
METRIC_PROPERTIES = {
    "accountId",
    "annotations",
    "liveData",
    "legend",
    "metrics",
    "period",
    "region",
    "sparkline",
    "stacked",
    "stat",
    "table",
    "timezone",
    "title",
    "view",
    "yAxis",
}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
RENDERING_KEYS = {
    "color",
    "label",
    "period",
    "stat",
    "visible",
    "yAxis",
    "id",
    "region",
    "accountId",
}
EXPRESSION_KEYS = {"expression", "id", "label", "period", "region", "color", "visible", "yAxis"}
ALARM_PROPERTIES = {"alarms", "sortBy", "states", "title"}
TEXT_PROPERTIES = {"markdown", "background"}
HORIZONTAL_KEYS = {"value", "label", "color", "fill", "yAxis", "visible"}
STAT = re.compile(r"SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|p100")
METRIC_ID = re.compile(r"[a-z][A-Za-z0-9_]*")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
ALARM_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:cloudwatch:(?P<region>[a-z0-9-]+):\d{12}:alarm:[^\s]{1,255}"
)
START = re.compile(r"-P(T\d+[MH]|\d+[DWM])|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
SEARCH = re.compile(
    r"SEARCH\(\s*'\s*\{(?P<schema>[^}]*)\}\s*(?P<terms>[^']*)'\s*,\s*'(?P<stat>[^']+)'"
    r"(?:\s*,\s*(?P<period>\d+))?\s*\)"
)
TERM = re.compile(r'(?P<key>[A-Za-z0-9_.:-]+)\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|\S+)')

#: AWS-published metrics the dashboard and the alarms may read: namespace ->
#: metric -> the dimension sets the service publishes it with. Sources:
#: Lambda "Types of metrics for Lambda functions"; Step Functions "Monitoring
#: Step Functions metrics using Amazon CloudWatch" (execution metrics, also
#: for Express workflows); SQS "Available CloudWatch metrics for Amazon SQS";
#: API Gateway "Amazon API Gateway dimensions and metrics" (REST APIs).
_FUNCTION = frozenset({"FunctionName"})
_STATE_MACHINE = frozenset({"StateMachineArn"})
_QUEUE = frozenset({"QueueName"})
_API = (
    frozenset({"ApiName"}),
    frozenset({"ApiName", "Stage"}),
    frozenset({"ApiName", "Method", "Resource", "Stage"}),
)
AWS_METRICS: dict[str, dict[str, tuple[frozenset[str], ...]]] = {
    "AWS/Lambda": {
        name: (_FUNCTION, frozenset({"FunctionName", "Resource"}))
        for name in (
            "Invocations",
            "Errors",
            "Throttles",
            "Duration",
            "ConcurrentExecutions",
            "DeadLetterErrors",
            "DestinationDeliveryFailures",
            "AsyncEventsDropped",
        )
    },
    "AWS/States": {
        name: (_STATE_MACHINE,)
        for name in (
            "ExecutionTime",
            "ExecutionThrottled",
            "ExecutionsAborted",
            "ExecutionsFailed",
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsTimedOut",
        )
    },
    "AWS/SQS": {
        name: (_QUEUE,)
        for name in (
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesVisible",
            "NumberOfEmptyReceives",
            "NumberOfMessagesDeleted",
            "NumberOfMessagesReceived",
            "NumberOfMessagesSent",
            "SentMessageSize",
        )
    },
    "AWS/ApiGateway": {
        name: _API
        for name in (
            "4XXError",
            "5XXError",
            "CacheHitCount",
            "CacheMissCount",
            "Count",
            "IntegrationLatency",
            "Latency",
        )
    },
}

#: Dimensions whose value must name a resource of the stack: dimension ->
#: (resource type, where its value is: ``outputs``/``inputs`` key).
RESOURCE_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "FunctionName": ("aws:lambda/function:Function", "outputs", "name"),
    "StateMachineArn": ("aws:sfn/stateMachine:StateMachine", "outputs", "arn"),
    "QueueName": ("aws:sqs/queue:Queue", "outputs", "name"),
    "ApiName": ("aws:apigateway/restApi:RestApi", "outputs", "name"),
    "Stage": ("aws:apigateway/stage:Stage", "inputs", "stageName"),
}


@cache
def known_regions() -> frozenset[str]:
    """CloudWatch regions from botocore's endpoint data (all partitions)."""
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudwatch", partition_name=partition))
    return frozenset(regions)


# --------------------------------------------------------------------------- #
# Structure
# --------------------------------------------------------------------------- #
def check_dashboard_body(body: Any) -> list[str]:
    """Problems with a dashboard body against the documented structure."""
    if not isinstance(body, dict):
        return ["the dashboard body must be a JSON object"]
    problems = [f"unknown top-level key {key!r}" for key in body if key not in TOP_LEVEL_KEYS]
    widgets = body.get("widgets")
    if not isinstance(widgets, list):
        return [*problems, "the body needs a 'widgets' array"]
    if len(widgets) > 500:
        problems.append(f"{len(widgets)} widgets: at most 500")
    if "start" in body and not (isinstance(body["start"], str) and START.fullmatch(body["start"])):
        problems.append(f"start {body['start']!r} is neither -PT<n>M|H / -P<n>D|W|M nor ISO 8601")
    if "end" in body and "start" not in body:
        problems.append("end without start")
    if body.get("periodOverride", "auto") not in ("auto", "inherit"):
        problems.append(f"periodOverride {body['periodOverride']!r} is not auto or inherit")
    cells: dict[tuple[int, int], int] = {}
    for index, widget in enumerate(widgets):
        where = _where(index, widget)
        found = _check_widget(widget, where)
        problems += found
        if not found:
            for x in range(widget["x"], widget["x"] + widget["width"]):
                for y in range(widget["y"], widget["y"] + widget["height"]):
                    other = cells.setdefault((x, y), index)
                    if other != index:
                        problems.append(f"{where} overlaps {_where(other, widgets[other])}")
                        break
                else:
                    continue
                break
    return problems


def _where(index: int, widget: Any) -> str:
    title = ""
    if isinstance(widget, dict) and isinstance(widget.get("properties"), dict):
        title = widget["properties"].get("title") or ""
    return f"widget {index}" + (f" {title!r}" if title else "")


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_widget(widget: Any, where: str) -> list[str]:
    if not isinstance(widget, dict):
        return [f"{where}: must be an object"]
    problems = [f"{where}: unknown key {key!r}" for key in widget if key not in WIDGET_KEYS]
    kind = widget.get("type")
    if kind not in WIDGET_TYPES:
        problems.append(f"{where}: type {kind!r} is not one of {sorted(WIDGET_TYPES)}")
    if ("x" in widget) != ("y" in widget):
        problems.append(f"{where}: x and y must be given together")
    for key, low, high in (("x", 0, 23), ("y", 0, 10**6), ("width", 1, 24), ("height", 1, 1000)):
        if key not in widget:
            problems.append(f"{where}: no {key} (this builder places every widget)")
        elif not _int_in(widget[key], low, high):
            problems.append(f"{where}: {key} {widget[key]!r} is outside {low}-{high}")
    if not problems and widget["x"] + widget["width"] > 24:
        problems.append(f"{where}: x + width = {widget['x'] + widget['width']} exceeds 24 columns")
    properties = widget.get("properties")
    if not isinstance(properties, dict):
        return [*problems, f"{where}: properties must be an object"]
    if kind == "metric":
        problems += _check_metric_properties(properties, where)
    elif kind == "alarm":
        problems += _check_alarm_properties(properties, where)
    elif kind == "text":
        problems += [
            f"{where}: unknown text property {k!r}" for k in properties if k not in TEXT_PROPERTIES
        ]
        if not isinstance(properties.get("markdown"), str):
            problems.append(f"{where}: a text widget needs markdown")
        if properties.get("background", "solid") not in ("solid", "transparent"):
            problems.append(f"{where}: background must be solid or transparent")
    return problems


def _check_period(value: Any, where: str) -> list[str]:
    if not (_int_in(value, 60, 10**7) and value % 60 == 0):
        return [f"{where}: period {value!r} is not a multiple of 60 (at least 60)"]
    return []


def _check_stat(value: Any, where: str) -> list[str]:
    if not (isinstance(value, str) and STAT.fullmatch(value)):
        return [f"{where}: statistic {value!r} is not a CloudWatch statistic"]
    return []


def _check_region(value: Any, where: str) -> list[str]:
    if value not in known_regions():
        return [f"{where}: region {value!r} is not a CloudWatch region"]
    return []


def _check_metric_properties(properties: Mapping[str, Any], where: str) -> list[str]:
    problems = [
        f"{where}: unknown metric property {k!r}" for k in properties if k not in METRIC_PROPERTIES
    ]
    if "region" not in properties:
        problems.append(f"{where}: region is required")
    else:
        problems += _check_region(properties["region"], where)
    if "period" in properties:
        problems += _check_period(properties["period"], where)
    if "stat" in properties:
        problems += _check_stat(properties["stat"], where)
    if properties.get("view", "timeSeries") not in VIEWS:
        problems.append(f"{where}: view {properties['view']!r} is not one of {sorted(VIEWS)}")
    legend = properties.get("legend")
    if legend is not None and (
        not isinstance(legend, dict) or legend.get("position") not in ("right", "bottom", "hidden")
    ):
        problems.append(f"{where}: legend.position must be right, bottom or hidden")
    problems += _check_y_axis(properties.get("yAxis"), where)
    annotations = properties.get("annotations")
    has_alarm = isinstance(annotations, dict) and bool(annotations.get("alarms"))
    metrics = properties.get("metrics")
    if metrics is None and not has_alarm:
        problems.append(f"{where}: needs metrics or an alarm annotation")
    if metrics is not None and has_alarm:
        problems.append(f"{where}: an alarm annotation cannot share a widget with metrics")
    if metrics is not None:
        problems += _check_metrics_array(metrics, where)
    if annotations is not None:
        problems += _check_annotations(annotations, where)
    return problems


def _check_y_axis(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict) or set(value) - {"left", "right"}:
        return [f"{where}: yAxis may only have left and right"]
    problems: list[str] = []
    for side, axis in value.items():
        if not isinstance(axis, dict) or set(axis) - {"label", "min", "max", "showUnits"}:
            problems.append(f"{where}: yAxis.{side} may have label, min, max, showUnits only")
            continue
        for bound in ("min", "max"):
            if bound in axis and not isinstance(axis[bound], int | float):
                problems.append(f"{where}: yAxis.{side}.{bound} must be a number")
        low, high = axis.get("min"), axis.get("max")
        if isinstance(low, int | float) and isinstance(high, int | float) and low >= high:
            problems.append(f"{where}: yAxis.{side} min {low} >= max {high}")
    return problems


def _check_metrics_array(metrics: Any, where: str) -> list[str]:
    if not isinstance(metrics, list) or not metrics:
        return [f"{where}: metrics must be a non-empty array of arrays"]
    if len(metrics) > 500:
        return [f"{where}: {len(metrics)} metrics: at most 500"]
    problems: list[str] = []
    ids: set[str] = set()
    previous: list[Any] | None = None
    for position, entry in enumerate(metrics):
        at = f"{where} metrics[{position}]"
        if not isinstance(entry, list) or not entry:
            problems.append(f"{at}: each metric must be a non-empty array")
            continue
        if isinstance(entry[0], dict):
            problems += _check_expression_entry(entry, at)
            identifier = entry[0].get("id")
        else:
            found, previous = _check_metric_entry(entry, previous, at)
            problems += found
            identifier = entry[-1].get("id") if isinstance(entry[-1], dict) else None
        if identifier is not None:
            if not (isinstance(identifier, str) and METRIC_ID.fullmatch(identifier)):
                problems.append(f"{at}: id {identifier!r} must start with a lowercase letter")
            elif identifier in ids:
                problems.append(f"{at}: id {identifier!r} is used twice in the widget")
            ids.add(str(identifier))
    return problems


def _check_expression_entry(entry: list[Any], at: str) -> list[str]:
    expression = entry[0]
    problems = [
        f"{at}: unknown expression key {k!r}" for k in expression if k not in EXPRESSION_KEYS
    ]
    if len(entry) != 1:
        problems.append(f"{at}: an expression entry is [{{expression, ...}}] alone")
    text = expression.get("expression")
    if not isinstance(text, str) or not text.strip():
        return [*problems, f"{at}: expression must be a non-empty string"]
    if "period" in expression:
        problems += _check_period(expression["period"], at)
    if text.lstrip().upper().startswith("SEARCH("):
        match = SEARCH.fullmatch(text.strip())
        if match is None:
            return [
                *problems,
                f"{at}: not a SEARCH('{{schema}} terms', 'stat'[, period]): {short(text)}",
            ]
        problems += _check_stat(match["stat"], at)
        if match["period"] is not None:
            problems += _check_period(int(match["period"]), at)
        parsed = parse_search(text)
        if parsed is None or not parsed.metric:
            problems.append(f'{at}: the search names no MetricName="...": {short(text)}')
        elif set(parsed.filters) - set(parsed.schema):
            extra = sorted(set(parsed.filters) - set(parsed.schema))
            problems.append(f"{at}: search filters on {extra}, not in its schema {parsed.schema}")
    return problems


def _check_metric_entry(
    entry: list[Any], previous: list[Any] | None, at: str
) -> tuple[list[str], list[Any] | None]:
    """A ``[Namespace, MetricName, (DimName, DimValue)*, {rendering}?]`` entry;
    returns problems and the entry with ``"."`` resolved (for the next one)."""
    body = entry[:-1] if isinstance(entry[-1], dict) else entry
    rendering = entry[-1] if isinstance(entry[-1], dict) else {}
    problems: list[str] = []
    if any(not isinstance(part, str) for part in body):
        return [f"{at}: namespace, metric name and dimensions must be strings"], previous
    if len(body) < 2 or len(body) % 2:
        return [
            f"{at}: expected Namespace, MetricName and name/value pairs, got {short(body)}"
        ], previous
    resolved: list[str] = []
    for position, part in enumerate(body):
        if part == ".":
            if previous is None or position >= len(previous):
                problems.append(f"{at}: '.' at position {position} has nothing to repeat")
                part = ""
            else:
                part = previous[position]
        resolved.append(part)
    if any(not part for part in resolved):
        problems.append(f"{at}: empty namespace, metric, dimension name or value")
    problems += [f"{at}: unknown rendering key {k!r}" for k in rendering if k not in RENDERING_KEYS]
    if "stat" in rendering:
        problems += _check_stat(rendering["stat"], at)
    if "period" in rendering:
        problems += _check_period(rendering["period"], at)
    if "region" in rendering:
        problems += _check_region(rendering["region"], at)
    if "color" in rendering and not COLOR.fullmatch(str(rendering["color"])):
        problems.append(f"{at}: color {rendering['color']!r} is not #rrggbb")
    if rendering.get("yAxis", "left") not in ("left", "right"):
        problems.append(f"{at}: yAxis must be left or right")
    names = resolved[2::2]
    if len(set(names)) != len(names):
        problems.append(f"{at}: a dimension is given twice: {names}")
    return problems, resolved


def _check_annotations(annotations: Any, where: str) -> list[str]:
    if not isinstance(annotations, dict):
        return [f"{where}: annotations must be an object"]
    problems = [
        f"{where}: unknown annotation kind {k!r}"
        for k in annotations
        if k not in ("alarms", "horizontal", "vertical")
    ]
    alarms = annotations.get("alarms")
    if alarms is not None:
        if not isinstance(alarms, list) or len(alarms) > 1:
            problems.append(f"{where}: an alarm annotation holds at most one alarm ARN")
        if annotations.get("horizontal") or annotations.get("vertical"):
            problems.append(f"{where}: an alarm annotation cannot share a widget with lines")
    for position, item in enumerate(annotations.get("horizontal") or []):
        lines = item if isinstance(item, list) else [item]
        if isinstance(item, list) and len(item) != 2:
            problems.append(f"{where} horizontal[{position}]: a band is exactly two lines")
        for line in lines:
            if not isinstance(line, dict):
                problems.append(f"{where} horizontal[{position}]: must be an object")
                continue
            problems += [
                f"{where} horizontal[{position}]: unknown key {k!r}"
                for k in line
                if k not in HORIZONTAL_KEYS
            ]
            if not isinstance(line.get("value"), int | float) or isinstance(
                line.get("value"), bool
            ):
                problems.append(f"{where} horizontal[{position}]: value must be a number")
            if line.get("fill", "none") not in ("above", "below", "none"):
                problems.append(f"{where} horizontal[{position}]: fill {line['fill']!r}")
            if "color" in line and not COLOR.fullmatch(str(line["color"])):
                problems.append(f"{where} horizontal[{position}]: color {line['color']!r}")
            if line.get("yAxis", "left") not in ("left", "right"):
                problems.append(f"{where} horizontal[{position}]: yAxis must be left or right")
    for position, item in enumerate(annotations.get("vertical") or []):
        for line in item if isinstance(item, list) else [item]:
            if not isinstance(line, dict) or not START.fullmatch(str(line.get("value", ""))):
                problems.append(f"{where} vertical[{position}]: value must be an ISO 8601 time")
    return problems


def _check_alarm_properties(properties: Mapping[str, Any], where: str) -> list[str]:
    problems = [
        f"{where}: unknown alarm property {k!r}" for k in properties if k not in ALARM_PROPERTIES
    ]
    alarms = properties.get("alarms")
    if not isinstance(alarms, list) or not 1 <= len(alarms) <= 100:
        return [*problems, f"{where}: alarms must hold 1-100 alarm ARNs"]
    for arn in alarms:
        match = ALARM_ARN.fullmatch(str(arn))
        if match is None:
            problems.append(f"{where}: {arn!r} is not an alarm ARN")
        else:
            problems += _check_region(match["region"], where)
    if len(set(alarms)) != len(alarms):
        problems.append(f"{where}: an alarm is listed twice")
    if properties.get("sortBy", "default") not in ("default", "stateUpdatedTimestamp", "timestamp"):
        problems.append(f"{where}: sortBy {properties['sortBy']!r}")
    states = properties.get("states", [])
    if not isinstance(states, list) or set(states) - {"ALARM", "INSUFFICIENT_DATA", "OK"}:
        problems.append(f"{where}: states must be a list of ALARM, INSUFFICIENT_DATA, OK")
    return problems


# --------------------------------------------------------------------------- #
# What is read
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Search:
    namespace: str
    schema: tuple[str, ...]
    metric: str | None
    filters: Mapping[str, str]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def parse_search(expression: str) -> Search | None:
    match = SEARCH.fullmatch(expression.strip())
    if match is None:
        return None
    parts = [_unquote(p) for p in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", match["schema"])]
    namespace, schema = parts[0], tuple(p for p in parts[1:] if p)
    metric = None
    filters: dict[str, str] = {}
    for term in TERM.finditer(match["terms"]):
        value = _unquote(term["value"])
        if term["key"] == "MetricName":
            metric = value
        else:
            filters[term["key"]] = value
    return Search(namespace, schema, metric, filters)


@dataclass(frozen=True)
class MetricRead:
    """One metric (or one search) a widget or an alarm reads.

    ``dimensions`` maps every dimension name to its value, or to ``None``
    when any value matches (a search schema's unfiltered dimension).
    """

    where: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str | None] = field(default_factory=dict)
    region: str | None = None
    search: bool = False

    def describe(self) -> str:
        dims = ",".join(
            f"{k}={v}" if v is not None else k for k, v in sorted(self.dimensions.items())
        )
        return f"{self.namespace} {self.metric}{{{dims}}}"


def dashboard_reads(body: Mapping[str, Any]) -> list[MetricRead]:
    """Every metric and search in the body's metric widgets."""
    reads: list[MetricRead] = []
    for index, widget in enumerate(body.get("widgets", [])):
        if widget.get("type") != "metric":
            continue
        properties = widget["properties"]
        where = _where(index, widget)
        region = properties.get("region")
        previous: list[str] | None = None
        for entry in properties.get("metrics") or []:
            if isinstance(entry[0], dict):
                parsed = parse_search(str(entry[0].get("expression", "")))
                if parsed is not None and parsed.metric:
                    dims: dict[str, str | None] = dict.fromkeys(parsed.schema)
                    dims.update(parsed.filters)
                    reads.append(
                        MetricRead(where, parsed.namespace, parsed.metric, dims, region, True)
                    )
                continue
            body_parts = entry[:-1] if isinstance(entry[-1], dict) else entry
            rendering = entry[-1] if isinstance(entry[-1], dict) else {}
            resolved = [
                previous[i] if part == "." and previous and i < len(previous) else part
                for i, part in enumerate(body_parts)
            ]
            previous = resolved
            pairs = dict(zip(resolved[2::2], resolved[3::2], strict=False))
            reads.append(
                MetricRead(where, resolved[0], resolved[1], pairs, rendering.get("region", region))
            )
    return reads


def alarm_reads(alarms: Iterable[RecordedResource]) -> list[MetricRead]:
    """The metric each recorded ``aws.cloudwatch.MetricAlarm`` watches."""
    return [
        MetricRead(
            f"alarm {alarm.name}",
            str(alarm.inputs.get("namespace")),
            str(alarm.inputs.get("metricName")),
            {k: str(v) for k, v in (alarm.inputs.get("dimensions") or {}).items()},
            alarm.region,
        )
        for alarm in alarms
    ]


# --------------------------------------------------------------------------- #
# Read versus emitted
# --------------------------------------------------------------------------- #
def check_reads(
    reads: Sequence[MetricRead],
    emitted: Sequence[Mapping[str, Any]],
    resources: Sequence[RecordedResource],
) -> list[str]:
    """Each read must match something emitted with exactly its dimensions:
    a handler's EMF record (custom namespaces) or an AWS metric of a resource
    of the stack in the read's region."""
    problems: list[str] = []
    for read in reads:
        if read.namespace.startswith("AWS/"):
            problems += _check_aws_read(read, resources)
        else:
            problems += _check_custom_read(read, emitted)
    return problems


def _check_custom_read(read: MetricRead, emitted: Sequence[Mapping[str, Any]]) -> list[str]:
    in_namespace = [r for r in emitted if r["namespace"] == read.namespace]
    if not in_namespace:
        namespaces = sorted({r["namespace"] for r in emitted})
        return [
            f"{read.where}: reads {read.describe()}: no handler emits in namespace "
            f"{read.namespace!r} (emitted: {namespaces})"
        ]
    same_name = [r for r in in_namespace if r["metric"] == read.metric]
    if not same_name:
        names = sorted({r["metric"] for r in in_namespace})
        close = difflib.get_close_matches(read.metric, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [
            f"{read.where}: reads {read.describe()}: no handler emits metric {read.metric!r}{hint}"
        ]
    wanted = sorted(read.dimensions)
    exact = [r for r in same_name if sorted(r["dimensions"]) == wanted]
    if not exact:
        sets = [sorted(r["dimensions"]) for r in same_name]
        return [
            f"{read.where}: reads {read.describe()}: {read.metric} is emitted with "
            f"dimensions {sets}, not {wanted}"
        ]
    problems: list[str] = []
    record = exact[0]
    for name, value in read.dimensions.items():
        if value is None:
            continue
        seen = sorted({v[name] for v in record["values"]})
        if value not in seen:
            problems.append(
                f"{read.where}: reads {read.describe()}: {name}={value!r} never "
                f"emitted (seen: {seen})"
            )
    return problems


def _check_aws_read(read: MetricRead, resources: Sequence[RecordedResource]) -> list[str]:
    metrics = AWS_METRICS.get(read.namespace)
    if metrics is None:
        return [
            f"{read.where}: reads {read.describe()}: namespace {read.namespace!r} is not "
            f"in AWS_METRICS ({sorted(AWS_METRICS)})"
        ]
    dimension_sets = metrics.get(read.metric)
    if dimension_sets is None:
        close = difflib.get_close_matches(read.metric, sorted(metrics), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [
            f"{read.where}: reads {read.describe()}: {read.namespace} publishes no metric "
            f"{read.metric!r}{hint}"
        ]
    names = frozenset(read.dimensions)
    if names not in dimension_sets:
        return [
            f"{read.where}: reads {read.describe()}: {read.namespace} {read.metric} is "
            f"published with dimensions {[sorted(s) for s in dimension_sets]}, not {sorted(names)}"
        ]
    problems: list[str] = []
    for name, value in read.dimensions.items():
        if name not in RESOURCE_DIMENSIONS or value is None:
            continue
        typ, where, key = RESOURCE_DIMENSIONS[name]
        candidates = [r for r in resources if r.type == typ]
        in_region = [r for r in candidates if read.region is None or r.region == read.region]
        values = {str(getattr(r, where).get(key)) for r in in_region}
        if value not in values:
            problems.append(
                f"{read.where}: reads {read.describe()}: {name}={value!r} names no "
                f"{typ} of the stack in {read.region}"
            )
    return problems


def check_shown(
    emitted: Sequence[Mapping[str, Any]],
    reads: Sequence[MetricRead],
    not_shown: Mapping[tuple[str, str], str],
) -> list[str]:
    """Every emitted custom metric is read by some widget, or listed in
    ``not_shown`` with a reason."""
    read = {(r.namespace, r.metric, tuple(sorted(r.dimensions))) for r in reads}
    problems = []
    for record in emitted:
        key = (record["namespace"], record["metric"], tuple(sorted(record["dimensions"])))
        if key in read:
            continue
        if (record["namespace"], record["metric"]) in not_shown:
            continue
        problems.append(
            f"{record['namespace']} {record['metric']}{{{','.join(sorted(record['dimensions']))}}} "
            "is emitted by a handler but no widget shows it: draw it in components/dashboard.py, "
            "or add it to components.dashboard.NOT_SHOWN with the reason"
        )
    return problems
