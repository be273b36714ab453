"""A bounded HTTP load generator shared by the zero-downtime tests (multi and container).

Threads send GET / over HTTP/1.1 keep-alive connections to lab-host addresses until stopped or
a bound is hit (at most ``max_requests`` requests, ``max_seconds`` seconds); every response is
recorded with the version the service answered with.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

MAX_REQUESTS = 50_000
MAX_SECONDS = 120.0
CLIENTS_PER_HOST = 3


@dataclass
class Response:
    started: float
    host: str
    status: int | None
    version: str | None
    error: str | None = None


@dataclass
class Load:
    """Threads sending GET / over keep-alive connections until stopped or a bound is hit."""

    addresses: list[str]
    port: int
    max_requests: int = MAX_REQUESTS
    max_seconds: float = MAX_SECONDS
    clients_per_host: int = CLIENTS_PER_HOST
    responses: list[Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self.deadline = time.monotonic() + self.max_seconds
        for address in self.addresses:
            for _ in range(self.clients_per_host):
                thread = threading.Thread(target=self.client, args=(address,), daemon=True)
                thread.start()
                self.threads.append(thread)
        return self

    def client(self, address: str) -> None:
        conn = http.client.HTTPConnection(address, self.port, timeout=10)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if len(self.responses) >= self.max_requests:
                    return
            started = time.monotonic()
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read()
                version = json.loads(body).get("version") if resp.status == 200 else None
                record = Response(started, address, resp.status, version)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                record = Response(started, address, None, None, f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(address, self.port, timeout=10)
            with self.lock:
                self.responses.append(record)
        conn.close()

    def finish(self) -> list[Response]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        return list(self.responses)


def failures(responses: list[Response]) -> list[Response]:
    return [r for r in responses if r.status is None or not 200 <= r.status < 300]


def summary(responses: list[Response]) -> str:
    bad = failures(responses)
    return f"{len(responses)} requests, {len(bad)} failed, first failures: {bad[:5]}"
