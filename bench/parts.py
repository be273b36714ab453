"""The measured parts. Each appends samples ``{part, side, phase, instances, hosts, rep, seconds}``
(and part-specific values) to the results; sides alternate and rotate who goes first, so the
machine's drift hits every side alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.config import PHASES, PLAYBOOK_SIDES, SIDES, Config
from bench.harness import ROOT, Bench, BenchError, Deployed, artifact, artifact_sha

Log = Callable[[str], None]
UPGRADE = {"first": "1.0.0", "noop": "1.0.0", "upgrade": "2.0.0"}


def rotate(items: tuple[str, ...] | list[str], by: int) -> list[str]:
    """``items`` rotated left by ``by`` (who goes first changes every repetition)."""
    seq = list(items)
    if not seq:
        return seq
    k = by % len(seq)
    return seq[k:] + seq[:k]


def sequence(bench: Bench, side: str, instances: int, nhosts: int, **kw: Any) -> dict[str, Deployed]:
    """Clean hosts, then first deploy, no-op rerun and upgrade to 2.0.0; seconds and remote
    calls per host, per phase."""
    hosts = bench.hosts[:nhosts]
    bench.cleanup(hosts)
    out: dict[str, Deployed] = {}
    for phase in PHASES:
        version = UPGRADE[phase]
        profile = kw.get("profile")
        done = bench.deploy(
            side,
            instances,
            version,
            hosts,
            **({"profile": profile / f"{side}-{phase}.json"} if profile else {}),
        )
        bench.verify(hosts, instances, version)
        out[phase] = done
    return out


def _remote(done: Deployed) -> str:
    """The remote calls per host of a deploy, for the log (e.g. ``1`` or ``5-6``)."""
    counts = sorted({int(c.get("remote", 0)) for c in done.calls.values()})
    if not counts:
        return "?"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def with_retry(what: str, fn: Callable[[], Any], results: dict[str, Any], log: Log) -> Any:
    """Run ``fn``; on a BenchError wait and try once more (the retry is recorded and reported).

    The shared machine sometimes fails a run for reasons outside the code measured (a host
    briefly unreachable, a checkout being edited); a second failure fails the part.
    """
    try:
        return fn()
    except BenchError as exc:
        log(f"{what} failed, retrying once in 20 s: {str(exc)[-600:]}")
        results["retries"].append({"what": what, "error": str(exc)[-600:]})
        time.sleep(20)
        return fn()


def multi(cfg: Config, bench: Bench, results: dict[str, Any], log: Log) -> None:
    """shipyard (ansible-playbook and CLI) vs baseline vs both floors over the instances x hosts
    matrix, all three phases, with every run's remote calls per host.

    With ``cfg.profile``, the task times of the first repetition of the largest 1-host cell of
    every playbook side are kept for RESULTS.md (every playbook run has the callback).
    """
    turn = 0
    big = max(cfg.instances)
    prof_dir = bench.work / "profile"
    prof_dir.mkdir(parents=True, exist_ok=True)
    # The cells the targets need first (largest, then smallest instance count), so that a time
    # budget cuts the middle of the matrix, not the target cells.
    order = {big: 0, min(cfg.instances): 1}
    cells = sorted(
        ((h, n) for h in cfg.hosts for n in cfg.instances), key=lambda c: (order.get(c[1], 2), c[0])
    )
    for rep in range(cfg.reps):
        for nhosts, n in cells:
            if bench.over_budget(results, f"multi rep {rep + 1}: {nhosts} host(s) x {n} instances"):
                continue
            for side in rotate(SIDES, turn):
                profiled = cfg.profile and rep == 0 and n == big and nhosts == 1 and side in PLAYBOOK_SIDES
                kw = {"profile": prof_dir} if profiled else {}

                def run(side: str = side, n: int = n, nhosts: int = nhosts, kw: Any = kw) -> Any:
                    return sequence(bench, side, n, nhosts, **kw)

                got = with_retry(f"multi {nhosts}h x {n} {side}", run, results, log)
                for phase, done in got.items():
                    results["samples"].append(
                        {"part": "multi", "side": side, "phase": phase, "instances": n,
                         "hosts": nhosts, "rep": rep, "seconds": round(done.seconds, 4),
                         "calls": done.calls}
                    )  # fmt: skip
                if profiled:
                    for phase in PHASES:
                        doc = json.loads((prof_dir / f"{side}-{phase}.json").read_text())
                        results["profiles"][f"{side}/{phase}"] = {
                            **doc,
                            "instances": n,
                            "hosts": 1,
                            "wall": round(got[phase].seconds, 4),
                        }
                log(f"multi rep {rep + 1}/{cfg.reps} {nhosts}h x {n}: {side} "
                    + " ".join(f"{p}={d.seconds:.2f}s/{_remote(d)}" for p, d in got.items()))  # fmt: skip
            turn += 1
            bench.checkpoint(results)


def api_overhead(cfg: Config, bench: Bench, results: dict[str, Any], log: Log) -> None:
    """The deploy playbook through shipyard.api (ansible-runner) and through the CLI vs bare
    ansible-playbook.

    All run the collection's playbook with the same variables and the same environment
    (:func:`shipyard.core.runner.ansible_env`); the phase is the no-op rerun, where a fixed overhead
    weighs most. The API call is timed in-process, as a Python caller sees it; the CLI as a new
    process (``shipyard deploy SPEC -i INVENTORY --hosts HOST -q``), as a user sees it.
    """
    from shipyard import api
    from shipyard.core.collection import playbook
    from shipyard.core.runner import ansible_env

    n = cfg.api_instances
    hosts = bench.hosts[:1]
    spec = bench.spec(n, "1.0.0")
    bench.cleanup(hosts)
    first = api.deploy(spec, inventory=bench.inventory, hosts=hosts[0].name, work_dir=bench.work / "api")
    if not first.ok:
        raise BenchError(f"api.deploy failed: {first.failures}")
    varfile = bench.work / "vars" / "api-bare.json"
    varfile.parent.mkdir(parents=True, exist_ok=True)  # api runs before multi, which makes it too
    varfile.write_text(json.dumps({**api.render(spec), "shipyard_hosts": hosts[0].name}))
    book = playbook("deploy")
    env = {**os.environ, **ansible_env()}

    def bare() -> float:
        argv = [bench.ansible_playbook, "-i", str(bench.inventory), str(book), "-e", f"@{varfile}"]
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=book.parent, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0 or "changed=0" not in proc.stdout:
            raise BenchError(
                "bare ansible-playbook no-op failed or changed something:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        return elapsed

    def through_api() -> float:
        started = time.perf_counter()
        res = api.deploy(spec, inventory=bench.inventory, hosts=hosts[0].name, work_dir=bench.work / "api")
        elapsed = time.perf_counter() - started
        if not res.ok or res.changed:
            raise BenchError(
                f"api.deploy no-op failed or changed something: {res.failures} changed={res.changed}"
            )
        return elapsed

    cli = [
        str(Path(sys.executable).parent / "shipyard"),
        "deploy",
        str(spec),
        "-i",
        str(bench.inventory),
        "--hosts",
        hosts[0].name,
        "-q",
        "--json",
    ]
    cli_env = {**os.environ, "SHIPYARD_WORK_DIR": str(bench.work / "api")}

    def through_cli() -> float:
        started = time.perf_counter()
        proc = subprocess.run(cli, cwd=ROOT, env=cli_env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = {}
        if proc.returncode != 0 or doc.get("outcome") != "ok" or doc.get("changed"):
            raise BenchError(
                f"shipyard deploy no-op failed or changed something (rc {proc.returncode}): "
                f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
            )
        return elapsed

    reps = cfg.api_reps
    run = {"api": through_api, "cli": through_cli, "bare": bare}
    for rep in range(reps):
        if rep and bench.over_budget(results, f"api rep {rep + 1}"):
            break
        for side in rotate(("api", "cli", "bare"), rep):
            seconds = run[side]()
            results["samples"].append(
                {
                    "part": "api",
                    "side": side,
                    "phase": "noop",
                    "instances": n,
                    "hosts": 1,
                    "rep": rep,
                    "seconds": round(seconds, 4),
                }
            )
            log(f"api rep {rep + 1}/{reps}: {side} no-op {seconds:.2f}s")


def scaling(cfg: Config, bench: Bench, results: dict[str, Any], log: Log) -> None:
    """shipyard's first deploy as instances per host grow (1 host) and as hosts grow.

    Points the multi matrix already measured (same cell, shipyard, first deploy) are reused;
    the others are measured here, each after a cleanup.
    """
    have = {
        (s["instances"], s["hosts"])
        for s in results["samples"]
        if s["part"] == "multi" and s["side"] == "shipyard" and s["phase"] == "first"
    }
    cells = [(n, 1) for n in cfg.scale_instances]
    cells += [
        (cfg.scale_hosts_instances, h) for h in cfg.scale_hosts if (cfg.scale_hosts_instances, h) not in cells
    ]
    for rep in range(cfg.scale_reps):
        for n, nhosts in cells:
            if (n, nhosts) in have:
                continue
            if bench.over_budget(results, f"scaling {nhosts} host(s) x {n} instances"):
                continue
            hosts = bench.hosts[:nhosts]

            def one(n: int = n, hosts: list[Any] = hosts) -> float:
                bench.cleanup(hosts)
                seconds = bench.shipyard(n, "1.0.0", hosts).seconds
                bench.verify(hosts, n, "1.0.0")
                return seconds

            seconds = with_retry(f"scaling {nhosts}h x {n}", one, results, log)
            results["samples"].append(
                {
                    "part": "scaling",
                    "side": "shipyard",
                    "phase": "first",
                    "instances": n,
                    "hosts": nhosts,
                    "rep": rep,
                    "seconds": round(seconds, 4),
                }
            )
            log(f"scaling rep {rep + 1}/{cfg.scale_reps}: {nhosts}h x {n}: {seconds:.2f}s")
    bench.cleanup()


# -- bake ---------------------------------------------------------------------------------------


def _bake_spec(bench: Bench) -> Path:
    doc = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    doc.update(
        name="benchami",
        artifact={"path": str(artifact("1.0.0")), "sha256": artifact_sha("1.0.0"), "kind": "tarball"},
        ports={"base": 9500},
    )
    doc["ami"]["launch_template"] = "shipyard-benchami"
    path = bench.work / "specs" / "benchami.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def bake(cfg: Config, bench: Bench, results: dict[str, Any], log: Log, *, endpoint: str) -> None:
    """First bake (shipyard, --force) vs bare ``packer build`` of the same template and variables;
    then the cache hit, through the CLI (a user's command) and the API (in-process)."""
    from shipyard import api
    from shipyard.core import aws
    from shipyard.strategies.ami import packer

    spec = _bake_spec(bench)
    host = bench.hosts[0].name
    captured: dict[str, Any] = {}
    real_build = packer.build

    def recording_build(template: Path, variables: Any, **kw: Any) -> Any:
        captured.update(template=template, variables=dict(variables), env=dict(kw.get("env") or {}))
        saved = bench.work / "bake" / "vars.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(variables["vars_file"], saved)
        return real_build(template, variables, **kw)

    def shipyard_bake() -> float:
        started = time.perf_counter()
        res = api.bake(spec, endpoint_url=endpoint, inventory=bench.inventory, host=host, force=True)
        elapsed = time.perf_counter() - started
        if res.cached:
            raise BenchError("a forced bake reported a cached image")
        return elapsed

    # The first shipyard bake records the template and variables the bare build reuses.
    packer.build = recording_build  # type: ignore[assignment]
    try:
        first = shipyard_bake()
    finally:
        packer.build = real_build  # type: ignore[assignment]
    results["samples"].append(
        {"part": "bake", "side": "shipyard", "phase": "first", "rep": -1, "seconds": round(first, 4)}
    )
    log(f"bake: first shipyard bake {first:.2f}s (warm-up, recorded)")
    if cfg.bake_reps:
        ec2 = aws.resolve(endpoint, region=captured["variables"]["region"]).client("ec2")
        pub = Path(str(bench.key) + ".pub").read_text()
        ec2.import_key_pair(KeyName="bench-bare", PublicKeyMaterial=pub.encode())
        bare_dir = bench.work / "bake" / "bare"
        bare_dir.mkdir(parents=True, exist_ok=True)

        def bare_build(rep: int) -> float:
            variables = dict(captured["variables"])
            variables.update(
                ssh_keypair_name="bench-bare",
                vars_file=str(bench.work / "bake" / "vars.json"),
                manifest_file=str(bare_dir / "manifest.json"),
                bake_id=f"benchbare{rep}",
                timestamp=time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"b{rep}",
            )
            argv = [str(packer.packer_path()), "build", "-machine-readable", "-color=false"]
            for key, value in sorted(variables.items()):
                argv += ["-var", f"{key}={value}"]
            argv.append(str(captured["template"]))
            started = time.perf_counter()
            proc = subprocess.run(
                argv,
                env=packer.packer_env(captured["env"]),
                cwd=bare_dir,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            if proc.returncode != 0 or ",artifact,0,id," not in proc.stdout:
                raise BenchError(f"bare packer build failed (rc {proc.returncode}): {proc.stdout[-1500:]}")
            return elapsed

        try:
            for rep in range(cfg.bake_reps):
                if rep and bench.over_budget(results, f"bake rep {rep + 1}"):
                    break
                for side in rotate(("shipyard", "packer"), rep):
                    seconds = shipyard_bake() if side == "shipyard" else bare_build(rep)
                    results["samples"].append(
                        {
                            "part": "bake",
                            "side": side,
                            "phase": "first",
                            "rep": rep,
                            "seconds": round(seconds, 4),
                        }
                    )
                    log(f"bake rep {rep + 1}/{cfg.bake_reps}: {side} {seconds:.2f}s")
        finally:
            ec2.delete_key_pair(KeyName="bench-bare")
    # Cache hits: the CLI as a user runs it (a new Python process), and the API in-process.
    cli = [
        str(Path(sys.executable).parent / "shipyard"),
        "bake",
        str(spec),
        "--json",
        "-i",
        str(bench.inventory),
        "--host",
        host,
    ]
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    for rep in range(cfg.hit_reps):
        started = time.perf_counter()
        proc = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if proc.returncode != 0 or not json.loads(proc.stdout).get("cached"):
            raise BenchError(
                f"cached bake via the CLI failed or was not a hit: {proc.stdout[-800:]}{proc.stderr[-800:]}"
            )
        results["samples"].append(
            {"part": "bake", "side": "cli", "phase": "hit", "rep": rep, "seconds": round(seconds, 4)}
        )
        started = time.perf_counter()
        res = api.bake(spec, endpoint_url=endpoint, inventory=bench.inventory, host=host)
        seconds_api = time.perf_counter() - started
        if not res.cached:
            raise BenchError("cached bake via the API was not a hit")
        results["samples"].append(
            {"part": "bake", "side": "api", "phase": "hit", "rep": rep, "seconds": round(seconds_api, 4)}
        )
        log(f"bake cache hit rep {rep + 1}/{cfg.hit_reps}: cli {seconds:.2f}s api {seconds_api:.3f}s")
    bench.cleanup(bench.hosts[:1])


# -- lambda -------------------------------------------------------------------------------------


def lambda_pkg(cfg: Config, bench: Bench, results: dict[str, Any], log: Log) -> None:
    """shipyard's package cold (empty dependency cache) and warm, and its ZIP vs ``zip -r``."""
    from shipyard.core.spec import load_spec
    from shipyard.strategies.lambda_ import package as lambda_pkg

    doc = yaml.safe_load((ROOT / "services" / "imageupload.yml").read_text())
    # the packager takes only a source inside the spec's directory: copy both beside the spec
    specs = bench.work / "specs"
    shutil.rmtree(specs / "imageupload", ignore_errors=True)
    shutil.copytree(ROOT / "services" / doc["lambda"]["source"], specs / "imageupload")
    shutil.copy(Path(__file__).resolve().parent / "lambda" / "requirements.txt", specs / "requirements.txt")
    doc["lambda"]["source"] = "imageupload"
    doc["lambda"]["requirements"] = "requirements.txt"
    spec_path = specs / "imageupload-bench.yml"
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    spec = load_spec(spec_path)
    work = bench.work / "lambda"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warm_cache = work / "cache-warm"
    result = None
    for rep in range(cfg.lambda_reps):
        for side in rotate(("cold", "warm"), rep):
            if side == "cold":
                cache = Path(tempfile.mkdtemp(prefix="cold-", dir=work))
            else:
                cache = warm_cache
                if not cache.exists():  # fill it once, untimed
                    lambda_pkg.package(spec, out_dir=work / "out", cache_dir=cache)
            started = time.perf_counter()
            result = lambda_pkg.package(spec, out_dir=work / "out", cache_dir=cache)
            seconds = time.perf_counter() - started
            if result.deps_cached != (side == "warm"):
                raise BenchError(f"lambda package {side}: deps_cached={result.deps_cached}")
            results["samples"].append(
                {"part": "lambda", "side": side, "phase": "package", "rep": rep, "seconds": round(seconds, 4)}
            )
            log(f"lambda rep {rep + 1}/{cfg.lambda_reps}: {side} {seconds:.2f}s")
    assert result is not None
    # The same tree, zipped the naive way: vendored deps + source, `zip -r`.
    tree = work / "tree"
    deps = next(p for p in warm_cache.iterdir() if (p / ".shipyard-complete").is_file())
    shutil.copytree(deps, tree)
    (tree / ".shipyard-complete").unlink()
    shutil.copytree(specs / "imageupload", tree, dirs_exist_ok=True)
    naive = work / "naive.zip"
    started = time.perf_counter()
    subprocess.run(["zip", "-q", "-r", str(naive), "."], cwd=tree, check=True)
    naive_seconds = time.perf_counter() - started
    again = lambda_pkg.package(spec, out_dir=work / "again", cache_dir=warm_cache)
    results["lambda"] = {
        "requirements": (specs / "requirements.txt").read_text().strip(),
        "files": result.files,
        "zip_bytes": result.size,
        "unzipped_bytes": result.unzipped_size,
        "naive_zip_bytes": naive.stat().st_size,
        "naive_zip_seconds": round(naive_seconds, 4),
        "reproducible": again.sha256 == result.sha256,
    }
    log(f"lambda: zip {result.size} B vs naive zip -r {naive.stat().st_size} B")
