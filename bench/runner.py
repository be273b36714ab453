"""``python -m bench``: bring up the lab, run the parts, write RESULTS.md and the plots, take the
lab down (also on error and on Ctrl-C / SIGTERM)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench import parts, plots, report
from bench.config import Config, parse
from bench.harness import DIST, ROOT, Bench, Host

EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 1, 4, 130


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def meta() -> dict[str, Any]:
    """The machine and the code the numbers come from."""
    import ansible.release

    from shipyard.strategies.ami import packer

    try:
        pv = subprocess.run(
            [str(packer.packer_path()), "version"], capture_output=True, text=True, check=False
        )
        packer_version = pv.stdout.strip().splitlines()[0] if pv.stdout.strip() else "packer ?"
    except Exception:
        packer_version = "packer missing"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "load_start": _load(),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "ansible": ansible.release.__version__,
        "python": platform.python_version(),
        "packer": packer_version,
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write(cfg: Config, results: dict[str, Any]) -> Path:
    """results.json (work dir), the plots and RESULTS.md (out dir)."""
    cfg.work.mkdir(parents=True, exist_ok=True)
    (cfg.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    cfg.out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    try:
        names = plots.make(results, cfg.out)
    except Exception as exc:  # the tables still matter without plots
        results["errors"].append({"part": "plots", "error": f"{type(exc).__name__}: {exc}"})
    path = cfg.out / "RESULTS.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(report.render(results, names))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    if cfg.render_only:
        saved = cfg.work / "results.json"
        if not saved.is_file():
            log(f"--render-only: {saved} does not exist: run the benchmark first")
            return 2
        results = json.loads(saved.read_text())
        results["errors"] = [e for e in results["errors"] if e["part"] != "plots"]
        log(f"wrote {write(cfg, results)} from {saved}")
        return 0
    if os.geteuid() != 0:
        log("the benchmark brings up its own lab and needs root: run it as root (sudo make bench)")
        return EXIT_SETUP
    from shipyard.core.errors import ShipyardError
    from shipyard.lab import Lab

    if not all((DIST / f"hello-{v}.tar").is_file() for v in ("1.0.0", "2.0.0")):
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "build.py")], check=True, stdout=subprocess.DEVNULL
        )
    started = time.monotonic()
    results: dict[str, Any] = {
        "meta": {**meta(), "note": cfg.note},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()},
        "samples": [],
        "profiles": {},
        "errors": [],
        "retries": [],
        "skipped": [],
    }
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        lab = Lab(cfg.lab, progress=lambda event: log(event.message))
    except ShipyardError as exc:
        log(f"--lab: {exc}")
        return 2
    bench: Bench | None = None
    interrupted = False
    try:
        log(f"mode {cfg.mode}: lab {cfg.lab!r} with {cfg.lab_hosts} host(s), parts {','.join(cfg.parts)}")
        lab.down()  # what an interrupted run left
        cfg.work.mkdir(parents=True, exist_ok=True)
        status = lab.up(cfg.lab_hosts, inventory=cfg.work / "inventory.yml", aws="bake" in cfg.parts)
        assert status.inventory is not None and status.ssh_key is not None
        bench = Bench(
            inventory=status.inventory,
            hosts=[Host(h.name, h.address) for h in status.hosts],
            key=status.ssh_key,
            work=cfg.work,
        )
        steps = {
            "multi": lambda: parts.multi(cfg, bench, results, log),
            "api": lambda: parts.api_overhead(cfg, bench, results, log),
            "scaling": lambda: parts.scaling(cfg, bench, results, log),
            "bake": lambda: parts.bake(cfg, bench, results, log, endpoint=str(status.aws_endpoint)),
            "lambda": lambda: parts.lambda_pkg(cfg, bench, results, log),
        }
        if cfg.max_minutes:
            bench.deadline = started + cfg.max_minutes * 60
        for name in cfg.parts:
            log(f"part {name}")
            try:
                steps[name]()
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                log(f"part {name} failed: {exc}\n{traceback.format_exc()}")
                results["errors"].append({"part": name, "error": f"{type(exc).__name__}: {str(exc)[-1500:]}"})
                try:
                    bench.cleanup()
                except Exception as again:
                    log(f"cleanup after {name} failed too: {again}")
            bench.checkpoint(results)
    except KeyboardInterrupt:
        interrupted = True
    except ShipyardError as exc:
        log(f"setup failed: {exc}")
        return EXIT_SETUP
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # do not interrupt the teardown
        if bench is not None:
            bench.close()
        if cfg.keep_lab:
            log(f"lab {cfg.lab!r} left up (--keep-lab): `shipyard lab down --name {cfg.lab}`")
        else:
            try:
                lab.down()
            except Exception as exc:
                log(f"lab down failed: {exc}: run `shipyard lab down --name {cfg.lab}`")
        signal.signal(signal.SIGTERM, old)
    results["meta"]["load_end"] = _load()
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    if interrupted:
        results["meta"]["interrupted"] = True
        if not results["samples"]:
            log("interrupted before anything was measured: RESULTS.md is left as it was")
            return EXIT_INTERRUPTED
    path = write(cfg, results)
    minutes = results["meta"]["duration_s"] / 60
    log(f"wrote {path} ({minutes:.1f} min){' (partial: interrupted)' if interrupted else ''}")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if results["errors"] else 0
