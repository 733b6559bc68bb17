"""The stack's dashboard: a valid body, and every metric it (or an alarm)
reads is one something really emits, with exactly those dimensions.

"What the handlers emit" is not read from our own tables: the handlers run on
moto (``tests/offline/emf_capture.py``, a fresh process) and their
embedded-metric-format output is parsed. AWS metrics are checked against the
documented metric/dimension sets (``AWS_METRICS``) and the stack's resources.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.dashboard import NOT_SHOWN, build_dashboard
from handlers.cell_router import model as router_metrics
from handlers.lex_dr import telemetry
from tests.dashboard_inputs import FAILOVER, ROUTER, SETTINGS
from tests.hang_guard import HANG_GUARD_SECONDS
from tests.offline.artifact_checks.dashboard import (
    alarm_reads,
    check_dashboard_body,
    check_reads,
    check_shown,
    dashboard_reads,
)
from tests.offline.emf_capture import emf_documents, metric_identities
from tests.pulumi_harness import ProgramRun

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The handlers' EMF output on moto, one record per metric identity."""
    out = tmp_path_factory.mktemp("emf") / "emitted.json"
    # The process environment the handlers see is only what the stack declares.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POWERTOOLS_") and k != "AWS_ENDPOINT_URL"
    }
    completed = subprocess.run(
        [sys.executable, "-m", "tests.offline.emf_capture", str(out)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(out.read_text())


def _body(run: ProgramRun, region: str | None = None) -> dict[str, Any]:
    """The dashboard of ``region`` (default: the primary's; since issue 12 the
    secondary has its own, for its own checker and lookup)."""
    where = region or run.outputs["primaryRegion"]
    return json.loads(run.one(DASHBOARD, lambda d: d.region == where).inputs["dashboardBody"])


def _custom(records: list[dict[str, Any]]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(r["namespace"], r["metric"], tuple(sorted(r["dimensions"]))) for r in records}


# --------------------------------------------------------------------------- #
# What the handlers emit is what the metric tables declare
# --------------------------------------------------------------------------- #
def test_handlers_emit_exactly_the_declared_metric_tables(emitted):
    """The builder and the alarms read the tables; the handlers must emit
    precisely those (name, dimensions). A metric a later change adds without
    declaring it (or declares with other dimensions) fails here."""
    declared = {
        (telemetry.METRIC_NAMESPACE, name, tuple(sorted(dims)))
        for name, dims in telemetry.METRIC_DIMENSIONS.items()
    } | {
        (router_metrics.METRICS_NAMESPACE, name, tuple(sorted(dims)))
        for name, dims in router_metrics.METRIC_DIMENSIONS.items()
    }
    captured = _custom(emitted)
    assert captured - declared == set(), (
        "emitted by a handler but not declared in handlers/lex_dr/telemetry.py or "
        "handlers/cell_router/model.py METRIC_DIMENSIONS (declare it there)"
    )
    assert declared - captured == set(), (
        "declared but never emitted on moto: the handler does not emit it with these "
        "dimensions, or tests/offline/emf_capture.py does not drive that path (add the path)"
    )


def test_emitted_service_dimension_is_the_declared_service(emitted):
    for record in emitted:
        services = {v["service"] for v in record["values"]}
        if record["namespace"] == telemetry.METRIC_NAMESPACE:
            assert services == {telemetry.METRIC_SERVICE[record["metric"]]}, record
        else:
            assert services == {router_metrics.SERVICE_NAME}, record


# --------------------------------------------------------------------------- #
# The body and what it reads
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("run_name", ["dev_run", "eu_run"])
def test_dashboard_body_is_valid(run_name, request):
    run = request.getfixturevalue(run_name)
    body = _body(run)
    assert check_dashboard_body(body) == []
    regions = {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"}
    assert regions == {run.outputs["primaryRegion"]}


@pytest.mark.parametrize("run_name", ["dev_run", "eu_run"])
def test_every_metric_a_widget_reads_is_emitted(run_name, request, emitted):
    run = request.getfixturevalue(run_name)
    reads = dashboard_reads(_body(run))
    assert {r.namespace for r in reads} >= {
        telemetry.METRIC_NAMESPACE,
        router_metrics.METRICS_NAMESPACE,
        "AWS/Lambda",
        "AWS/States",
        "AWS/SQS",
        "AWS/ApiGateway",
    }
    assert check_reads(reads, emitted, run.resources) == []


def test_every_alarm_reads_an_emitted_metric_and_is_on_the_dashboard(dev_run, emitted):
    alarms = dev_run.of_type(ALARM)
    assert alarms
    assert check_reads(alarm_reads(alarms), emitted, dev_run.resources) == []
    # Changed by issue 12: each region's dashboard shows that region's alarms.
    shown = {
        arn
        for region in (dev_run.outputs["primaryRegion"], dev_run.outputs["secondaryRegion"])
        for w in _body(dev_run, region)["widgets"]
        if w["type"] == "alarm"
        for arn in w["properties"]["alarms"]
        if f":{region}:" in arn
    }
    missing = [a.name for a in alarms if a.outputs["arn"] not in shown]
    assert missing == [], (
        "alarms declared by the program but not on the dashboard's alarm widget: expose "
        "them in their component's `alarms` dict and pass it to StackDashboard in __main__.py"
    )


def test_every_emitted_metric_is_shown_or_documented(dev_run, emitted):
    assert check_shown(emitted, dashboard_reads(_body(dev_run)), NOT_SHOWN) == []
    for namespace, name in NOT_SHOWN:  # no stale excuse for a metric that is gone
        assert any(r["namespace"] == namespace and r["metric"] == name for r in emitted), name


# --------------------------------------------------------------------------- #
# Planted mistakes are caught
# --------------------------------------------------------------------------- #
def _replace_in_metrics(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``body`` with the first metric entry holding ``old`` changed to ``new``
    (as a whole part, or inside a search expression)."""
    planted = copy.deepcopy(body)
    for widget in planted["widgets"]:
        for entry in widget["properties"].get("metrics", []) if widget["type"] == "metric" else []:
            if isinstance(entry[0], dict) and old in entry[0]["expression"]:
                entry[0]["expression"] = entry[0]["expression"].replace(old, new, 1)
                return planted
            if old in entry:
                entry[entry.index(old)] = new
                return planted
    raise AssertionError(f"{old!r} is not in any metric of the dashboard")


PLANTED_READS = [
    # (what is changed, to what, a phrase the report must contain)
    (telemetry.METRIC_REGION_SWITCHED, "RegionSwiched", "did you mean 'RegionSwitched'"),
    (router_metrics.METRIC_NO_CAPACITY, "NoCapacty", "no handler emits metric 'NoCapacty'"),
    (",service}", ",servce}", "RegionActive is emitted with dimensions [['region', 'service']]"),
    ('service="', 'servce="', "not in its schema"),
    (telemetry.HEALTH_CHECK_SERVICE, "lex-dr-healthcheck", "'lex-dr-healthcheck' never emitted"),
    ("5XXError", "5XXErrors", "did you mean '5XXError'"),
    ("FunctionName", "FunctionNames", "not ['FunctionNames']"),
    ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessageVisible", "did you mean"),
]


@pytest.mark.parametrize(("old", "new", "reported"), PLANTED_READS)
def test_a_planted_misspelling_is_caught(dev_run, emitted, old, new, reported):
    body = _body(dev_run)
    planted = _replace_in_metrics(body, old, new)
    problems = check_reads(dashboard_reads(planted), emitted, dev_run.resources) + (
        check_dashboard_body(planted)
    )
    assert any(reported in p for p in problems), problems


def test_a_resource_the_stack_does_not_have_is_caught(dev_run, emitted):
    body = _body(dev_run)
    queue = dev_run.one("aws:sqs/queue:Queue", lambda r: r.name == "cell-router-CellProvisioning")
    planted = _replace_in_metrics(body, queue.outputs["name"], "CellProvisioning-typo")
    problems = check_reads(dashboard_reads(planted), emitted, dev_run.resources)
    assert any("'CellProvisioning-typo' names no aws:sqs/queue:Queue" in p for p in problems)


def test_a_misspelt_alarm_metric_is_caught(dev_run, emitted):
    alarms = copy.deepcopy(dev_run.of_type(ALARM))
    alarms[0].inputs["metricName"] = alarms[0].inputs["metricName"] + "s"
    problems = check_reads(alarm_reads(alarms), emitted, dev_run.resources)
    assert any(alarms[0].name in p for p in problems), problems


def test_a_mistake_in_a_metric_table_is_caught(monkeypatch, emitted):
    """The builder draws what the table says; a table that lies about the
    dimensions the handler emits yields a dashboard the check rejects."""
    monkeypatch.setitem(
        router_metrics.METRIC_DIMENSIONS,
        router_metrics.METRIC_SIGN_UP_PLACED,
        (router_metrics.SERVICE_DIMENSION,),
    )
    body = build_dashboard(SETTINGS, FAILOVER, ROUTER, [])
    custom = [r for r in dashboard_reads(body) if not r.namespace.startswith("AWS/")]
    problems = check_reads(custom, emitted, [])
    assert any(
        "SignUpPlaced is emitted with dimensions [['marketId', 'service']], not ['service']" in p
        for p in problems
    ), problems


def test_a_metric_no_widget_shows_is_caught(dev_run, emitted):
    body = _body(dev_run)
    body["widgets"] = [
        w
        for w in body["widgets"]
        if w["properties"].get("title") != "Returning users and cached endpoints"
    ]
    problems = check_shown(emitted, dashboard_reads(body), NOT_SHOWN)
    assert any(p.startswith("ResilientRouting/CellRouter CellUnhealthy{service}") for p in problems)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def plant(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return plant


def _first(kind: str, body: dict[str, Any]) -> int:
    return next(i for i, w in enumerate(body["widgets"]) if w["type"] == kind)


PLANTED_STRUCTURE: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("widget type", lambda b: _set(("widgets", 0, "type"), "graph")(b), "type 'graph'"),
    ("off the grid", lambda b: _set(("widgets", 0, "x"), 20)(b), "exceeds 24 columns"),
    ("overlap", lambda b: _set(("widgets", 1, "y"), 0)(b), "overlaps"),
    (
        "period",
        lambda b: _set(("widgets", _first("metric", b), "properties", "period"), 90)(b),
        "period 90",
    ),
    (
        "region",
        lambda b: _set(("widgets", _first("metric", b), "properties", "region"), "us-east-9")(b),
        "'us-east-9' is not a CloudWatch region",
    ),
    (
        "statistic",
        lambda b: _set(("widgets", _first("metric", b), "properties", "stat"), "Mean")(b),
        "'Mean' is not a CloudWatch statistic",
    ),
    (
        "metric array shape",
        lambda b: b["widgets"][_first("metric", b)]["properties"]["metrics"].append(
            ["AWS/Lambda", "Errors", "FunctionName"]
        ),
        "expected Namespace, MetricName and name/value pairs",
    ),
    (
        "annotation fill",
        lambda b: b["widgets"][_first("metric", b)]["properties"].update(
            annotations={"horizontal": [{"value": 1, "fill": "sideways"}]}
        ),
        "fill 'sideways'",
    ),
    (
        "alarm annotation beside metrics",
        lambda b: b["widgets"][_first("metric", b)]["properties"].update(
            annotations={"alarms": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"]}
        ),
        "cannot share a widget with metrics",
    ),
    (
        "alarm ARN",
        lambda b: b["widgets"][_first("alarm", b)]["properties"]["alarms"].append("my-alarm"),
        "'my-alarm' is not an alarm ARN",
    ),
    (
        "search syntax",
        lambda b: b["widgets"][_first("metric", b)]["properties"]["metrics"].append(
            [{"expression": "SEARCH('{AWS/Lambda,FunctionName}', Sum)", "id": "e9"}]
        ),
        "not a SEARCH(",
    ),
]


@pytest.mark.parametrize(
    ("what", "plant", "reported"), PLANTED_STRUCTURE, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_planted_structural_mistake_is_caught(dev_run, what, plant, reported):
    body = _body(dev_run)
    assert check_dashboard_body(body) == []
    plant(body)
    problems = check_dashboard_body(body)
    assert any(reported in p for p in problems), (what, problems)


# --------------------------------------------------------------------------- #
# The EMF parser
# --------------------------------------------------------------------------- #
def test_emf_parser_splits_documents_printed_by_threads():
    def document(name: str, region: str) -> str:
        return json.dumps(
            {
                "_aws": {
                    "Timestamp": 1,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "N",
                            "Dimensions": [["service", "region"]],
                            "Metrics": [{"Name": name, "Unit": "Count"}],
                        }
                    ],
                },
                "service": "s",
                "region": region,
                name: 1,
            }
        )

    glued = document("A", "r1") + document("B", "r2") + "\n\nnot json {\n" + document("A", "r2")
    records = metric_identities(emf_documents(glued))
    assert [(r["metric"], r["dimensions"]) for r in records] == [
        ("A", ["region", "service"]),
        ("B", ["region", "service"]),
    ]
    assert records[0]["values"] == [
        {"region": "r1", "service": "s"},
        {"region": "r2", "service": "s"},
    ]


# --------------------------------------------------------------------------- #
# Static read of the emitting code (paths the capture may not drive)
# --------------------------------------------------------------------------- #
#: Functions whose first argument (or ``name=``) is a metric name.
EMITTERS = {"count", "emit", "add_metric", "_emit_region_metric", "single_metric"}


def metric_names_in_source(path: Path) -> list[tuple[int, str]]:
    """(line, how the name is written) of every metric emission in a file:
    a dotted constant such as ``model.METRIC_X``, or ``literal:<text>``."""
    import ast

    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called not in EMITTERS:
            continue
        argument = next((k.value for k in node.keywords if k.arg == "name"), None)
        if argument is None and node.args:
            argument = node.args[0]
        if argument is None:
            continue
        if isinstance(argument, ast.Constant):
            found.append((node.lineno, f"literal:{argument.value}"))
        else:
            found.append((node.lineno, ast.unparse(argument)))
    return found


def test_handlers_name_every_metric_by_a_declared_constant():
    """A metric emitted as a string literal, or by a constant missing from
    its module's METRIC_DIMENSIONS, would escape the dashboard checks on a
    path the capture does not take; this static read catches it."""
    declared = {
        "telemetry": telemetry.METRIC_DIMENSIONS,
        "model": router_metrics.METRIC_DIMENSIONS,
    }
    modules = {"telemetry": telemetry, "model": router_metrics}
    problems = []
    emissions = 0
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        for line, written in metric_names_in_source(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if written.startswith("literal:"):
                problems.append(f"{where}: metric {written[8:]!r} is a string literal")
                continue
            emissions += 1
            owner, _, constant = written.rpartition(".")
            if owner in modules:
                value = getattr(modules[owner], constant, None)
                if value not in declared[owner]:
                    problems.append(f"{where}: {written} is not in {owner}.METRIC_DIMENSIONS")
            elif owner or not constant.islower():
                problems.append(f"{where}: metric name {written} is not a declared constant")
    assert emissions > 20
    assert problems == [], (
        "hoist metric names to handlers/lex_dr/telemetry.py or handlers/cell_router/model.py "
        "and declare their dimensions there:\n" + "\n".join(problems)
    )


def test_the_static_read_sees_a_literal(tmp_path):
    source = tmp_path / "handler.py"
    source.write_text('count("SweeperResent")\nemit(name=model.METRIC_X, dimensions={})\n')
    assert metric_names_in_source(source) == [
        (1, "literal:SweeperResent"),
        (2, "model.METRIC_X"),
    ]
