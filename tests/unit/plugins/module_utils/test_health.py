"""Health checks: retries until start_timeout, real HTTP against a local server."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from ansible_collections.shipyard.deploy.plugins.module_utils import _health


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_healthy_retries_until_ok():
    answers = iter([(False, "connection refused"), (False, "HTTP 503"), (True, "HTTP 200")])
    clock = FakeClock()
    result = _health.wait_healthy(8080, "/health", 1, 0.5, 30,
                                  probe_fn=lambda *a: next(answers), clock=clock,
                                  sleep=clock.sleep)
    # waits of 0.05 then 0.1 s: a fast instance is seen at once, not an interval later
    assert result == {"healthy": True, "reason": "HTTP 200", "attempts": 3, "seconds": 0.15}


def test_wait_healthy_backs_off_to_the_interval():
    clock = FakeClock()
    waits = []

    def sleep(seconds):
        waits.append(round(seconds, 3))
        clock.sleep(seconds)

    _health.wait_healthy(8080, "/health", 1, 0.5, 3, probe_fn=lambda *a: (False, "HTTP 503"),
                         clock=clock, sleep=sleep)
    assert waits[:5] == [0.05, 0.1, 0.2, 0.4, 0.5]
    assert set(waits[4:-1]) == {0.5}


def test_wait_healthy_gives_up_at_start_timeout():
    clock = FakeClock()
    result = _health.wait_healthy(8080, "/health", 1, 0.5, 2,
                                  probe_fn=lambda *a: (False, "HTTP 503"), clock=clock,
                                  sleep=clock.sleep)
    assert result["healthy"] is False
    assert result["reason"] == "HTTP 503"
    # 0.05 + 0.1 + 0.2 + 0.4, then every 0.5 s up to 2 s
    assert result["attempts"] == 8
    assert result["seconds"] == pytest.approx(2.0)


@pytest.fixture
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_probe_real_http(server):
    assert _health.probe(server, "/health", 2) == (True, "HTTP 200")
    assert _health.probe(server, "/broken", 2) == (False, "HTTP 503")
    assert _health.probe_all([server], "health", 2) == {server: (True, "HTTP 200")}


def test_probe_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _health.probe(port, "/health", 1) == (False, "connection refused")


def test_the_first_probe_waits_for_the_port_and_comes_within_milliseconds_of_it_opening():
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # closed: the instance is "starting"
    opened = {}

    def start_later():
        time.sleep(0.3)
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        opened["at"] = time.monotonic()
        opened["server"] = server

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        assert _health.wait_port(port, time.monotonic() + 5)
        waited_after_open = time.monotonic() - opened["at"]
        assert waited_after_open < 0.05, waited_after_open
        assert not _health.wait_port(port + 1 if port < 65535 else port - 1, time.monotonic() + 0.05)
    finally:
        thread.join()
        opened["server"].close()
