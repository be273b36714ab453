"""SSH host keys are checked: the lab's known_hosts holds each host's real key, and a host that
answers with another key is refused by ansible, by shipyard's runner and by the lab's own ssh.

Every ansible call runs from the checkout (whatever its ansible.cfg says of host keys) with
a fresh ControlPath dir, so neither that config nor a live ssh master connection can hide a
missing check.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from _root import ROOT
from shipyard.core.runner import RunStatus, ansible_env, run_playbook, tool_path
from shipyard.lab import Lab, LabStatus

pytestmark = pytest.mark.lab

REFUSED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


@pytest.fixture
def cp_dir() -> Iterator[Path]:
    """A fresh, short ControlPath dir (no ssh master of another test is reused)."""
    path = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _ansible(pattern: str, inventory: Path, cp_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ansible_env(), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir)}
    env.pop("ANSIBLE_CONFIG", None)  # the checkout's ansible.cfg applies, whatever it says
    argv = [str(tool_path("ansible")), pattern, "-i", str(inventory), *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _inventory_with(lab: LabStatus, tmp_path: Path, known_hosts: Path) -> Path:
    """A copy of the lab inventory whose hosts trust ``known_hosts`` instead of the lab's."""
    assert lab.inventory is not None and lab.known_hosts is not None
    doc = yaml.safe_load(lab.inventory.read_text())
    for hvars in doc["all"]["children"]["lab"]["hosts"].values():
        args = hvars["ansible_ssh_common_args"]
        assert f"UserKnownHostsFile={lab.known_hosts}" in args
        hvars["ansible_ssh_common_args"] = args.replace(str(lab.known_hosts), str(known_hosts))
    out = tmp_path / "inventory-copy.yml"
    out.write_text(yaml.safe_dump(doc))
    return out


def _other_key(tmp_path: Path) -> str:
    """A freshly made ed25519 public key (``ssh-ed25519 AAAA...``) that no lab host has."""
    key = tmp_path / f"other-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(key.with_name(key.name + ".pub").read_text().split()[:2])


def _with_key(known_hosts_text: str, host: str, key: str) -> str:
    lines = []
    for line in known_hosts_text.splitlines():
        names = line.split(" ", 1)[0].split(",")
        lines.append(f"{line.split(' ', 1)[0]} {key}" if host in names else line)
    return "\n".join(lines) + "\n"


def _host_pubkey(lab_api: Lab, index: int) -> str:
    """The public key file ssh-keygen wrote on the host's disk (read through its overlay)."""
    pub = lab_api.state_dir / "hosts" / str(index) / "merged/etc/ssh/ssh_host_ed25519_key.pub"
    return " ".join(pub.read_text().split()[:2])


def _marker_exists(lab_api: Lab, host: str, marker: str) -> bool:
    proc = lab_api.ssh(host, ["test", "-e", marker])
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


