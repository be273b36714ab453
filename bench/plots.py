"""The PNG plots beside RESULTS.md (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report import PHASE_NAMES, scaling_points
from bench.stats import fit_line, med

COLORS = {
    "shipyard": "#1f77b4",
    "cli": "#9467bd",
    "baseline": "#d62728",
    "floor": "#2ca02c",
    "ansible_floor": "#bcbd22",
}
SIDES = tuple(COLORS)


def make(results: Mapping[str, Any], out: Path) -> list[str]:
    """Write the plots the results allow; their file names (relative to ``out``)."""
    import matplotlib

    matplotlib.use("Agg")
    names: list[str] = []
    if any(s["part"] == "multi" for s in results["samples"]):
        names.append(_multi(results, out / "multi.png"))
    inst, hosts = scaling_points(results)
    if "scaling" in results["config"]["parts"] and (inst or hosts):
        names.append(_scaling(inst, hosts, results["config"], out / "scaling.png"))
    return names


def _multi(results: Mapping[str, Any], path: Path) -> str:
    import matplotlib.pyplot as plt

    cfg = results["config"]
    samples = [s for s in results["samples"] if s["part"] == "multi"]
    phases = ("first", "noop", "upgrade")
    fig, axes = plt.subplots(
        len(cfg["hosts"]), len(phases), figsize=(4.2 * len(phases), 3.4 * len(cfg["hosts"])), squeeze=False
    )
    width = 0.8 / len(SIDES)
    for row, h in enumerate(cfg["hosts"]):
        for col, phase in enumerate(phases):
            ax = axes[row][col]
            xs = list(range(len(cfg["instances"])))
            for k, side in enumerate(SIDES):
                ys = [
                    med(samples, side=side, phase=phase, instances=n, hosts=h) or 0 for n in cfg["instances"]
                ]
                offset = (k - (len(SIDES) - 1) / 2) * width
                ax.bar([x + offset for x in xs], ys, width, label=side, color=COLORS[side])
            ax.set_xticks(xs, [str(n) for n in cfg["instances"]])
            ax.set_xlabel("instances per host")
            ax.set_ylabel("seconds (median)")
            ax.set_title(f"{PHASE_NAMES[phase]}, {h} host(s)", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"multi: shipyard and CLI vs baseline role vs floors ({cfg['mode']}, {cfg['reps']} rep(s))")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _scaling(
    inst: list[dict[str, Any]], hosts: list[dict[str, Any]], cfg: Mapping[str, Any], path: Path
) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, pts, key, label in (
        (axes[0], inst, "instances", "instances per host (1 host)"),
        (axes[1], hosts, "hosts", f"hosts ({cfg['scale_hosts_instances']} instances each)"),
    ):
        xs = [s[key] for s in pts]
        ys = [s["seconds"] for s in pts]
        ax.scatter(xs, ys, s=14, color=COLORS["shipyard"], alpha=0.6, label="samples")
        line = fit_line(xs, ys)
        if line is not None:
            lo, hi = min(xs), max(xs)
            ax.plot(
                [lo, hi],
                [line.at(lo), line.at(hi)],
                color="black",
                lw=1,
                label=f"fit: {line.intercept:.2f} s + {line.slope:.3f} s/{key[:-1]}",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("first deploy, seconds")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("shipyard first deploy: scaling")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name
