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


def wait_healthy(port, path, timeout, interval, start_timeout, probe_fn=probe,
                 clock=time.monotonic, sleep=time.sleep):
    """Probe until healthy or ``start_timeout`` s have passed.

    The waits between probes start at ``FIRST_WAIT`` and double up to ``interval``: an
    instance that is up in 0.1 s is seen then, not a whole interval later (that wait, once per
    instance, was most of a rolling restart), and a slow one is still probed every ``interval``.

    Returns a dict: healthy, reason (the last probe's), attempts, seconds.
    """
    started = clock()
    attempts = 0
    wait = min(FIRST_WAIT, interval)
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
