"""The port registry: planning, file format and /proc/net/tcp parsing."""

from __future__ import annotations

import pytest
from ansible_collections.shipyard.deploy.plugins.module_utils._ports import (
    PortConflict,
    dump_registry,
    foreign_listeners,
    parse_proc_net_tcp,
    parse_registry,
    plan_ports,
)


@pytest.mark.parametrize(
    ("registry", "service", "ports", "state", "new", "claimed", "released"),
    [
        ({}, "hello", [8080, 8081], "present", {8080: "hello", 8081: "hello"}, [8080, 8081], []),
        ({8080: "hello"}, "hello", [8080], "present", {8080: "hello"}, [], []),
        ({8080: "hello", 8081: "hello"}, "hello", [8080], "present", {8080: "hello"}, [], [8081]),
        ({8080: "hello", 9000: "orders"}, "hello", [], "absent", {9000: "orders"}, [], [8080]),
        ({9000: "orders"}, "hello", [8080], "absent", {9000: "orders"}, [], []),
    ],
)
def test_plan_ports(registry, service, ports, state, new, claimed, released):
    assert plan_ports(registry, service, ports, state) == (new, claimed, released)


def test_conflict_names_port_and_both_services():
    with pytest.raises(PortConflict) as err:
        plan_ports({8081: "hello"}, "world", [8081, 8090], "present")
    assert "port 8081 belongs to service hello" in err.value.msg
    assert "service world" in err.value.msg
    assert err.value.details["conflicts"] == [{"port": 8081, "service": "hello"}]


def test_registry_roundtrip_is_sorted_json():
    text = dump_registry({9000: "orders", 8080: "hello"})
    assert text == '{\n  "8080": "hello",\n  "9000": "orders"\n}\n'
    assert parse_registry(text) == {8080: "hello", 9000: "orders"}
    assert parse_registry("") == {}
    with pytest.raises(ValueError, match="JSON object"):
        parse_registry("[1, 2]")


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 61234  0 1111 1 0
   1: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0  0 2222 1 0
   2: 0B01D50A:1F90 0101D50A:C350 01 00000000:00000000 00:00000000 00000000 61234  0 3333 1 0
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
"""


def test_parse_proc_net_tcp_keeps_listeners_only():
    assert parse_proc_net_tcp(PROC_NET_TCP) == {8080: ["1111"], 22: ["2222"]}
    assert parse_proc_net_tcp(PROC_NET_TCP6) == {8081: ["4444"]}


def test_foreign_listeners():
    listeners = {8080: ["1111"], 8081: ["4444"]}
    ours = {"1111"}
    busy = foreign_listeners([8080, 8081, 8082], "hello", listeners,
                             lambda inodes: set(inodes) <= ours)
    assert busy == [8081]
