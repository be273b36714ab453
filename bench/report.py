"""RESULTS.md from the results document (pure: no lab, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.stats import Target, fit_line, med, per_extra, ratio, select

PHASES = ("first", "noop", "upgrade")
PHASE_NAMES = {"first": "first deploy", "noop": "no-op rerun", "upgrade": "upgrade 1.0.0 → 2.0.0"}


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    """A number for a table; '-' when missing."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


def _multi(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in results["samples"] if s["part"] == "multi"]


SIDE_NAMES = {
    "shipyard": "shipyard",
    "cli": "CLI",
    "baseline": "baseline",
    "floor": "floor",
    "ansible_floor": "Ansible floor",
}
#: the sides whose calls are the converge's own count (module calls + remote executions)
CONVERGE_SIDES = ("shipyard", "cli")


def _quick_note(cfg: Mapping[str, Any], n: int | None = None, h: int | None = None) -> str:
    """What a quick run's cell stands in for (the issue's cells are 1 and 32 inst/host, 1 and 3 hosts)."""
    parts = []
    if n is not None and n == max(cfg["instances"]) and 32 not in cfg["instances"]:
        parts.append(f"at {n} instances/host, not 32")
    if h is not None and 3 not in cfg["hosts"] and h == max(cfg["hosts"]):
        parts.append(f"{h} host(s) only, not 3")
    return f"quick mode: {', '.join(parts)}" if parts and cfg["mode"] == "quick" else ""


def _converge_targets(results: Mapping[str, Any]) -> list[Target]:
    """Issue 16's targets: the one converge per host, near the Ansible floor."""
    cfg = results["config"]
    samples = _multi(results)
    out: list[Target] = []
    if not samples:
        return out
    lo, hi = min(cfg["instances"]), max(cfg["instances"])
    cells = sorted({lo, hi})
    for h in cfg["hosts"]:
        for n in cells:
            note = _quick_note(cfg, n, h)
            af = {
                p: med(samples, side="ansible_floor", phase=p, instances=n, hosts=h)
                for p in ("first", "noop")
            }
            sy = med(samples, side="shipyard", phase="noop", instances=n, hosts=h)
            cli = {p: med(samples, side="cli", phase=p, instances=n, hosts=h) for p in ("first", "noop")}
            where = f"{n} inst/host, {h} host(s)"
            out += [
                Target(f"no-op, {where}: shipyard (ansible-playbook) / Ansible floor",
                       ratio(sy, af["noop"]), "<=", 1.5, "x", note, "16"),
                Target(f"no-op, {where}: CLI / Ansible floor", ratio(cli["noop"], af["noop"]), "<=", 2.0,
                       "x", note, "16"),
                Target(f"first deploy, {where}: CLI / Ansible floor", ratio(cli["first"], af["first"]), "<=",
                       2.0, "x", note, "16"),
            ]  # fmt: skip
    for h in cfg["hosts"]:
        sy = med(samples, side="shipyard", phase="upgrade", instances=hi, hosts=h)
        afu = med(samples, side="ansible_floor", phase="upgrade", instances=hi, hosts=h)
        over = None if sy is None or afu is None else (sy - afu) / hi
        out.append(
            Target(
                f"upgrade, {hi} inst/host, {h} host(s): shipyard over the Ansible floor's upgrade, "
                "per instance",
                over, "<=", 0.2, " s", _quick_note(cfg, hi, h), "16",
            )
        )  # fmt: skip
    for h in cfg["hosts"]:
        for phase in PHASES:
            sy = med(samples, side="shipyard", phase=phase, instances=lo, hosts=h)
            bl = med(samples, side="baseline", phase=phase, instances=lo, hosts=h)
            out.append(
                Target(
                    f"{PHASE_NAMES[phase]}, {lo} inst/host, {h} host(s): baseline / shipyard (faster than "
                    "the plain role)",
                    ratio(bl, sy), ">", 1.0, "x", _quick_note(cfg, None, h), "16",
                )
            )  # fmt: skip
    for side in CONVERGE_SIDES:
        most = max_calls(samples, side=side, phase="noop")
        if most is not None or select(samples, side=side, phase="noop"):
            out.append(
                Target(f"no-op: remote calls per host, {SIDE_NAMES[side]} (most over every cell, host, rep)",
                       most, "<=", 1.0, "", "", "16")
            )  # fmt: skip
    return out


