"""StackDashboard and its builder: one dashboard in the primary region, fed
the stack's own resources, with a console URL output."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.dashboard import (
    GRID_COLUMNS,
    MAX_ALARMS_PER_WIDGET,
    ROUTER_FUNCTIONS,
    build_dashboard,
    check_dashboard_name,
    console_url,
    widget_grid,
)
from components.stack_dashboard import StackDashboardArgs
from tests.dashboard_inputs import FAILOVER, ROUTER, SETTINGS
from tests.offline.artifact_checks.dashboard import check_dashboard_body
from tests.pulumi_harness import DEV_CONFIG, ProgramRun

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
COMPONENT = "resilient-routing:components:StackDashboard"


def _alarm(n: int) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:a{n:03d}"


def _function(run: ProgramRun, name: str):
    return run.one("aws:lambda/function:Function", lambda r: r.name == name)


def _primary(run: ProgramRun):
    """Since issue 12 the secondary has a dashboard of its own too."""
    return run.one(DASHBOARD, lambda d: d.region == run.outputs["primaryRegion"])


def test_one_dashboard_in_the_primary_region_under_the_component(dev_run: ProgramRun):
    dashboard = _primary(dev_run)
    component = dev_run.one(COMPONENT, lambda c: c.name == "dashboard-primary")
    assert dev_run.parent_of(dashboard) is component
    assert dashboard.region == DEV_CONFIG["primaryRegion"]
    assert dashboard.inputs["dashboardName"] == "resilient-routing-dev-us-east-1"
    assert dev_run.outputs["dashboardUrl"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#dashboards/dashboard/resilient-routing-dev-us-east-1"
    )


def test_the_dashboard_names_the_stacks_own_resources(dev_run: ProgramRun):
    body = _primary(dev_run).inputs["dashboardBody"]
    api = dev_run.named("cell-router-CellRouter")
    probe = _function(dev_run, "lex-failover-lexDRTest")
    assert f'"ApiName","{api.outputs["name"]}"' in body
    assert f'"FunctionName","{probe.outputs["name"]}"' in body
    for function in ROUTER_FUNCTIONS:
        name = _function(dev_run, f"cell-router-{function}").outputs["name"]
        assert f'"FunctionName","{name}"' in body, function


def test_without_the_cell_router_only_failover_widgets_and_alarms(run_stack):
    run = run_stack(cellRouterEnabled=False)
    body = json.loads(_primary(run).inputs["dashboardBody"])
    assert check_dashboard_body(body) == []
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    assert "Active region (1 = callers are sent there)" in titles
    assert not any("Cell occupancy" in t for t in titles)
    alarms = [a for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]]
    primary = run.outputs["primaryRegion"]
    recorded = [
        a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.region == primary
    ]
    assert sorted(alarms) == sorted(a.outputs["arn"] for a in recorded)


def test_the_secondary_has_its_own_dashboard_with_its_alarms(dev_run: ProgramRun):
    """Issue 12: the secondary's checker and lookup, readable when the primary is lost."""
    secondary = dev_run.outputs["secondaryRegion"]
    dashboard = dev_run.one(DASHBOARD, lambda d: d.region == secondary)
    assert "secondary-aws::" in dashboard.provider
    body = json.loads(dashboard.inputs["dashboardBody"])
    assert check_dashboard_body(body) == []
    alarms = [a for w in body["widgets"] if w["type"] == "alarm" for a in w["properties"]["alarms"]]
    recorded = [
        a
        for a in dev_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.region == secondary
    ]
    assert recorded and sorted(alarms) == sorted(a.outputs["arn"] for a in recorded)
    probe = _function(dev_run, "lex-failover-secondary-lexDRTest")
    assert f'"FunctionName","{probe.outputs["name"]}"' in dashboard.inputs["dashboardBody"]


def test_widgets_tile_the_grid_without_overlap():
    placed = widget_grid(SETTINGS, FAILOVER, ROUTER, [_alarm(1)])
    cells: set[tuple[int, int]] = set()
    for p in placed:
        assert p.x >= 0 and p.x + p.widget.width <= GRID_COLUMNS
        mine = {
            (x, y)
            for x in range(p.x, p.x + p.widget.width)
            for y in range(p.y, p.y + p.widget.height)
        }
        assert not mine & cells
        cells |= mine


def test_more_alarms_than_one_widget_holds_are_split():
    arns = [_alarm(n) for n in range(MAX_ALARMS_PER_WIDGET + 1)]
    body = build_dashboard(SETTINGS, FAILOVER, ROUTER, arns)
    widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert [len(w["properties"]["alarms"]) for w in widgets] == [MAX_ALARMS_PER_WIDGET, 1]
    assert check_dashboard_body(body) == []


def test_thresholds_come_from_the_settings():
    settings = replace(SETTINGS, capacity_buffer=0.25, scale_out_threshold=0.6, queue_alarm_depth=7)
    body = build_dashboard(settings, FAILOVER, ROUTER, [])
    lines = {
        (w["properties"]["title"], a["label"]): a["value"]
        for w in body["widgets"]
        if w["type"] == "metric"
        for a in w["properties"].get("annotations", {}).get("horizontal", [])
    }
    occupancy = "Cell occupancy (% of maxCapacity, per cell)"
    assert lines[(occupancy, "assignable limit")] == 75
    assert lines[(occupancy, "scale-out requested")] == 60
    assert lines[("Queue depths (visible messages)", "backlog alarm")] == 7
    assert lines[("Health check machinery", "expected rounds per minute")] == 6


def test_the_dashboard_region_is_the_builders_argument():
    settings = replace(SETTINGS, region="us-west-2")
    body = build_dashboard(settings, FAILOVER, None, [])
    regions = {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"}
    assert regions == {"us-west-2"}


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "x" * 256])
def test_a_bad_dashboard_name_is_refused_with_the_rule(name):
    with pytest.raises(ValueError, match="letters, digits, '-' or '_'"):
        check_dashboard_name(name)
    with pytest.raises(ValueError, match="dashboard name"):
        StackDashboardArgs(
            dashboard_name=name, settings=SETTINGS, failover=None, router=None, alarm_arns=[]
        )


def test_router_resources_must_name_every_function():
    partial = replace(ROUTER, function_names={"dispatcher": "d"})
    with pytest.raises(ValueError, match="lacks scaler, mapper, validator, registrar"):
        build_dashboard(SETTINGS, FAILOVER, partial, [])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("capacity_buffer", 1.0, "capacity_buffer"),
        ("scale_out_threshold", 0, "scale_out_threshold"),
        ("probe_interval_seconds", 0, "probe_interval_seconds"),
    ],
)
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(SETTINGS, **{field: value})


def test_console_url_per_partition():
    assert console_url("cn-north-1", "d", "aws-cn").startswith("https://console.amazonaws.cn/")
    assert console_url("eu-west-2", "d").startswith("https://eu-west-2.console.aws.amazon.com/")
