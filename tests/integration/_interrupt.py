"""SIGKILL of the controller and of the host-side converge mid-deploy, shared by test_interrupt_*.py.

The controller is the ``shipyard deploy`` process and everything under it (ansible-runner's
``ansible-playbook``, its workers, their ssh clients); the tree is frozen and then all of it
gets SIGKILL. Each point is reached deterministically: a watcher loop runs on the first lab
host itself and, the moment the host reaches the state, freezes the converge module there
(SIGSTOP; a host module runs as a bare ``/usr/bin/python3`` reading its code from the pipe);
the controller's kill follows at once, and after the killed run's lease has been seen the
frozen module gets SIGKILL too. The whole host state converges in one module call, which would
otherwise finish on its own after its controller died: freezing and killing it leaves the host
exactly at the point (a half-unpacked release, a switched link, half the instances restarted).
The service rolls one host at a time (``serial: 1``), so the second host is still untouched
when the first one is interrupted.

After each kill: every instance on both hosts answers; a rerun converges (changed > 0, every
instance on the new release), and the run after it changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _relia import make_spec, ssh, version_at

from shipyard import api
from shipyard.lab import Lab, LabStatus

INSTANCES = 4
HOSTS = "lab[0:1]"  # the first two lab hosts
WATCH_SECONDS = 240
#: the command line of the converge on a host (a pkill -f regex): the lean runner's
#: ``python3 -c BOOTSTRAP``, or a pipelined Ansible module's bare ``python3``; the instances run
#: ``python3 server.py ...`` and never match
MODULE_PROCESS = "^/usr/bin/python3( -c |$)"
#: freezes every host module now and any that starts until THAW_BY_KILL (at "during-copy" the
#: converge's second call, which installs the copied artifact, has not started yet); the loop
#: ends by itself after FREEZE_SECONDS, so a test that fails before its thaw leaves no freezer
FREEZE_SECONDS = 120
FREEZE = (
    "setsid sh -c 'echo $$ > /run/shipyard-test-freezer.pid; "
    f"end=$(($(date +%s)+{FREEZE_SECONDS})); "
    f'while [ $(date +%s) -lt $end ]; do pkill -STOP -f "{MODULE_PROCESS}"; sleep 0.005; done\' '
    ">/dev/null 2>&1 </dev/null & "
    f"until [ -s /run/shipyard-test-freezer.pid ]; do sleep 0.005; done; pkill -STOP -f '{MODULE_PROCESS}'; true"
)
#: ends the freezer and SIGKILLs the frozen modules (the kernel drops their flocks)
THAW_BY_KILL = (
    "[ -s /run/shipyard-test-freezer.pid ] && kill $(cat /run/shipyard-test-freezer.pid); "
    "rm -f /run/shipyard-test-freezer.pid; "
    f"pkill -KILL -f '{MODULE_PROCESS}'; true"
)
ROLLOUT = {"serial": 1, "max_fail_percentage": 0, "max_unavailable": 1}


def condition(point: str, name: str, base: int, version: str) -> str:
    """A shell test that is true once the host reaches ``point`` of a deploy of ``version``."""
    home = f"/opt/shipyard/{name}"
    release = f"{home}/releases/{version}"
    if point == "during-copy":  # the new release's artifact is on the host, not installed yet
        return f"ls /root/.ansible/tmp/*/{name}.artifact >/dev/null 2>&1 && [ ! -e {release}/.shipyard-release.json ]"
    if point == "after-switch":  # service_instances has just moved the link
        return f'[ "$(readlink {home}/current)" = {release} ]'
    if point == "mid-restarts":  # some instances run the new release, some still the old one
        cwds = " ".join(
            f'"$(readlink /proc/$(systemctl show -p MainPID --value shipyard-{name}@{p}.service)/cwd)"'
            for p in range(base, base + INSTANCES)
        )
        return (
            f'n=0; for c in {cwds}; do [ "$c" = {release} ] && n=$((n+1)); done; '
            f"[ $n -ge 1 ] && [ $n -lt {INSTANCES} ]"
        )
    raise ValueError(point)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def kill_controller(proc: subprocess.Popen[bytes]) -> None:
    """Freeze the process tree under ``proc`` (SIGSTOP until nothing new appears), then SIGKILL it."""
    stopped: set[int] = set()
    for _ in range(50):
        tree = set(descendants(proc.pid)) - stopped
        if not tree:
            break
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= tree
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def all_answer(lab: LabStatus, ports: list[int], seconds: float = 60) -> dict[tuple[str, int], str | None]:
    """The version every instance on both hosts answers with, polled until all answer (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        got = {(h.name, p): version_at(h.address, p) for h in lab.hosts[:2] for p in ports}
        if all(got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def deploy(spec: Path, lab: LabStatus) -> api.DeployResult:
    result = api.deploy(spec, inventory=lab.inventory, hosts=HOSTS)
    assert isinstance(result, api.DeployResult)
    return result


def start_deploy(spec: Path, lab: LabStatus, work: Path) -> subprocess.Popen[bytes]:
    argv = [str(Path(sys.executable).parent / "shipyard"), "deploy", str(spec), "-i", str(lab.inventory)]
    return subprocess.Popen(
        [*argv, "--hosts", HOSTS, "--quiet"],
        env={**os.environ, "SHIPYARD_WORK_DIR": str(work)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_at_points_and_converge(
    points: list[str], *, name: str, base: int, lab: LabStatus, lab_api: Lab, tmp: Path
) -> None:
    """From nothing to 1.0.0, then one killed upgrade per point (1 -> 2, 2 -> 1, ...), each rerun."""
    ports = list(range(base, base + INSTANCES))
    specs = {
        v: make_spec(tmp, name=name, version=v, base=base, instances=INSTANCES, rollout=ROLLOUT)
        for v in ("1.0.0", "2.0.0")
    }
    first, second = lab.hosts[0], lab.hosts[1]
    home = f"/opt/shipyard/{name}"
    assert deploy(specs["1.0.0"], lab).ok
    old = "1.0.0"
    for point in points:
        new = "2.0.0" if old == "1.0.0" else "1.0.0"
        assert set(all_answer(lab, ports).values()) == {old}
        proc = start_deploy(specs[new], lab, tmp / "work")
        try:
            watch = (
                f"end=$(($(date +%s)+{WATCH_SECONDS})); until {condition(point, name, base, new)}; "
                "do [ $(date +%s) -gt $end ] && exit 3; sleep 0.01; done; " + FREEZE
            )
            reached = lab_api.ssh(first.name, ["sh", "-c", watch], timeout=WATCH_SECONDS + 30)
        finally:
            kill_controller(proc)
        try:
            assert reached.returncode == 0, f"the deploy never reached {point}: {reached.stderr}"
            # the service still answers on every host; the second one was not touched yet
            got = all_answer(lab, ports)
            assert all(got.values()), (point, got)
            assert {got[(second.name, p)] for p in ports} == {old}, point
            # the killed run's lease is still there: the rerun breaks it at once (its holder is dead)
            assert '"pid"' in ssh(lab, first.name, ["cat", f"/run/shipyard/locks/{name}.json"])
        finally:
            # the host-side work dies where it stood (the kernel drops its flock)
            ssh(lab, first.name, ["sh", "-c", THAW_BY_KILL])

        rerun = deploy(specs[new], lab)
        assert rerun.ok, (point, rerun.failures)
        assert rerun.changed > 0, point
        assert {(i.host, i.port, i.release, i.state) for i in rerun.instances} == {
            (h.name, p, new, "active") for h in (first, second) for p in ports
        }, point
        assert set(all_answer(lab, ports).values()) == {new}, point
        again = deploy(specs[new], lab)
        assert again.ok and again.changed == 0, (point, again.hosts)
        # no half-installed or half-deleted release anywhere, no lease left behind
        for host in (first, second):
            listing = ssh(lab, host.name, ["sh", "-c", f"ls -a {home}/releases; ls /run/shipyard/locks"])
            assert ".removing-" not in listing and f"{name}.json" not in listing, (point, listing)
            for version in {"1.0.0", new}:
                manifest = f"{home}/releases/{version}/.shipyard-release.json"
                ssh(lab, host.name, ["test", "-s", manifest])
        old = new