def test_known_hosts_holds_each_hosts_real_key(lab: LabStatus, lab_api: Lab) -> None:
    assert lab.known_hosts == lab_api.state_dir / "known_hosts"
    mode = stat.S_IMODE(lab.known_hosts.stat().st_mode)
    assert mode in (0o600, 0o644), oct(mode)
    entries = {
        line.split()[0]: " ".join(line.split()[1:3])
        for line in lab.known_hosts.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert len(entries) == len(lab.hosts) == 3
    for i, host in enumerate(lab.hosts, 1):
        key = entries[f"{host.address},{host.name}"]
        assert key.startswith("ssh-ed25519 ")
        assert key == _host_pubkey(lab_api, i)
    assert len(set(entries.values())) == 3  # one key per host
    assert not list(lab.known_hosts.parent.glob(".known_hosts.*"))  # no temp file left over


def test_ansible_reaches_the_lab_with_host_keys_checked(lab: LabStatus, cp_dir: Path) -> None:
    assert lab.inventory is not None
    proc = _ansible("lab", lab.inventory, cp_dir, "-m", "ping", "-vvv")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.stdout.count("SUCCESS") == 3
    # what ssh was told (-vvv shows the command): the lab's known_hosts, strictly, nothing else
    assert f"UserKnownHostsFile={lab.known_hosts}" in proc.stdout
    assert "StrictHostKeyChecking=yes" in proc.stdout
    assert "StrictHostKeyChecking=no" not in proc.stdout
    assert "UserKnownHostsFile=/dev/null" not in proc.stdout


def test_a_host_with_another_key_is_refused_and_nothing_reaches_it(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, cp_dir: Path
) -> None:
    assert lab.known_hosts is not None
    victim, other = lab.hosts[0].name, lab.hosts[1].name
    wrong = tmp_path / "known_hosts"
    wrong.write_text(_with_key(lab.known_hosts.read_text(), victim, _other_key(tmp_path)))
    inventory = _inventory_with(lab, tmp_path, wrong)
    marker = f"/root/host-key-probe-{uuid.uuid4().hex[:8]}"

    proc = _ansible("lab", inventory, cp_dir, "-m", "command", "-a", f"touch {marker}")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{victim} | UNREACHABLE!" in out, out[-3000:]
    assert any(text in out for text in REFUSED), out[-3000:]
    assert f"{other} | CHANGED" in out, out[-3000:]  # the copy works for the hosts it still knows
    assert not _marker_exists(lab_api, victim, marker)
    assert _marker_exists(lab_api, other, marker)
    lab_api.ssh(other, ["rm", "-f", marker])


def test_an_unknown_host_is_refused(lab: LabStatus, tmp_path: Path, cp_dir: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = _ansible("lab", _inventory_with(lab, tmp_path, empty), cp_dir, "-m", "ping")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("UNREACHABLE!") == 3, out[-3000:]
    assert "Host key verification failed" in out, out[-3000:]


def _fresh_cp(tmp_path: Path, name: str) -> dict[str, str]:
    path = Path(tempfile.mkdtemp(prefix=f"hk{name}-", dir="/tmp"))
    return {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(path)}


def _ping_playbook(tmp_path: Path, marker: str) -> Path:
    book = tmp_path / "book" / "probe.yml"
    book.parent.mkdir()
    book.write_text(
        yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [{"command": f"touch {marker}"}]}])
    )
    return book


