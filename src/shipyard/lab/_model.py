"""Pure parts of the lab: names, subnets, the state file, the inventory. No system calls."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.core.errors import ShipyardError, SpecError

#: A lab name: short, because kernel link names are at most 15 characters.
NAME_RE = re.compile(r"[a-z][a-z0-9]{0,7}")
#: Labs get ``10.213.X.0/24``; X is allocated from this range.
SUBNET_PREFIX = "10.213"
SUBNET_RANGE = range(1, 255)
#: The machine side of the lab bridge is ``.1``; host n is ``.(10+n)``.
HOST_OFFSET = 10
MAX_HOSTS = 32
STATE_VERSION = 1
#: ``ansible_ssh_args`` of lab hosts: Ansible's default speed settings. As a host variable it
#: replaces any ``ssh_args`` from an ansible.cfg or ANSIBLE_SSH_ARGS, which come first on ssh's
#: command line and would win (ssh keeps the first value of an option) over the checks below.
SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"
#: The file in a lab's state dir holding each host's real public host key (by address and name).
KNOWN_HOSTS = "known_hosts"


def ssh_common_args(known_hosts: str | Path) -> str:
    """ssh options that trust exactly the host keys in ``known_hosts`` and refuse any other.

    ``GlobalKnownHostsFile=/dev/null`` keeps the machine's own known hosts out: only the keys
    the lab generated count. The path must not contain whitespace (ssh splits on it).

    Raises:
        ShipyardError: the path contains whitespace or quotes.
    """
    path = str(known_hosts)
    if not path or any(c.isspace() or c in "'\"\\" for c in path):
        raise ShipyardError(f"a known_hosts path without spaces or quotes is needed, not {path!r}")
    return f"-o UserKnownHostsFile={path} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"


def validate_name(name: str) -> str:
    """Check a lab name.

    Args:
        name: the lab name.

    Returns:
        The name.

    Raises:
        SpecError: (field ``name``) it is not ``[a-z][a-z0-9]{0,7}``.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpecError(
            "name",
            name,
            "a lab name is 1-8 characters, a lowercase letter then lowercase letters or digits",
        )
    return name


def validate_hosts(hosts: int) -> int:
    """Check a host count (1..MAX_HOSTS).

    Raises:
        SpecError: (field ``hosts``) out of range.
    """
    if isinstance(hosts, bool) or not isinstance(hosts, int) or not 1 <= hosts <= MAX_HOSTS:
        raise SpecError("hosts", hosts, f"give a number of hosts from 1 to {MAX_HOSTS}")
    return hosts


def bridge_name(lab: str) -> str:
    """The lab bridge on the machine (``sy-<lab>-br``, at most 13 characters)."""
    return f"sy-{lab}-br"


def veth_name(lab: str, index: int) -> str:
    """The machine side of host ``index``'s veth (``sy-<lab>-<n>``, at most 14 characters)."""
    return f"sy-{lab}-{index}"


def netns_name(lab: str, index: int) -> str:
    """The network namespace of host ``index``."""
    return f"sy-{lab}-{index}"


def host_name(lab: str, index: int) -> str:
    """Inventory name, hostname and nspawn machine name of host ``index``."""
    return f"{lab}-h{index}"


def bridge_address(subnet: int) -> str:
    """The machine's address on the lab bridge."""
    return f"{SUBNET_PREFIX}.{subnet}.1"


def host_address(subnet: int, index: int) -> str:
    """The address of host ``index`` (``.11``, ``.12``, ...)."""
    return f"{SUBNET_PREFIX}.{subnet}.{HOST_OFFSET + index}"


def pick_subnet(taken: Iterable[int]) -> int:
    """The lowest free subnet number.

    Args:
        taken: subnet numbers already used (by other labs' state or by machine addresses).

    Returns:
        X of ``10.213.X.0/24``.

    Raises:
        ShipyardError: every subnet is taken.
    """
    used = set(taken)
    for candidate in SUBNET_RANGE:
        if candidate not in used:
            return candidate
    raise ShipyardError(
        f"no free lab subnet left in {SUBNET_PREFIX}.0.0/16: run `shipyard lab down` on old labs"
    )


def subnets_in_addresses(addresses: Iterable[str]) -> set[int]:
    """Subnet numbers X used by machine addresses inside ``10.213.X.0/24``."""
    out: set[int] = set()
    for addr in addresses:
        parts = addr.split("/", 1)[0].split(".")
        if len(parts) == 4 and ".".join(parts[:2]) == SUBNET_PREFIX and parts[2].isdigit():
            out.add(int(parts[2]))
    return out


@dataclass
class HostState:
    """What has been made for one host (updated as each object is made).

    Attributes:
        index: 1-based host number.
        name: ``<lab>-h<n>``.
        address: its IPv4 address.
        netns: network namespace name (set once made).
        veth: machine-side veth name (set once made).
        dir: per-host dir (upper, work, merged, console log).
        mounted: the overlay is mounted on ``dir/merged``.
        cgroups: cgroup dirs made for the host (absolute paths).
        pid: the systemd-nspawn PID once started.
        host_key: the host's public ed25519 key (``ssh-ed25519 AAAA...``) as ssh-keygen made it,
            recorded before the host first boots (the only key the lab trusts for it).
    """

    index: int
    name: str
    address: str
    dir: str
    netns: str | None = None
    veth: str | None = None
    mounted: bool = False
    cgroups: list[str] = field(default_factory=list)
    pid: int | None = None
    host_key: str | None = None


