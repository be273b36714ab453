"""The local lab: N Debian hosts booted with systemd-nspawn on one bridge, plus a moto server.

See ``/work/shared/LAB-FACTS.md`` for the verified recipe (cgroup delegation, nspawn flags) and
``docs/internals.md`` for the contract. Every kernel object is named from the lab, so several
labs with different names can be up at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard.core import sysutil as _sys
from shipyard.core.errors import OperationError, SetupError, ShipyardError
from shipyard.core.fsutil import atomic_write
from shipyard.core.progress import ProgressCallback, say
from shipyard.core.rootfs import ensure_base
from shipyard.lab._model import (
    KNOWN_HOSTS,
    NAME_RE,
    HostState,
    LabState,
    bridge_address,
    bridge_name,
    host_address,
    host_name,
    netns_name,
    pick_subnet,
    render_inventory,
    render_known_hosts,
    ssh_common_args,
    state_path,
    subnets_in_addresses,
    validate_hosts,
    validate_name,
    veth_name,
)

log = logging.getLogger("shipyard.lab")

#: Where lab state lives (one dir per lab).
DEFAULT_STATE_ROOT = Path("/var/lib/shipyard/labs")
#: Where the base root is cached.
DEFAULT_CACHE_DIR = Path("/var/cache/shipyard")
#: Seconds a host may take from nspawn start to ``systemctl is-system-running``.
BOOT_TIMEOUT = 120.0
#: Seconds a host gets for a clean poweroff after SIGTERM.
STOP_TIMEOUT = 10.0
MOTO_TIMEOUT = 30.0
#: The image registry's port on the lab's bridge address (each lab has its own address).
REGISTRY_PORT = 5000
REGISTRY_TIMEOUT = 30.0
_SSH_OPTS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=5",
)


@dataclass(frozen=True)
class HostStatus:
    """One lab host as it is now.

    Attributes:
        name: ``<lab>-h<n>`` (inventory name and hostname).
        address: its IPv4 address on the lab bridge.
        up: its systemd-nspawn process runs.
        ssh_ok: a command over SSH with the lab key works.
        pid: the systemd-nspawn PID, if one was started.
    """

    name: str
    address: str
    up: bool
    ssh_ok: bool
    pid: int | None


@dataclass(frozen=True)
class LabStatus:
    """A lab as it is now.

    Attributes:
        name: lab name.
        up: every host is up and answers SSH, and moto runs (when asked for).
        hosts: per-host status.
        aws_endpoint: the moto server URL, if the lab has one.
        inventory: the Ansible inventory written by ``up()``, if any.
        state_dir: the lab's state dir.
        ssh_key: the lab's private key, if made.
        registry: the image registry ``address:port`` (plain HTTP on the lab bridge), if any.
        known_hosts: the lab's known_hosts (each host's real key), which the inventory and
            ``Lab.ssh`` trust exclusively.
    """

    name: str
    up: bool
    hosts: tuple[HostStatus, ...]
    aws_endpoint: str | None
    inventory: Path | None
    state_dir: Path
    ssh_key: Path | None
    registry: str | None = None
    known_hosts: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready dict (paths as strings)."""
        return {
            "name": self.name,
            "up": self.up,
            "hosts": [asdict(h) for h in self.hosts],
            "aws_endpoint": self.aws_endpoint,
            "inventory": str(self.inventory) if self.inventory else None,
            "state_dir": str(self.state_dir),
            "ssh_key": str(self.ssh_key) if self.ssh_key else None,
            "registry": self.registry,
            "known_hosts": str(self.known_hosts) if self.known_hosts else None,
        }


def list_labs(state_root: Path = DEFAULT_STATE_ROOT) -> list[str]:
    """Names of the labs that have state under ``state_root`` (sorted)."""
    root = Path(state_root)
    names: list[str] = []
    with contextlib.suppress(OSError):
        for d in root.iterdir():
            with contextlib.suppress(OSError):
                if NAME_RE.fullmatch(d.name) and (d / "state.json").is_file():
                    names.append(d.name)
    return sorted(names)


