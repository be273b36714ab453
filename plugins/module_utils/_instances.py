# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: naming, reading and planning for a service's instances.

Host-side code: standard library and ansible.module_utils only. The planning functions are
pure (state dict in, action list out) so that check mode, diff mode and unit tests share them.

State (what ``read_state`` returns and ``plan`` takes)::

    {"current": "1.0.0" | None, "previous": "0.9.0" | None,
     "instances": {8080: {"active": True, "enabled": True, "release": "1.0.0", ...}}}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.shipyard.deploy.plugins.module_utils._fs import read_link
from ansible_collections.shipyard.deploy.plugins.module_utils._oci import container_id, read_image
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import parse_int

MANIFEST = ".shipyard-release.json"


# --- naming -------------------------------------------------------------------------------
def unit_name(service, port):
    """The instance unit of ``service`` on ``port``: ``shipyard-<svc>@<port>.service``."""
    return "shipyard-%s@%d.service" % (service, port)


def unit_glob(service):
    return "shipyard-%s@*.service" % service


def port_of(service, unit):
    """The port (instance name) of ``unit`` if it is an instance of ``service``, else None."""
    match = re.match(r"^shipyard-%s@(\d+)\.service\Z" % re.escape(service), unit)
    return int(match.group(1)) if match else None


def service_dir(root, service):
    return os.path.join(root, service)


def releases_dir(root, service):
    return os.path.join(root, service, "releases")


def release_of_path(path, releases):
    """The release id of a path in ``releases`` (a cwd, a link target), else None.

    The release directory itself or anything below it: a container instance's runc runs in
    its bundle, ``releases/<release>/bundles/<port>``.
    """
    if not path:
        return None
    path = path.rstrip("/")
    if path.endswith(" (deleted)"):
        path = path[: -len(" (deleted)")]
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(os.path.dirname(releases), path))
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(releases))
    name = rel.split(os.sep, 1)[0]
    if name in ("", ".", "..") or os.path.isabs(rel):
        return None
    return name


# --- reading ------------------------------------------------------------------------------
def container_of(service, port, releases, release, images):
    """{container, image}: the runc container id and image digest of an instance whose release
    came from an image (has ``image.json``); both None otherwise. ``images`` caches by release."""
    if release and release not in images:
        doc = read_image(os.path.join(releases, release))
        images[release] = doc.get("digest") if doc else None
    digest = images.get(release) if release else None
    return {"container": container_id(service, port) if digest else None, "image": digest}


def instance_record(service, port, props, release):
    """A per-instance record from ``systemctl show`` properties and the release it runs."""
    active = props.get("ActiveState", "inactive")
    pid = parse_int(props.get("MainPID")) or None
    return {
        "port": port,
        "unit": unit_name(service, port),
        "loaded": props.get("LoadState", "not-found") == "loaded",
        "active": active in ("active", "activating", "reloading"),
        "state": "%s/%s" % (active, props.get("SubState", "dead")),
        "enabled": props.get("UnitFileState", "") in ("enabled", "enabled-runtime"),
        "pid": pid,
        "release": release if pid else None,
        "memory": parse_int(props.get("MemoryCurrent")),
        "restarts": parse_int(props.get("NRestarts")) or 0,
    }


def read_state(systemd, service, root, ports=(), readlink=None):
    """Read the current/previous links and every instance of ``service`` in one show call.

    Instances are the loaded units matching ``shipyard-<svc>@*``, the enabled ones (wants
    links), and ``ports`` (desired; reported as not active when they don't exist yet).
    """
    readlink = readlink or read_link
    pattern = unit_glob(service)
    units = set(systemd.list_units(pattern)) | set(systemd.wanted_units(pattern))
    units |= {unit_name(service, p) for p in ports}
    by_port = {}
    for unit in units:
        port = port_of(service, unit)
        if port is not None:
            by_port[port] = unit
    shown = systemd.show([by_port[p] for p in sorted(by_port)])
    releases = releases_dir(root, service)
    instances = {}
    images = {}
    for port, unit in sorted(by_port.items()):
        props = shown.get(unit, {})
        pid = parse_int(props.get("MainPID")) or None
        release = release_of_path(readlink("/proc/%d/cwd" % pid), releases) if pid else None
        record = instance_record(service, port, props, release)
        record.update(container_of(service, port, releases, record["release"], images))
        if record["active"] or record["enabled"] or port in ports:
            instances[port] = record
    base = service_dir(root, service)
    return {
        "current": release_of_path(readlink(os.path.join(base, "current")), releases),
        "previous": release_of_path(readlink(os.path.join(base, "previous")), releases),
        "instances": instances,
    }