def targets(results: Mapping[str, Any]) -> list[Target]:
    """The issues' targets, evaluated on this run's medians: issue 16's first, then the lines of
    issue 8 that it did not replace (its "1.5x of the floor" became the Ansible floor's, its
    "API overhead under 5 %" the 0.3 s one)."""
    cfg = results["config"]
    samples = _multi(results)
    out = _converge_targets(results)
    api = [s for s in results["samples"] if s["part"] == "api"]
    if api:
        bare = med(api, side="bare")
        for side, label in (("api", "`shipyard.api.deploy`"), ("cli", "`shipyard deploy` (CLI)")):
            if not select(api, side=side):
                continue
            mine = med(api, side=side)
            out.append(
                Target(
                    f"{label} overhead over bare ansible-playbook "
                    f"(no-op, {api[0]['instances']} inst, 1 host)",
                    None if mine is None or bare is None else mine - bare, "<=", 0.3, " s", "", "16",
                )
            )  # fmt: skip
    if samples:
        n, lo = max(cfg["instances"]), min(cfg["instances"])
        for h in cfg["hosts"]:
            small = med(samples, side="shipyard", phase="first", instances=lo, hosts=h)
            big = med(samples, side="shipyard", phase="first", instances=n, hosts=h)
            out.append(
                Target(
                    f"first deploy, s per extra instance ({lo}→{n}), {h} host(s)",
                    per_extra((lo, small), (n, big)), "<=", 0.05, " s", _quick_note(cfg, n, h), "8",
                )
            )  # fmt: skip
        for h in cfg["hosts"]:
            sy = med(samples, side="shipyard", phase="upgrade", instances=n, hosts=h)
            bl = med(samples, side="baseline", phase="upgrade", instances=n, hosts=h)
            out.append(
                Target(
                    f"rolling upgrade, {n} inst/host, {h} host(s): baseline / shipyard",
                    ratio(bl, sy), ">=", 6.0, "x", _quick_note(cfg, n, h), "8",
                )
            )  # fmt: skip
    hits = select(results["samples"], part="bake", phase="hit", side="cli")
    if hits:
        out.append(
            Target(
                "bake cache hit (`shipyard bake` CLI, a new process)",
                med(results["samples"], part="bake", phase="hit", side="cli"),
                "<=",
                1.5,
                " s",
                source="8",
            )
        )
    return out


def host_counts(samples: Iterable[Mapping[str, Any]], key: str = "remote", **keys: Any) -> list[int]:
    """``key`` of every host's calls in every sample matching ``keys`` (e.g. remote calls per host)."""
    return [
        int(c[key])
        for s in samples
        if all(s.get(k) == v for k, v in keys.items())
        for c in (s.get("calls") or {}).values()
        if key in c
    ]


def max_calls(samples: Iterable[Mapping[str, Any]], **keys: Any) -> float | None:
    """The most remote calls any host had in the samples matching ``keys`` (None: not recorded)."""
    counts = host_counts(samples, **keys)
    return float(max(counts)) if counts else None


def span(counts: list[int]) -> str:
    """``3`` or ``3-5`` (min-max), '-' when empty."""
    if not counts:
        return "-"
    lo, hi = min(counts), max(counts)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def calls_cell(samples: list[dict[str, Any]], side: str, **keys: Any) -> str:
    """Remote calls per host for a table cell: converge sides add their module calls."""
    remote = host_counts(samples, "remote", side=side, **keys)
    if side in CONVERGE_SIDES and remote:
        module = host_counts(samples, "module", side=side, **keys)
        return f"{span(remote)} ({span(module)} module)"
    return span(remote)


MODULE = "service_converge"


def profile_split(prof: Mapping[str, Any]) -> dict[str, float]:
    """A profile split into the ``service_converge`` task (the host's whole deploy: module calls
    and the artifact copy) and everything else (Ansible start-up, the skipped hook includes)."""
    tasks = prof["tasks"]
    module = sum(t["seconds"] for t in tasks if str(t.get("action", "")).endswith(MODULE))
    other = [t for t in tasks if not str(t.get("action", "")).endswith(MODULE)]
    other_s = sum(t["seconds"] for t in other)
    total = float(prof.get("wall") or prof["total"])
    return {
        "total": total,
        "module": module,
        "other": other_s,
        "other_tasks": float(len(other)),
        "per_task": other_s / len(other) if other else 0.0,
        "startup": max(total - module - other_s, 0.0),
    }


