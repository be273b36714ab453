"""Command line and the run's matrix (what is measured in quick and full mode)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

PARTS = ("multi", "api", "scaling", "bake", "lambda")
#: The order parts run in: the short ones first, so that a time budget (--max-minutes) cuts
#: the long matrix rather than whole parts; scaling last, as it reuses the matrix's cells.
RUN_ORDER = ("lambda", "bake", "api", "multi", "scaling")
#: the multi comparison's sides (bench/harness.py): shipyard through ansible-playbook, through the
#: CLI, the plain role, the ssh-script floor and the same script as one raw task (Ansible floor)
SIDES = ("shipyard", "cli", "baseline", "floor", "ansible_floor")
#: the sides that run ansible-playbook with the timing callback (their task profile can be kept)
PLAYBOOK_SIDES = ("shipyard", "baseline", "ansible_floor")
PHASES = ("first", "noop", "upgrade")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Config:
    """One benchmark run."""

    mode: str  # quick | full
    lab: str
    reps: int
    instances: tuple[int, ...]  # multi matrix: instances per host
    hosts: tuple[int, ...]  # multi matrix: hosts
    api_instances: int
    api_reps: int
    scale_instances: tuple[int, ...]  # scaling curve: instances per host (on 1 host)
    scale_hosts: tuple[int, ...]  # scaling curve: hosts (at scale_hosts_instances each)
    scale_hosts_instances: int
    scale_reps: int
    bake_reps: int
    hit_reps: int
    lambda_reps: int
    parts: tuple[str, ...]
    out: Path
    work: Path
    keep_lab: bool = False
    profile: bool = True
    note: str = ""
    render_only: bool = False
    max_minutes: float = 0.0
    lab_hosts: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        need = (
            max([*self.hosts, *self.scale_hosts, 1])
            if ("multi" in self.parts or "scaling" in self.parts)
            else 1
        )
        object.__setattr__(self, "lab_hosts", need)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="shipyard's benchmarks: multi vs a plain role and a floor, API overhead, bake, "
        "lambda packaging, scaling. Needs root (it brings up its own lab).",
    )
    p.add_argument("--quick", action="store_true", help="small matrix for CI (about 4-5 minutes)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per cell (default 2, quick 1)")
    p.add_argument("--lab", default="bench", help="lab name (default: bench)")
    p.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)} (default: all)"
    )
    p.add_argument(
        "--out", type=Path, default=HERE, help="where RESULTS.md and the PNGs go (default: bench/)"
    )
    p.add_argument("--work", type=Path, default=HERE / ".work", help="scratch dir (default: bench/.work)")
    p.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end (for debugging)")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="no lab, no measuring: rewrite RESULTS.md and the plots from the work dir's results.json",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="start no new cell after this many minutes (0: no limit); RESULTS.md lists what was skipped",
    )
    p.add_argument(
        "--no-profile", action="store_true", help="leave the task profile section out of RESULTS.md"
    )
    p.add_argument(
        "--note", default="", help="a remark printed at the top of RESULTS.md (e.g. about the machine)"
    )
    return p


def parse(argv: list[str] | None = None) -> Config:
    """Parse argv into a Config; exits 2 (argparse) on bad input."""
    p = parser()
    a = p.parse_args(argv)
    # --out and --work are made absolute below: the playbooks run in other working
    # directories, where a relative inventory or vars file would not be found
    given = [x.strip() for x in a.parts.split(",") if x.strip()]
    parts = tuple(x for x in RUN_ORDER if x in given)
    bad = [x for x in given if x not in PARTS]
    if bad or not parts:
        p.error(f"--parts: {','.join(bad) or '(empty)'} is not a part: use a subset of {','.join(PARTS)}")
    if a.max_minutes < 0:
        p.error(f"--max-minutes: {a.max_minutes} is negative: use 0 (no limit) or more")
    if a.reps is not None and not 1 <= a.reps <= 20:
        p.error(f"--reps: {a.reps} is out of range: use 1..20")
    if a.quick:
        reps = a.reps or 1
        return Config(
            mode="quick",
            lab=a.lab,
            reps=reps,
            # 1 and 3 hosts as in the targets; 4 instances stand in for 32
            instances=(1, 4),
            hosts=(1, 3),
            api_instances=8,
            api_reps=1,
            scale_instances=(1, 2, 4),
            scale_hosts=(1, 2),
            scale_hosts_instances=2,
            scale_reps=reps,
            bake_reps=0,
            hit_reps=3,
            lambda_reps=1,
            parts=parts,
            out=a.out.resolve(),
            work=a.work.resolve(),
            keep_lab=a.keep_lab,
            profile=not a.no_profile,
            note=a.note,
            render_only=a.render_only,
            max_minutes=a.max_minutes,
        )
    reps = a.reps or 2
    return Config(
        mode="full",
        lab=a.lab,
        reps=reps,
        instances=(1, 8, 32),
        hosts=(1, 3),
        api_instances=8,
        api_reps=max(reps, 3),
        scale_instances=(1, 2, 4, 8, 16, 32, 64),
        scale_hosts=(1, 2, 3, 4),
        scale_hosts_instances=8,
        scale_reps=1,
        bake_reps=reps,
        hit_reps=5,
        lambda_reps=max(reps, 3),
        parts=parts,
        out=a.out.resolve(),
        work=a.work.resolve(),
        keep_lab=a.keep_lab,
        profile=not a.no_profile,
        note=a.note,
        render_only=a.render_only,
        max_minutes=a.max_minutes,
    )
