# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host's port registry and its TCP listeners.

Host-side code: standard library only. The registry is ``{"<port>": "<service>"}``; planning is
pure (``plan_ports``) and the listener check reads ``/proc/net/tcp`` and ``/proc/net/tcp6``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

TCP_LISTEN = "0A"


class PortConflict(ShipyardModuleError):
    """A port the service wants belongs to someone else."""


def parse_registry(text):
    """Registry text -> {int port: service}; '' (a missing file) is an empty registry."""
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the registry must be a JSON object {port: service}")
    return {int(port): str(service) for port, service in data.items()}


def dump_registry(registry):
    """{int port: service} -> the file's text (sorted by port, stable)."""
    ordered = {str(port): registry[port] for port in sorted(registry)}
    return json.dumps(ordered, indent=2) + "\n"


def plan_ports(registry, service, ports, state):
    """The registry after ``service`` claims ``ports`` (present) or frees all its ports (absent).

    Returns (new_registry, claimed, released). Raises PortConflict naming the port and both
    services when a wanted port belongs to another service; nothing is changed then.
    """
    mine = sorted(p for p, owner in registry.items() if owner == service)
    wanted = sorted(set(ports)) if state == "present" else []
    conflicts = [(p, registry[p]) for p in wanted if registry.get(p, service) != service]
    if conflicts:
        text = "; ".join("port %d belongs to service %s" % (p, owner) for p, owner in conflicts)
        raise PortConflict(
            "service %s cannot claim its ports: %s. Give %s other ports (or remove %s first)"
            % (service, text, service, ", ".join(sorted({o for _p, o in conflicts}))),
            conflicts=[{"port": p, "service": o} for p, o in conflicts],
        )
    new = {p: o for p, o in registry.items() if o != service}
    for port in wanted:
        new[port] = service
    claimed = [p for p in wanted if p not in mine]
    released = [p for p in mine if p not in wanted]
    return new, claimed, released


def parse_proc_net_tcp(text):
    """{port: [socket inode, ...]} of LISTEN sockets in a /proc/net/tcp{,6} text."""
    listeners = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        listeners.setdefault(port, []).append(fields[9])
    return listeners


def read_listeners(proc="/proc"):
    listeners = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                text = handle.read()
        except OSError:
            continue
        for port, inodes in parse_proc_net_tcp(text).items():
            listeners.setdefault(port, []).extend(inodes)
    return listeners


def socket_owners(inodes, proc="/proc"):
    """PIDs holding any of the socket ``inodes`` (scans /proc/<pid>/fd)."""
    wanted = {"socket:[%s]" % i for i in inodes}
    pids = set()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) in wanted:
                    pids.add(int(entry))
                    break
            except OSError:
                continue
    return pids


def pid_is_instance_of(pid, service, proc="/proc"):
    """Whether ``pid`` runs in the cgroup of an instance unit of ``service``."""
    try:
        with open(os.path.join(proc, str(pid), "cgroup")) as handle:
            return ("/shipyard-%s@" % service) in handle.read()
    except OSError:
        return False


def foreign_listeners(ports, service, listeners, owner_check):
    """Ports in ``ports`` with a LISTEN socket that is not an instance of ``service``.

    ``owner_check(inodes) -> bool`` says whether the sockets belong to the service.
    """
    return [p for p in sorted(ports) if p in listeners and not owner_check(listeners[p])]
