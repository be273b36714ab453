"""The three ways to deploy N instances of hello per host, and the helpers they share.

* shipyard: ``playbooks/deploy.yml`` (release role + the ``service_instances`` module: all
  instances of a host in one module call), run by ``ansible-playbook`` with the validated spec
  from :func:`shipyard.api.render`.
* baseline: ``bench/baseline/deploy.yml``, the plain role a user would write.
* floor: ``bench/floor/deploy.sh``, one ssh call per host, no safety.

shipyard and the baseline run with the same Ansible settings (the repository's ansible.cfg plus
:func:`shipyard.core.runner.ansible_env`: pipelining, ControlPersist, forks). The floor's ssh uses a
ControlPersist master too. Every deploy is checked afterwards (outside the timing): every
instance on every host answers ``GET /`` with the expected version.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard import api
from shipyard.core.collection import collections_path
from shipyard.core.runner import ansible_env, tool_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = ROOT / "examples" / "dist"
BASE_PORT = 9000
SERVICE = {"shipyard": "benchsvc", "baseline": "blhello", "floor": "flhello"}
VERSIONS = ("1.0.0", "2.0.0")
PLAYBOOK_TIMEOUT = 900


class BenchError(RuntimeError):
    """A deploy or a check failed: the message says which and why."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str


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
        self, book: Path, varfile: Path, hosts: list[Host], *, env: dict[str, str] | None = None
    ) -> float:
        """``ansible-playbook`` with the shared settings; its wall time in seconds."""
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
        started = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env={**self.env, **(env or {})},
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
        return elapsed

    def cleanup(self, hosts: list[Host] | None = None) -> None:
        """Remove every benchmark service from the hosts (not timed; one ssh per host)."""
        script = r"""
systemctl stop 'shipyard-*.service' 'blhello-*.service' 'flhello@*.service' 2>/dev/null || true
rm -f /etc/systemd/system/shipyard-* /etc/systemd/system/blhello-* /etc/systemd/system/flhello@* \
      /etc/systemd/system/multi-user.target.wants/shipyard-* \
      /etc/systemd/system/multi-user.target.wants/blhello-* \
      /etc/systemd/system/multi-user.target.wants/flhello@*
rm -rf /opt/shipyard /etc/shipyard /opt/blhello /opt/flhello
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

    # -- the three sides ------------------------------------------------------------------------

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
    ) -> float:
        spec = self.spec(instances, version)
        varfile = self._vars(f"shipyard-{instances}-{version}", api.render(spec))
        env = None
        if profile is not None:
            env = {
                "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "bench_profile",
                "BENCH_PROFILE_OUT": str(profile),
            }
        return self.playbook(ROOT / "playbooks" / "deploy.yml", varfile, hosts, env=env)

    def baseline(
        self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None
    ) -> float:
        doc = {
            "hello_service": SERVICE["baseline"],
            "hello_version": version,
            "hello_artifact": str(artifact(version)),
            "hello_ports": ports(instances),
            "hello_root": "/opt/blhello",
        }
        varfile = self._vars(f"baseline-{instances}-{version}", doc)
        env = None
        if profile is not None:
            env = {
                "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "bench_profile",
                "BENCH_PROFILE_OUT": str(profile),
            }
        return self.playbook(HERE / "baseline" / "deploy.yml", varfile, hosts, env=env)

    def floor(self, instances: int, version: str, hosts: list[Host], *, profile: Path | None = None) -> float:
        script = (HERE / "floor" / "deploy.sh").read_text()
        remote = ["sh", "-c", script, "floor", SERVICE["floor"], version, *map(str, ports(instances))]
        return self.on_hosts(hosts, remote, stdin=artifact(version))

    def deploy(self, side: str, instances: int, version: str, hosts: list[Host], **kw: Any) -> float:
        fn = {"shipyard": self.shipyard, "baseline": self.baseline, "floor": self.floor}[side]
        seconds: float = fn(instances, version, hosts, **kw)
        return seconds

    def close(self) -> None:
        """Stop the floor's ssh masters."""
        for sock in self._cp_dir.glob("*"):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, check=False
            )
        for sock in self._cp_dir.glob("*"):
            sock.unlink(missing_ok=True)
        self._cp_dir.rmdir()
