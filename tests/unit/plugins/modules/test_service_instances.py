"""service_instances main() with systemctl patched: no-op, check mode, apply, rollback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _instances, _reconcile, _systemd
from ansible_collections.shipyard.deploy.plugins.modules import service_instances

MUTATING = {"enable", "disable", "start", "stop", "restart", "daemon-reload", "reset-failed"}


class FakeSystemd:
    """Answers list-units/show from a dict {port: (active, release)}; records every call."""

    def __init__(self, root, running):
        self.root = root
        self.running = dict(running)
        self.calls = []

    def run_command(self, argv, **_kwargs):
        self.calls.append(argv)
        verb = argv[1]
        ports = [int(a.split("@")[1].split(".")[0]) for a in argv if "@" in a and "*" not in a]
        if verb == "list-units":
            out = "".join(f"shipyard-hello@{p}.service loaded active running x\n"
                          for p in self.running)
            return 0, out, ""
        if verb == "show":
            blocks = []
            for port in ports:
                release = self.running.get(port)
                blocks.append(
                    f"Id=shipyard-hello@{port}.service\nLoadState=loaded\n"
                    f"ActiveState={'active' if release else 'inactive'}\n"
                    f"SubState={'running' if release else 'dead'}\n"
                    f"MainPID={1000 + port if release else 0}\nNRestarts=0\n"
                    f"MemoryCurrent=1000\nUnitFileState={'enabled' if release else 'disabled'}\n")
            return 0, "\n".join(blocks), ""
        if verb in ("enable", "restart"):
            current = os.path.basename(os.readlink(os.path.join(self.root, "hello", "current")))
            for port in ports:
                self.running[port] = current
            return 0, "", ""
        if verb == "disable":
            for port in ports:
                self.running.pop(port, None)
            return 0, "", ""
        return 0, "", ""

    def readlink(self, path):
        if path.startswith("/proc/"):
            port = int(path.split("/")[2]) - 1000
            release = self.running.get(port)
            return os.path.join(self.root, "hello", "releases", release) if release else None
        try:
            return os.readlink(path)
        except OSError:
            return None

    def mutating_calls(self):
        return [c for c in self.calls if c[1] in MUTATING]


@pytest.fixture
def host(tmp_path, monkeypatch):
    releases = tmp_path / "hello" / "releases"
    for name in ("1.0.0", "2.0.0"):
        (releases / name).mkdir(parents=True)
        (releases / name / ".shipyard-release.json").write_text(json.dumps({"version": name}))
    (tmp_path / "hello" / "current").symlink_to(releases / "1.0.0")
    fake = FakeSystemd(str(tmp_path), {8080: "1.0.0", 8081: "1.0.0"})
    monkeypatch.setattr(service_instances.AnsibleModule, "run_command",
                        lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(service_instances.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False: "/bin/" + name)
    monkeypatch.setattr(_instances, "read_link", fake.readlink)
    monkeypatch.setattr(_systemd.Systemctl, "wanted_units", staticmethod(lambda *a, **k: []))
    health = {"result": True}
    monkeypatch.setattr(_reconcile, "probe_all",
                        lambda ports, *a, **k: dict.fromkeys(ports, (health["result"], "HTTP 200")))
    monkeypatch.setattr(_reconcile, "wait_all", lambda ports, *a, **k: {
        p: {"healthy": health["result"], "reason": "HTTP 200" if health["result"] else "HTTP 503",
            "attempts": 1, "seconds": 0.1} for p in ports})
    fake.health = health
    return fake


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        service_instances.main()
    return json.loads(capsys.readouterr().out)


def args(host, **extra):
    base = {"service": "hello", "root": host.root, "ports": [8080, 8081], "release": "1.0.0",
            # what the spec gives (its model holds the defaults; the module has none)
            "health": {"path": "/health", "timeout": 5.0, "interval": 0.5, "start_timeout": 30.0},
            "max_unavailable": 1}
    base.update(extra)
    return base


def test_noop_changes_nothing(host, capsys):
    result = run_module(args(host), capsys)
    assert result["changed"] is False
    assert result["actions"] == []
    assert host.mutating_calls() == []
    assert [i["release"] for i in result["instances"]] == ["1.0.0", "1.0.0"]
    assert [c[1] for c in host.calls].count("show") == 1


def test_check_mode_reports_without_doing(host, capsys):
    result = run_module(args(host, release="3.0.0", ports=[8080, 8081, 8082],
                             _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert result["changed"] is True
    assert all(a["msg"].startswith("would ") for a in result["actions"])
    assert [a["action"] for a in result["actions"]] == ["activate", "start", "restart", "restart"]
    assert host.mutating_calls() == []
    assert os.readlink(os.path.join(host.root, "hello", "current")).endswith("1.0.0")
    assert result["diff"]["after"]["current"] == "3.0.0"


def test_upgrade_applies_rolling_restart(host, capsys):
    result = run_module(args(host, release="2.0.0", ports=[8080, 8081, 8082]), capsys)
    assert result["changed"] is True
    verbs = [c[1:] for c in host.mutating_calls()]
    assert verbs == [
        ["reset-failed", "--", "shipyard-hello@8082.service"],
        ["enable", "--now", "--", "shipyard-hello@8082.service"],
        ["restart", "--", "shipyard-hello@8080.service"],
        ["restart", "--", "shipyard-hello@8081.service"],
    ]
    assert result["current"] == "2.0.0"
    assert result["previous"] == "1.0.0"
    assert {i["release"] for i in result["instances"]} == {"2.0.0"}
    manifest = json.loads(
        (Path(host.root) / "hello" / "releases" / "2.0.0" / ".shipyard-release.json").read_text())
    assert manifest["activated"]


def test_failed_health_rolls_back(host, capsys):
    host.health["result"] = False
    result = run_module(args(host, release="2.0.0"), capsys)
    assert result["failed"] is True
    assert result["rolled_back"] is True
    assert "shipyard-hello@8080.service (port 8080)" in result["msg"]
    assert "HTTP 503" in result["msg"]
    assert result["failed_instance"]["port"] == 8080
    assert os.readlink(os.path.join(host.root, "hello", "current")).endswith("1.0.0")
    journal = [c for c in host.calls if c[0].endswith("journalctl")]
    assert journal == [["/bin/journalctl", "-u", "shipyard-hello@8080.service", "-n", "15",
                        "--no-pager", "-o", "cat"]]


def test_missing_release_fails_before_touching(host, capsys):
    result = run_module(args(host, release="9.9.9"), capsys)
    assert result["failed"] is True
    assert "release 9.9.9 is not on this host" in result["msg"]
    assert host.calls == []


def test_absent_stops_all_in_one_call(host, capsys):
    result = run_module({"service": "hello", "root": host.root, "state": "absent"}, capsys)
    assert result["changed"] is True
    assert [c[1:] for c in host.mutating_calls()] == [
        ["disable", "--now", "--", "shipyard-hello@8080.service", "shipyard-hello@8081.service"]]
