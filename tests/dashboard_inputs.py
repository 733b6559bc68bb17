"""Plain inputs for ``components.dashboard.build_dashboard`` outside the
engine: the settings and resource names a stack would pass, as constants."""

from __future__ import annotations

from components.dashboard import (
    ROUTER_FUNCTIONS,
    DashboardSettings,
    FailoverResources,
    RouterResources,
)

SETTINGS = DashboardSettings(
    region="us-east-1", primary_region="us-east-1", secondary_region="us-west-2"
)
FAILOVER = FailoverResources(
    "probe", "lookup", "arn:aws:states:us-east-1:123456789012:stateMachine:p"
)
ROUTER = RouterResources(
    api_name="api",
    api_stage="v1",
    orchestrator_arn="arn:aws:states:us-east-1:123456789012:stateMachine:o",
    provisioning_queue_name="q",
    dead_letter_queue_name="dlq",
    cell_ready_failed_queue_name="failed",
    function_names={f: f"fn-{f}" for f in ROUTER_FUNCTIONS},
)
