"""The stack's CloudWatch dashboard as a picture, drawn offline.

``python -m drill.dashboard_picture [--stack dev] docs/dashboard.png`` runs the
program under the mock engine, takes the dashboard body it would deploy (the
builder's widget grid, ``components/dashboard.py``) and draws every widget at
its grid position with its title, what it plots and the runbook question it
answers. Nothing is fetched from AWS: the boxes are the layout, not data.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
COLORS = {"metric": "#e8f1fb", "alarm": "#fdecea", "text": "#f4f4f4"}
#: Grid units to inches (24 columns across).
UNIT = 0.62


def describe(widget: dict[str, Any]) -> str:
    properties = widget["properties"]
    if widget["type"] == "alarm":
        return f"{len(properties['alarms'])} alarms, ALARM first"
    if widget["type"] == "text":
        return ""
    names: list[str] = []
    for entry in properties.get("metrics", []):
        if isinstance(entry[0], dict):
            expression = entry[0]["expression"]
            start = expression.find('MetricName="')
            name = expression[start + 12 : expression.find('"', start + 12)] if start >= 0 else "?"
            names.append(f"{name} (per {_schema_tail(expression)})")
        else:
            label = entry[-1].get("label") if isinstance(entry[-1], dict) else None
            names.append(label or entry[1])
    return "; ".join(dict.fromkeys(names))


def _schema_tail(expression: str) -> str:
    schema = expression[expression.find("{") + 1 : expression.find("}")]
    dimensions = [d for d in schema.split(",")[1:] if d != "service"]
    return ", ".join(dimensions) or "service"


def draw(body: dict[str, Any], questions: Sequence[str], path: str | Path, title: str) -> Path:
    """Draw ``body``'s widgets; ``questions`` pairs with ``body['widgets']``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    widgets = body["widgets"]
    bottom = max(w["y"] + w["height"] for w in widgets)
    figure = plt.figure(figsize=(24 * UNIT, bottom * UNIT * 0.62 + 0.6))
    ax = figure.add_axes((0.005, 0.005, 0.99, 0.99 - 0.5 / figure.get_figheight()))
    ax.set_xlim(0, 24)
    ax.set_ylim(bottom, 0)
    ax.axis("off")
    figure.suptitle(title, fontsize=11, y=0.998, va="top")
    for widget, question in zip(widgets, questions, strict=True):
        x, y, w, h = widget["x"], widget["y"], widget["width"], widget["height"]
        ax.add_patch(
            Rectangle(
                (x + 0.08, y + 0.08),
                w - 0.16,
                h - 0.16,
                facecolor=COLORS.get(widget["type"], "white"),
                edgecolor="#8c8c8c",
                linewidth=0.8,
            )
        )
        properties = widget["properties"]
        if widget["type"] == "text":
            heading = properties["markdown"].splitlines()[0].lstrip("# ").strip()
            ax.text(x + 0.3, y + h / 2, heading, va="center", fontsize=9, weight="bold")
            continue
        chars = max(12, int(w * 5.2))
        ax.text(
            x + 0.3,
            y + 0.35,
            textwrap.shorten(properties.get("title", ""), int(w * 7.5)),
            va="top",
            fontsize=8,
            weight="bold",
        )
        body_text = textwrap.fill(describe(widget), chars)
        ax.text(x + 0.3, y + 1.05, body_text, va="top", fontsize=6.2, color="#333333")
        if question:
            ax.text(
                x + 0.3,
                y + h - 0.3,
                textwrap.fill("Q: " + question, chars),
                va="bottom",
                fontsize=6.4,
                style="italic",
                color="#1f4e79",
            )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target


def picture(stack: str | None, path: str | Path) -> Path:
    """Draw the dashboard ``stack`` would deploy in its primary region."""
    from components.dashboard import (
        ROUTER_FUNCTIONS,
        DashboardSettings,
        FailoverResources,
        RouterResources,
        widget_grid,
    )
    from drill.stack import load_stack

    model = load_stack(stack)
    body = json.loads(model.run.one(DASHBOARD).inputs["dashboardBody"])
    settings = model.settings
    alarms = [w for w in body["widgets"] if w["type"] == "alarm"]
    arns = [a for w in alarms for a in w["properties"]["alarms"]]
    # The same builder, for each widget's runbook question (names do not
    # change the layout; the grid must match the deployed body exactly).
    grid = widget_grid(
        DashboardSettings(
            region=settings.primary_region,
            primary_region=settings.primary_region,
            secondary_region=settings.secondary_region,
            stack=model.name,
        ),
        FailoverResources("-", "-", "-"),
        RouterResources("-", "-", "-", "-", "-", "-", dict.fromkeys(ROUTER_FUNCTIONS, "-"))
        if settings.cell_router.enabled
        else None,
        arns,
    )
    positions = [(w["x"], w["y"], w["width"], w["height"]) for w in body["widgets"]]
    if positions != [(p.x, p.y, p.widget.width, p.widget.height) for p in grid]:
        raise RuntimeError("the deployed body and the builder's grid disagree")
    return draw(
        body,
        [p.widget.question for p in grid],
        path,
        f"CloudWatch dashboard of stack {model.name!r} in {settings.primary_region} "
        "(layout from components/dashboard.py; boxes, not data)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drill.dashboard_picture")
    parser.add_argument("path", help="PNG to write, e.g. docs/dashboard.png")
    parser.add_argument("--stack", default=None, help="stack file to read (default: dev)")
    args = parser.parse_args(argv)
    print(picture(args.stack, args.path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
