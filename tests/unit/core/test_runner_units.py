"""Unit tests of the runner's environment filter and event collector."""

from __future__ import annotations

import pytest

from shipyard.core.progress import EventKind
from shipyard.core.runner import _Collector, inherited_env


def test_inherited_env_drops_unrelated_and_secret_variables() -> None:
    parent = {
        "HOME": "/root",
        "PATH": "/usr/bin",
        "MY_TOKEN": "s3cret",
        "AWS_SECRET_ACCESS_KEY": "k",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
        "ANSIBLE_REMOTE_TMP": "/tmp/x",
        "ANSIBLE_BECOME_PASSWORD": "pw",
        "AWS_PROFILE": "dev",
    }
    env = {
        **parent,
        "PATH": "/venv/bin:/usr/bin",
        "ANSIBLE_COLLECTIONS_PATH": "/c",
        "AWX_ISOLATED_DATA_DIR": "/a",
    }
    kept = inherited_env(env, parent=parent)
    assert kept == {
        "HOME": "/root",
        "PATH": "/venv/bin:/usr/bin",
        "ANSIBLE_COLLECTIONS_PATH": "/c",
        "AWX_ISOLATED_DATA_DIR": "/a",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
        "ANSIBLE_REMOTE_TMP": "/tmp/x",
        "AWS_PROFILE": "dev",
    }


def test_collector_turns_events_into_progress_and_results() -> None:
    seen = []
    c = _Collector(seen.append, frozenset({"shipyard.deploy.service_instances"}))
    c({"event": "playbook_on_play_start", "event_data": {"play": "Deploy"}})
    c({"event": "playbook_on_task_start", "event_data": {"task": "Reconcile"}})
    c(
        {
            "event": "runner_on_ok",
            "event_data": {
                "host": "h1",
                "task": "Reconcile",
                "task_action": "shipyard.deploy.service_instances",
                "res": {"changed": True, "instances": [{"port": 1}]},
            },
        }
    )
    c(
        {
            "event": "runner_on_failed",
            "event_data": {"host": "h2", "task": "Reconcile", "res": {"msg": "boom"}},
        }
    )
    c(
        {
            "event": "runner_on_failed",
            "event_data": {"host": "h2", "task": "x", "ignore_errors": True, "res": {}},
        }
    )
    c(
        {
            "event": "runner_on_unreachable",
            "event_data": {"host": "h3", "task": "Reconcile", "res": {"msg": "ssh"}},
        }
    )
    c(
        {
            "event": "playbook_on_stats",
            "event_data": {"ok": {"h1": 2}, "changed": {"h1": 1}, "failures": {"h2": 1}, "dark": {"h3": 1}},
        }
    )
    assert [e.kind for e in seen] == [
        EventKind.PLAY,
        EventKind.TASK,
        EventKind.CHANGED,
        EventKind.FAILED,
        EventKind.FAILED,
        EventKind.UNREACHABLE,
        EventKind.STATS,
    ]
    assert c.captured == {
        "h1": {"shipyard.deploy.service_instances": {"changed": True, "instances": [{"port": 1}]}}
    }
    assert [(f.host, f.message, f.unreachable) for f in c.failures] == [
        ("h2", "boom", False),
        ("h3", "ssh", True),
    ]
    hosts = {h.host: h for h in c.hosts()}
    assert hosts["h1"].succeeded and hosts["h1"].changed == 1
    assert not hosts["h2"].succeeded and hosts["h3"].unreachable == 1


def test_diff_mode_results_become_unified_diffs_but_never_a_censored_one() -> None:
    from shipyard.core.runner import diff_text

    c = _Collector(None, frozenset())
    diff = {"before": "A=1\n", "after": "A=2\n", "before_header": "/etc/shipyard/x/env", "after_header": "/etc/shipyard/x/env"}
    c({"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Write", "res": {"changed": True, "diff": diff}}})
    c({"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Secret", "res": {"changed": True, "censored": "no_log", "diff": diff}}})
    c({"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Same", "res": {"changed": False, "diff": diff}}})
    assert [(d.host, d.task) for d in c.diffs] == [("h1", "Write")]
    assert "-A=1\n+A=2" in c.diffs[0].text and "--- /etc/shipyard/x/env" in c.diffs[0].text
    assert diff_text([{"prepared": "+ one line"}, {"before": {"a": 1}, "after": {"a": 2}}]).startswith("+ one line")


def test_the_cli_prints_the_diffs(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli._base import _print_result
    from shipyard.core.runner import TaskDiff
    from shipyard.strategies.multi import DeployResult, Outcome

    result = DeployResult("x", "1", "deploy", Outcome.OK, True, 1, (), (), (), 0.1, "/r",
                          (TaskDiff("h1", "Write", "-A=1\n+A=2"),))  # fmt: skip
    _print_result(result)
    out = capsys.readouterr().out
    assert "--- h1: Write" in out and "+A=2" in out
