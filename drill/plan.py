"""``python -m drill plan``: what ``pulumi up`` would create, offline.

The program runs under the Pulumi mock engine (``support.mock_engine``) with
the stack's configuration (``Pulumi.<stack>.yaml``); every registered cloud
resource is listed by region (its provider's) and by the component that
created it (the parent chain, recorded from each registration's parent URN).
No Pulumi CLI, no AWS account, no network. It is a preview of the resource
graph, not of a diff: the mock engine knows nothing about what already exists.
"""

from __future__ import annotations

import collections
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from drill.report import Report
from drill.stack import StackModel, load_stack
from support.mock_engine import Recorded

_COMPONENT_PREFIX = "resilient-routing:components:"
WIDTH = 100


@dataclass
class Plan:
    stack: str
    source: str
    primary: str
    secondary: str
    #: region -> component path (outermost first) -> resources
    by_region: dict[str, dict[tuple[str, ...], list[Recorded]]] = field(default_factory=dict)
    providers: list[Recorded] = field(default_factory=list)
    components: list[Recorded] = field(default_factory=list)
    outputs: dict[str, object] = field(default_factory=dict)
    #: (key, value, "stack file" | "default") for every declared setting
    settings: list[tuple[str, object, str]] = field(default_factory=list)

    @property
    def resource_count(self) -> int:
        return sum(len(rs) for groups in self.by_region.values() for rs in groups.values())

    def regions(self) -> list[str]:
        return list(self.by_region)


def effective_settings(raw: dict[str, object]) -> list[tuple[str, object, str]]:
    """Every declared setting with the value the program runs with: the stack
    file's where it sets one, else the default from ``config.SETTINGS``."""
    from config import SETTINGS

    rows = []
    for setting in SETTINGS:
        given = raw.get(setting.key)
        if given is None or given == "":
            rows.append((setting.key, setting.default, "default"))
        else:
            rows.append((setting.key, given, "stack file"))
    return rows


def component_label(resource: Recorded) -> str:
    kind = resource.type.removeprefix(_COMPONENT_PREFIX)
    return f"{kind} {resource.name}"


def build_plan(model: StackModel) -> Plan:
    run = model.run
    plan = Plan(
        stack=model.name,
        source=model.source,
        primary=model.primary,
        secondary=model.secondary,
        providers=[r for r in run.resources if r.type.startswith("pulumi:providers:")],
        components=run.components(),
        outputs=dict(run.outputs),
        settings=effective_settings(model.raw_config),
    )
    ordered_regions = [model.primary, model.secondary]
    grouped: dict[str, dict[tuple[str, ...], list[Recorded]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for resource in run.cloud_resources():
        path = tuple(component_label(c) for c in run.ancestry(resource)) or ("(stack)",)
        grouped[resource.region or "(no region)"][path].append(resource)
    for region in ordered_regions + sorted(set(grouped) - set(ordered_regions)):
        if region in grouped:
            plan.by_region[region] = dict(grouped[region])
    return plan


def short_type(token: str) -> str:
    """``aws:cloudwatch/metricAlarm:MetricAlarm`` -> ``cloudwatch.MetricAlarm``;
    ``aws-native:lex:Bot`` -> ``lex.Bot (native)``."""
    package, module, kind = [*token.split(":"), "", ""][:3]
    module = module.split("/")[0]
    return f"{module}.{kind}" + (" (native)" if package == "aws-native" else "")


def print_plan(plan: Plan, out: Report, *, verbose: bool = False) -> None:
    out.line(
        f"Plan for stack {plan.stack!r} ({plan.source}): {plan.resource_count} cloud resources "
        f"in {len(plan.by_region)} regions, {len(plan.components)} components, "
        f"{len(plan.providers)} explicit providers."
    )
    out.line(
        "Offline preview from the Pulumi mock engine (no AWS, no Pulumi CLI): what `pulumi up` "
        "declares on an empty stack, by region and creating component."
    )
    out.line()
    out.line("Effective settings (* = set in the stack file, else the default):")
    width = max((len(key) for key, _, _ in plan.settings), default=0)
    for key, value, source in plan.settings:
        mark = "*" if source == "stack file" else " "
        shown = (value or "(empty)") if isinstance(value, str) else json.dumps(value)
        out.line(f"  {mark} {key:<{width}}  {shown}")
    for region, groups in plan.by_region.items():
        role = {plan.primary: "primary", plan.secondary: "secondary"}.get(region, "")
        count = sum(len(rs) for rs in groups.values())
        out.line()
        out.line(f"{region}{f' ({role})' if role else ''}: {count} resources")
        shown: set[tuple[str, ...]] = set()
        for path in sorted(groups):
            # Show parents that own nothing here (e.g. MultiRegionLexBot) as tree nodes.
            for depth in range(1, len(path)):
                if path[:depth] not in shown and path[:depth] not in groups:
                    out.line("  " + "  " * (depth - 1) + path[depth - 1])
                    shown.add(path[:depth])
            resources = groups[path]
            indent = "  " + "  " * (len(path) - 1)
            kinds = collections.Counter(short_type(r.type) for r in resources)
            summary = ", ".join(
                f"{n} {kind}" if n > 1 else kind for kind, n in sorted(kinds.items())
            )
            lines = textwrap.wrap(
                f"{path[-1]} ({len(resources)}): {summary}",
                width=WIDTH - len(indent),
                subsequent_indent="    ",
            )
            for text in lines:
                out.line(indent + text)
            shown.add(path)
            if verbose:
                for resource in sorted(resources, key=lambda r: (r.type, r.name)):
                    out.line(f"{indent}    {short_type(resource.type):<36} {resource.name}")
    out.line()
    out.line("Stack outputs: " + ", ".join(sorted(plan.outputs)))


def run(
    stack: str | None = None,
    *,
    report: Report | None = None,
    verbose: bool = False,
    config_file: str | Path | None = None,
) -> Plan:
    out = report or Report()
    plan = build_plan(load_stack(stack, config_file=config_file))
    print_plan(plan, out, verbose=verbose)
    return plan
