"""The local lab, for real: booted hosts, cgroup limits, the network, moto, cleanup."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from shipyard.core.errors import ShipyardError
from shipyard.lab import Lab, LabStatus, list_labs

pytestmark = pytest.mark.lab

LIFECYCLE = "lifecy"
ALLOC = "b=bytearray(200*1024*1024); [b.__setitem__(i,1) for i in range(0,len(b),4096)]"


def _moto_answers(endpoint: str) -> bool:
    with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=5) as resp:
        return resp.status == 200 and isinstance(json.load(resp), dict)


def _netns(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.startswith(prefix)]


def _links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    names = [line.split(":", 2)[1].strip().split("@")[0] for line in out.stdout.splitlines()]
    return [n for n in names if n.startswith(prefix)]


def _cgroup_dirs(lab: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        if Path(dirpath).name == "shipyard-lab" and lab in dirnames:
            found.append(f"{dirpath}/{lab}")
    return found


def _processes_mentioning(words: list[str]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(w in argv for w in words):
            found.append(f"{entry.name}: {argv}")
    return found


def _assert_gone(lab: Lab, machines: list[str]) -> None:
    prefix = f"sy-{lab.name}-"
    assert _netns(prefix) == []
    assert _links(prefix) == []  # the bridge and the veths
    mounts = Path("/proc/mounts").read_text()
    assert str(lab.state_dir) not in mounts
    assert _cgroup_dirs(lab.name) == []
    assert _processes_mentioning(machines) == []
    assert not lab.state_dir.exists()
    assert lab.name not in list_labs(lab.state_root)
    assert lab.status().up is False


def test_lifecycle_up_status_down_twice(tmp_path: Path) -> None:
    messages: list[str] = []
    lab = Lab(LIFECYCLE, progress=lambda event: messages.append(event.message))
    lab.down()  # leftover of an interrupted run
    machines = [f"{LIFECYCLE}-h1", f"{LIFECYCLE}-h2"]
    for net_admin in (False, True):
        status = lab.up(hosts=2, inventory=tmp_path / "inv.yml", net_admin=net_admin)
        assert status.up
        again = lab.status()
        assert again.up
        assert [h.name for h in again.hosts] == machines
        assert all(h.up and h.ssh_ok and h.pid for h in again.hosts)
        assert again.aws_endpoint is not None and _moto_answers(again.aws_endpoint)
        assert json.loads(json.dumps(again.to_dict()))["hosts"][1]["name"] == machines[1]
        hostname = lab.ssh(machines[1], ["hostname"])
        assert hostname.returncode == 0 and hostname.stdout.strip() == machines[1]
        veth = lab.ssh(machines[0], ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        assert (veth.returncode == 0) is net_admin, veth.stderr
        lab.down()
        _assert_gone(lab, machines)
    lab.down()  # safe twice
    _assert_gone(lab, machines)


def test_up_twice_refuses_then_recovers_from_a_crash(tmp_path: Path) -> None:
    messages: list[str] = []
    lab = Lab(LIFECYCLE, progress=lambda event: messages.append(event.message))
    lab.down()
    try:
        first = lab.up(hosts=2, aws=False)
        with pytest.raises(ShipyardError, match=r"already up.*shipyard lab down --name lifecy"):
            lab.up(hosts=2, aws=False)
        assert lab.status().up
        # crash: host 1's nspawn (a process this test started) dies without cleanup
        pid = first.hosts[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lab.status().hosts[0].up and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not lab.status().up
        messages.clear()
        status = lab.up(hosts=2, aws=False)
        assert status.up
        assert any("crashed" in m for m in messages)
        assert status.hosts[0].pid != pid
    finally:
        lab.down()
    _assert_gone(lab, [f"{LIFECYCLE}-h1", f"{LIFECYCLE}-h2"])


def test_down_without_state_cleans_by_name() -> None:
    lab = Lab(LIFECYCLE)
    lab.down()
    subprocess.run(["ip", "netns", "add", f"sy-{LIFECYCLE}-7"], check=True)
    subprocess.run(["ip", "link", "add", "name", f"sy-{LIFECYCLE}-br", "type", "bridge"], check=True)
    assert not lab.state_dir.exists()
    lab.down()
    _assert_gone(lab, [f"{LIFECYCLE}-h7"])


def test_shared_lab_inventory(lab: LabStatus) -> None:
    assert lab.up and len(lab.hosts) == 3
    assert lab.inventory is not None
    doc = yaml.safe_load(lab.inventory.read_text())
    group = doc["all"]["children"]["lab"]
    assert list(group["hosts"]) == [f"{lab.name}-h1", f"{lab.name}-h2", f"{lab.name}-h3"]
    h1 = group["hosts"][f"{lab.name}-h1"]
    assert h1["ansible_host"] == lab.hosts[0].address
    assert h1["ansible_user"] == "root"
    assert h1["ansible_ssh_private_key_file"] == str(lab.ssh_key)
    assert group["vars"]["shipyard_aws_endpoint"] == lab.aws_endpoint


def test_memory_limit_is_enforced_in_a_host(lab: LabStatus, lab_api: Lab) -> None:
    unit = f"sy-oom-{uuid.uuid4().hex[:8]}"
    killed = lab_api.ssh(
        f"{lab.name}-h1",
        ["systemd-run", "--wait", f"--unit={unit}", "-p", "MemoryMax=64M", "/usr/bin/python3", "-c", ALLOC],
        timeout=60,
    )
    assert killed.returncode != 0, killed.stdout + killed.stderr
    assert "Finished with result: signal" in killed.stderr, killed.stderr
    assert "status=KILL" in killed.stderr or "status=9" in killed.stderr
    # The kernel did it: the machine's log names the host's unit cgroup (hosts have no
    # CAP_SYSLOG, so dmesg / journalctl -k are empty inside them).
    kernel_log = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    memcg = re.compile(rf"oom_memcg=\S*/shipyard-lab/{lab.name}/1/system\.slice/{unit}\.service")
    assert memcg.search(kernel_log), "no memory-cgroup OOM kill of the unit in the kernel log"
    assert "Memory cgroup out of memory" in kernel_log

    control = lab_api.ssh(
        f"{lab.name}-h1",
        ["systemd-run", "--wait", "-p", "MemoryMax=512M", "/usr/bin/python3", "-c", ALLOC],
        timeout=60,
    )
    assert control.returncode == 0, control.stderr
    assert "Finished with result: success" in control.stderr


@pytest.mark.parametrize("target", ["address", "name"])
def test_hosts_reach_each_other(lab: LabStatus, lab_api: Lab, target: str) -> None:
    h2 = lab.hosts[1]
    where = h2.address if target == "address" else h2.name
    probe = (
        "import socket,sys; s=socket.create_connection((sys.argv[1], 22), timeout=5); "
        "print(s.recv(64).decode().strip())"
    )
    result = lab_api.ssh(f"{lab.name}-h1", ["/usr/bin/python3", "-c", probe, where])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SSH-")


def test_hosts_have_their_own_identity(lab: LabStatus, lab_api: Lab) -> None:
    ids = set()
    for host in lab.hosts:
        result = lab_api.ssh(host.name, ["sh", "-c", "hostname; cat /etc/machine-id"])
        name, machine_id = result.stdout.split()
        assert name == host.name
        ids.add(machine_id)
    assert len(ids) == len(lab.hosts)


def test_cli_lab_up_status_down_twice_leaves_nothing(tmp_path: Path) -> None:
    """`shipyard lab up --hosts 2 && shipyard lab status --json && shipyard lab down`, twice."""
    import subprocess
    import sys

    shipyard = str(Path(sys.executable).parent / "shipyard")
    name = "clilab"
    lab = Lab(name)
    machines = [f"{name}-h1", f"{name}-h2"]
    inventory = tmp_path / "hosts.yml"
    for _ in range(2):
        up = subprocess.run(
            [shipyard, "lab", "up", "--hosts", "2", "--name", name, "--inventory", str(inventory), "--quiet"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert up.returncode == 0, up.stderr
        status = subprocess.run(
            [shipyard, "lab", "status", "--json", "--name", name], capture_output=True, text=True, check=False
        )
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert [h["name"] for h in doc["hosts"]] == machines
        assert all(h["up"] and h["ssh_ok"] for h in doc["hosts"])
        assert doc["aws_endpoint"].startswith("http://127.0.0.1:")
        assert inventory.is_file()
        down = subprocess.run(
            [shipyard, "lab", "down", "--name", name], capture_output=True, text=True, check=False
        )
        assert down.returncode == 0, down.stderr
        _assert_gone(lab, machines)
    again = subprocess.run(
        [shipyard, "lab", "down", "--name", name], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0
    gone = subprocess.run(
        [shipyard, "lab", "status", "--name", name], capture_output=True, text=True, check=False
    )
    assert gone.returncode == 1