@dataclass
class LabState:
    """The state file of a lab (``state_root/<name>/state.json``).

    Attributes:
        name: lab name.
        subnet: X of ``10.213.X.0/24``.
        hosts: per-host state.
        bridge: bridge name, once made.
        ssh_key: private key path.
        inventory: inventory path written by ``up()``.
        known_hosts: the lab's known_hosts file (every host's key, by address and name).
        aws: a moto server was asked for.
        net_admin: hosts got CAP_NET_ADMIN.
        moto_pid: the moto server PID.
        moto_port: the moto server port.
        registry_pid: the image registry (docker-registry) PID.
        registry_port: the registry's port on the bridge address.
        cgroup_parents: ``.../shipyard-lab/<lab>`` dirs (removed last).
        ready: ``up()`` finished.
        version: state format version.
    """

    name: str
    subnet: int
    hosts: list[HostState] = field(default_factory=list)
    bridge: str | None = None
    ssh_key: str | None = None
    inventory: str | None = None
    known_hosts: str | None = None
    aws: bool = True
    net_admin: bool = False
    moto_pid: int | None = None
    moto_port: int | None = None
    registry_pid: int | None = None
    registry_port: int | None = None
    cgroup_parents: list[str] = field(default_factory=list)
    ready: bool = False
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """The state as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        """Parse a state file.

        Raises:
            ShipyardError: it is not a lab state file of a known version.
        """
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("version") != STATE_VERSION:
                raise ShipyardError(f"unknown lab state version {data.get('version')!r}")
            hosts = [HostState(**h) for h in data.pop("hosts", [])]
            return cls(hosts=hosts, **data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ShipyardError(f"corrupt lab state: {exc}") from exc

    @property
    def aws_endpoint(self) -> str | None:
        """The moto URL, if a moto server was started."""
        return f"http://127.0.0.1:{self.moto_port}" if self.moto_port else None

    @property
    def registry(self) -> str | None:
        """The image registry as ``address:port`` on the lab bridge (plain HTTP), if started."""
        return f"{bridge_address(self.subnet)}:{self.registry_port}" if self.registry_port else None


def known_hosts_line(host: HostState) -> str:
    """The known_hosts line of one host: ``<address>,<name> <type> <base64>``.

    Raises:
        ShipyardError: the host has no recorded key, or it is not a public key line.
    """
    fields = (host.host_key or "").split()
    if len(fields) < 2 or not fields[0].startswith("ssh-"):
        raise ShipyardError(f"lab host {host.name} has no recorded host key")
    return f"{host.address},{host.name} {fields[0]} {fields[1]}"


def render_known_hosts(state: LabState) -> str:
    """The lab's known_hosts: one line per host whose key has been made (in host order)."""
    lines = [f"# shipyard lab {state.name!r}: host keys made by the lab; do not edit"]
    lines += [known_hosts_line(h) for h in state.hosts if h.host_key]
    return "\n".join(lines) + "\n"


def render_inventory(state: LabState) -> str:
    """The Ansible inventory (YAML) of a lab: one group ``lab``.

    Every host gets ssh options that trust only the key in the lab's known_hosts, and host
    variables that beat an ansible.cfg or environment turning checking off (which would put
    a StrictHostKeyChecking of "no" before them): ``ansible_host_key_checking: true`` and
    ``ansible_ssh_args`` (:data:`SSH_ARGS`).

    Args:
        state: the lab state (hosts, key, known_hosts, endpoint).

    Returns:
        YAML text.

    Raises:
        ShipyardError: the state has no known_hosts file.
    """
    if not state.known_hosts:
        raise ShipyardError(f"lab {state.name!r} has no known_hosts file: bring it up again")
    common = ssh_common_args(state.known_hosts)
    hosts: dict[str, dict[str, Any]] = {}
    for host in state.hosts:
        hosts[host.name] = {
            "ansible_host": host.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": state.ssh_key,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_host_key_checking": True,
            "ansible_ssh_args": SSH_ARGS,
            "ansible_ssh_common_args": common,
        }
    group: dict[str, Any] = {"hosts": hosts, "vars": {"shipyard_lab_name": state.name}}
    if state.aws_endpoint:
        group["vars"]["shipyard_aws_endpoint"] = state.aws_endpoint
    if state.registry:
        group["vars"]["shipyard_registry"] = state.registry
    doc = {"all": {"children": {"lab": group}}}
    header = f"# shipyard lab {state.name!r}: written by `shipyard lab up`; do not edit\n"
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def state_path(state_root: Path, name: str) -> Path:
    """Where the state file of lab ``name`` lives."""
    return state_root / name / "state.json"
