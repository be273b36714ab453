#!/usr/bin/env python3
"""hello: the example microservice shipyard deploys.

A small real HTTP service on the Python standard library (it runs on the hosts' python3):

- ``GET /``        JSON with the service, its version (from the release's VERSION file), port, pid
- ``GET /health``  200 ``ok`` when healthy; 503 when the release was built broken (BROKEN file)
- ``GET /debug/allocate?mb=N`` (only with ``HELLO_DEBUG_ENDPOINTS=1``): holds N MiB, to show a
  memory limit being enforced
- ``GET /slow?ms=N`` answers after N ms (at most 10 s), to show draining in-flight requests

Usage: ``python3 server.py --port 8080``. SIGTERM stops accepting and lets in-flight requests end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "VERSION").read_text(encoding="utf-8").strip() if (HERE / "VERSION").exists() else "dev"
BROKEN = (HERE / "BROKEN").exists()
_hoard: list[bytearray] = []


class Handler(BaseHTTPRequestHandler):
    server_version = "hello/" + VERSION
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/health":
            if BROKEN:
                self._send(503, b"broken build\n", "text/plain")
            else:
                self._send(200, b"ok\n", "text/plain")
        elif url.path == "/":
            doc = {
                "service": os.environ.get("HELLO_NAME", "hello"),
                "version": VERSION,
                "port": self.server.server_address[1],
                "pid": os.getpid(),
                "greeting": os.environ.get("GREETING", "hello"),
            }
            self._send(200, (json.dumps(doc) + "\n").encode())
        elif url.path == "/slow":
            ms = min(int(query.get("ms", ["100"])[0]), 10_000)
            time.sleep(ms / 1000)
            self._send(200, json.dumps({"version": VERSION, "slept_ms": ms}).encode() + b"\n")
        elif url.path == "/debug/allocate" and os.environ.get("HELLO_DEBUG_ENDPOINTS") == "1":
            mb = int(query.get("mb", ["1"])[0])
            chunk = bytearray(mb * 1024 * 1024)
            for i in range(0, len(chunk), 4096):  # touch every page so it is really resident
                chunk[i] = 1
            _hoard.append(chunk)
            self._send(200, json.dumps({"held_mb": sum(len(c) for c in _hoard) >> 20}).encode())
        else:
            self._send(404, b"not found\n", "text/plain")

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = False
    server.block_on_close = True

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"hello {VERSION} listening on {args.bind}:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
