"""The user's Ansible settings are theirs, on real lab hosts (the ecosystem issue, item 1).

A deploy run from a directory with an ``ansible.cfg`` reads that file (and ansible-playbook runs
in that directory, so a relative path in it means what it means to the user), and an exported
``ANSIBLE_SSH_ARGS`` reaches ssh. On the old code both were lost: ansible-playbook ran in the
collection's playbooks dir, the file was never read, the variable was overwritten.

The lab's inventory sets ``ansible_ssh_args`` per host (host variables beat the environment
and every config file), so what is observed here is what the inventory leaves to the user:
``control_path_dir`` and ``ssh_extra_args`` from the file, ``ssh_args`` with an inventory of
the user's own.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, sha

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core import ansible_config
from shipyard.core.runner import RunStatus, run_playbook
from shipyard.lab import LabStatus

pytestmark = pytest.mark.lab


@pytest.fixture
def user_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The directory the user runs shipyard from (short: ssh control sockets live under it)."""
    for key in list(os.environ):
        if key.startswith("ANSIBLE_") or key == "SHIPYARD_INVENTORY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(ansible_config, "SYSTEM_CONFIG", tmp_path / "no-system.cfg")
    path = Path(tempfile.mkdtemp(prefix="ucfg-", dir="/tmp"))
    path.chmod(0o755)
    monkeypatch.chdir(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _spec(where: Path, name: str, base: int) -> Path:
    doc = {
        "name": name,
        "version": "1.0.0",
        "artifact": {"path": str(DIST / "hello-1.0.0.tar"), "sha256": sha("1.0.0")},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": 1,
        "ports": {"base": base},
        "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": 15},
    }
    path = where / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _sockets(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if stat.S_ISSOCK(p.stat().st_mode)] if path.is_dir() else []


def test_a_deploy_reads_the_ansible_cfg_of_the_users_directory(
    lab: LabStatus, user_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``control_path_dir = cp`` (relative to the user's directory): ssh's masters appear there."""
    assert lab.inventory is not None
    cfg = user_dir / "ansible.cfg"
    cfg.write_text("[ssh_connection]\ncontrol_path_dir = cp\n")
    spec = _spec(user_dir, "ucfg", 8470)
    host = lab.hosts[0].name
    try:
        code = cli_main(["deploy", str(spec), "-i", str(lab.inventory), "--hosts", host, "-q", "-v"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert f"shipyard: using Ansible config {cfg} (./ansible.cfg)" in err
        assert _sockets(user_dir / "cp"), "no ssh control socket under the user's control_path_dir"
    finally:
        api.remove(spec, inventory=lab.inventory, hosts=host)


def test_a_broken_ssh_setting_in_the_users_ansible_cfg_breaks_the_run(lab: LabStatus, user_dir: Path) -> None:
    """The same file with ``ssh_extra_args = -o ProxyCommand=false``: no host can be reached."""
    assert lab.inventory is not None
    (user_dir / "ansible.cfg").write_text(
        "[ssh_connection]\ncontrol_path_dir = cp-broken\nssh_extra_args = -o ProxyCommand=false\n"
    )
    spec = _spec(user_dir, "ucfgbad", 8475)
    result = api.status(spec, inventory=lab.inventory, hosts=lab.hosts[1].name)
    assert not result.ok
    assert result.failures and all(f.unreachable for f in result.failures), result.failures
    (user_dir / "ansible.cfg").unlink()  # and without it the same call works
    assert api.status(spec, inventory=lab.inventory, hosts=lab.hosts[1].name).ok


def _user_inventory(lab: LabStatus, where: Path) -> Path:
    """The lab's hosts as a user's own inventory: no ``ansible_ssh_args`` host variable."""
    assert lab.inventory is not None
    doc: dict[str, Any] = yaml.safe_load(lab.inventory.read_text())
    for hvars in doc["all"]["children"]["lab"]["hosts"].values():
        hvars.pop("ansible_ssh_args")
    out = where / "user-inventory.yml"
    out.write_text(yaml.safe_dump(doc))
    return out


def test_an_exported_ansible_ssh_args_reaches_ssh(
    lab: LabStatus, user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: shipyard's ANSIBLE_SSH_ARGS replaced the user's, and this run succeeded."""
    inventory = _user_inventory(lab, user_dir)
    book = user_dir / "ping.yml"
    book.write_text(
        "- name: Ping\n  hosts: all\n  gather_facts: false\n"
        "  tasks:\n    - name: Ping\n      ansible.builtin.ping:\n"
    )
    host = lab.hosts[2].name
    fine = run_playbook(book, inventory=inventory, limit=host)
    assert fine.status is RunStatus.SUCCESSFUL, fine.failures
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o ProxyCommand=false")
    broken = run_playbook(book, inventory=inventory, limit=host)
    assert broken.status is not RunStatus.SUCCESSFUL
    assert broken.failures and all(f.unreachable for f in broken.failures), broken.failures
