# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: HAProxy's runtime API over its unix socket.

Host-side code: standard library only. One command per connection (HAProxy's non-interactive
mode: it answers and closes). Servers of a backend are named after the instance's port, so
``<backend>/<port>`` is one instance. ``drain`` takes an instance out of rotation letting its
in-flight requests finish; ``ready`` puts it back once it is healthy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

#: the ``show stat`` statuses of a server that receives new requests
_IN_ROTATION = ("UP", "no check", "NOLB")


class HaproxyError(ShipyardModuleError):
    """The runtime API could not be reached or refused a command (command and answer in details)."""


def command(path, line, timeout=5.0, connect=None):
    """Send one command line to the socket at ``path``; return the whole answer (text)."""
    if "\n" in line or "\r" in line or ";" in line:
        raise HaproxyError("refusing a runtime API command with a line break or ';': %r" % (line,))
    sock = connect(path, timeout) if connect else _connect(path, timeout)
    try:
        sock.sendall((line + "\n").encode("ascii"))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except (OSError, socket.timeout) as exc:
        raise HaproxyError(
            "HAProxy runtime API %s: %r failed: %s" % (path, line, exc), cause=exc, command=line
        ) from exc
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def _connect(path, timeout):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except (OSError, socket.timeout) as exc:
        sock.close()
        raise HaproxyError(
            "cannot reach the HAProxy runtime API at %s: %s (is the balancer running?)" % (path, exc),
            cause=exc,
        ) from exc
    return sock


def parse_stat(text):
    """``show stat`` CSV: a list of dicts keyed by the header's column names."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = lines[0][2:].split(",")
    rows = []
    for line in lines[1:]:
        values = line.split(",")
        values += [""] * (len(header) - len(values))
        rows.append(dict(zip(header, values[: len(header)], strict=True)))
    return rows


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def in_rotation(status):
    """Whether a server with ``show stat`` status ``status`` gets new requests."""
    if status == "no check":
        return True
    return bool(status) and status.split(" ")[0] in _IN_ROTATION


def servers(path, backend, timeout=5.0, connect=None):
    """The servers of ``backend`` named after a port: {port: {status, scur, in_rotation}}."""
    out = {}
    for row in parse_stat(command(path, "show stat", timeout, connect)):
        if row.get("pxname") != backend or not row.get("svname", "").isdigit():
            continue
        status = row.get("status", "")
        out[int(row["svname"])] = {
            "status": status,
            "scur": _int(row.get("scur")),
            "in_rotation": in_rotation(status),
        }
    return out


def set_state(path, backend, port, state, timeout=5.0, connect=None):
    """``set server <backend>/<port> state <ready|drain|maint>``; raise on any answer but ''."""
    if state not in ("ready", "drain", "maint"):
        raise HaproxyError("unknown server state %r" % (state,))
    line = "set server %s/%d state %s" % (backend, int(port), state)
    answer = command(path, line, timeout, connect).strip()
    if answer:
        raise HaproxyError("HAProxy refused %r: %s" % (line, answer), command=line, answer=answer)


class Balancer(object):
    """Drain/ready of a service's instances behind its HAProxy backend."""

    def __init__(
        self, path, backend, drain_timeout, connect=None, clock=time.monotonic, sleep=time.sleep, poll=0.1
    ):
        self.path = path
        self.backend = backend
        self.drain_timeout = drain_timeout
        self.connect = connect
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.events = []

    def servers(self):
        return servers(self.path, self.backend, connect=self.connect)

    def drain(self, ports):
        """Take ``ports`` out of rotation; wait (bounded) for their requests; then maint.

        Returns {port: seconds waited}; a port still busy at the timeout is put in maint anyway
        (its in-flight requests then finish during the instance's graceful stop).
        """
        known = self.servers()
        missing = [p for p in ports if p not in known]
        if missing:
            raise HaproxyError(
                "backend %s has no server for port(s) %s: the balancer configuration is stale"
                % (self.backend, ", ".join(str(p) for p in missing))
            )
        for port in ports:
            if not known[port]["status"].startswith("MAINT"):
                set_state(self.path, self.backend, port, "drain", connect=self.connect)
        started = self.clock()
        busy = list(ports)
        while busy:
            stats = self.servers()
            busy = [p for p in busy if stats.get(p, {}).get("scur", 0) > 0]
            if not busy or self.clock() - started >= self.drain_timeout:
                break
            self.sleep(self.poll)
        waited = round(self.clock() - started, 3)
        for port in ports:
            set_state(self.path, self.backend, port, "maint", connect=self.connect)
        self.events.append({"drained": list(ports), "seconds": waited, "timed_out": busy})
        return waited, busy

    def ready(self, ports, timeout):
        """Put ``ports`` back in rotation; wait (bounded) until HAProxy's own check says UP."""
        for port in ports:
            set_state(self.path, self.backend, port, "ready", connect=self.connect)
        started = self.clock()
        while True:
            stats = self.servers()
            down = [p for p in ports if not stats.get(p, {}).get("in_rotation")]
            if not down or self.clock() - started >= timeout:
                break
            self.sleep(self.poll)
        self.events.append(
            {"ready": list(ports), "seconds": round(self.clock() - started, 3), "not_up": down}
        )
        return down

    def maint(self, ports):
        for port in ports:
            set_state(self.path, self.backend, port, "maint", connect=self.connect)