# --- planning (pure) ----------------------------------------------------------------------
def plan(state, desired):
    """The ordered actions that take ``state`` to ``desired``.

    ``desired``: state (started/absent), ports, release, max_unavailable, restart_all,
    daemon_reload. Actions (dicts with an ``action`` key), in the order they are applied:
    daemon_reload, activate, stop (surplus, one batch), enable (running but not enabled),
    start (missing, one batch, health-checked together), restart (one action per batch of
    ``max_unavailable`` instances, each health-checked before the next), ready (with a
    ``balancer``: running instances on ``release`` that the balancer holds in MAINT or DRAIN,
    their ``lb_status``).
    """
    actions = []
    instances = state.get("instances", {})
    if desired.get("daemon_reload"):
        actions.append({"action": "daemon_reload"})
    if desired["state"] == "absent":
        existing = sorted(p for p, i in instances.items() if i["active"] or i["enabled"])
        if existing:
            actions.append({"action": "stop", "ports": existing})
        return actions

    release = desired["release"]
    if state.get("current") != release:
        actions.append({
            "action": "activate",
            "release": release,
            "from": state.get("current"),
            "previous": state.get("current") or state.get("previous"),
            "old_previous": state.get("previous"),
        })
    wanted = sorted(set(desired["ports"]))
    surplus = sorted(p for p, i in instances.items()
                     if p not in wanted and (i["active"] or i["enabled"]))
    if surplus:
        actions.append({"action": "stop", "ports": surplus})
    missing = [p for p in wanted if not instances.get(p, {}).get("active")]
    running = [p for p in wanted if instances.get(p, {}).get("active")]
    not_enabled = [p for p in running if not instances[p].get("enabled")]
    if not_enabled:
        actions.append({"action": "enable", "ports": not_enabled})
    if missing:
        actions.append({"action": "start", "ports": missing, "release": release})
    stale = [p for p in running
             if desired.get("restart_all") or instances[p].get("release") != release]
    step = max(int(desired.get("max_unavailable") or 1), 1)
    for index in range(0, len(stale), step):
        batch = stale[index:index + step]
        actions.append({
            "action": "restart",
            "ports": batch,
            "release": release,
            "from": {str(p): instances[p].get("release") for p in batch},
        })
    if desired.get("balancer"):
        held = [p for p in running if p not in stale
                and (instances[p].get("lb_status") or "").split(" ")[0] in ("MAINT", "DRAIN")]
        if held:
            actions.append({"action": "ready", "ports": held})
    return actions


def predict(state, actions):
    """The state ``actions`` lead to (for diff and check mode): links and port -> release."""
    after = {
        "current": state.get("current"),
        "previous": state.get("previous"),
        "instances": {p: i.get("release") if i.get("active") else None
                      for p, i in state.get("instances", {}).items()},
    }
    for action in actions:
        kind = action["action"]
        if kind == "activate":
            after["current"] = action["release"]
            after["previous"] = action["previous"]
        elif kind == "stop":
            for port in action["ports"]:
                after["instances"].pop(port, None)
        elif kind in ("start", "restart"):
            for port in action["ports"]:
                after["instances"][port] = action["release"]
    return after


def diff_view(view):
    """A diff-friendly rendering of a ``predict``-style dict (string keys, sorted)."""
    return {
        "current": view.get("current"),
        "previous": view.get("previous"),
        "instances": {str(p): view["instances"][p] for p in sorted(view["instances"])},
    }


def describe(action, service, check_mode=False):
    """A one-line message for ``action`` ("would ..." in check mode)."""
    verb = {
        "daemon_reload": "reload systemd units",
        "activate": "activate release %s (was %s)" % (action.get("release"), action.get("from")),
        "stop": "stop and disable",
        "enable": "enable",
        "start": "start and enable",
        "restart": "restart (rolling)",
        "ready": "put back in the balancer's rotation",
    }[action["action"]]
    if "ports" in action:
        units = ", ".join(unit_name(service, p) for p in action["ports"])
        text = "%s %s" % (verb, units)
        if action["action"] == "restart":
            text += " -> %s" % action["release"]
    else:
        text = verb
    return ("would " if check_mode else "") + text