def test_shipyards_runner_refuses_a_host_whose_key_is_not_known(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_playbook (ansible_env) leaves checking on for any inventory, not only the lab's.

    The "user" inventory names its own known_hosts (empty: this host was never accepted) and
    says nothing about StrictHostKeyChecking: ssh's default applies, and in batch mode an
    unknown host is refused. On the old code ANSIBLE_SSH_ARGS said StrictHostKeyChecking=no.
    """
    assert lab.inventory is not None
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))
    marker = f"/root/host-key-runner-{uuid.uuid4().hex[:8]}"
    book = _ping_playbook(tmp_path, marker)
    target = lab.hosts[2]

    # each run its own ControlPath dir: a live master (made with the key checked) is reused
    # by ssh without a new host key check, which would hide the second run's refusal
    ok = run_playbook(book, inventory=lab.inventory, limit=target.name, env=_fresh_cp(tmp_path, "a"))
    assert ok.status is RunStatus.SUCCESSFUL, ok.failures
    assert _marker_exists(lab_api, target.name, marker)
    lab_api.ssh(target.name, ["rm", "-f", marker])

    empty = tmp_path / "user_known_hosts"
    empty.write_text("")
    doc: dict[str, Any] = yaml.safe_load(lab.inventory.read_text())
    hvars = doc["all"]["children"]["lab"]["hosts"][target.name]
    user_inventory = tmp_path / "user.yml"
    user_inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        target.name: {
                            "ansible_host": hvars["ansible_host"],
                            "ansible_user": "root",
                            "ansible_ssh_private_key_file": hvars["ansible_ssh_private_key_file"],
                            "ansible_ssh_common_args": f"-o UserKnownHostsFile={empty}",
                        }
                    }
                }
            }
        )
    )
    refused = run_playbook(book, inventory=user_inventory, env=_fresh_cp(tmp_path, "b"))
    assert refused.status is RunStatus.FAILED
    (host,) = refused.hosts
    assert host.unreachable, refused.failures
    assert any("Host key verification failed" in f.message for f in refused.failures), refused.failures
    assert not _marker_exists(lab_api, target.name, marker)


def test_lab_ssh_and_status_use_the_lab_known_hosts_and_a_restart_keeps_the_key(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, cp_dir: Path
) -> None:
    assert lab.known_hosts is not None and lab.inventory is not None
    target = lab.hosts[2]
    good = lab.known_hosts.read_text()
    key_before = _host_pubkey(lab_api, 3)
    try:
        lab.known_hosts.write_text(_with_key(good, target.name, _other_key(tmp_path)))
        proc = lab_api.ssh(target.name, ["true"])
        assert proc.returncode == 255
        assert any(text in proc.stderr for text in REFUSED), proc.stderr
        status = {h.name: h for h in lab_api.status().hosts}
        assert status[target.name].up and not status[target.name].ssh_ok
        assert status[lab.hosts[0].name].ssh_ok

        # a restart: the host keeps its key; the lab rewrites known_hosts from the key it
        # recorded when it made it (not from what answers), so the tampered line is gone
        lab_api.stop_host(target.name)
        lab_api.start_host(target.name)
    finally:
        if lab.known_hosts.read_text() != good:
            lab.known_hosts.write_text(good)
    assert lab.known_hosts.read_text() == good
    assert _host_pubkey(lab_api, 3) == key_before
    assert lab_api.ssh(target.name, ["true"]).returncode == 0
    proc = _ansible(target.name, lab.inventory, cp_dir, "-m", "ping")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert lab_api.status().up


def test_a_bake_refuses_a_host_with_another_key(
    lab: LabStatus,
    lab_api: Lab,
    tmp_path: Path,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Packer's Ansible provisioner checks the bake host's key against the inventory's known_hosts.

    (Packer's own SSH communicator accepts any key; it only authenticates and copies nothing.)
    """
    from _hello import DIST, sha

    from shipyard import api
    from shipyard.strategies.ami.packer import PackerError

    assert lab.known_hosts is not None and lab.aws_endpoint is not None
    monkeypatch.setenv("AWS_ENDPOINT_URL", lab.aws_endpoint)
    name = "hkhello"
    data = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    data.update(
        name=name,
        version="1.0.0",
        instances=1,
        ports={"base": 8380},
        artifact={"path": str(DIST / "hello-1.0.0.tar"), "sha256": sha("1.0.0"), "kind": "tarball"},
    )
    data["ami"]["launch_template"] = f"shipyard-{name}"
    spec = tmp_path / f"{name}.yml"
    spec.write_text(yaml.safe_dump(data))
    victim = lab.hosts[1].name
    wrong = tmp_path / "known_hosts"
    wrong.write_text(_with_key(lab.known_hosts.read_text(), victim, _other_key(tmp_path)))

    lines: list[str] = []
    with pytest.raises(PackerError) as info:
        api.bake(
            spec,
            inventory=_inventory_with(lab, tmp_path, wrong),
            host=victim,
            force=True,
            progress=lambda event: lines.append(event.message),
        )
    out = "\n".join(lines)
    assert "Data could not be sent to remote host" in str(info.value), info.value
    assert any(t in out for t in REFUSED), out[-3000:]
    assert f"UserKnownHostsFile={wrong}" in out  # the provisioner used the inventory's file
    # Packer's own communicator does not check (InsecureIgnoreHostKey): it connected anyway,
    # but it only authenticates; everything that reaches the host goes through Ansible
    assert "Connected to SSH!" in out
    proc = lab_api.ssh(victim, ["test", "-e", f"/opt/shipyard/{name}"])
    assert proc.returncode == 1, proc.stderr  # the bake never reached the host
    assert not aws("ec2").describe_images(Filters=[{"Name": "tag:shipyard:service", "Values": [name]}])[
        "Images"
    ]
