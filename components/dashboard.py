"""``StackDashboard``: one CloudWatch dashboard per region where the stack runs
its control plane -- what an on-call engineer opens first.

The body comes from :func:`build_dashboard`, a pure function of plain values
(no Pulumi in it): metric names, namespaces and dimension sets are read from
the modules that emit them (``handlers/lex_dr/telemetry.py``,
``handlers/cell_router/model.py``), so a metric added there with its
dimensions is drawn with exactly those dimensions, and a misspelt one fails
the offline checks (``tests/offline/test_dashboard.py``).

Layout (24-column grid, top to bottom; ``docs/dashboard.png`` is drawn from
:func:`widget_grid`):

1. every alarm of the stack, in ALARM first;
2. Lex failover: the active region over time; switches, both regions failing
   and the operator override; lookup fail-opens; probe success ratio and
   latency per bot region (and per vantage point, once the probe metrics
   carry one); the health check machinery;
3. cell router: sign-ups placed per market and refused per market and
   reason; occupancy per cell against the scale-out point, the assignable
   limit and the maximum; scale-out requests and CellReady; queue depths;
   API 4xx/5xx and latency; Orchestrator executions; router function
   errors; the remaining router counters.

Markets and cells are data, not deployment inputs, so per-market and per-cell
widgets use CloudWatch search expressions over the exact metric schema; every
other series names its resource (function, queue, state machine, API).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from handlers.cell_router import model as router_metrics
from handlers.lex_dr import telemetry as lex_metrics

#: CloudWatch's grid is 24 columns wide (dashboard body structure).
GRID_COLUMNS = 24
#: Standard-resolution custom metrics and AWS service metrics: one minute.
PERIOD_SECONDS = 60
#: At most this many ARNs in one alarm status widget (CloudWatch's limit).
MAX_ALARMS_PER_WIDGET = 100
#: Time range the dashboard opens with.
DEFAULT_START = "-PT3H"

#: Functions of the cell router, as ``CellRouterFunctions`` names them.
ROUTER_FUNCTIONS = ("dispatcher", "scaler", "mapper", "validator", "registrar")

#: Metrics a handler emits that no widget draws, and why. The offline check
#: fails for an emitted metric that is neither drawn nor listed here.
NOT_SHOWN: dict[tuple[str, str], str] = {
    (lex_metrics.METRIC_NAMESPACE, lex_metrics.METRIC_PROBE_FAILED): (
        "always 1 - ProbeSucceeded for the same round; the success ratio widget shows it"
    ),
}

_DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


# --------------------------------------------------------------------------- #
# Inputs (plain values)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class FailoverResources:
    """Physical names of the failover's resources in the dashboard's region."""

    probe_function_name: str
    lookup_function_name: str
    probe_state_machine_arn: str


@dataclass(frozen=True)
class RouterResources:
    """Physical names of the cell router's resources in the dashboard's region.

    ``function_names`` maps each of :data:`ROUTER_FUNCTIONS` to its function.
    """

    api_name: str
    api_stage: str
    orchestrator_arn: str
    provisioning_queue_name: str
    dead_letter_queue_name: str
    cell_ready_failed_queue_name: str
    function_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DashboardSettings:
    """What the stack is configured with, for titles and threshold lines.

    ``capacity_buffer`` and ``scale_out_threshold`` are shares of a cell's
    ``maxCapacity`` (0.2 and 0.7 by default); ``queue_alarm_depth`` is the
    CellProvisioning backlog alarm's threshold (messages).
    """

    region: str
    primary_region: str
    secondary_region: str
    stack: str = "dev"
    probe_interval_seconds: int = 10
    capacity_buffer: float = 0.2
    scale_out_threshold: float = 0.7
    queue_alarm_depth: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.capacity_buffer < 1:
            raise ValueError("capacity_buffer must be in [0, 1)")
        if not 0 < self.scale_out_threshold <= 1:
            raise ValueError("scale_out_threshold must be in (0, 1]")
        if self.probe_interval_seconds < 1:
            raise ValueError("probe_interval_seconds must be at least 1")


def check_dashboard_name(name: str) -> str:
    """CloudWatch dashboard names: 1-255 of ``A-Za-z0-9_-``."""
    if not _DASHBOARD_NAME.fullmatch(name):
        raise ValueError(
            f"dashboard name {name!r} must be 1-255 characters of letters, digits, '-' or '_'"
        )
    return name


def console_url(region: str, dashboard_name: str, partition: str = "aws") -> str:
    """The CloudWatch console page of a dashboard."""
    host = {
        "aws": f"{region}.console.aws.amazon.com",
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard_name}"


# --------------------------------------------------------------------------- #
# Series: one entry of a metric widget's ``metrics`` array
# --------------------------------------------------------------------------- #
def metric(
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    *,
    stat: str | None = None,
    label: str | None = None,
    y_axis: str | None = None,
) -> list[Any]:
    """``[Namespace, MetricName, DimName, DimValue, ..., {rendering}]``."""
    entry: list[Any] = [namespace, name]
    for dimension, value in dimensions.items():
        entry += [dimension, value]
    rendering = {
        key: value
        for key, value in (("stat", stat), ("label", label), ("yAxis", y_axis))
        if value is not None
    }
    if rendering:
        entry.append(rendering)
    return entry


def search(
    namespace: str,
    name: str,
    dimension_names: Sequence[str],
    filters: Mapping[str, str],
    *,
    stat: str,
    expression_id: str,
    label: str = "",
    period: int = PERIOD_SECONDS,
) -> list[Any]:
    """A search expression over the exact schema ``{namespace, dimensions}``
    (a schema matches only metrics with exactly those dimensions)."""
    schema = ",".join([_quoted(namespace), *sorted(dimension_names)])
    terms = " ".join(
        [f"MetricName={_quoted(name)}", *(f"{k}={_quoted(v)}" for k, v in filters.items())]
    )
    entry: dict[str, Any] = {
        "expression": f"SEARCH('{{{schema}}} {terms}', '{stat}', {period})",
        "id": expression_id,
    }
    if label:
        entry["label"] = label
    return [entry]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _handler_series(
    namespace: str,
    name: str,
    dimension_table: Mapping[str, tuple[str, ...]],
    service_dimension: str,
    service: str,
    *,
    stat: str,
    label: str,
    expression_id: str,
    y_axis: str | None = None,
) -> list[Any]:
    """A handler's metric with exactly the dimensions its module declares:
    a plain metric when ``service`` is the only one, otherwise a search over
    the declared schema (values such as market, cell or region are data)."""
    try:
        names = dimension_table[name]
    except KeyError:
        raise ValueError(
            f"metric {name!r} is not declared in the {namespace} dimension table"
        ) from None
    if names == (service_dimension,):
        return metric(
            namespace,
            name,
            {service_dimension: service},
            stat=stat,
            label=label or name,
            y_axis=y_axis,
        )
    return search(
        namespace,
        name,
        names,
        {service_dimension: service},
        stat=stat,
        label=label,
        expression_id=expression_id,
    )


def lex(name: str, *, stat: str, label: str, expression_id: str = "") -> list[Any]:
    """A Lex failover metric (``handlers/lex_dr/telemetry.py``)."""
    return _handler_series(
        lex_metrics.METRIC_NAMESPACE,
        name,
        lex_metrics.METRIC_DIMENSIONS,
        lex_metrics.SERVICE_DIMENSION,
        lex_metrics.METRIC_SERVICE[name],
        stat=stat,
        label=label,
        expression_id=expression_id or _id(name),
    )


def router(name: str, *, stat: str = "Sum", label: str = "", expression_id: str = "") -> list[Any]:
    """A cell router metric (``handlers/cell_router/model.py``)."""
    return _handler_series(
        router_metrics.METRICS_NAMESPACE,
        name,
        router_metrics.METRIC_DIMENSIONS,
        router_metrics.SERVICE_DIMENSION,
        router_metrics.SERVICE_NAME,
        stat=stat,
        label=label,
        expression_id=expression_id or _id(name),
    )


def _id(name: str) -> str:
    """A metric id CloudWatch accepts: starts with a lowercase letter."""
    return "e_" + re.sub(r"[^A-Za-z0-9_]", "_", name).lower()


# --------------------------------------------------------------------------- #
# Widgets
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Widget:
    """A widget before placement: its size and its ``properties``."""

    kind: str  # metric | text | alarm
    width: int
    height: int
    properties: Mapping[str, Any]
    #: The runbook question it answers (README table, picture).
    question: str = ""


def graph(
    title: str,
    series: Sequence[list[Any]],
    *,
    region: str,
    question: str,
    stat: str = "Sum",
    width: int = 8,
    height: int = 6,
    stacked: bool = False,
    horizontal: Sequence[Mapping[str, Any]] = (),
    y_min: float | None = 0,
    y_max: float | None = None,
) -> Widget:
    y_left: dict[str, Any] = {}
    if y_min is not None:
        y_left["min"] = y_min
    if y_max is not None:
        y_left["max"] = y_max
    properties: dict[str, Any] = {
        "title": title,
        "view": "timeSeries",
        "stacked": stacked,
        "region": region,
        "period": PERIOD_SECONDS,
        "stat": stat,
        "metrics": [list(s) for s in series],
        "yAxis": {"left": y_left},
    }
    if horizontal:
        properties["annotations"] = {"horizontal": [dict(a) for a in horizontal]}
    return Widget("metric", width, height, properties, question)


def text(markdown: str, *, width: int = GRID_COLUMNS, height: int = 2) -> Widget:
    return Widget("text", width, height, {"markdown": markdown})


def line(value: float, label: str, color: str, fill: str | None = None) -> dict[str, Any]:
    annotation: dict[str, Any] = {"value": value, "label": label, "color": color}
    if fill:
        annotation["fill"] = fill
    return annotation


RED, AMBER, GREY = "#d62728", "#ff7f0e", "#7f7f7f"


def alarm_widgets(alarm_arns: Sequence[str], region: str) -> list[Widget]:
    """Alarm status widgets, :data:`MAX_ALARMS_PER_WIDGET` ARNs each."""
    arns = sorted(dict.fromkeys(alarm_arns))
    if not arns:
        return [text(f"No alarms are defined for this stack in {region}.", height=2)]
    chunks = [
        arns[i : i + MAX_ALARMS_PER_WIDGET] for i in range(0, len(arns), MAX_ALARMS_PER_WIDGET)
    ]
    return [
        Widget(
            "alarm",
            GRID_COLUMNS,
            max(3, 2 + (len(chunk) + 3) // 4),
            {
                "title": f"Alarms of the stack in {region} (ALARM first)",
                "alarms": chunk,
                "sortBy": "stateUpdatedTimestamp",
            },
            "Is anything alarming right now, and what changed last?",
        )
        for chunk in chunks
    ]


def failover_widgets(settings: DashboardSettings, names: FailoverResources) -> list[Widget]:
    region = settings.region
    regions = f"{settings.primary_region} (primary) / {settings.secondary_region}"
    rounds_per_minute = 60 / settings.probe_interval_seconds
    t = lex_metrics
    return [
        text(f"## Lex failover -- {regions}", height=1),
        graph(
            "Active region (1 = callers are sent there)",
            [lex(t.METRIC_REGION_ACTIVE, stat="Maximum", label="")],
            region=region,
            stat="Maximum",
            y_max=1,
            question="Which region are callers sent to, and since when?",
        ),
        graph(
            "Switches, both regions failing, override in force",
            [
                lex(t.METRIC_REGION_SWITCHED, stat="Sum", label="region switched"),
                lex(
                    t.METRIC_ALL_REGIONS_FAILING,
                    stat="Sum",
                    label="rounds with all regions failing",
                ),
                lex(t.METRIC_OVERRIDE_ACTIVE, stat="Maximum", label="operator override in force"),
            ],
            region=region,
            question="Did it fail over or back? Is an operator pinning a region? Both bots down?",
        ),
        graph(
            "Region lookup: fail-opens / invocations",
            [
                lex(
                    t.METRIC_LOOKUP_FAILED_OPEN,
                    stat="Sum",
                    label="lookups failed open to the primary",
                ),
                metric(
                    "AWS/Lambda",
                    "Invocations",
                    {"FunctionName": names.lookup_function_name},
                    label="lookups (Connect calls)",
                ),
                metric(
                    "AWS/Lambda",
                    "Errors",
                    {"FunctionName": names.lookup_function_name},
                    label="lookup function errors",
                ),
            ],
            region=region,
            question="Are callers being routed blind (lookup failing open)?",
        ),
        graph(
            "Probe success ratio per bot region (and vantage point)",
            [lex(t.METRIC_PROBE_SUCCEEDED, stat="Average", label="")],
            region=region,
            stat="Average",
            width=12,
            y_max=1,
            question="Which bot is failing its probes, seen from where?",
        ),
        graph(
            "Probe latency per bot region (ms, maximum per minute)",
            [lex(t.METRIC_PROBE_LATENCY, stat="Maximum", label="")],
            region=region,
            stat="Maximum",
            width=12,
            question="Is a bot slow rather than down?",
        ),
        graph(
            "Health check machinery",
            [
                lex(
                    t.METRIC_REGION_SWITCHED,
                    stat="SampleCount",
                    label="probe rounds per minute",
                    expression_id="e_rounds",
                ),
                metric(
                    "AWS/Lambda",
                    "Errors",
                    {"FunctionName": names.probe_function_name},
                    label="probe function errors",
                ),
                metric(
                    "AWS/States",
                    "ExecutionsFailed",
                    {"StateMachineArn": names.probe_state_machine_arn},
                    label="probe loop executions failed",
                ),
                metric(
                    "AWS/States",
                    "ExecutionsTimedOut",
                    {"StateMachineArn": names.probe_state_machine_arn},
                    label="probe loop executions timed out",
                ),
            ],
            region=region,
            width=24,
            height=5,
            horizontal=[line(rounds_per_minute, "expected rounds per minute", GREY)],
            question="Is the health check itself running?",
        ),
    ]


def router_widgets(settings: DashboardSettings, names: RouterResources) -> list[Widget]:
    region = settings.region
    m = router_metrics
    missing = [f for f in ROUTER_FUNCTIONS if f not in names.function_names]
    if missing:
        raise ValueError(f"RouterResources.function_names lacks {', '.join(missing)}")
    scale_out_percent = round(100 * settings.scale_out_threshold, 2)
    assignable_percent = round(100 * (1 - settings.capacity_buffer), 2)
    api = {"ApiName": names.api_name, "Stage": names.api_stage}
    orchestrator = {"StateMachineArn": names.orchestrator_arn}
    queues = (
        ("CellProvisioning", names.provisioning_queue_name),
        ("CellProvisioning dead letters", names.dead_letter_queue_name),
        ("CellReady-failed", names.cell_ready_failed_queue_name),
    )
    return [
        text("## Cell router", height=1),
        graph(
            "Sign-ups placed per market",
            [router(m.METRIC_SIGN_UP_PLACED, label="")],
            region=region,
            question="Are users being placed, in which markets?",
        ),
        graph(
            "Sign-ups refused per market and reason",
            [router(m.METRIC_SIGN_UP_REFUSED, label="")],
            region=region,
            question=(
                "Who is being refused and why? "
                f"(market {m.MARKET_WITHOUT_CELLS} = a market with no healthy, active cell)"
            ),
        ),
        graph(
            "Cell occupancy (% of maxCapacity, per cell)",
            [router(m.METRIC_CELL_OCCUPANCY, stat="Maximum", label="")],
            region=region,
            stat="Maximum",
            y_max=100,
            horizontal=[
                line(100, "maximum", RED),
                line(assignable_percent, "assignable limit", AMBER, "above"),
                line(scale_out_percent, "scale-out requested", GREY),
            ],
            question="Which cells are filling up, and how close to their limit?",
        ),
        graph(
            "Scale-out: requests and CellReady",
            [
                router(m.METRIC_PROVISIONING_REQUESTED, label="CellRequested sent"),
                router(m.METRIC_SCALE_OUT_DEDUPLICATED, label="deduplicated (episode open)"),
                router(m.METRIC_PROVISIONING_FAILED, label="CellRequested NOT sent"),
                router(m.METRIC_CELL_REGISTERED, label="CellReady recorded"),
            ],
            region=region,
            question="Was a new cell asked for, and did it arrive?",
        ),
        graph(
            "Queue depths (visible messages)",
            [
                metric(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": queue},
                    label=label,
                    stat="Maximum",
                )
                for label, queue in queues
            ],
            region=region,
            stat="Maximum",
            horizontal=[line(settings.queue_alarm_depth, "backlog alarm", AMBER)],
            question="Is the provisioning layer keeping up; is anything dead-lettered?",
        ),
        graph(
            "API errors",
            [
                metric("AWS/ApiGateway", "4XXError", api, label="4xx"),
                metric("AWS/ApiGateway", "5XXError", api, label="5xx"),
                metric("AWS/ApiGateway", "Count", api, label="requests"),
            ],
            region=region,
            question="Are clients getting errors, client-side or ours?",
        ),
        graph(
            "API latency (ms)",
            [
                metric("AWS/ApiGateway", "Latency", api, stat="p50", label="p50"),
                metric("AWS/ApiGateway", "Latency", api, stat="p99", label="p99"),
                metric(
                    "AWS/ApiGateway",
                    "IntegrationLatency",
                    api,
                    stat="p99",
                    label="Orchestrator p99",
                ),
            ],
            region=region,
            stat="p99",
            question="Is the router slow, and is it the Orchestrator?",
        ),
        graph(
            "Orchestrator executions",
            [
                metric("AWS/States", "ExecutionsFailed", orchestrator, label="failed"),
                metric("AWS/States", "ExecutionsTimedOut", orchestrator, label="timed out"),
                metric("AWS/States", "ExecutionThrottled", orchestrator, label="throttled"),
            ],
            region=region,
            question="Is the Orchestrator failing requests?",
        ),
        graph(
            "Router function errors and throttles",
            [
                metric(
                    "AWS/Lambda",
                    kind,
                    {"FunctionName": names.function_names[function]},
                    label=f"{function} {kind.lower()}",
                )
                for function in ROUTER_FUNCTIONS
                for kind in ("Errors", "Throttles")
            ],
            region=region,
            question="Which router function is failing?",
        ),
        graph(
            "Placement totals and contention",
            [
                router(m.METRIC_USER_ASSIGNED, label="users placed"),
                router(m.METRIC_NO_CAPACITY, label="refused: no capacity"),
                router(m.METRIC_ASSIGNMENT_RETRY, label="lost a race for a cell"),
                router(m.METRIC_STALE_LOAD_CORRECTED, label="stale index snapshot corrected"),
            ],
            region=region,
            width=12,
            question="Is placement fighting over cells (conflicts, stale index)?",
        ),
        graph(
            "Returning users and cached endpoints",
            [
                router(m.METRIC_USER_KNOWN, label="signed-up user asked again"),
                router(m.METRIC_MAPPING_RETURNED, label="/mapper answered"),
                router(m.METRIC_USER_NOT_FOUND, label="user has no cell"),
                router(m.METRIC_ENDPOINTS_VALIDATED, label="/validate answered"),
                router(m.METRIC_CACHED_ENDPOINTS_STALE, label="cached endpoints stale"),
                router(m.METRIC_CELL_UNHEALTHY, label="caller's cell unhealthy"),
            ],
            region=region,
            width=12,
            question="Are clients holding stale or unhealthy cells?",
        ),
    ]


# --------------------------------------------------------------------------- #
# The body
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Placed:
    """A widget at its grid position."""

    x: int
    y: int
    widget: Widget


def place(widgets: Sequence[Widget]) -> list[Placed]:
    """Left to right, wrapping at 24 columns; a full-width widget (a heading)
    starts a new row. Each row is as tall as its tallest widget."""
    placed: list[Placed] = []
    x = y = row_height = 0
    for widget in widgets:
        if not 1 <= widget.width <= GRID_COLUMNS:
            raise ValueError(f"widget width {widget.width} is outside 1-{GRID_COLUMNS}")
        if x + widget.width > GRID_COLUMNS or (widget.width == GRID_COLUMNS and x > 0):
            x, y, row_height = 0, y + row_height, 0
        placed.append(Placed(x, y, widget))
        x += widget.width
        row_height = max(row_height, widget.height)
    return placed


def widget_grid(
    settings: DashboardSettings,
    failover: FailoverResources | None,
    router_resources: RouterResources | None,
    alarm_arns: Sequence[str],
) -> list[Placed]:
    """Every widget of the dashboard at its position (for the body and the picture)."""
    widgets: list[Widget] = [
        text(
            f"# resilient-routing · stack {settings.stack} · {settings.region}\n"
            "Alarms first; then the Lex failover; then the cell router. The README's "
            "*Dashboard* section says which widget answers which runbook question.",
        ),
        *alarm_widgets(alarm_arns, settings.region),
    ]
    if failover is not None:
        widgets += failover_widgets(settings, failover)
    if router_resources is not None:
        widgets += router_widgets(settings, router_resources)
    return place(widgets)


def build_dashboard(
    settings: DashboardSettings,
    failover: FailoverResources | None,
    router_resources: RouterResources | None,
    alarm_arns: Sequence[str],
) -> dict[str, Any]:
    """The dashboard body (``PutDashboard``'s ``DashboardBody`` as a dict)."""
    return {
        "start": DEFAULT_START,
        "periodOverride": "inherit",
        "widgets": [
            {
                "type": p.widget.kind,
                "x": p.x,
                "y": p.y,
                "width": p.widget.width,
                "height": p.widget.height,
                "properties": dict(p.widget.properties),
            }
            for p in widget_grid(settings, failover, router_resources, alarm_arns)
        ],
    }


def to_json(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=False)


def plain_fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep (values may be Outputs)."""
    return {f.name: getattr(value, f.name) for f in fields(value)}
