"""RESULTS.md from the results document (pure: no lab, no clock)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.stats import Target, fit_line, med, per_extra, ratio, select

PHASE_NAMES = {"first": "first deploy", "noop": "no-op rerun", "upgrade": "upgrade 1.0.0 → 2.0.0"}


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    """A number for a table; '-' when missing."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def _multi(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in results["samples"] if s["part"] == "multi"]


def targets(results: Mapping[str, Any]) -> list[Target]:
    """The issue's targets, evaluated on this run's medians."""
    cfg = results["config"]
    samples = _multi(results)
    out: list[Target] = []
    note = "" if 32 in cfg["instances"] else f"quick mode: at {max(cfg['instances'])} instances/host, not 32"
    if samples:
        n = max(cfg["instances"])
        for h in cfg["hosts"]:
            for phase in ("first", "noop"):
                sy = med(samples, side="shipyard", phase=phase, instances=n, hosts=h)
                fl = med(samples, side="floor", phase=phase, instances=n, hosts=h)
                out.append(
                    Target(
                        f"multi {PHASE_NAMES[phase]}, {n} inst/host, {h} host(s): shipyard / floor",
                        ratio(sy, fl),
                        "<=",
                        1.5,
                        "x",
                        note,
                    )
                )
        lo = min(cfg["instances"])
        for h in cfg["hosts"]:
            small = med(samples, side="shipyard", phase="first", instances=lo, hosts=h)
            big = med(samples, side="shipyard", phase="first", instances=n, hosts=h)
            out.append(
                Target(
                    f"multi first deploy, s per extra instance ({lo}→{n}), {h} host(s)",
                    per_extra((lo, small), (n, big)),
                    "<=",
                    0.05,
                    " s",
                    note,
                )
            )
        for h in cfg["hosts"]:
            sy = med(samples, side="shipyard", phase="upgrade", instances=n, hosts=h)
            bl = med(samples, side="baseline", phase="upgrade", instances=n, hosts=h)
            out.append(
                Target(
                    f"rolling upgrade, {n} inst/host, {h} host(s): baseline / shipyard",
                    ratio(bl, sy),
                    ">=",
                    6.0,
                    "x",
                    note,
                )
            )
    api = [s for s in results["samples"] if s["part"] == "api"]
    if api:
        a, b = med(api, side="api"), med(api, side="bare")
        over = ratio(a, b)
        out.append(
            Target(
                "API overhead (shipyard.api vs bare ansible-playbook, no-op)",
                None if over is None else (over - 1) * 100,
                "<=",
                5.0,
                " %",
            )
        )
    hits = select(results["samples"], part="bake", phase="hit", side="cli")
    if hits:
        out.append(
            Target(
                "bake cache hit (`shipyard bake` CLI, a new process)",
                med(results["samples"], part="bake", phase="hit", side="cli"),
                "<=",
                1.5,
                " s",
            )
        )
    return out


MODULE = "service_instances"


def profile_split(prof: Mapping[str, Any]) -> dict[str, float]:
    """A profile split into the ``service_instances`` call (the work: start, restart, health
    checks) and everything else (Ansible start-up, facts, other tasks): seconds and counts."""
    tasks = prof["tasks"]
    module = sum(t["seconds"] for t in tasks if str(t.get("action", "")).endswith(MODULE))
    other = [t for t in tasks if not str(t.get("action", "")).endswith(MODULE)]
    other_s = sum(t["seconds"] for t in other)
    total = float(prof["total"])
    return {
        "total": total,
        "module": module,
        "other": other_s,
        "other_tasks": float(len(other)),
        "per_task": other_s / len(other) if other else 0.0,
        "startup": max(total - module - other_s, 0.0),
    }


def explain(results: Mapping[str, Any]) -> list[str]:
    """One sentence per profiled shipyard phase: the module's share vs the per-task overhead."""
    out: list[str] = []
    profiles = results.get("profiles") or {}
    for phase in ("first", "noop", "upgrade"):
        prof = profiles.get(f"shipyard/{phase}")
        if not prof:
            continue
        sp = profile_split(prof)
        n = prof["instances"]
        text = (
            f"shipyard {PHASE_NAMES[phase]} ({n} instances, 1 host): {fmt(sp['total'])} s = "
            f"the `{MODULE}` call {fmt(sp['module'])} s + {int(sp['other_tasks'])} other tasks "
            f"{fmt(sp['other'])} s (mean {fmt(sp['per_task'], 2)} s each, Ansible's per-task cost) + "
            f"{fmt(sp['startup'])} s outside tasks (ansible-playbook start-up, inventory, includes)"
        )
        if phase == "upgrade" and n:
            per = fmt(sp["module"] / n, 3)
            text += f"; the rolling restart costs {per} s per instance (stop, start, health check)"
        out.append(text + ".")
    base = profiles.get("baseline/noop")
    if base:
        tasks = base["tasks"]
        out.append(
            f"baseline no-op ({base['instances']} instances): {len(tasks)} tasks in {fmt(base['total'])} s, "
            f"mean {fmt(sum(t['seconds'] for t in tasks) / max(len(tasks), 1), 2)} s per task: its time "
            "grows by three tasks per instance."
        )
    return out


