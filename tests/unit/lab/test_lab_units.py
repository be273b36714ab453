"""Pure parts of the lab: names, subnets, state (de)serialisation, inventory rendering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from shipyard.core.errors import ShipyardError, SpecError
from shipyard.core.rootfs import PACKAGES, base_key
from shipyard.lab import HostStatus, Lab, LabStatus, list_labs
from shipyard.lab._launch import main as launch_main
from shipyard.lab._model import (
    MAX_HOSTS,
    HostState,
    LabState,
    bridge_address,
    bridge_name,
    host_address,
    host_name,
    known_hosts_line,
    netns_name,
    pick_subnet,
    render_inventory,
    render_known_hosts,
    ssh_common_args,
    subnets_in_addresses,
    validate_hosts,
    validate_name,
    veth_name,
)


@pytest.mark.parametrize("name", ["a", "default", "pytest", "lifecy", "a1234567", "x9"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name
    assert Lab(name, state_root=Path("/nonexistent")).name == name


@pytest.mark.parametrize("name", ["", "A", "1abc", "a-b", "a_b", "abcdefghi", "lab 1", "ab/c", "é", "a\n"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(SpecError) as info:
        Lab(name)
    assert info.value.field == "name"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("hosts", [0, -1, MAX_HOSTS + 1, True, 1.5, "2"])
def test_invalid_host_counts(hosts: object) -> None:
    with pytest.raises(SpecError) as info:
        validate_hosts(hosts)  # type: ignore[arg-type]
    assert info.value.field == "hosts"


def test_kernel_names_fit_and_are_per_lab() -> None:
    longest = "abcdefgh"
    for index in (1, MAX_HOSTS):
        for name in (bridge_name(longest), veth_name(longest, index), netns_name(longest, index)):
            assert len(name) <= 15
            assert name.startswith(f"sy-{longest}-")
    assert bridge_name("a") != veth_name("a", 1)
    # no lab's names are a prefix-match for another lab's ("a" vs "ab")
    assert not veth_name("ab", 1).startswith("sy-a-")
    assert host_name("dev", 2) == "dev-h2"


def test_addresses() -> None:
    assert bridge_address(7) == "10.213.7.1"
    assert host_address(7, 1) == "10.213.7.11"
    assert host_address(7, MAX_HOSTS).split(".")[-1] == str(10 + MAX_HOSTS)


def test_pick_subnet() -> None:
    assert pick_subnet([]) == 1
    assert pick_subnet([1, 2, 4]) == 3
    with pytest.raises(ShipyardError, match="no free lab subnet"):
        pick_subnet(range(0, 256))


def test_subnets_in_addresses() -> None:
    addrs = ["127.0.0.1/8", "10.213.3.1/24", "10.213.9.7/24", "10.214.5.1/24", "10.2.1.1/16"]
    assert subnets_in_addresses(addrs) == {3, 9}


def _state() -> LabState:
    state = LabState(
        name="dev",
        subnet=5,
        bridge="sy-dev-br",
        ssh_key="/s/dev/id_ed25519",
        moto_pid=42,
        moto_port=5000,
        inventory="/tmp/inv.yml",
        known_hosts="/s/dev/known_hosts",
    )
    state.hosts = [
        HostState(
            index=i,
            name=host_name("dev", i),
            address=host_address(5, i),
            dir=f"/s/dev/hosts/{i}",
            netns=netns_name("dev", i),
            pid=100 + i,
            cgroups=[f"/sys/fs/cgroup/memory/shipyard-lab/dev/{i}"],
            host_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i}key root@dev-h{i}",
        )
        for i in (1, 2)
    ]
    return state


def test_state_round_trip() -> None:
    state = _state()
    text = state.to_json()
    assert json.loads(text)["hosts"][1]["netns"] == "sy-dev-2"
    assert LabState.from_json(text) == state
    assert state.aws_endpoint == "http://127.0.0.1:5000"
    assert LabState(name="x", subnet=1).aws_endpoint is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"version": 99, "name": "x", "subnet": 1}',
        '{"version": 1, "name": "x", "subnet": 1, "bogus": 2}',
    ],
)
def test_corrupt_state(text: str) -> None:
    with pytest.raises(ShipyardError):
        LabState.from_json(text)


def test_inventory() -> None:
    doc = yaml.safe_load(render_inventory(_state()))
    group = doc["all"]["children"]["lab"]
    assert group["vars"]["shipyard_aws_endpoint"] == "http://127.0.0.1:5000"
    assert "shipyard_registry" not in group["vars"]  # no registry started
    assert list(group["hosts"]) == ["dev-h1", "dev-h2"]
    h2 = group["hosts"]["dev-h2"]
    assert h2 == {
        "ansible_host": "10.213.5.12",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/s/dev/id_ed25519",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_host_key_checking": True,
        "ansible_ssh_args": "-C -o ControlMaster=auto -o ControlPersist=60s",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/s/dev/known_hosts "
        "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes",
    }


def test_inventory_never_disables_host_key_checking() -> None:
    hosts = yaml.safe_load(render_inventory(_state()))["all"]["children"]["lab"]["hosts"]
    for hvars in hosts.values():
        args = hvars["ansible_ssh_common_args"].split()
        assert "StrictHostKeyChecking=yes" in args and "StrictHostKeyChecking=no" not in args
        assert "UserKnownHostsFile=/s/dev/known_hosts" in args
        assert hvars["ansible_host_key_checking"] is True


def test_inventory_needs_a_known_hosts_file() -> None:
    state = _state()
    state.known_hosts = None
    with pytest.raises(ShipyardError, match="known_hosts"):
        render_inventory(state)


def test_known_hosts_lists_each_hosts_recorded_key_by_address_and_name() -> None:
    state = _state()
    lines = [ln for ln in render_known_hosts(state).splitlines() if not ln.startswith("#")]
    assert lines == [
        "10.213.5.11,dev-h1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI1key",
        "10.213.5.12,dev-h2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI2key",
    ]
    state.hosts[1].host_key = None  # not made yet: left out, never a wildcard
    assert len(render_known_hosts(state).splitlines()) == 2
    with pytest.raises(ShipyardError, match="no recorded host key"):
        known_hosts_line(state.hosts[1])


@pytest.mark.parametrize("path", ["", "/a b/known_hosts", "/a'b", '/a"b', "/a\tb"])
def test_ssh_common_args_refuses_paths_ssh_would_split(path: str) -> None:
    with pytest.raises(ShipyardError):
        ssh_common_args(path)


def test_state_without_host_keys_still_loads() -> None:
    """A state file written before host keys were recorded still parses (keys None)."""
    doc = json.loads(_state().to_json())
    for host in doc["hosts"]:
        del host["host_key"]
    del doc["known_hosts"]
    again = LabState.from_json(json.dumps(doc))
    assert again.known_hosts is None and again.hosts[0].host_key is None


def test_inventory_without_aws() -> None:
    state = _state()
    state.moto_port = None
    doc = yaml.safe_load(render_inventory(state))
    assert "shipyard_aws_endpoint" not in doc["all"]["children"]["lab"]["vars"]


def test_base_key() -> None:
    assert base_key() == base_key(PACKAGES)
    assert base_key() != base_key((*PACKAGES, "vim"))
    assert base_key() != base_key(suite="trixie")
    assert base_key(tuple(reversed(PACKAGES))) == base_key()


def test_status_of_a_lab_without_state(tmp_path: Path) -> None:
    status = Lab("nolab", state_root=tmp_path).status()
    assert status == LabStatus("nolab", False, (), None, None, tmp_path / "nolab", None)
    assert json.loads(json.dumps(status.to_dict()))["up"] is False


def test_status_to_dict() -> None:
    status = LabStatus(
        "dev",
        True,
        (HostStatus("dev-h1", "10.213.5.11", True, True, 7),),
        "http://127.0.0.1:1",
        Path("/i.yml"),
        Path("/s/dev"),
        Path("/s/dev/k"),
    )
    assert json.loads(json.dumps(status.to_dict())) == {
        "name": "dev",
        "up": True,
        "aws_endpoint": "http://127.0.0.1:1",
        "hosts": [{"name": "dev-h1", "address": "10.213.5.11", "up": True, "ssh_ok": True, "pid": 7}],
        "inventory": "/i.yml",
        "state_dir": "/s/dev",
        "ssh_key": "/s/dev/k",
        "registry": None,
        "known_hosts": None,
    }


def test_list_labs(tmp_path: Path) -> None:
    assert list_labs(tmp_path / "missing") == []
    for name in ("b", "a", "Bad", "c"):
        (tmp_path / name).mkdir()
    for name in ("b", "a", "Bad"):
        (tmp_path / name / "state.json").write_text("{}")
    (tmp_path / ".lock").write_text("")
    assert list_labs(tmp_path) == ["a", "b"]


def test_launcher_rejects_bad_usage() -> None:
    assert launch_main(["true"]) == 2
    assert (
        launch_main(
            [
                "--",
            ]
        )
        == 2
    )
    assert launch_main(["--bogus", "x", "--", "/bin/true"]) == 2


def test_inventory_names_the_registry_on_the_bridge_address() -> None:
    state = _state()
    state.registry_pid, state.registry_port = 43, 5000
    assert state.registry == "10.213.5.1:5000"
    group = yaml.safe_load(render_inventory(state))["all"]["children"]["lab"]
    assert group["vars"]["shipyard_registry"] == "10.213.5.1:5000"
    again = LabState.from_json(state.to_json())
    assert (again.registry_pid, again.registry) == (43, "10.213.5.1:5000")


def _no_user_ansible_settings(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    """A user with no Ansible config file and no ANSIBLE_* variable (shipyard's defaults apply)."""
    for key in list(os.environ):
        if key.startswith("ANSIBLE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(where))
    monkeypatch.chdir(where)
    monkeypatch.setattr("shipyard.core.ansible_config.SYSTEM_CONFIG", where / "no-system.cfg")


def test_runner_ansible_env_keeps_host_key_checking_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible_env() (every inventory, not only the lab's) must not turn host key checking off."""
    from shipyard.core.runner import ansible_env

    _no_user_ansible_settings(monkeypatch, tmp_path)
    env = ansible_env()
    # explicitly on: ansible-runner sets it to False in every run's environment that lacks it
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    ssh_args = env["ANSIBLE_SSH_ARGS"]
    assert "StrictHostKeyChecking" not in ssh_args
    assert "UserKnownHostsFile" not in ssh_args
    assert "ControlMaster=auto" in ssh_args and "ControlPersist=60s" in ssh_args
    assert ansible_env(extra={"X": "1"})["X"] == "1"


def test_runner_host_key_checking_survives_ansible_runner_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment ansible-runner really gives ansible-playbook keeps checking on."""
    from ansible_runner.config.runner import RunnerConfig

    from shipyard.core.runner import ansible_env

    _no_user_ansible_settings(monkeypatch, tmp_path)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "p.yml").write_text("[]\n")
    config = RunnerConfig(
        private_data_dir=str(tmp_path), playbook="p.yml", envvars=ansible_env(), suppress_env_files=True
    )
    config.prepare()
    assert config.env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "StrictHostKeyChecking" not in config.env["ANSIBLE_SSH_ARGS"]