class Lab:
    """A named local lab.

    Args:
        name: lab name, ``[a-z][a-z0-9]{0,7}``.
        state_root: dir holding one state dir per lab.
        cache_dir: where the base root is cached.
        progress: called with one line per step.

    Raises:
        SpecError: the name is invalid (field ``name``).
    """

    def __init__(
        self,
        name: str = "default",
        *,
        state_root: Path = DEFAULT_STATE_ROOT,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.name = validate_name(name)
        self.state_root = Path(state_root)
        self.cache_dir = Path(cache_dir)
        self.state_dir = self.state_root / self.name
        self._progress = progress
        self._save_lock = threading.Lock()
        self._known_hosts_lock = threading.Lock()
        self._tools: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Lab(name={self.name!r}, state_root={str(self.state_root)!r})"

    # --- public API ------------------------------------------------------------------------

    def up(
        self,
        hosts: int,
        *,
        inventory: Path | None = None,
        aws: bool = True,
        net_admin: bool = False,
    ) -> LabStatus:
        """Bring the lab up: ``hosts`` booted hosts, a moto server, an image registry, an inventory.

        Args:
            hosts: number of hosts (1..32).
            inventory: where to write the Ansible inventory (YAML), if anywhere.
            aws: start a moto server.
            net_admin: give hosts CAP_NET_ADMIN (for containers with their own netns inside).

        Returns:
            The status of the lab, up.

        Raises:
            SpecError: bad host count.
            SetupError: not root, or a tool or moto is missing.
            ShipyardError: the lab is already up.
            OperationError: a step failed (what was made is removed again).
        """
        validate_hosts(hosts)
        _sys.require_root()
        self._tools = _sys.find_tools()
        moto_bin = _find_moto() if aws else None
        with _sys.flocked(self._lab_lock_path()):
            if self._load_quiet() is not None or self._leftovers():
                current = self._status()
                if current.up:
                    listing = ", ".join(f"{h.name} {h.address}" for h in current.hosts)
                    raise ShipyardError(
                        f"lab {self.name!r} is already up ({listing}): "
                        f"run `shipyard lab down --name {self.name}` first"
                    )
                self._say(f"lab {self.name}: cleaning what a crashed or half-made run left")
                self._down()
            base = ensure_base(self.cache_dir, self._tools, self._progress)
            state = self._allocate(hosts, aws=aws, net_admin=net_admin)
            try:
                self._build(state, base, moto_bin, inventory)
            except BaseException:
                self._say(f"lab {self.name}: up failed, removing what was made")
                with contextlib.suppress(Exception):
                    self._down()
                raise
            return self._status()

    def status(self) -> LabStatus:
        """The lab as it is now (hosts, SSH, moto). A lab without state is reported down."""
        return self._status()

    def down(self) -> None:
        """Stop and remove everything of the lab. Idempotent; cleans a crashed lab too.

        Raises:
            SetupError: not root.
        """
        _sys.require_root()
        self._tools = _sys.find_tools()
        with _sys.flocked(self._lab_lock_path()):
            self._down()

    def stop_host(self, host: str) -> None:
        """Power one host off (as a machine that goes down); its disk and network stay for start_host.

        Args:
            host: ``<lab>-h<n>``, ``h<n>``, ``<n>`` or the host's address.

        Raises:
            SetupError: not root, or the lab is not up or has no such host.
        """
        _sys.require_root()
        self._tools = _sys.find_tools()
        with _sys.flocked(self._lab_lock_path()):
            state, target = self._host_state(host)
            if target.pid is not None:
                _stop(target.pid, lambda p: _sys.is_nspawn(p, target.name), STOP_TIMEOUT)
            for path in target.cgroups:  # anything left in the host's cgroups is the host's
                for pid in _sys.cgroup_pids(Path(path)):
                    _sys.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                shutil.rmtree(Path("/run/systemd/nspawn/propagate") / target.name)
            target.pid = None
            self._save(state)
            self._say(f"lab {self.name}: {target.name} stopped")

    def start_host(self, host: str) -> None:
        """Boot a host that stop_host stopped (its files kept; /run is fresh, as after a reboot).

        Raises:
            SetupError: not root, or the lab is not up or has no such host.
            OperationError: the host did not boot.
        """
        _sys.require_root()
        self._tools = _sys.find_tools()
        with _sys.flocked(self._lab_lock_path()):
            state, target = self._host_state(host)
            if target.pid is not None and _sys.is_nspawn(target.pid, target.name):
                return
            if not target.host_key or not state.known_hosts:
                raise SetupError(
                    f"lab {self.name!r} recorded no host key for {target.name}: "
                    f"run `shipyard lab down --name {self.name}` and bring it up again"
                )
            # the host keeps its key (it lives on its overlay); known_hosts is rewritten from the
            # key the lab recorded when it made it, never from what answers at the address
            self._write_known_hosts(state)
            self._boot_host(state, target, _sys.cgroup_hierarchies())
            self._say(f"lab {self.name}: {target.name} up at {target.address}")

    def _host_state(self, host: str) -> tuple[LabState, HostState]:
        state = self._load_quiet()
        if state is None:
            raise SetupError(f"lab {self.name!r} is not up: run `shipyard lab up --name {self.name}`")
        return state, self._find_host(state, host)

    def ssh(self, host: str, argv: list[str], *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command on a lab host over SSH with the lab key.

        Args:
            host: ``<lab>-h<n>``, ``h<n>``, ``<n>`` or the host's address.
            argv: the command; joined with ``shlex.join`` for the remote shell.
            timeout: seconds; a command that takes longer gets rc 124.

        Returns:
            The completed ssh process (stdout and stderr as text); not checked.

        Raises:
            SetupError: the lab is not up or has no such host.
        """
        state = self._load_quiet()
        if state is None or not state.ssh_key or not state.known_hosts:
            raise SetupError(f"lab {self.name!r} is not up: run `shipyard lab up --name {self.name}`")
        target = self._find_host(state, host)
        return _ssh(state.ssh_key, state.known_hosts, target.address, argv, timeout=timeout)

    # --- up --------------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        log.info("%s", message)
        say(self._progress, message)

    def _lab_lock_path(self) -> Path:
        self.state_root.mkdir(parents=True, exist_ok=True, mode=0o755)
        return self.state_root / f".{self.name}.lock"

    def _allocate(self, hosts: int, *, aws: bool, net_admin: bool) -> LabState:
        """Pick a free subnet (under the state-root lock) and write the first state."""
        with _sys.flocked(self.state_root / ".lock"):
            taken = subnets_in_addresses(_sys.ipv4_addresses(self._tools["ip"]))
            for other in list_labs(self.state_root):
                if other == self.name:
                    continue
                with contextlib.suppress(OSError, ShipyardError):
                    text = state_path(self.state_root, other).read_text(encoding="utf-8")
                    taken.add(LabState.from_json(text).subnet)
            subnet = pick_subnet(taken)
            self.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            (self.state_dir / "hosts").mkdir(mode=0o700, exist_ok=True)
            state = LabState(name=self.name, subnet=subnet, aws=aws, net_admin=net_admin)
            state.hosts = [
                HostState(
                    index=i,
                    name=host_name(self.name, i),
                    address=host_address(subnet, i),
                    dir=str(self.state_dir / "hosts" / str(i)),
                )
                for i in range(1, hosts + 1)
            ]
            # the bridge (with its address) is made under the lock too, so a lab under another
            # state root sees the subnet as taken from the machine's addresses
            ip = self._tools["ip"]
            state.bridge = bridge_name(self.name)
            self._save(state)
            _sys.run([ip, "link", "add", "name", state.bridge, "type", "bridge"])
            _sys.run([ip, "addr", "add", f"{bridge_address(subnet)}/24", "dev", state.bridge])
            _sys.run([ip, "link", "set", state.bridge, "up"])
        self._say(f"lab {self.name}: subnet {bridge_address(subnet)}/24, {hosts} host(s)")
        return state

    def _build(self, state: LabState, base: Path, moto_bin: Path | None, inventory: Path | None) -> None:
        key = self.state_dir / "id_ed25519"
        if not key.is_file():
            _sys.run(
                [
                    self._tools["ssh-keygen"],
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"shipyard-lab-{self.name}",
                    "-f",
                    key,
                ]
            )
        state.ssh_key = str(key)
        state.known_hosts = str(self.state_dir / KNOWN_HOSTS)
        self._save(state)
        self._write_known_hosts(state)

        hierarchies = _sys.cgroup_hierarchies()
        state.cgroup_parents = [
            str(mnt / own.lstrip("/") / "shipyard-lab" / self.name) for _, mnt, own in hierarchies
        ]
        self._save(state)

        if moto_bin is not None:
            self._start_moto(state, moto_bin)
        self._start_registry(state)
        with ThreadPoolExecutor(max_workers=min(len(state.hosts), 8)) as pool:
            futures = [pool.submit(self._make_host, state, h, base, hierarchies) for h in state.hosts]
            errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            first = failed[0]
            if isinstance(first, ShipyardError):
                raise first
            raise OperationError(f"lab {self.name}: a host failed: {first}") from first
        if moto_bin is not None:
            self._wait_moto(state)
        self._wait_registry(state)
        state.ready = True
        if inventory is not None:
            inventory = Path(inventory).absolute()
            state.inventory = str(inventory)
            atomic_write(inventory, render_inventory(state), mode=0o644)
            self._say(f"lab {self.name}: inventory {inventory} (host keys in {state.known_hosts})")
        self._save(state)
        self._say(f"lab {self.name}: up")

    def _make_host(
        self,
        state: LabState,
        host: HostState,
        base: Path,
        hierarchies: list[tuple[str, Path, str]],
    ) -> None:
        tools = self._tools
        ip = tools["ip"]
        hdir = Path(host.dir)
        upper, work, merged = hdir / "upper", hdir / "work", hdir / "merged"
        for d in (hdir, upper, work, merged):
            d.mkdir(mode=0o755, parents=True, exist_ok=True)

        # 1. overlay (recorded before it is made: down() tolerates what is missing)
        host.mounted = True
        self._save(state)
        _sys.run(
            [
                tools["mount"],
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={base},upperdir={upper},workdir={work}",
                merged,
            ]
        )

        # 2. identity
        self._write_identity(state, host, merged)

        # 3. network
        host.netns = netns_name(self.name, host.index)
        host.veth = veth_name(self.name, host.index)
        self._save(state)
        assert state.bridge is not None
        _sys.run([ip, "netns", "add", host.netns])
        _sys.run([ip, "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns])
        _sys.run([ip, "link", "set", host.veth, "master", state.bridge])
        _sys.run([ip, "link", "set", host.veth, "up"])
        _sys.run([ip, "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        _sys.run([ip, "-n", host.netns, "link", "set", "eth0", "up"])
        _sys.run([ip, "-n", host.netns, "link", "set", "lo", "up"])

        # 4-5. cgroups and boot
        self._boot_host(state, host, hierarchies)
        self._say(f"lab {self.name}: {host.name} up at {host.address}")

    def _boot_host(self, state: LabState, host: HostState, hierarchies: list[tuple[str, Path, str]]) -> None:
        """Boot ``host`` on its overlay and network (made already); wait until SSH answers."""
        tools = self._tools
        hdir = Path(host.dir)
        merged = hdir / "merged"
        # cgroups: one dir per hierarchy, all v1 controllers delegated (bound in writable)
        rel = f"shipyard-lab/{self.name}/{host.index}"
        host.cgroups = [str(mnt / own.lstrip("/") / rel) for _, mnt, own in hierarchies]
        self._save(state)
        binds: list[str] = []
        procs: list[Path] = []
        for kind, mnt, own in hierarchies:
            path = _sys.make_cgroup(mnt, own, rel, cpuset=kind == "cpuset")
            procs.append(path / "cgroup.procs")
            if kind not in ("", "name=systemd"):
                binds.append(f"--bind={path}:/sys/fs/cgroup/{mnt.name}")

        # boot
        argv = [
            tools["systemd-nspawn"],
            "--register=no",
            "--keep-unit",
            "--boot",
            "--console=read-only",
            f"--machine={host.name}",
            f"--network-namespace-path=/run/netns/{host.netns}",
            "-D",
            str(merged),
            "--tmpfs=/sys/fs/cgroup:mode=755",
            *binds,
            "--system-call-filter=@keyring",
        ]
        if state.net_admin:
            argv.append("--capability=CAP_NET_ADMIN")
        console = hdir / "console.log"
        host.pid = _sys.spawn_detached(
            _sys.launcher_argv(cgroup_procs=procs, cwd=None, argv=argv), log_path=console
        )
        self._save(state)
        self._wait_host(state, host, console)

    def _write_identity(self, state: LabState, host: HostState, merged: Path) -> None:
        (merged / "etc/hostname").write_text(host.name + "\n")
        lines = ["127.0.0.1 localhost", f"127.0.1.1 {host.name}", "::1 localhost ip6-localhost"]
        lines += [f"{h.address} {h.name}" for h in state.hosts]
        (merged / "etc/hosts").write_text("\n".join(lines) + "\n")
        (merged / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        ssh_dir = merged / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        ssh_dir.chmod(0o700)
        assert state.ssh_key is not None
        pub = Path(state.ssh_key + ".pub").read_text(encoding="utf-8")
        auth = ssh_dir / "authorized_keys"
        auth.write_text(pub)
        auth.chmod(0o600)
        hostkey = merged / "etc/ssh/ssh_host_ed25519_key"
        for old in (hostkey, hostkey.with_name(hostkey.name + ".pub")):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        _sys.run(
            [
                self._tools["ssh-keygen"],
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"root@{host.name}",
                "-f",
                hostkey,
            ]
        )
        # recorded now, before the host ever runs: the key the lab made is the one it trusts
        host.host_key = hostkey.with_name(hostkey.name + ".pub").read_text(encoding="utf-8").strip()
        self._save(state)
        self._write_known_hosts(state)

    def _write_known_hosts(self, state: LabState) -> None:
        """Write the lab's known_hosts (atomically, 0644) from the host keys in the state."""
        assert state.known_hosts is not None
        with self._known_hosts_lock:
            atomic_write(Path(state.known_hosts), render_known_hosts(state), mode=0o644)

    def _wait_host(self, state: LabState, host: HostState, console: Path) -> None:
        assert host.pid is not None and state.ssh_key is not None and state.known_hosts is not None
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            if not _sys.alive(host.pid):
                raise OperationError(
                    f"lab {self.name}: {host.name} stopped while booting; console:\n" + _tail(console)
                )
            if _ssh_banner(host.address):
                break
            if time.monotonic() >= deadline:
                raise OperationError(
                    f"lab {self.name}: {host.name} did not answer SSH in {BOOT_TIMEOUT:.0f} s; "
                    f"console:\n{_tail(console)}"
                )
            time.sleep(0.1)
        left = max(deadline - time.monotonic(), 10)
        result = _ssh(
            state.ssh_key,
            state.known_hosts,
            host.address,
            ["systemctl", "is-system-running", "--wait"],
            timeout=left,
        )
        word = result.stdout.strip()
        if word not in ("running", "degraded"):
            raise OperationError(
                f"lab {self.name}: {host.name} did not boot: `systemctl is-system-running` "
                f"said {word or result.stderr.strip()!r} (rc {result.returncode})"
            )
        if word == "degraded":
            log.info("%s booted degraded", host.name)

    def _start_moto(self, state: LabState, moto_bin: Path) -> None:
        port = _free_port()
        state.moto_port = port
        argv = [str(moto_bin), "-H", "127.0.0.1", "-p", str(port)]
        state.moto_pid = _sys.spawn_detached(
            _sys.launcher_argv(cgroup_procs=(), cwd=self.state_dir, argv=argv),
            log_path=self.state_dir / "moto.log",
        )
        self._save(state)

    def _wait_moto(self, state: LabState) -> None:
        assert state.moto_pid is not None and state.aws_endpoint is not None
        deadline = time.monotonic() + MOTO_TIMEOUT
        while not _http_answers(state.aws_endpoint):
            if not _sys.alive(state.moto_pid) or time.monotonic() >= deadline:
                raise OperationError(
                    f"lab {self.name}: the moto server did not start; its log:\n"
                    + _tail(self.state_dir / "moto.log")
                )
            time.sleep(0.1)
        self._say(f"lab {self.name}: moto at {state.aws_endpoint}")

    def _registry_config(self) -> Path:
        return self.state_dir / "registry.yml"

    def _start_registry(self, state: LabState) -> None:
        """Start Debian's docker-registry on the bridge address, its storage in the state dir."""
        storage = self.state_dir / "registry"
        storage.mkdir(mode=0o700, exist_ok=True)
        state.registry_port = REGISTRY_PORT
        config = {  # JSON is YAML; plain HTTP, no auth: the lab network only
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": state.registry, "secret": secrets.token_hex(16)},
        }
        atomic_write(self._registry_config(), json.dumps(config, indent=2) + "\n", mode=0o600)
        argv = [self._tools["docker-registry"], "serve", str(self._registry_config())]
        state.registry_pid = _sys.spawn_detached(
            _sys.launcher_argv(cgroup_procs=(), cwd=self.state_dir, argv=argv),
            log_path=self.state_dir / "registry.log",
        )
        self._save(state)

    def _wait_registry(self, state: LabState) -> None:
        assert state.registry_pid is not None and state.registry is not None
        deadline = time.monotonic() + REGISTRY_TIMEOUT
        while not _http_answers(f"http://{state.registry}/v2"):
            if not _sys.alive(state.registry_pid) or time.monotonic() >= deadline:
                raise OperationError(
                    f"lab {self.name}: the image registry did not start; its log:\n"
                    + _tail(self.state_dir / "registry.log")
                )
            time.sleep(0.1)
        self._say(f"lab {self.name}: image registry at {state.registry} (plain HTTP)")

    # --- status ----------------------------------------------------------------------------

    def _status(self) -> LabStatus:
        try:
            state = self._load()
        except PermissionError as exc:
            raise SetupError("the lab needs root: run `sudo shipyard lab status`") from exc
        except ShipyardError:
            state = None
        if state is None:
            return LabStatus(self.name, False, (), None, None, self.state_dir, None)

        def one(host: HostState) -> HostStatus:
            running = host.pid is not None and _sys.is_nspawn(host.pid, host.name)
            ok = (
                running
                and state.ssh_key is not None
                and state.known_hosts is not None
                and _ssh(state.ssh_key, state.known_hosts, host.address, ["true"], timeout=10).returncode == 0
            )
            return HostStatus(host.name, host.address, running, ok, host.pid)

        with ThreadPoolExecutor(max_workers=max(1, min(len(state.hosts), 8))) as pool:
            hosts = tuple(pool.map(one, state.hosts))
        moto_ok = (
            state.moto_pid is not None
            and state.moto_port is not None
            and _sys.is_moto(state.moto_pid, state.moto_port)
        )
        registry_ok = state.registry_pid is None or _sys.is_registry(
            state.registry_pid, self._registry_config()
        )
        up = (
            state.ready
            and bool(hosts)
            and all(h.up and h.ssh_ok for h in hosts)
            and (moto_ok or not state.aws)
            and registry_ok
        )
        return LabStatus(
            name=self.name,
            up=up,
            hosts=hosts,
            aws_endpoint=state.aws_endpoint,
            inventory=Path(state.inventory) if state.inventory else None,
            state_dir=self.state_dir,
            ssh_key=Path(state.ssh_key) if state.ssh_key else None,
            registry=state.registry,
            known_hosts=Path(state.known_hosts) if state.known_hosts else None,
        )

    # --- down ------------------------------------------------------------------------------

    def _down(self) -> None:
        ip = self._tools["ip"]
        state = self._load_quiet()
        if state is not None:
            self._say(f"lab {self.name}: stopping {len(state.hosts)} host(s)")
            with ThreadPoolExecutor(max_workers=max(1, min(len(state.hosts), 8))) as pool:
                list(pool.map(self._stop_host, state.hosts))
            if state.moto_pid is not None and state.moto_port is not None:
                _stop(state.moto_pid, lambda p: _sys.is_moto(p, state.moto_port or 0), 5.0)
            if state.registry_pid is not None:
                config = self._registry_config()
                _stop(state.registry_pid, lambda p: _sys.is_registry(p, config), 5.0)
            if state.bridge:
                _sys.run([ip, "link", "del", state.bridge], check=False)
            for parent in state.cgroup_parents:
                _sys.remove_cgroup_tree(Path(parent))
        self._sweep()
        left = _sys.mounts_under(self.state_dir)
        if left:
            raise OperationError(
                f"lab {self.name}: still mounted: {', '.join(map(str, left))}; "
                f"unmount them, then run `shipyard lab down --name {self.name}` again"
            )
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.state_dir)
        self._say(f"lab {self.name}: down")

    def _stop_host(self, host: HostState) -> None:
        ip = self._tools["ip"]
        if host.pid is not None:
            _stop(host.pid, lambda p: _sys.is_nspawn(p, host.name), STOP_TIMEOUT)
        for path in host.cgroups:  # anything left in the host's cgroups is the host's
            for pid in _sys.cgroup_pids(Path(path)):
                _sys.kill(pid, signal.SIGKILL)
        _sys.unmount(Path(host.dir) / "merged", self._tools["umount"])
        if host.veth:
            _sys.run([ip, "link", "del", host.veth], check=False)
        if host.netns:
            _sys.run([ip, "netns", "del", host.netns], check=False)
        for path in host.cgroups:
            _sys.remove_cgroup_tree(Path(path))
        with contextlib.suppress(OSError):
            shutil.rmtree(Path("/run/systemd/nspawn/propagate") / host.name)

    def _sweep(self) -> None:
        """Remove objects named for this lab that no state file mentions (crash leftovers)."""
        ip, prefix = self._tools["ip"], f"sy-{self.name}-"
        machine = re.compile(rf"--machine={re.escape(self.name)}-h\d+")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = _sys.cmdline(int(entry.name))
            if argv and Path(argv[0]).name == "systemd-nspawn" and any(machine.fullmatch(a) for a in argv):
                name = next(a for a in argv if machine.fullmatch(a)).split("=", 1)[1]
                _stop(int(entry.name), functools.partial(_sys.is_nspawn, machine=name), STOP_TIMEOUT)
        for pid in _sys.processes_with_cwd(self.state_dir):
            argv = _sys.cmdline(pid)
            if any(Path(a).name in ("moto_server", "docker-registry") for a in argv[:2]):
                _stop(pid, _sys.alive, 5.0)
        for cg in _sys.find_cgroup_dirs(self.name, "shipyard-lab"):
            for pid in _sys.cgroup_pids(cg):
                _sys.kill(pid, signal.SIGKILL)
            _sys.remove_cgroup_tree(cg)
        for mnt in _sys.mounts_under(self.state_dir):
            _sys.unmount(mnt, self._tools["umount"])
        for link in _sys.link_names(ip):
            if link.startswith(prefix):
                _sys.run([ip, "link", "del", link], check=False)
        for ns in _sys.netns_names(ip):
            if re.fullmatch(rf"{re.escape(prefix)}\d+", ns):
                _sys.run([ip, "netns", "del", ns], check=False)

    def _leftovers(self) -> bool:
        ip, prefix = self._tools["ip"], f"sy-{self.name}-"
        return any(n.startswith(prefix) for n in _sys.link_names(ip)) or any(
            n.startswith(prefix) for n in _sys.netns_names(ip)
        )

    # --- state -----------------------------------------------------------------------------

    def _load(self) -> LabState | None:
        path = state_path(self.state_root, self.name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return LabState.from_json(text)

    def _load_quiet(self) -> LabState | None:
        try:
            return self._load()
        except ShipyardError as exc:
            log.warning("lab %s: ignoring unreadable state: %s", self.name, exc)
            return None

    def _save(self, state: LabState) -> None:
        with self._save_lock:
            atomic_write(state_path(self.state_root, self.name), state.to_json())

    def _find_host(self, state: LabState, host: str) -> HostState:
        for h in state.hosts:
            if host in (h.name, h.address, f"h{h.index}", str(h.index)):
                return h
        names = ", ".join(h.name for h in state.hosts)
        raise SetupError(f"lab {self.name!r} has no host {host!r} (it has {names})")


# --- helpers ---------------------------------------------------------------------------------


def _stop(pid: int, is_ours: Callable[[int], bool], timeout: float) -> None:
    """SIGTERM ``pid`` if it is ours, wait, then SIGKILL it (and nspawn's payload PID 1)."""
    if not is_ours(pid):
        _sys.reap(pid)
        return
    payload = _sys.children(pid)  # the host's PID 1, read before TERM
    _sys.kill(pid, signal.SIGTERM)
    if _sys.wait_gone(pid, timeout):
        return
    log.warning("pid %d did not stop in %.0f s; killing it", pid, timeout)
    for child in payload:
        _sys.kill(child, signal.SIGKILL)
    if is_ours(pid):
        _sys.kill(pid, signal.SIGKILL)
    _sys.wait_gone(pid, 5.0)


def _find_moto() -> Path:
    path = Path(sys.executable).parent / "moto_server"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SetupError(
            f"the lab's AWS emulator is missing ({path}): run `pip install 'moto[server]'` "
            "in shipyard's environment (or bring the lab up without aws)"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=2):  # noqa: S310 (our own http URL)
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _ssh_banner(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _ssh(
    key: str, known_hosts: str, address: str, argv: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """ssh to a lab host with the lab key, trusting only the host key in the lab's known_hosts."""
    opts = (*ssh_common_args(known_hosts).split(), *_SSH_OPTS)
    cmd = [_sys.which("ssh"), "-i", key, *opts, f"root@{address}", shlex.join(argv)]
    return _sys.run(cmd, check=False, timeout=timeout)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
