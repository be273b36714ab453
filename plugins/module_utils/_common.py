# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the error base shared by its modules and module_utils.

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")


class ShipyardModuleError(Exception):
    """A failure a module reports with fail_json: a message plus result keys.

    ``details`` are merged into the failed result (partial state, per-instance records), so the
    caller sees how far the module got.
    """

    def __init__(self, msg, cause=None, **details):
        super(ShipyardModuleError, self).__init__(msg)
        self.msg = msg
        self.cause = cause
        self.details = details

    def result(self):
        out = dict(self.details)
        out["msg"] = self.msg
        if self.cause is not None:
            out["exception_cause"] = str(self.cause)
        return out


def run_module(module, result, work):
    """Call ``work(module, result)``, then exit with ``result``; fail with it on a module error.

    A ShipyardModuleError's message and details are merged into the partial ``result``, so the
    caller sees how far the module got.
    """
    try:
        work(module, result)
    except ShipyardModuleError as exc:
        result.update(exc.result())
        module.fail_json(**result)
    module.exit_json(**result)


def check_service_name(name):
    """Return None when ``name`` is a valid service name, else a message naming the fix."""
    if not SERVICE_NAME_RE.match(name or ""):
        return (
            "service=%r is not a valid service name: use 1-63 characters, a lower-case letter "
            "first, then lower-case letters, digits, '-' or '_'" % (name,)
        )
    return None


#: a release id is a directory name under releases/ (the spec's version)
RELEASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")


def check_release(release):
    """Return None when ``release`` is a valid release id (a plain directory name), else a message."""
    if not RELEASE_RE.match(release or "") or release in (".", ".."):
        return "release=%r: use letters, digits, '.', '_', '+' or '-' (a directory name)" % (release,)
    return None


def check_ports(ports, field="ports"):
    """Return None when ``ports`` is a list of unique TCP ports, else a message naming the fix."""
    seen = set()
    for port in ports:
        if not 1 <= port <= 65535:
            return "%s contains %r: a port must be between 1 and 65535" % (field, port)
        if port in seen:
            return "%s contains %r twice: list each port once" % (field, port)
        seen.add(port)
    return None
