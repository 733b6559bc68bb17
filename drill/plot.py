"""``--plot FILE.png``: the drill's results as a chart (matplotlib, Agg).

One panel per scenario that ran, stacked in one figure: for failover, the
region callers are sent to over simulated time, with every round's probe
results and the simulated Lex impairments; for cells, each cell's users over
the sign-ups, with the assignable limit, the scale-out threshold, refusals
and the moment the new cell was registered.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from drill.cells import CellsResult
from drill.failover import FailoverResult


def write_plot(
    path: str | Path,
    *,
    failover: FailoverResult | None = None,
    cells: CellsResult | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (failover, cells) if p is not None]
    if not panels:
        raise ValueError("nothing to plot")
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(11, 4.2 * len(panels)), squeeze=False, layout="constrained"
    )
    row = 0
    if failover is not None:
        _failover_panel(axes[row][0], failover)
        row += 1
    if cells is not None:
        _cells_panel(axes[row][0], cells)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def _failover_panel(ax: Any, result: FailoverResult) -> None:
    regions = [result.primary, result.secondary]
    level = {result.primary: 1.0, result.secondary: 0.0}
    end = (result.rounds[-1].t if result.rounds else 0.0) + result.interval_seconds
    for region, since, until, kind in result.impairments:
        ax.axvspan(
            since,
            until if until is not None else end,
            ymin=0.55 if region == result.primary else 0.05,
            ymax=0.95 if region == result.primary else 0.45,
            color="tab:red",
            alpha=0.15,
            lw=0,
        )
        ax.text(
            since + 0.5,
            level[region] + 0.3,
            f"{region}: {kind.replace('_', ' ')}",
            fontsize=8,
            color="tab:red",
            va="center",
        )
    times = [0.0] + [r.t for r in result.rounds] + [end]
    active = [result.primary] + [r.active for r in result.rounds]
    active.append(active[-1])
    ax.step(
        times,
        [level[a] for a in active],
        where="post",
        color="tab:blue",
        lw=2.5,
        label="lexRegion (callers go here)",
    )
    for region in regions:
        ok = [r.t for r in result.rounds if r.healthy[region]]
        bad = [r.t for r in result.rounds if not r.healthy[region]]
        y = level[region]
        ax.scatter(ok, [y + 0.12] * len(ok), marker="o", s=22, color="tab:green", zorder=3)
        ax.scatter(bad, [y + 0.12] * len(bad), marker="x", s=30, color="tab:red", zorder=3)
    for r in result.rounds:
        if r.switched:
            ax.axvline(r.t, color="grey", ls=":", lw=1)
            ax.text(
                r.t + 0.5,
                0.5,
                r.reason or "switch",
                rotation=90,
                fontsize=8,
                color="dimgrey",
                va="center",
            )
    ax.scatter([], [], marker="o", color="tab:green", label="probe passed")
    ax.scatter([], [], marker="x", color="tab:red", label="probe failed")
    ax.set_yticks([0, 1], [f"{result.secondary}\n(secondary)", f"{result.primary}\n(primary)"])
    ax.set_ylim(-0.4, 1.6)
    ax.set_xlim(-2, end)
    ax.set_xlabel(f"simulated time (s); a probe round every {result.interval_seconds} s")
    detection = (
        f"detection {result.detection_seconds:.0f} s"
        if result.detection_seconds is not None
        else "no failover"
    )
    ax.set_title(
        f"Lex failover (stack {result.stack}): failover after {result.failover_threshold} "
        f"failed rounds ({detection}), failback after {result.failback_threshold} good rounds"
    )
    ax.legend(loc="upper right", fontsize=8, ncols=3)
    ax.grid(axis="x", alpha=0.3)


def _cells_panel(ax: Any, result: CellsResult) -> None:
    ordered = sorted(result.sign_ups, key=lambda s: s.order)
    counts: collections.Counter[str] = collections.Counter()
    series: dict[str, tuple[list[int], list[int]]] = {}
    refused: list[int] = []
    requested: list[tuple[int, int]] = []
    for n, sign_up in enumerate(ordered, 1):
        if sign_up.cell_id is None:
            refused.append(n)
            continue
        if not sign_up.new_assignment:
            continue
        counts[sign_up.cell_id] += 1
        xs, ys = series.setdefault(sign_up.cell_id, ([0], [0]))
        xs.append(n)
        ys.append(counts[sign_up.cell_id])
        if sign_up.provisioning_requested:
            requested.append((n, counts[sign_up.cell_id]))
    total = len(ordered)
    for cell_id in sorted(series):
        xs, ys = series[cell_id]
        xs.append(total)
        ys.append(ys[-1])
        ax.step(xs, ys, where="post", lw=2, label=cell_id)
    ax.axhline(
        result.assignable_limit,
        color="black",
        ls="--",
        lw=1,
        label=f"assignable limit {result.assignable_limit}",
    )
    ax.axhline(
        result.capacity,
        color="black",
        ls="-",
        lw=0.8,
        alpha=0.5,
        label=f"max capacity {result.capacity}",
    )
    ax.axhline(
        result.scale_out_at,
        color="tab:orange",
        ls=":",
        lw=1.2,
        label=f"new cell requested at {result.scale_out_at}",
    )
    if requested:
        ax.scatter(
            [n for n, _ in requested],
            [c for _, c in requested],
            marker="*",
            s=160,
            color="tab:orange",
            edgecolor="black",
            zorder=4,
            label="scaler sent CellRequested",
        )
    if refused:
        ax.scatter(
            refused,
            [0.5] * len(refused),
            marker="|",
            color="tab:red",
            s=60,
            label=f"refused (NoCapacity): {len(refused)}",
        )
    burst = sum(1 for s in ordered if s.phase == "direct")
    if result.new_cell and burst < total:
        ax.axvline(burst + 0.5, color="grey", ls=":", lw=1)
        ax.text(
            burst + 1,
            result.capacity * 0.95,
            f"CellReady {result.new_cell}\nthen via the Orchestrator",
            fontsize=8,
            color="dimgrey",
            va="top",
        )
    ax.set_xlim(0, total + 1)
    ax.set_ylim(0, result.capacity * 1.08)
    ax.set_xlabel(f"sign-ups in completion order ({result.threads} threads, then the API batch)")
    ax.set_ylabel("users in cell")
    ax.set_title(
        f"Cell router (stack {result.stack}): {result.users} concurrent sign-ups into "
        f"{result.cells} cells of {result.capacity}"
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.grid(alpha=0.3)
