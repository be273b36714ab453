# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_ports.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, flock
from ansible_collections.shipyard.deploy.plugins.module_utils._ports import (
    dump_registry,
    foreign_listeners,
    parse_registry,
    pid_is_instance_of,
    plan_ports,
    read_listeners,
    socket_owners,
)


class ServicePortsFailure(ShipyardModuleError):
    """The registry could not be read, or the claim was refused."""


def read_registry(path):
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ServicePortsFailure(
            "cannot read the port registry %s: %s" % (path, exc), cause=exc) from exc
    try:
        return parse_registry(text)
    except ValueError as exc:
        raise ServicePortsFailure(
            "the port registry %s is not valid JSON {port: service} (%s): fix or remove it"
            % (path, exc), cause=exc) from exc


def is_ours(service):
    def check(inodes):
        pids = socket_owners(inodes)
        return bool(pids) and all(pid_is_instance_of(pid, service) for pid in pids)
    return check


def reconcile(module, result):
    params = module.params
    for message in (check_service_name(params["service"]), check_ports(params["ports"])):
        if message:
            raise ServicePortsFailure(message)
    service, path = params["service"], params["registry"]
    directory = os.path.dirname(path)
    lock = os.path.join(directory, ".lock")
    if module.check_mode:
        guard = flock(lock) if os.path.exists(lock) else contextlib.nullcontext()
    else:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        guard = flock(lock)
    with guard:
        registry = read_registry(path)
        new, claimed, released = plan_ports(registry, service, params["ports"], params["state"])
        if claimed and params["check_listeners"]:
            busy = foreign_listeners(claimed, service, read_listeners(), is_ours(service))
            if busy:
                raise ServicePortsFailure(
                    "service %s cannot claim port%s %s: another process (not an instance of "
                    "%s) listens on %s. Stop that process or give %s other ports"
                    % (service, "s" if len(busy) > 1 else "", ", ".join(map(str, busy)), service,
                       "them" if len(busy) > 1 else "it", service),
                    conflicts=[{"port": p, "service": None} for p in busy],
                )
        changed = new != registry
        if changed and not module.check_mode:
            atomic_write(path, dump_registry(new).encode(), mode=0o644)
    result.update(
        changed=changed,
        claimed=claimed,
        released=released,
        ports=sorted(p for p, o in new.items() if o == service),
        registry={str(p): new[p] for p in sorted(new)},
    )
    if module._diff:
        result["diff"] = {"before": dump_registry(registry), "after": dump_registry(new),
                          "before_header": path, "after_header": path}
