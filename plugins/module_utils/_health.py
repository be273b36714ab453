# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: HTTP health checks of instances on 127.0.0.1.

Host-side code: standard library only. ``200`` is healthy; anything else, a refused connection
or a timeout is not, and the reason says which.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading
import time

try:  # Python 3
    from urllib.error import HTTPError, URLError
    from urllib.request import ProxyHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not a target
    raise

#: never go through a proxy from the environment for 127.0.0.1
_OPENER = build_opener(ProxyHandler({}))


def probe(port, path, timeout, opener=None):
    """GET http://127.0.0.1:<port><path> once: (healthy, reason)."""
    url = "http://127.0.0.1:%d%s" % (port, path if path.startswith("/") else "/" + path)
    try:
        response = (opener or _OPENER).open(Request(url, method="GET"), timeout=timeout)  # noqa: S310 - http only
        try:
            status = response.getcode()
            response.read(65536)
        finally:
            response.close()
    except HTTPError as exc:
        return False, "HTTP %d" % exc.code
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            return False, "connection refused"
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return False, "timeout after %ss" % timeout
        return False, "connection error: %s" % (reason,)
    except (socket.timeout, TimeoutError):
        return False, "timeout after %ss" % timeout
    except (ConnectionError, OSError) as exc:
        if isinstance(exc, ConnectionRefusedError):
            return False, "connection refused"
        return False, "connection error: %s" % (exc,)
    if status == 200:
        return True, "HTTP 200"
    return False, "HTTP %d" % status


#: the first wait between probes; it doubles up to the spec's ``interval``
FIRST_WAIT = 0.05
#: how often a (re)started instance's port is tried before the first HTTP probe: a connect()
#: to 127.0.0.1 costs microseconds, so the probe comes within milliseconds of the port opening
PORT_POLL = 0.003


def port_open(port, timeout=0.05):
    """True when something accepts a TCP connection on 127.0.0.1:<port>."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        return sock.connect_ex(("127.0.0.1", port)) == 0
    except OSError:
        return False
    finally:
        sock.close()


def wait_port(port, deadline, clock=time.monotonic, sleep=time.sleep, is_open=port_open):
    """Wait (at most until ``deadline`` on ``clock``) for the port to accept connections."""
    while not is_open(port):
        if clock() >= deadline:
            return False
        sleep(PORT_POLL)
    return True


def wait_healthy(port, path, timeout, interval, start_timeout, probe_fn=probe,
                 clock=time.monotonic, sleep=time.sleep):
    """Probe until healthy or ``start_timeout`` s have passed.

    The port is tried every ``PORT_POLL`` seconds first (a connect() is cheap, an HTTP request
    to a closed port is a wasted attempt), so the first probe comes within milliseconds of the
    port opening. The waits between probes then start at ``FIRST_WAIT`` and double up to
    ``interval``: an instance healthy soon after it listens is seen then, and a slow one is
    still probed every ``interval``.

    Returns a dict: healthy, reason (the last probe's), attempts, seconds.
    """
    started = clock()
    attempts = 0
    wait = min(FIRST_WAIT, interval)
    if probe_fn is probe:  # a real instance: no HTTP probe before its port accepts connections
        wait_port(port, started + start_timeout, clock=clock, sleep=sleep)
    while True:
        attempts += 1
        healthy, reason = probe_fn(port, path, timeout)
        elapsed = clock() - started
        if healthy or elapsed >= start_timeout:
            return {
                "healthy": healthy,
                "reason": reason,
                "attempts": attempts,
                "seconds": round(elapsed, 3),
            }
        sleep(min(wait, max(start_timeout - elapsed, 0)))
        wait = min(wait * 2, interval)


def _in_threads(ports, func):
    results = {}
    lock = threading.Lock()

    def work(port):
        value = func(port)
        with lock:
            results[port] = value

    threads = [threading.Thread(target=work, args=(p,)) for p in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wait_all(ports, path, timeout, interval, start_timeout, probe_fn=probe):
    """wait_healthy for every port at once (one thread each): {port: result}."""
    return _in_threads(
        ports, lambda p: wait_healthy(p, path, timeout, interval, start_timeout, probe_fn=probe_fn)
    )


def probe_all(ports, path, timeout, probe_fn=probe):
    """One probe of every port at once: {port: (healthy, reason)}."""
    return _in_threads(ports, lambda p: probe_fn(p, path, timeout))
