"""The five ways to deploy N instances of hello per host, and the helpers they share.

* shipyard: ``playbooks/deploy.yml`` (one ``service_converge`` task per host: the host's whole
  desired state in one module call), run by ``ansible-playbook`` with the validated spec from
  :func:`shipyard.api.render`.
* cli: what a user types, ``shipyard deploy SPEC -i INVENTORY --hosts ... -q`` as a new process.
* baseline: ``bench/baseline/deploy.yml``, the plain role a user would write.
* floor: ``bench/floor/deploy.sh``, one ssh call per host, no safety.
* ansible_floor: ``bench/ansible_floor/deploy.yml``, the same script as ONE ``raw`` task per host
  through ``ansible-playbook``: no Ansible deploy can beat ansible-playbook's own start-up.

shipyard, the baseline and the Ansible floor run with the same Ansible settings (the repository's
ansible.cfg plus :func:`shipyard.core.runner.ansible_env`: pipelining, ControlPersist, forks) and
the same task-timing callback (``callback_plugins/bench_profile.py``, which also counts the remote
calls per host); the CLI runs with its own (the same ansible_env). The floor's ssh uses a
ControlPersist master too. Every deploy is checked afterwards (outside the timing): every
instance on every host answers ``GET /`` with the expected version.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from shipyard import api
from shipyard.core import ansible_vars
from shipyard.core.collection import collections_path
from shipyard.core.runner import ansible_env, tool_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = ROOT / "examples" / "dist"
BASE_PORT = 9000
#: every side its own service name, so that every side starts from clean hosts the same way
SERVICE = {
    "shipyard": "benchsvc",
    "cli": "clihello",
    "baseline": "blhello",
    "floor": "flhello",
    "ansible_floor": "afhello",
}
CONVERGE = "service_converge"
VERSIONS = ("1.0.0", "2.0.0")
PLAYBOOK_TIMEOUT = 900


class BenchError(RuntimeError):
    """A deploy or a check failed: the message says which and why."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str


class Deployed(NamedTuple):
    """One timed deploy: wall seconds, and what it cost on each host.

    ``calls`` maps a host to ``{"remote": N, ...}``: remote executions on that host. For shipyard
    and the CLI that is the converge's own count (``module`` calls + the artifact copy); for a
    playbook side without a converge it is the number of task results on the host (each a
    remote execution, at least: the proxy for its remote calls); for the ssh floor, 1.
    """

    seconds: float
    calls: dict[str, dict[str, Any]]


