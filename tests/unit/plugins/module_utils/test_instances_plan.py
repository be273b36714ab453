"""Planning of service_instances: a YAML table of state, desired and expected actions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.shipyard.deploy.plugins.module_utils import _instances as inst

CASES = yaml.safe_load((Path(__file__).parent / "plan_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_plan(case):
    assert inst.plan(case["state"], case["desired"]) == case["actions"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_plan_is_idempotent(case):
    """Applying the plan (predict) and planning again gives nothing to do."""
    after = inst.predict(case["state"], case["plan"] if "plan" in case else
                         inst.plan(case["state"], case["desired"]))
    state = {
        "current": after["current"],
        "previous": after["previous"],
        "instances": {p: {"active": True, "enabled": True, "release": r}
                      for p, r in after["instances"].items() if r},
    }
    desired = dict(case["desired"], restart_all=False, daemon_reload=False)
    assert inst.plan(state, desired) == []


def test_describe_check_mode():
    action = {"action": "restart", "ports": [8080], "release": "2.0.0"}
    assert inst.describe(action, "hello", check_mode=True) == (
        "would restart (rolling) shipyard-hello@8080.service -> 2.0.0")


@pytest.mark.parametrize(
    ("unit", "port"),
    [
        ("shipyard-hello@8080.service", 8080),
        ("shipyard-hello@x.service", None),
        ("shipyard-hello-two@8080.service", None),
        ("shipyard-hello@8080.socket", None),
    ],
)
def test_port_of(unit, port):
    assert inst.port_of("hello", unit) == port


@pytest.mark.parametrize(
    ("path", "release"),
    [
        ("/opt/shipyard/hello/releases/1.0.0", "1.0.0"),
        ("/opt/shipyard/hello/releases/1.0.0/", "1.0.0"),
        ("/opt/shipyard/hello/releases/1.0.0 (deleted)", "1.0.0"),
        ("releases/2.0.0", "2.0.0"),
        ("/opt/shipyard/other/releases/1.0.0", None),
        ("/opt/shipyard/hello/releases/2.0.0/bundles/8080", "2.0.0"),  # runc's cwd (container)
        ("/opt/shipyard/hello/releases", None),
        ("/opt/shipyard/hello/releases-old/1.0.0", None),
        ("/", None),
        (None, None),
    ],
)
def test_release_of_path(path, release):
    assert inst.release_of_path(path, "/opt/shipyard/hello/releases") == release


def test_instance_record_parses_systemd_values():
    props = {"ActiveState": "active", "SubState": "running", "MainPID": "42",
             "NRestarts": "3", "MemoryCurrent": "18446744073709551615",
             "UnitFileState": "enabled", "LoadState": "loaded"}
    record = inst.instance_record("hello", 8080, props, "1.0.0")
    assert record == {
        "port": 8080, "unit": "shipyard-hello@8080.service", "loaded": True, "active": True,
        "state": "active/running", "enabled": True, "pid": 42, "release": "1.0.0",
        "memory": None, "restarts": 3,
    }