def _met(t: Target) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}[t.met]


def render(results: Mapping[str, Any], plots: list[str] | None = None) -> str:
    """The whole RESULTS.md."""
    meta = results["meta"]
    cfg = results["config"]
    lines: list[str] = [
        "# shipyard benchmark results",
        "",
        f"Generated by `python -m bench{' --quick' if cfg['mode'] == 'quick' else ''}` — do not edit; "
        "rerun to update. How it measures: [README.md](README.md).",
        "",
        "| | |",
        "|---|---|",
        f"| date (UTC) | {meta['date']} |",
        f"| mode | {cfg['mode']} ({cfg['reps']} repetition(s) per cell, sides interleaved) |",
        f"| machine | {meta['nproc']} CPUs, kernel {meta['kernel']}, load average {meta['load_start']} "
        f"at start, {meta.get('load_end', '?')} at end |",
        f"| git commit | `{meta['commit']}`{' (with uncommitted changes)' if meta.get('dirty') else ''} |",
        f"| software | ansible-core {meta.get('ansible', '?')}, Python {meta.get('python', '?')}, "
        f"{meta.get('packer', 'packer ?')} |",
        f"| run time | {fmt(meta.get('duration_s', 0) / 60, 1)} min |",
        "",
        "Medians of the repetitions. Absolute seconds depend on the machine and on what else "
        "runs on it (this 2-core machine is shared and noisy); the ratios between sides measured "
        "in the same run are the result.",
        "",
    ]
    if meta.get("note"):
        lines += [f"> {meta['note']}", ""]
    if meta.get("interrupted"):
        lines += [
            "> **Interrupted**: this run was stopped (Ctrl-C / SIGTERM); the tables hold what it measured.",
            "",
        ]
    if results.get("skipped"):
        lines += [
            f"> **Time budget** (`--max-minutes {cfg.get('max_minutes', 0):g}`) spent: "
            f"{len(results['skipped'])} cell(s) were not run: " + "; ".join(results["skipped"]) + ".",
            "",
        ]
    ts = targets(results)
    if ts:
        lines += [
            "## Targets",
            "",
            "| target | measured | limit | verdict | margin | note |",
            "|---|---|---|---|---|---|",
        ]
        for t in ts:
            value = fmt(t.value, 3 if t.unit == " s" else 2, t.unit)
            lines.append(
                f"| {t.name} | {value} | {t.op} {t.limit:g}{t.unit} | {_met(t)} | {t.margin} | {t.note} |"
            )
        lines.append("")
        missed = [t for t in ts if t.met is False]
        if missed and results.get("profiles"):
            lines += ["Where the time goes (from the task profile, section 1):", ""]
            lines += [f"- {why}" for why in explain(results)]
            lines.append("")
    lines += _section_multi(results)
    lines += _section_api(results)
    lines += _section_bake(results)
    lines += _section_lambda(results)
    lines += _section_scaling(results)
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    if results.get("retries"):
        lines += [
            "## Retries",
            "",
            "These runs failed once and were repeated (the repetition is what is reported):",
            "",
        ]
        lines += [
            f"- {r['what']}: {r['error'].splitlines()[-1] if r['error'] else ''}" for r in results["retries"]
        ]
        lines.append("")
    if results.get("errors"):
        lines += ["## Errors", "", "These parts failed; their numbers above are missing or partial:", ""]
        lines += [f"- **{e['part']}**: " + e["error"].replace("\n", " / ") for e in results["errors"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _section_multi(results: Mapping[str, Any]) -> list[str]:
    samples = _multi(results)
    if not samples:
        return []
    cfg = results["config"]
    lines = [
        "## 1. multi: shipyard vs the plain role (baseline) vs the floor",
        "",
        "shipyard = `playbooks/deploy.yml` (all instances of a host in one `service_instances` call, "
        "health-gated one at a time on upgrade); baseline = `bench/baseline` (facts on, "
        "template + systemd + wait_for per instance); floor = `bench/floor/deploy.sh` (one ssh call per "
        "host, one systemctl call, no safety). Seconds are medians; ratios are of medians.",
        "",
        "| hosts | inst/host | phase | shipyard s | baseline s | floor s "
        "| baseline / shipyard | shipyard / floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in cfg["hosts"]:
        for n in cfg["instances"]:
            for phase in ("first", "noop", "upgrade"):
                sy = med(samples, side="shipyard", phase=phase, instances=n, hosts=h)
                bl = med(samples, side="baseline", phase=phase, instances=n, hosts=h)
                fl = med(samples, side="floor", phase=phase, instances=n, hosts=h)
                lines.append(
                    f"| {h} | {n} | {PHASE_NAMES[phase]} | {fmt(sy)} | {fmt(bl)} | {fmt(fl)} | "
                    f"{fmt(ratio(bl, sy), 1, 'x')} | {fmt(ratio(sy, fl), 1, 'x')} |"
                )
    lo, hi = min(cfg["instances"]), max(cfg["instances"])
    if hi > lo:
        lines += [
            "",
            f"Seconds per extra instance per host ({lo} → {hi} instances, medians):",
            "",
            "| hosts | phase | shipyard | baseline | floor |",
            "|---|---|---|---|---|",
        ]
        for h in cfg["hosts"]:
            for phase in ("first", "noop", "upgrade"):
                cells = []
                for side in ("shipyard", "baseline", "floor"):
                    a = med(samples, side=side, phase=phase, instances=lo, hosts=h)
                    b = med(samples, side=side, phase=phase, instances=hi, hosts=h)
                    cells.append(fmt(per_extra((lo, a), (hi, b)), 3, " s"))
                lines.append(f"| {h} | {PHASE_NAMES[phase]} | " + " | ".join(cells) + " |")
    profiles = results.get("profiles") or {}
    if profiles:
        lines += [
            "",
            "### Profile: where shipyard's and the baseline's time goes",
            "",
            "The first repetition of the largest 1-host cell, run with a per-task timing callback "
            "(`bench/callback_plugins/bench_profile.py`). Slowest tasks per phase "
            "(wall seconds, all hosts together):",
            "",
        ]
        for key in sorted(profiles):
            prof = profiles[key]
            tasks = prof["tasks"]
            total_tasks = sum(t["seconds"] for t in tasks)
            lines.append(
                f"- **{key}** ({prof['instances']} instances): playbook {fmt(prof['total'])} s, "
                f"{len(tasks)} tasks summing to {fmt(total_tasks)} s "
                f"(mean {fmt(total_tasks / max(len(tasks), 1), 3)} s per task); slowest: "
                + "; ".join(
                    f"{t['task']} {t['seconds']:.2f}" for t in sorted(tasks, key=lambda t: -t["seconds"])[:5]
                )
            )
    lines.append("")
    return lines


def _section_api(results: Mapping[str, Any]) -> list[str]:
    api = [s for s in results["samples"] if s["part"] == "api"]
    if not api:
        return []
    a, b = med(api, side="api"), med(api, side="bare")
    n = api[0]["instances"]
    over = ratio(a, b)
    return [
        "## 2. API overhead",
        "",
        f"The same collection playbook (`deploy`, no-op rerun, {n} instances, 1 host) with the same "
        "variables and Ansible environment: `shipyard.api.deploy` (ansible-runner, timed in-process, "
        "spec validation and artifact sha256 included) vs bare `ansible-playbook`.",
        "",
        "| shipyard.api s | ansible-playbook s | overhead | runs each |",
        "|---|---|---|---|",
        f"| {fmt(a)} | {fmt(b)} | {fmt(None if over is None else (over - 1) * 100, 1, ' %')} "
        f"({fmt(None if a is None or b is None else a - b, 2, ' s')}) | {len(select(api, side='api'))} |",
        "",
    ]


def _section_bake(results: Mapping[str, Any]) -> list[str]:
    bake = [s for s in results["samples"] if s["part"] == "bake"]
    if not bake:
        return []
    sy = med([s for s in bake if s["rep"] >= 0], side="shipyard", phase="first")  # not the warm-up
    pk = med(bake, side="packer", phase="first")
    lines = ["## 3. bake (Packer against the lab's moto, provisioning a lab host)", ""]
    if pk is not None:
        lines += [
            "| shipyard bake --force s | bare packer build s | shipyard / packer | runs each |",
            "|---|---|---|---|",
            f"| {fmt(sy)} | {fmt(pk)} | {fmt(ratio(sy, pk), 2, 'x')} | "
            f"{len(select(bake, side='packer', phase='first'))} |",
            "",
            "The bare build runs the same template with the same variables (recorded from a shipyard bake) "
            "and a key pair imported beforehand; shipyard adds the base-AMI lookup, the bake hash, "
            "`packer validate`, the key pair import/removal and the leftover check.",
            "",
        ]
    else:
        warm = select(bake, side="shipyard", phase="first", rep=-1)
        lines += [
            f"One real bake ({fmt(warm[0] if warm else None)} s) made the image the cache hits find "
            "(quick mode: no bare-Packer comparison).",
            "",
        ]
    lines += [
        "| cache hit | median s | runs |",
        "|---|---|---|",
        f"| `shipyard bake` CLI (new process) | {fmt(med(bake, side='cli', phase='hit'), 3)} | "
        f"{len(select(bake, side='cli', phase='hit'))} |",
        f"| `shipyard.api.bake` (in-process) | {fmt(med(bake, side='api', phase='hit'), 3)} | "
        f"{len(select(bake, side='api', phase='hit'))} |",
        "",
    ]
    return lines


def _section_lambda(results: Mapping[str, Any]) -> list[str]:
    lam = [s for s in results["samples"] if s["part"] == "lambda"]
    info = results.get("lambda") or {}
    if not lam:
        return []
    cold, warm = med(lam, side="cold"), med(lam, side="warm")
    lines = [
        "## 4. lambda packaging (services/imageupload.yml with bench/lambda/requirements.txt)",
        "",
        "| package cold s (empty dependency cache: pip runs) | with the dependency cache s | cold / cached |",
        "|---|---|---|",
        f"| {fmt(cold)} | {fmt(warm)} | {fmt(ratio(cold, warm), 1, 'x')} |",
        "",
    ]
    if info:
        z, nz = info["zip_bytes"], info["naive_zip_bytes"]
        lines += [
            "| shipyard ZIP bytes | naive `zip -r` bytes (same tree) | shipyard / naive | files "
            "| reproducible |",
            "|---|---|---|---|---|",
            f"| {z:,} | {nz:,} | {fmt(ratio(z, nz), 3, 'x')} | {info['files']} | "
            f"{'yes (same sha256 twice)' if info['reproducible'] else 'NO'} |",
            "",
        ]
    return lines


def scaling_points(results: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(instances curve samples on 1 host, hosts curve samples at the fixed instance count)."""
    cfg = results["config"]
    first = [
        s
        for s in results["samples"]
        if s["part"] in ("multi", "scaling") and s["side"] == "shipyard" and s["phase"] == "first"
    ]
    inst = [s for s in first if s["hosts"] == 1 and s["instances"] in cfg["scale_instances"]]
    hosts = [
        s
        for s in first
        if s["instances"] == cfg["scale_hosts_instances"] and s["hosts"] in cfg["scale_hosts"]
    ]
    return inst, hosts


def _section_scaling(results: Mapping[str, Any]) -> list[str]:
    if "scaling" not in results["config"]["parts"]:
        return []
    inst, hosts = scaling_points(results)
    if not inst and not hosts:
        return []
    cfg = results["config"]
    lines = ["## 5. Scaling: shipyard's first deploy", ""]
    li = fit_line([s["instances"] for s in inst], [s["seconds"] for s in inst])
    lh = fit_line([s["hosts"] for s in hosts], [s["seconds"] for s in hosts])
    lines += ["| instances per host (1 host) | median s |", "|---|---|"]
    for n in sorted({s["instances"] for s in inst}):
        lines.append(f"| {n} | {fmt(med(inst, instances=n))} |")
    if li:
        lines += [
            "",
            f"Least-squares fit over all {li.points} samples: **{li.slope:.3f} s per instance** "
            f"+ {li.intercept:.2f} s fixed (R² {fmt(li.r2)}).",
        ]
    lines += ["", f"| hosts ({cfg['scale_hosts_instances']} instances each) | median s |", "|---|---|"]
    for h in sorted({s["hosts"] for s in hosts}):
        lines.append(f"| {h} | {fmt(med(hosts, hosts=h))} |")
    if lh:
        lines += [
            "",
            f"Least-squares fit over all {lh.points} samples: **{lh.slope:.3f} s per host** "
            f"+ {lh.intercept:.2f} s fixed (R² {fmt(lh.r2)}).",
        ]
    lines.append("")
    return lines
