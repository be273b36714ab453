"""The container strategy's runc bundles: the pure config, and container_bundles main()."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _oci
from ansible_collections.shipyard.deploy.plugins.modules import container_bundles

IMAGE = {
    "Entrypoint": ["/usr/bin/python3", "server.py", "--port", "{port}"],
    "Cmd": None,
    "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
    "WorkingDir": "/app",
    "User": "",
}


def test_bundle_config_has_port_env_limits_and_no_privileges():
    config = _oci.bundle_config(IMAGE, "hello", 8081, env={"GREETING": "hi", "LANG": "en"},
                                secrets={"TOKEN": "s3cret"},
                                resources={"memory": "64M", "cpu": "50%", "tasks": 64})
    process = config["process"]
    assert process["args"] == ["/usr/bin/python3", "server.py", "--port", "8081"]
    assert process["env"] == ["GREETING=hi", "LANG=en", "PATH=/usr/bin:/bin", "PORT=8081",
                              "TOKEN=s3cret"]
    assert process["cwd"] == "/app"
    assert process["user"] == {"uid": 65534, "gid": 65534}
    assert process["noNewPrivileges"] is True
    assert all(v == [] for v in process["capabilities"].values())
    assert config["root"] == {"path": "../../rootfs", "readonly": True}
    assert {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=64m"]} in config["mounts"]
    linux = config["linux"]
    assert linux["resources"]["memory"] == {"limit": 64 * 1024 * 1024}
    assert linux["resources"]["cpu"] == {"quota": 50000, "period": 100000}
    assert linux["resources"]["pids"] == {"limit": 64}
    assert linux["cgroupsPath"] == "shipyard-hello-8081"  # relative: under the unit's cgroup
    assert "network" not in [n["type"] for n in linux["namespaces"]]  # the host's netns


@pytest.mark.parametrize(("user", "expected"), [
    ("", {"uid": 65534, "gid": 65534}),
    ("0", {"uid": 65534, "gid": 65534}),
    ("root", {"uid": 65534, "gid": 65534}),
    ("1000", {"uid": 1000, "gid": 1000}),
    ("1000:100", {"uid": 1000, "gid": 100}),
])
def test_process_user_is_never_root(user, expected):
    assert _oci.process_user(user) == expected


def test_bad_resources_and_images_name_the_fix():
    with pytest.raises(_oci.BundleError, match=r"resources\.memory=.64."):
        _oci.bundle_config(IMAGE, "hello", 8080, resources={"memory": "64"})
    with pytest.raises(_oci.BundleError, match="no Entrypoint or Cmd"):
        _oci.bundle_config({}, "hello", 8080)


@pytest.fixture
def release(tmp_path):
    path = tmp_path / "hello" / "releases" / "1.0.0"
    (path / "rootfs").mkdir(parents=True)
    (path / "image.json").write_text(json.dumps({"digest": "sha256:abc", "config": IMAGE}))
    return path


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        container_bundles.main()
    return json.loads(capsys.readouterr().out)


def test_writes_bundles_0600_then_changes_nothing(tmp_path, release, capsys):
    args = {"service": "hello", "root": str(tmp_path), "release": "1.0.0", "ports": [8080, 8081],
            "secrets": {"TOKEN": "s3cret"}, "resources": {"memory": "64M"}}
    first = run_module(args, capsys)
    assert first["changed"] is True
    assert first["written"] == [8080, 8081]
    assert "s3cret" not in json.dumps(first)
    config = release / "bundles" / "8080" / "config.json"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config.parent).st_mode) == 0o700
    assert "TOKEN=s3cret" in json.loads(config.read_text())["process"]["env"]
    manifest = json.loads((release / ".shipyard-release.json").read_text())
    assert (manifest["version"], manifest["image"]) == ("1.0.0", "sha256:abc")
    again = run_module(args, capsys)
    assert (again["changed"], again["written"], again["removed"]) == (False, [], [])
    fewer = run_module(dict(args, ports=[8080]), capsys)
    assert (fewer["changed"], fewer["removed"]) == (True, [8081])
    assert not (release / "bundles" / "8081").exists()


def test_check_mode_writes_nothing(tmp_path, release, capsys):
    args = {"service": "hello", "root": str(tmp_path), "release": "1.0.0", "ports": [8080],
            "_ansible_check_mode": True}
    result = run_module(args, capsys)
    assert (result["changed"], result["written"]) == (True, [8080])
    assert not (release / "bundles").exists()


def test_a_release_without_image_fails_with_the_fix(tmp_path, capsys):
    (tmp_path / "hello" / "releases" / "1.0.0").mkdir(parents=True)
    args = {"service": "hello", "root": str(tmp_path), "release": "1.0.0", "ports": [8080]}
    result = run_module(args, capsys)
    assert result["failed"] is True
    assert "no readable" in result["msg"] and "oci_image" in result["msg"]
