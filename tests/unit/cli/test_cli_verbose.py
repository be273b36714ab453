"""``-v`` says which Ansible config file, settings and inventory a command uses (on stderr)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _root import ROOT
from shipyard.cli import cli, main
from shipyard.core import ansible_config

HELLO = ROOT / "services" / "hello.yml"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("ANSIBLE_") or key == "SHIPYARD_INVENTORY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(ansible_config, "SYSTEM_CONFIG", tmp_path / "none.cfg")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return project


def test_verbose_names_the_cwd_config_and_what_the_user_set(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project / "ansible.cfg"
    cfg.write_text("[defaults]\nforks = 5\ninventory = hosts.yml\n")
    assert main(["status", str(HELLO), "-q", "-v"]) == 2  # the config's inventory is missing
    err = capsys.readouterr().err
    assert f"shipyard: using Ansible config {cfg} (./ansible.cfg)" in err
    assert f"forks: yours ([defaults] forks in {cfg})" in err
    assert "pipelining: shipyard default (ANSIBLE_PIPELINING=True)" in err
    assert f"shipyard: inventory {project / 'hosts.yml'} ([defaults] inventory in {cfg})" in err


def test_verbose_says_none_and_names_ansible_config(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(HELLO), "-q", "-v", "-i", "missing.yml"]) == 2
    err = capsys.readouterr().err
    assert "shipyard: using Ansible config none" in err
    assert "(--inventory)" in err
    other = project.parent / "other.cfg"
    other.write_text("[ssh_connection]\nssh_args = -o ProxyJump=bastion\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(other))
    monkeypatch.setenv("ANSIBLE_FORKS", "9")
    assert main(["status", str(HELLO), "-q", "-v", "-i", "missing.yml"]) == 2
    err = capsys.readouterr().err
    assert f"shipyard: using Ansible config {other} (ANSIBLE_CONFIG)" in err
    assert f"ssh_args: yours ([ssh_connection] ssh_args in {other})" in err
    assert "forks: yours ($ANSIBLE_FORKS)" in err


def test_without_verbose_nothing_is_said(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(HELLO), "-q", "-i", "missing.yml"]) == 2
    assert "using Ansible config" not in capsys.readouterr().err


def test_every_command_takes_verbose() -> None:
    for name, command in cli.commands.items():
        if getattr(command, "commands", None) is None:  # a group's subcommands are its own
            assert any("-v" in getattr(p, "opts", ()) for p in command.params), name