def explain(results: Mapping[str, Any]) -> list[str]:
    """One sentence per profiled shipyard phase: the converge's share, its calls, the rest."""
    out: list[str] = []
    profiles = results.get("profiles") or {}
    for phase in PHASES:
        prof = profiles.get(f"shipyard/{phase}")
        if not prof:
            continue
        sp = profile_split(prof)
        n = prof["instances"]
        calls = [c.get("calls") or {} for c in (prof.get("per_host") or {}).values()]
        said = ""
        if calls:
            c = calls[0]
            said = (
                f" ({c.get('module', '?')} module call(s), {c.get('remote', '?')} remote execution(s)"
                f"{', the artifact copied' if c.get('copies') else ''})"
            )
        text = (
            f"shipyard {PHASE_NAMES[phase]} ({n} instances, 1 host): {fmt(sp['total'])} s = "
            f"the `{MODULE}` task {fmt(sp['module'])} s{said} + {int(sp['other_tasks'])} other task(s) "
            f"{fmt(sp['other'])} s (the skipped hook includes) + {fmt(sp['startup'])} s outside tasks "
            "(ansible-playbook start-up, inventory, play)"
        )
        af = profiles.get(f"ansible_floor/{phase}")
        if af:
            text += f"; the Ansible floor's whole run took {fmt(float(af.get('wall') or af['total']))} s"
        if phase == "upgrade" and n:
            per = fmt(sp["module"] / n, 3)
            text += f"; the converge task costs {per} s per instance (release, rolling restart)"
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
    return "not measured" if t.met is None else f"**{t.verdict}**"


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
            "Issue 16's targets (one converge per host, near the Ansible floor) first, then those of "
            "issue 8 it did not replace.",
            "",
            "| issue | target | measured | limit | verdict | margin | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in ts:
            value = fmt(t.value, 3 if t.unit == " s" else 0 if t.unit == "" else 2, t.unit)
            lines.append(
                f"| {t.source} | {t.name} | {value} | {t.op} {t.limit:g}{t.unit} | {_met(t)} | {t.margin} "
                f"| {t.note} |"
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
    sides = ("shipyard", "cli", "baseline", "floor", "ansible_floor")
    lines = [
        "## 1. multi: shipyard vs the plain role (baseline) vs the floors",
        "",
        "shipyard = `playbooks/deploy.yml` through `ansible-playbook` (one `service_converge` task per "
        "host: the host's whole desired state in one module call, health-gated one at a time on upgrade); "
        "CLI = `shipyard deploy SPEC -i INVENTORY --hosts … -q` (what a user types, a new process); "
        "baseline = `bench/baseline` (facts on, template + systemd + wait_for per instance); "
        "floor = `bench/floor/deploy.sh` (one ssh call per host, one systemctl call, no safety); "
        "Ansible floor = the same script as one `raw` task per host through `ansible-playbook` "
        "(`bench/ansible_floor`, same settings as shipyard). Seconds are medians; ratios are of medians.",
        "",
        "| hosts | inst/host | phase | shipyard s | CLI s | baseline s | floor s | Ansible floor s "
        "| baseline / shipyard | shipyard / Ansible floor | CLI / Ansible floor | shipyard / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in cfg["hosts"]:
        for n in cfg["instances"]:
            for phase in PHASES:
                m = {side: med(samples, side=side, phase=phase, instances=n, hosts=h) for side in sides}
                lines.append(
                    f"| {h} | {n} | {PHASE_NAMES[phase]} | "
                    + " | ".join(fmt(m[side]) for side in sides)
                    + f" | {fmt(ratio(m['baseline'], m['shipyard']), 1, 'x')}"
                    f" | {fmt(ratio(m['shipyard'], m['ansible_floor']), 1, 'x')}"
                    f" | {fmt(ratio(m['cli'], m['ansible_floor']), 1, 'x')}"
                    f" | {fmt(ratio(m['shipyard'], m['floor']), 1, 'x')} |"
                )
    lines += [
        "",
        "### Remote calls per host",
        "",
        "Remote executions on each host per run (min-max over hosts and repetitions). shipyard and the "
        "CLI: the converge's own count (`calls` in its result: module calls, plus the temp dir, the "
        "artifact copy and the cleanup when the artifact was missing); baseline and Ansible floor: "
        "task results per host (each at least one remote execution; the proxy for their calls); "
        "floor: one ssh call.",
        "",
        "| hosts | inst/host | phase | shipyard | CLI | baseline (tasks) | floor | Ansible floor (tasks) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in cfg["hosts"]:
        for n in cfg["instances"]:
            for phase in PHASES:
                lines.append(
                    f"| {h} | {n} | {PHASE_NAMES[phase]} | "
                    + " | ".join(
                        calls_cell(samples, side, phase=phase, instances=n, hosts=h) for side in sides
                    )
                    + " |"
                )
    lines.append("")
    said = []
    for phase in PHASES:
        counts = host_counts(samples, side="shipyard", phase=phase)
        if counts:
            module = host_counts(samples, "module", side="shipyard", phase=phase)
            said.append(f"{PHASE_NAMES[phase]} {span(counts)} ({span(module)} module call(s))")
    if said:
        lines += [
            "shipyard's remote calls per host, every cell: "
            + "; ".join(said)
            + ". A no-op is one module call per host; a first deploy or an upgrade is two plus the copy.",
            "",
        ]
    lo, hi = min(cfg["instances"]), max(cfg["instances"])
    if hi > lo:
        lines += [
            f"Seconds per extra instance per host ({lo} → {hi} instances, medians):",
            "",
            "| hosts | phase | shipyard | CLI | baseline | floor | Ansible floor |",
            "|---|---|---|---|---|---|---|",
        ]
        for h in cfg["hosts"]:
            for phase in PHASES:
                cells = []
                for side in sides:
                    a = med(samples, side=side, phase=phase, instances=lo, hosts=h)
                    b = med(samples, side=side, phase=phase, instances=hi, hosts=h)
                    cells.append(fmt(per_extra((lo, a), (hi, b)), 3, " s"))
                lines.append(f"| {h} | {PHASE_NAMES[phase]} | " + " | ".join(cells) + " |")
        lines.append("")
    profiles = results.get("profiles") or {}
    if profiles:
        lines += [
            "### Profile: where each playbook side's time goes",
            "",
            "The first repetition of the largest 1-host cell, from the per-task timing callback every "
            "playbook run has (`bench/callback_plugins/bench_profile.py`). Slowest tasks per phase "
            "(wall seconds, all hosts together); the rest of the wall time is ansible-playbook's "
            "start-up:",
            "",
        ]
        for key in sorted(profiles):
            prof = profiles[key]
            tasks = prof["tasks"]
            total_tasks = sum(t["seconds"] for t in tasks)
            wall = float(prof.get("wall") or prof["total"])
            lines.append(
                f"- **{key}** ({prof['instances']} instances): playbook {fmt(wall)} s, "
                f"{len(tasks)} task(s) summing to {fmt(total_tasks)} s "
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
    b = med(api, side="bare")
    n = api[0]["instances"]
    lines = [
        "## 2. API and CLI overhead",
        "",
        f"The same collection playbook (`deploy`, no-op rerun, {n} instances, 1 host) with the same "
        "variables and Ansible environment: `shipyard.api.deploy` (ansible-runner, timed in-process, "
        "spec validation and artifact sha256 included) and `shipyard deploy … -q` (the CLI, a new "
        "process) vs bare `ansible-playbook`.",
        "",
        "| way | median s | overhead over bare ansible-playbook | runs |",
        "|---|---|---|---|",
        f"| bare `ansible-playbook` | {fmt(b)} | - | {len(select(api, side='bare'))} |",
    ]
    for side, label in (("api", "`shipyard.api.deploy`"), ("cli", "`shipyard deploy` (CLI)")):
        if not select(api, side=side):
            continue
        a = med(api, side=side)
        over = ratio(a, b)
        lines.append(
            f"| {label} | {fmt(a)} | {fmt(None if a is None or b is None else a - b, 2, ' s')} "
            f"({fmt(None if over is None else (over - 1) * 100, 1, ' %')}) | {len(select(api, side=side))} |"
        )
    return [*lines, ""]


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