def host_calls(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Remote calls per host from a ``bench_profile`` document (see :class:`Deployed`)."""
    out: dict[str, dict[str, Any]] = {}
    for host, info in (profile.get("per_host") or {}).items():
        conv = info.get("calls")
        if conv:
            out[host] = {
                "remote": int(conv.get("remote", 0)),
                "module": int(conv.get("module", 0)),
                "copies": len(conv.get("copies") or []),
                "tasks": int(info.get("results", 0)),
            }
        else:
            out[host] = {"remote": int(info.get("results", 0)), "tasks": int(info.get("results", 0))}
    return out


def events_calls(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The converge's ``calls`` per host from an ansible-runner run directory's job events."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((run_dir / "artifacts").glob("*/job_events/*.json")):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if event.get("event") not in ("runner_on_ok", "runner_on_failed"):
            continue
        data = event.get("event_data") or {}
        conv = (data.get("res") or {}).get("calls")
        if str(data.get("task_action", "")).endswith(CONVERGE) and isinstance(conv, dict):
            out[str(data.get("host"))] = {
                "remote": int(conv.get("remote", 0)),
                "module": int(conv.get("module", 0)),
                "copies": len(conv.get("copies") or []),
            }
    return out


def artifact(version: str) -> Path:
    """The example's release tarball (built by `make examples`)."""
    path = DIST / f"hello-{version}.tar"
    if not path.is_file():
        raise BenchError(f"{path} is missing: run `make examples`")
    return path


def artifact_sha(version: str) -> str:
    return (DIST / f"hello-{version}.tar.sha256").read_text().split()[0]


def failure_lines(output: str, limit: int = 1500) -> str:
    """The lines of ansible-playbook output that say what failed (else its tail)."""
    lines = output.splitlines()
    keep = [
        i for i, ln in enumerate(lines) if ln.startswith(("fatal:", "[ERROR]", "ERROR!")) or "FAILED!" in ln
    ]
    if not keep:
        return output[-limit:]
    picked: list[str] = []
    for i in keep[:3]:
        picked += lines[i : i + 4]
    return "\n".join(picked)[:limit]


def ports(instances: int) -> list[int]:
    return list(range(BASE_PORT, BASE_PORT + instances))


class Bench:
    """The lab the benchmark runs on, and the ways to deploy to it."""

    def __init__(self, *, inventory: Path, hosts: list[Host], key: Path, work: Path) -> None:
        self.inventory = inventory
        self.hosts = hosts
        self.key = key
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        # ssh's ControlPath must stay short (108 bytes): a dir under /tmp, not under the checkout.
        self._cp_dir = Path(tempfile.mkdtemp(prefix="bench-cp-"))
        self.env = {
            **os.environ,
            **ansible_env(),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        }
        self.ansible_playbook = str(tool_path("ansible-playbook"))
        #: time.monotonic() after which no new cell starts (None: no budget)
        self.deadline: float | None = None

    def over_budget(self, results: dict[str, Any], what: str) -> bool:
        """True (and ``what`` recorded as skipped) once the time budget is spent."""
        if self.deadline is None or time.monotonic() < self.deadline:
            return False
        results["skipped"].append(what)
        return True

    def checkpoint(self, results: dict[str, Any]) -> None:
        """Save the samples so far (results.json in the work dir), so nothing measured is lost."""
        path = self.work / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, default=str))
        tmp.replace(path)

    # -- plumbing ---------------------------------------------------------------------------

    def ssh_argv(self, host: Host, remote: list[str]) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.key),
            # the lab's known_hosts (beside its key): only the host keys the lab made are trusted
            "-o",
            f"UserKnownHostsFile={self.key.with_name('known_hosts')}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60s",
            "-o",
            f"ControlPath={self._cp_dir}/%C",
            f"root@{host.address}",
            shlex.join(remote),
        ]

    def on_hosts(
        self, hosts: list[Host], remote: list[str], stdin: Path | None = None, timeout: float = 300
    ) -> float:
        """Run ``remote`` on every host at once (one ssh each); seconds until the last ends."""

        def one(host: Host) -> subprocess.CompletedProcess[bytes]:
            with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fh:
                return subprocess.run(
                    self.ssh_argv(host, remote), stdin=fh, capture_output=True, timeout=timeout, check=False
                )

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            procs = list(pool.map(one, hosts))
        elapsed = time.perf_counter() - started
        for host, proc in zip(hosts, procs, strict=True):
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace")[-800:]
                raise BenchError(f"{host.name}: {remote[0]} ... exited {proc.returncode}: {err}")
        return elapsed

    def playbook(
        self, book: Path, varfile: Path, hosts: list[Host], *, profile: Path | None = None
    ) -> tuple[float, dict[str, Any]]:
        """``ansible-playbook`` with the shared settings and the timing callback.

        Returns its wall time in seconds and the callback's document (task times, results and
        converge calls per host), which is also kept at ``profile`` when given.
        """
        argv = [
            self.ansible_playbook,
            "-i",
            str(self.inventory),
            "-l",
            ",".join(h.name for h in hosts),
            str(book),
            "-e",
            f"@{varfile}",
        ]
        out = profile or self.work / "profile" / "last.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        env = {
            **self.env,
            # every playbook side runs with the callback (it only reads the clock and counts
            # results), so every side pays for it alike
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_profile",
            "BENCH_PROFILE_OUT": str(out),
        }
        started = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=PLAYBOOK_TIMEOUT,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise BenchError(
                f"{book.name} failed (rc {proc.returncode}): {failure_lines(proc.stdout + proc.stderr)}"
            )
        try:
            doc: dict[str, Any] = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"{book.name}: the bench_profile callback wrote no {out}: {exc}") from exc
        return elapsed, doc

    def cleanup(self, hosts: list[Host] | None = None) -> None:
        """Remove every benchmark service from the hosts (not timed; one ssh per host)."""
        script = r"""
systemctl stop 'shipyard-*.service' 'blhello-*.service' 'flhello@*.service' 'afhello@*.service' \
  2>/dev/null || true
rm -f /etc/systemd/system/shipyard-* /etc/systemd/system/blhello-* /etc/systemd/system/flhello@* \
      /etc/systemd/system/afhello@* \
      /etc/systemd/system/multi-user.target.wants/shipyard-* \
      /etc/systemd/system/multi-user.target.wants/blhello-* \
      /etc/systemd/system/multi-user.target.wants/flhello@* \
      /etc/systemd/system/multi-user.target.wants/afhello@*
rm -rf /opt/shipyard /etc/shipyard /opt/blhello /opt/flhello /opt/afhello
systemctl daemon-reload
systemctl reset-failed 2>/dev/null || true
"""
        self.on_hosts(hosts or self.hosts, ["sh", "-c", script])

    def verify(self, hosts: list[Host], instances: int, version: str) -> None:
        """Every instance on every host answers GET / with ``version`` (raises BenchError)."""
        code = (
            "import json,sys,urllib.request\n"
            "bad=[]\n"
            "for p in sys.argv[2:]:\n"
            "    try:\n"
            "        with urllib.request.urlopen(f'http://127.0.0.1:{p}/', timeout=5) as r:\n"
            "            v=json.load(r).get('version')\n"
            "    except OSError as e:\n"
            "        v=repr(e)\n"
            "    if v!=sys.argv[1]: bad.append((p,v))\n"
            "sys.exit(f'wrong or missing: {bad}' if bad else 0)\n"
        )
        self.on_hosts(hosts, ["python3", "-c", code, version, *map(str, ports(instances))])

    # -- the five sides ------------------------------------------------------------------------

    def spec(self, instances: int, version: str, *, name: str = SERVICE["shipyard"]) -> Path:
        """A service spec for hello with ``instances`` instances (written under the work dir)."""
        doc = {
            "name": name,
            "version": version,
            "artifact": {"path": str(artifact(version)), "sha256": artifact_sha(version), "kind": "tarball"},
            "command": "/usr/bin/python3 server.py --port {port}",
            "instances": instances,
            "ports": {"base": BASE_PORT},
            "env": {"GREETING": "hello from the benchmark"},
            "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
            "health": {"path": "/health", "timeout": 2, "interval": 0.1, "start_timeout": 60},
            "keep_releases": 3,
        }
        path = self.work / "specs" / f"{name}-{instances}-{version}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def _vars(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.work / "vars" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return path

    def shipyard(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> Deployed:
        spec = self.spec(instances, version)
        varfile = self._vars(f"shipyard-{instances}-{version}", api.render(spec))
        seconds, doc = self.playbook(ROOT / "playbooks" / "deploy.yml", varfile, hosts, profile=profile)
        return Deployed(seconds, host_calls(doc))

    def cli(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> Deployed:
        """``shipyard deploy SPEC -i INVENTORY --hosts h1,h2 -q --json``: a user's command.

        ``--json`` gives the run directory, whose job events hold the converge's calls per host.
        """
        spec = self.spec(instances, version, name=SERVICE["cli"])
        argv = [
            str(Path(sys.executable).parent / "shipyard"),
            "deploy",
            str(spec),
            "-i",
            str(self.inventory),
            "--hosts",
            ",".join(h.name for h in hosts),
            "-q",
            "--json",
        ]
        env = {**os.environ, "SHIPYARD_WORK_DIR": str(self.work / "cli")}
        started = time.perf_counter()
        proc = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False
        )
        elapsed = time.perf_counter() - started
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = {}
        if proc.returncode != 0 or doc.get("outcome") != "ok":
            raise BenchError(
                f"shipyard deploy failed (rc {proc.returncode}): {json.dumps(doc.get('failures'))[:800]} "
                f"{proc.stderr[-800:]}"
            )
        return Deployed(elapsed, events_calls(Path(doc["run_dir"])) if doc.get("run_dir") else {})

    def baseline(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> Deployed:
        doc = {
            "hello_service": SERVICE["baseline"],
            "hello_version": version,
            "hello_artifact": str(artifact(version)),
            "hello_ports": ports(instances),
            "hello_root": "/opt/blhello",
        }
        varfile = self._vars(f"baseline-{instances}-{version}", doc)
        seconds, prof = self.playbook(HERE / "baseline" / "deploy.yml", varfile, hosts, profile=profile)
        return Deployed(seconds, host_calls(prof))

    def floor_command(self, service: str, instances: int, version: str) -> list[str]:
        """The floor's remote argv (the release tarball goes to its stdin)."""
        script = (HERE / "floor" / "deploy.sh").read_text()
        return ["sh", "-c", script, "floor", service, version, *map(str, ports(instances))]

    def floor(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> Deployed:
        remote = self.floor_command(SERVICE["floor"], instances, version)
        seconds = self.on_hosts(hosts, remote, stdin=artifact(version))
        return Deployed(seconds, {h.name: {"remote": 1} for h in hosts})

    def ansible_floor(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> Deployed:
        """The floor's script as one ``raw`` task per host through ansible-playbook.

        raw sends no stdin: the 10 KB tarball travels base64 inside the command
        (``printf %s B64 | base64 -d | sh -c SCRIPT floor SVC VER PORT...``); the command is
        handed to Ansible as ``!unsafe`` data, never templated.
        """
        b64 = base64.b64encode(artifact(version).read_bytes()).decode()
        remote = self.floor_command(SERVICE["ansible_floor"], instances, version)
        command = f"printf %s {b64} | base64 -d | {shlex.join(remote)}"
        varfile = self.work / "vars" / f"ansible_floor-{instances}-{version}.yml"
        varfile.parent.mkdir(parents=True, exist_ok=True)
        ansible_vars.write(varfile, {"floor_command": command})
        seconds, prof = self.playbook(HERE / "ansible_floor" / "deploy.yml", varfile, hosts, profile=profile)
        return Deployed(seconds, host_calls(prof))

    def deploy(self, side: str, instances: int, version: str, hosts: list[Host], **kw: Any) -> Deployed:
        fn = {
            "shipyard": self.shipyard,
            "cli": self.cli,
            "baseline": self.baseline,
            "floor": self.floor,
            "ansible_floor": self.ansible_floor,
        }[side]
        done: Deployed = fn(instances, version, hosts, **kw)
        return done

    def close(self) -> None:
        """Stop the floor's ssh masters."""
        for sock in self._cp_dir.glob("*"):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, check=False
            )
        for sock in self._cp_dir.glob("*"):
            sock.unlink(missing_ok=True)
        self._cp_dir.rmdir()
