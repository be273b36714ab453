"""service_converge's host side: the spec in the converge's form, the files' texts, and phase
one (leases and releases), which must change nothing when an artifact is missing or a lease is
held by another run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.filter.systemd import FilterModule
from ansible_collections.shipyard.deploy.plugins.module_utils import _converge, _units
from ansible_collections.shipyard.deploy.plugins.modules import service_converge

from shipyard.core.spec import load_spec

SHA = "a" * 64
OWNER = {"token": "ctl:boot:1:1", "controller": "ctl", "boot_id": "boot", "pid": 1, "pid_start": "1"}


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "hello.yml"
    path.write_text(
        "name: hello\nversion: 1.0.0\n"
        f"artifact: {{path: hello.tar, sha256: '{SHA}'}}\n"
        "command: /usr/bin/python3 server.py --port {port}\n"
        "instances: 2\nports: {base: 8080}\nenv: {GREETING: 'hi $USER 100%'}\n"
        "resources: {memory: 64M, cpu: 50%}\nbalancer: {port: 9000}\n"
    )
    return load_spec(path).to_ansible()


def test_normalize_takes_the_rendered_spec_as_it_is(spec: dict[str, Any]) -> None:
    svc = _converge.normalize(spec)
    assert svc["name"] == "hello" and svc["release"] == "1.0.0" and svc["runtime"] == "process"
    assert svc["ports"] == [8080, 8081]
    assert svc["artifact"] == {"sha256": SHA, "kind": "tarball", "name": "hello.tar"}
    assert svc["health"]["path"] == "/health" and svc["max_unavailable"] == 1
    assert svc["balancer"] == {"port": 9000, "drain_timeout": 10.0}
    assert svc["keep"] == 3 and svc["resources"]["memory"] == "64M"
    assert _converge.normalize(spec, release="2.0.0", runtime="container")["runtime"] == "container"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ports": "8080"}, "ports='8080': expected a list"),
        ({"health": {"path": "/h"}}, "health.timeout is missing"),
        ({"runtime": "vm"}, "runtime='vm': use process or container"),
        ({"balancer": {"port": "x"}}, "balancer.port='x': expected a int"),
    ],
)
def test_normalize_names_the_field_of_a_bad_value(
    spec: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(_converge.ConvergeFailure) as info:
        _converge.normalize({**spec, **change})
    assert message in info.value.msg and "service hello" in info.value.msg


def test_the_unit_keeps_hostile_values_data(spec: dict[str, Any]) -> None:
    command = ["/usr/bin/python3", "server.py", "--name", "$(id) %n ${PATH}", "{port}"]
    unit = _units.process_unit("hello", command, "/etc/shipyard/hello", "/opt/shipyard/hello")
    assert 'ExecStart="/usr/bin/python3" "server.py" "--name" "$$(id) %%n $${PATH}" "%i"' in unit
    assert "DynamicUser=yes" in unit and "NoNewPrivileges=yes" in unit and "CapabilityBoundingSet=" in unit
    env = _units.env_file({"GREETING": 'say "hi" $USER `id`\nX=1'})
    assert 'GREETING="say \\"hi\\" \\$USER \\`id\\`\nX=1"' in env
    with pytest.raises(_units.UnitTextError, match="ExecStart prefix"):
        _units.process_unit("hello", ["+/bin/sh"], "/e", "/h")
    with pytest.raises(_units.UnitTextError, match="systemd limit"):
        _units.process_unit("hello", ["/bin/true"], "/e", "/h", resources={"memory": "1G\nUser=root"})
    with pytest.raises(_units.UnitTextError, match="environment name"):
        _units.env_file({"A=B": "x"})


def test_the_roles_filters_and_the_converge_render_the_same_text() -> None:
    filters = FilterModule().filters()
    args = (
        "hello",
        ["/bin/true", "{port}"],
        "/etc/shipyard/hello",
        "/opt/shipyard/hello",
        None,
        {"cpu": "50%"},
        30,
    )
    assert filters["service_process_unit"](*args) == _units.process_unit(*args)
    assert filters["service_env_file"]({"A": "1"}) == _units.env_file({"A": "1"})
    lb = ("hello", [8080, 8081], 9000, "/health", "/run/x.sock", 4096, 30)
    assert filters["service_haproxy_config"](*lb) == _units.haproxy_config(*lb)
    assert "server 8081 127.0.0.1:8081" in _units.haproxy_config(*lb)


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    base = {
        "root": str(tmp_path / "opt"),
        "config_dir": str(tmp_path / "etc"),
        "unit_dir": str(tmp_path / "units"),
        "port_registry": str(tmp_path / "etc/ports.json"),
        "lock_dir": str(tmp_path / "locks"),
        "owner": OWNER,
    }
    with patch_module_args({**base, **args}), pytest.raises(SystemExit):
        service_converge.main()
    return json.loads(capsys.readouterr().out)


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_missing_artifact_changes_nothing_and_keeps_the_lease(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any]
) -> None:
    res = run(tmp_path, capsys, service=spec)
    assert res["missing"] == ["hello"] and res["changed"] is False, res
    # only the lease exists: no port claim, no release dir, no unit
    assert tree(tmp_path) == ["hello.yml", "locks", "locks/.hello.lease.flock", "locks/hello.json"]
    assert json.loads((tmp_path / "locks/hello.json").read_text())["token"] == OWNER["token"]


def test_a_lease_of_another_live_run_is_reported_and_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any]
) -> None:
    (tmp_path / "locks").mkdir()
    other = dict(OWNER, token="other:boot:2:2", acquired_at=9e12)  # fresh: not past the ttl
    (tmp_path / "locks/hello.json").write_text(json.dumps(other))
    res = run(tmp_path, capsys, service=spec)
    assert res["locked"]["hello"]["token"] == "other:boot:2:2", res
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()
    # the action plugin breaks a dead holder's lease by its token
    res = run(tmp_path, capsys, service=spec, break_tokens={"hello": "other:boot:2:2"})
    assert res["broken"]["hello"]["token"] == "other:boot:2:2" and res["missing"] == ["hello"]


def test_a_version_installed_from_another_artifact_fails_that_service_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any]
) -> None:
    release = tmp_path / "opt/hello/releases/1.0.0"
    release.mkdir(parents=True)
    (release / ".shipyard-release.json").write_text(json.dumps({"sha256": "b" * 64}))
    res = run(tmp_path, capsys, service=spec)
    assert res["failed"] is True
    assert res["msg"] == (
        f"version 1.0.0 is already on this host with artifact sha256 {'b' * 64} (this deploy has {SHA}); "
        "bump `version` in the service spec."
    )
    assert not (tmp_path / "units").exists() and not (tmp_path / "etc/ports.json").exists()
    assert not (tmp_path / "locks/hello.json").exists()  # the lease is dropped on the way out


def test_without_the_action_plugin_the_module_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any]
) -> None:
    res = run(tmp_path, capsys, service=spec, owner=None)
    assert res["failed"] is True and "owner.token is required" in res["msg"]
    assert not os.path.exists(tmp_path / "locks")
