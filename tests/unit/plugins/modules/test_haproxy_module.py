"""service_instances with a balancer: drain before restart, ready after health, maint on failure."""

from __future__ import annotations

import pytest
from ansible_collections.shipyard.deploy.plugins.module_utils import _reconcile
from ansible_collections.shipyard.deploy.plugins.modules import service_instances
from test_haproxy import FakeHaproxy
from test_service_instances import args, host, run_module  # noqa: F401 - the host fixture


@pytest.fixture
def lb(tmp_path, host, monkeypatch):  # noqa: F811 - the host fixture
    server = FakeHaproxy(tmp_path / "admin.sock", [8080, 8081])
    log = server.commands
    original = host.run_command

    def run_command(argv, **kw):
        if argv[1] == "restart":
            log.append("restart " + " ".join(argv[3:]))
        return original(argv, **kw)

    monkeypatch.setattr(
        service_instances.AnsibleModule, "run_command", lambda self, argv, **kw: run_command(argv, **kw)
    )
    yield server
    server.close()


def balanced(host, lb, **extra):  # noqa: F811 - the host fixture
    return args(host, balancer={"socket": lb.path, "backend": "hello", "drain_timeout": 2}, **extra)


def changes(lb):
    return [c for c in lb.commands if c != "show stat"]


def test_upgrade_drains_restarts_and_readies_one_at_a_time(host, lb, capsys):  # noqa: F811
    result = run_module(balanced(host, lb, release="2.0.0"), capsys)
    assert result["changed"] is True, result
    assert changes(lb) == [
        "set server hello/8080 state drain",
        "set server hello/8080 state maint",
        "restart shipyard-hello@8080.service",
        "set server hello/8080 state ready",
        "set server hello/8081 state drain",
        "set server hello/8081 state maint",
        "restart shipyard-hello@8081.service",
        "set server hello/8081 state ready",
    ]
    assert [(i["release"], i["in_rotation"]) for i in result["instances"]] == [("2.0.0", True)] * 2
    assert [e.get("drained") or e.get("ready") for e in result["balancer"]] == [
        [8080],
        [8080],
        [8081],
        [8081],
    ]


def test_failed_health_keeps_the_instance_out_and_rolls_back(host, lb, capsys):  # noqa: F811
    host.health["result"] = False
    result = run_module(balanced(host, lb, release="2.0.0"), capsys)
    assert result["failed"] is True
    assert result["rolled_back"] is True
    assert "shipyard-hello@8080.service (port 8080)" in result["msg"]
    assert "state ready" not in " ".join(changes(lb))  # never back in rotation while unhealthy
    assert lb.state == {8080: "MAINT", 8081: "UP"}
    assert changes(lb)[-1] == "restart shipyard-hello@8080.service"  # the rollback's restart
    by_port = {i["port"]: i for i in result["instances"]}
    assert by_port[8080]["in_rotation"] is False and by_port[8081]["in_rotation"] is True


def test_rollback_readies_instances_that_pass_again(host, lb, capsys, monkeypatch):  # noqa: F811
    answers = iter([False, True])  # the new release fails, the old one passes
    monkeypatch.setattr(
        _reconcile,
        "wait_all",
        lambda ports, *a, **k: {
            p: {"healthy": h, "reason": "HTTP 200" if h else "HTTP 503", "attempts": 1, "seconds": 0.1}
            for p, h in zip(ports, [next(answers)] * len(ports), strict=True)
        },
    )
    result = run_module(balanced(host, lb, release="2.0.0"), capsys)
    assert result["failed"] is True
    assert "Rolled back to 1.0.0" in result["msg"]
    assert changes(lb)[-1] == "set server hello/8080 state ready"
    assert lb.state == {8080: "UP", 8081: "UP"}


def test_noop_readies_an_instance_left_in_maint(host, lb, capsys):  # noqa: F811
    lb.state[8081] = "MAINT"
    result = run_module(balanced(host, lb), capsys)
    assert result["changed"] is True
    assert [a["action"] for a in result["actions"]] == ["ready"]
    assert lb.state[8081] == "UP"
    assert host.mutating_calls() == []


def test_without_a_balancer_in_rotation_is_null(host, capsys):  # noqa: F811
    result = run_module(args(host), capsys)
    assert {i["in_rotation"] for i in result["instances"]} == {None}
