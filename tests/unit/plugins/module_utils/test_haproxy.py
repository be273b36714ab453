"""HAProxy's runtime API: the socket protocol against a fake server, drain and ready."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from ansible_collections.shipyard.deploy.plugins.module_utils import _haproxy

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,status"


class FakeHaproxy:
    """A unix-socket server answering one command per connection, like HAProxy."""

    def __init__(self, path: Path, ports: list[int], backend: str = "hello") -> None:
        self.path = str(path)
        self.backend = backend
        self.state = dict.fromkeys(ports, "UP")
        self.scur = dict.fromkeys(ports, 0)
        self.commands: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def row(self, name: str, scur: int, status: str) -> str:
        return f"{self.backend},{name},0,0,{scur},0,,0,0,0,0,0,0,0,0,{status}"

    def answer(self, line: str) -> str:
        self.commands.append(line)
        if line == "show stat":
            rows = [HEADER, f"{self.backend},FRONTEND,,,0,0,4096,0,0,0,0,0,0,,,OPEN"]
            rows += [self.row(str(p), self.scur[p], s) for p, s in sorted(self.state.items())]
            rows.append("other,8080,0,0,7,0,,0,0,0,0,0,0,0,0,UP")
            for port, busy in self.scur.items():  # in-flight requests finish over time
                self.scur[port] = max(busy - 1, 0)
            return "\n".join(rows) + "\n\n"
        words = line.split()
        if words[:2] == ["set", "server"] and words[3] == "state":
            backend, _, name = words[2].partition("/")
            if backend != self.backend or not name.isdigit() or int(name) not in self.state:
                return "No such server.\n\n"
            self.state[int(name)] = {"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[words[4]]
            return "\n"
        return "Unknown command.\n\n"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(self.answer(data.decode().strip()).encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path: Path):
    server = FakeHaproxy(tmp_path / "admin.sock", [8080, 8081, 8082])
    yield server
    server.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_parse_stat_keys_rows_by_the_header() -> None:
    rows = _haproxy.parse_stat(HEADER + "\nhello,8080,0,0,2,0,,0,0,0,0,0,0,0,0,UP\n\n")
    assert rows[0]["svname"] == "8080"
    assert rows[0]["scur"] == "2"
    assert rows[0]["status"] == "UP"
    assert _haproxy.parse_stat("Unknown command.\n") == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("UP", True),
        ("UP 1/2", True),
        ("no check", True),
        ("DOWN", False),
        ("DOWN 1/2", False),
        ("DRAIN", False),
        ("MAINT", False),
        ("MAINT (via x/y)", False),
        ("", False),
    ],
)
def test_in_rotation(status: str, expected: bool) -> None:
    assert _haproxy.in_rotation(status) is expected


def test_servers_reads_only_the_backends_port_servers(fake: FakeHaproxy) -> None:
    fake.scur[8081] = 3
    servers = _haproxy.servers(fake.path, "hello")
    assert sorted(servers) == [8080, 8081, 8082]
    assert servers[8081] == {"status": "UP", "scur": 3, "in_rotation": True}


def test_set_state_sends_one_command_and_raises_on_an_answer(fake: FakeHaproxy) -> None:
    _haproxy.set_state(fake.path, "hello", 8080, "drain")
    assert fake.commands[-1] == "set server hello/8080 state drain"
    assert fake.state[8080] == "DRAIN"
    with pytest.raises(_haproxy.HaproxyError, match="No such server"):
        _haproxy.set_state(fake.path, "hello", 9999, "maint")
    with pytest.raises(_haproxy.HaproxyError, match="unknown server state"):
        _haproxy.set_state(fake.path, "hello", 8080, "up; shutdown")


def test_command_refuses_line_breaks_and_semicolons(fake: FakeHaproxy) -> None:
    for line in ("show stat\nshutdown sessions", "show stat; disable frontend x"):
        with pytest.raises(_haproxy.HaproxyError, match="refusing"):
            _haproxy.command(fake.path, line)
    assert fake.commands == []


def test_unreachable_socket_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(_haproxy.HaproxyError, match="is the balancer running"):
        _haproxy.servers(str(tmp_path / "missing.sock"), "hello")


def test_drain_waits_for_in_flight_requests_then_maint(fake: FakeHaproxy) -> None:
    fake.scur[8080] = 3
    clock = FakeClock()
    lb = _haproxy.Balancer(fake.path, "hello", 10, clock=clock, sleep=clock.sleep)
    waited, busy = lb.drain([8080])
    assert busy == []
    assert 0 < waited < 10
    assert fake.commands.index("set server hello/8080 state drain") < fake.commands.index(
        "set server hello/8080 state maint"
    )
    assert fake.state == {8080: "MAINT", 8081: "UP", 8082: "UP"}


def test_drain_is_bounded_by_the_timeout(fake: FakeHaproxy) -> None:
    fake.scur[8081] = 10**6
    clock = FakeClock()
    lb = _haproxy.Balancer(fake.path, "hello", 1.0, clock=clock, sleep=clock.sleep, poll=0.25)
    waited, busy = lb.drain([8081])
    assert busy == [8081]
    assert waited == 1.0
    assert fake.state[8081] == "MAINT"


def test_drain_of_an_instance_already_in_maint_keeps_it_out(fake: FakeHaproxy) -> None:
    fake.state[8082] = "MAINT"
    lb = _haproxy.Balancer(fake.path, "hello", 1.0)
    lb.drain([8082])
    assert "set server hello/8082 state drain" not in fake.commands
    assert fake.state[8082] == "MAINT"


def test_drain_of_an_unknown_server_fails_before_touching_any(fake: FakeHaproxy) -> None:
    lb = _haproxy.Balancer(fake.path, "hello", 1.0)
    with pytest.raises(_haproxy.HaproxyError, match="no server for port"):
        lb.drain([8080, 9000])
    assert fake.state[8080] == "UP"


def test_ready_puts_back_and_waits_for_up(fake: FakeHaproxy) -> None:
    fake.state[8080] = "MAINT"
    clock = FakeClock()
    lb = _haproxy.Balancer(fake.path, "hello", 1.0, clock=clock, sleep=clock.sleep)
    assert lb.ready([8080], timeout=5) == []
    assert fake.state[8080] == "UP"
    assert lb.events[-1]["ready"] == [8080]
