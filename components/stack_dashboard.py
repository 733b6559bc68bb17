"""``StackDashboard``: the stack's CloudWatch dashboard in one region.

One per region where the stack runs control-plane functions (today the
primary). The body is :func:`components.dashboard.build_dashboard`, fed the
physical names of the resources once they are known; the component adds
nothing to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.dashboard import (
    DashboardSettings,
    FailoverResources,
    RouterResources,
    build_dashboard,
    check_dashboard_name,
    console_url,
    plain_fields,
    to_json,
)


@dataclass(frozen=True)
class StackDashboardArgs:
    """Arguments of ``StackDashboard``.

    ``failover`` and ``router`` hold the physical names of the resources in
    ``settings.region`` (``FailoverResources``/``RouterResources`` whose
    fields may be Outputs); either is ``None`` when the stack does not run it
    there. ``alarm_arns``: every alarm of the stack in that region.
    ``dashboard_name``: 1-255 of ``A-Za-z0-9_-``, unique in the account and
    region (CloudWatch has no auto-naming for dashboards).
    """

    dashboard_name: str
    settings: DashboardSettings
    failover: FailoverResources | None
    router: RouterResources | None
    alarm_arns: Sequence[pulumi.Input[str]]

    def __post_init__(self) -> None:
        check_dashboard_name(self.dashboard_name)


def _resolved(
    resources: FailoverResources | RouterResources | None,
) -> pulumi.Output[Any]:
    """The same dataclass with every field's Output resolved to its value."""
    if resources is None:
        return pulumi.Output.from_input(None)
    kind = type(resources)
    return pulumi.Output.from_input(plain_fields(resources)).apply(lambda v: kind(**v))


class StackDashboard(pulumi.ComponentResource):
    """One ``aws.cloudwatch.Dashboard`` and its console URL."""

    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackDashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("resilient-routing:components:StackDashboard", name, None, opts)

        failover = _resolved(args.failover)
        router = _resolved(args.router)
        body = pulumi.Output.all(failover, router, pulumi.Output.all(*args.alarm_arns)).apply(
            lambda v: to_json(build_dashboard(args.settings, v[0], v[1], list(v[2])))
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))

        self.dashboard_name = self.dashboard.dashboard_name
        self.url = pulumi.Output.all(self.dashboard.dashboard_name, partition.partition).apply(
            lambda v: console_url(args.settings.region, v[0], v[1])
        )
        self.register_outputs({"dashboardName": self.dashboard_name, "url": self.url})
