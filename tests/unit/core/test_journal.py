"""shipyard logs' pieces: the ssh command from inventory variables, the remote journalctl
line, and journal JSON lines turned into host/instance lines."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from shipyard.core.app import InventoryView
from shipyard.core.errors import SpecError
from shipyard.core.journal import Connection, connection, parse_line, remote_command, ssh_argv


def test_the_connection_comes_from_the_inventory_and_keeps_host_key_checking(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  vars:\n    ansible_user: deploy\n    ansible_become: true\n"
        "    ansible_ssh_common_args: -o UserKnownHostsFile=/k/known_hosts -o StrictHostKeyChecking=yes\n"
        "  hosts:\n    h1: {ansible_host: 10.0.0.1, ansible_port: 2222, ansible_ssh_private_key_file: /k/id}\n"
        "    h2: {ansible_user: root}\n"
    )
    view = InventoryView(inv)
    one = connection(view, "h1")
    assert one == Connection("h1", "10.0.0.1", 2222, "deploy", "/k/id",
                             ("-o", "UserKnownHostsFile=/k/known_hosts", "-o", "StrictHostKeyChecking=yes"), True)
    argv = ssh_argv(one, "journalctl -n 5")
    assert argv[:6] == ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    assert argv[-3:] == ["--", "10.0.0.1", "sudo -n journalctl -n 5"]
    assert "StrictHostKeyChecking=yes" in argv and "StrictHostKeyChecking=no" not in " ".join(argv)
    two = connection(view, "h2")
    assert two.address == "h2" and not two.become  # root needs no sudo


def test_a_templated_inventory_value_is_refused(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    h1: {ansible_host: '{{ lookup(\"env\", \"X\") }}'}\n")
    with pytest.raises(SpecError, match="does not template inventory values"):
        connection(InventoryView(inv), "h1")


def test_the_remote_command_reads_each_service_then_follows_all() -> None:
    text = remote_command(["orders", "payments"], 5, follow=False)
    parts = [shlex.split(p) for p in text.split("; ")]
    assert parts == [
        ["journalctl", "--no-pager", "-q", "-o", "json", "-n", "5", "-u", "shipyard-orders@*.service"],
        ["journalctl", "--no-pager", "-q", "-o", "json", "-n", "5", "-u", "shipyard-payments@*.service"],
    ]
    follow = remote_command(["orders", "payments"], 5, follow=True).split("; ")[-1]
    assert shlex.split(follow) == ["exec", "journalctl", "--no-pager", "-q", "-o", "json", "-f", "-n", "0",
                                   "-u", "shipyard-orders@*.service", "-u", "shipyard-payments@*.service"]
    with pytest.raises(SpecError):
        remote_command(["bad;rm"], 5, follow=False)


def test_journal_lines_become_host_and_instance_lines() -> None:
    raw = json.dumps({"_SYSTEMD_UNIT": "shipyard-orders@9100.service", "MESSAGE": "GET /health 200",
                      "__REALTIME_TIMESTAMP": "1700000000000000"})
    line = parse_line("h1", raw)
    assert line is not None
    assert (line.host, line.instance, line.service, line.time, line.message) == (
        "h1", "orders@9100", "orders", 1700000000000000, "GET /health 200")
    started = parse_line("h1", json.dumps({"_SYSTEMD_UNIT": "init.scope", "UNIT": "shipyard-orders@9101.service",
                                          "MESSAGE": "Started x."}))
    assert started is not None and started.instance == "orders@9101"
    binary = parse_line("h1", json.dumps({"_SYSTEMD_UNIT": "shipyard-a@1.service", "MESSAGE": [104, 105, 255]}))
    assert binary is not None and binary.message == "hi\ufffd"
    assert parse_line("h1", "not json") is None
