# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_instances.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import (
    atomic_symlink,
    atomic_write,
    remove_link,
    service_flock,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._haproxy import Balancer
from ansible_collections.shipyard.deploy.plugins.module_utils._health import (
    probe_all,
    wait_all,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    describe,
    diff_view,
    plan,
    predict,
    read_state,
    releases_dir,
    service_dir,
    unit_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import Systemctl


class ServiceInstancesFailure(ShipyardModuleError):
    """The instances could not be reconciled (message, cause, partial result)."""


ARGUMENT_SPEC = {
    "service": {"type": "str", "required": True},
    "root": {"type": "path", "default": "/opt/shipyard"},
    "ports": {"type": "list", "elements": "int", "default": []},
    "release": {"type": "str"},
    "state": {"type": "str", "choices": ["started", "absent"], "default": "started"},
    "health": {
        "type": "dict",
        "options": {
            "path": {"type": "str", "required": True},
            "timeout": {"type": "float", "required": True},
            "interval": {"type": "float", "required": True},
            "start_timeout": {"type": "float", "required": True},
        },
    },
    "max_unavailable": {"type": "int"},
    "daemon_reload": {"type": "bool", "default": False},
    "restart_all": {"type": "bool", "default": False},
    "rollback_on_failure": {"type": "bool", "default": True},
    "balancer": {
        "type": "dict",
        "options": {
            "socket": {"type": "path", "required": True},
            "backend": {"type": "str", "required": True},
            "drain_timeout": {"type": "float", "default": 10.0},
        },
    },
}


def validate_params(params, check_mode):
    """Rules the argument spec cannot express; raise with field, value and fix."""
    for message in (check_service_name(params["service"]), check_ports(params["ports"])):
        if message:
            raise ServiceInstancesFailure(message)
    if params["state"] == "started":
        if params["max_unavailable"] < 1:
            raise ServiceInstancesFailure(
                "max_unavailable=%d: it must be 1 or more" % params["max_unavailable"])
        health = params["health"]
        for key in ("timeout", "interval", "start_timeout"):
            if health[key] <= 0:
                raise ServiceInstancesFailure(
                    "health.%s=%s: it must be a positive number of seconds" % (key, health[key]))
    balancer = params.get("balancer")
    if balancer and not 0 <= balancer["drain_timeout"] <= 600:
        raise ServiceInstancesFailure(
            "balancer.drain_timeout=%s: use 0 to 600 seconds" % balancer["drain_timeout"])
    if params["state"] == "started":
        release = params["release"]
        if not release or "/" in release or release in (".", ".."):
            raise ServiceInstancesFailure(
                "release=%r: state=started needs the name of a directory under %s"
                % (release, releases_dir(params["root"], params["service"])))
        path = os.path.join(releases_dir(params["root"], params["service"]), release)
        if not check_mode and not os.path.isdir(path):
            raise ServiceInstancesFailure(
                "release %s is not on this host (no directory %s): install it first "
                "(role shipyard.deploy.service_release)" % (release, path))


class Reconciler(object):
    """Applies a plan for one service, keeping what it touched for a rollback."""

    def __init__(self, module, systemd, params):
        self.module = module
        self.systemd = systemd
        self.params = params
        self.service = params["service"]
        self.base = service_dir(params["root"], params["service"])
        self.releases = releases_dir(params["root"], params["service"])
        self.activation = None
        self.touched = []
        self.health = {}
        self.balancer = make_balancer(params)

    def units(self, ports):
        return [unit_name(self.service, p) for p in ports]

    def wait(self, ports):
        health = self.params["health"]
        results = wait_all(ports, health["path"], health["timeout"], health["interval"],
                           health["start_timeout"])
        self.health.update({str(p): r for p, r in results.items()})
        return [p for p in ports if not results[p]["healthy"]]

    def set_links(self, current, previous):
        atomic_symlink(os.path.join(self.releases, current), os.path.join(self.base, "current"))
        if previous:
            atomic_symlink(os.path.join(self.releases, previous),
                           os.path.join(self.base, "previous"))
        else:
            remove_link(os.path.join(self.base, "previous"))

    def mark_activated(self, release):
        path = os.path.join(self.releases, release, MANIFEST)
        try:
            with open(path, "rb") as handle:
                manifest = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(manifest, dict) and not manifest.get("activated"):
            manifest["activated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            atomic_write(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
                         mode=0o644)

    def apply(self, actions):
        for action in actions:
            kind = action["action"]
            if kind == "daemon_reload":
                self.systemd.daemon_reload()
            elif kind == "activate":
                self.set_links(action["release"], action["previous"])
                self.activation = action
                self.mark_activated(action["release"])
            elif kind == "stop":
                self.systemd.disable_now(self.units(action["ports"]))
            elif kind == "enable":
                self.systemd.enable(self.units(action["ports"]))
            elif kind == "start":
                units = self.units(action["ports"])
                self.systemd.reset_failed(units)
                self.systemd.enable_now(units)
                self.touched.extend(action["ports"])
                self.check(action["ports"])
                self.ready(action["ports"])
            elif kind == "restart":
                if self.balancer:
                    self.balancer.drain(action["ports"])
                self.systemd.restart(self.units(action["ports"]))
                self.touched.extend(action["ports"])
                self.check(action["ports"])
                self.ready(action["ports"])
            elif kind == "ready":
                self.ready(action["ports"])

    def ready(self, ports):
        """Put healthy instances back in the balancer's rotation (no-op without a balancer)."""
        if self.balancer and ports:
            self.balancer.ready(ports, self.params["health"]["start_timeout"])

    def check(self, ports):
        failed = self.wait(ports)
        if not failed:
            return
        port = failed[0]
        unit = unit_name(self.service, port)
        failure = dict(self.health[str(port)])
        journal = self.systemd.journal(unit, 15)
        rolled_back, rollback_note = self.rollback()
        msg = "%s (port %d) failed its health check GET %s: %s after %ss. %s" % (
            unit, port, self.params["health"]["path"], failure["reason"], failure["seconds"],
            rollback_note)
        if journal.strip():
            msg += "\nLast journal lines of %s:\n%s" % (unit, journal.rstrip())
        raise ServiceInstancesFailure(
            msg,
            rolled_back=rolled_back,
            failed_instance={"port": port, "unit": unit, "reason": failure["reason"],
                             "seconds": failure["seconds"], "journal": journal},
        )

    def rollback(self):
        """Switch back to the release before this run; (rolled_back, note for the message)."""
        if not self.params["rollback_on_failure"]:
            return False, "Not rolled back (rollback_on_failure=false)."
        if not self.activation or not self.activation["from"]:
            return False, "Not rolled back: this run did not replace an active release."
        old = self.activation["from"]
        self.set_links(old, self.activation["old_previous"])
        ports = sorted(set(self.touched))
        if self.balancer:
            failed = self.rollback_behind_balancer(ports)
        else:
            self.systemd.restart(self.units(ports))
            failed = self.wait(ports)
        if failed:
            return True, "Rolled back to %s, but %s still unhealthy." % (
                old, ", ".join(self.units(failed)))
        return True, "Rolled back to %s; %s healthy again." % (old, ", ".join(self.units(ports)))

    def rollback_behind_balancer(self, ports):
        """Drain, restart and health-check ``ports`` a batch at a time; ready the healthy ones.

        Returns the ports still unhealthy (they stay in maint, out of rotation).
        """
        step = max(int(self.params["max_unavailable"] or 1), 1)
        failed = []
        for index in range(0, len(ports), step):
            batch = ports[index:index + step]
            self.balancer.drain(batch)
            self.systemd.restart(self.units(batch))
            bad = self.wait(batch)
            failed.extend(bad)
            self.ready([p for p in batch if p not in bad])
        return failed


def make_balancer(params):
    """The runtime-API client of the balancer in ``params``, or None."""
    spec = params.get("balancer")
    if not spec:
        return None
    return Balancer(spec["socket"], spec["backend"], spec["drain_timeout"])


def rotation(balancer):
    """{port: server record} from the balancer, {} without one or when it cannot be asked."""
    if balancer is None:
        return {}
    try:
        return balancer.servers()
    except ShipyardModuleError:
        return {}


def report(state, health_params, servers=None):
    """Per-instance records with one health probe of each running instance."""
    running = [p for p, i in state["instances"].items() if i["active"]]
    probes = probe_all(running, health_params["path"], health_params["timeout"]) if running else {}
    servers = servers or {}
    out = []
    for port in sorted(state["instances"]):
        record = state["instances"][port]
        out.append({
            "port": port,
            "unit": record["unit"],
            "state": record["state"],
            "pid": record["pid"],
            "release": record["release"],
            "memory": record["memory"],
            "restarts": record["restarts"],
            "healthy": probes[port][0] if port in probes else None,
            "in_rotation": servers[port]["in_rotation"] if port in servers else None,
            "container": record.get("container"),
            "image": record.get("image"),
        })
    return out


def run(module, result):
    params = module.params
    validate_params(params, module.check_mode)
    systemd = Systemctl(module)
    ports = params["ports"] if params["state"] == "started" else []
    before = read_state(systemd, params["service"], params["root"], ports)
    balancer = make_balancer(params)
    servers = rotation(balancer)
    for port, record in before["instances"].items():
        record["lb_status"] = servers.get(port, {}).get("status")
    desired = dict(params, ports=ports)
    actions = plan(before, desired)
    result["changed"] = bool(actions)
    result["actions"] = [dict(a, msg=describe(a, params["service"], module.check_mode))
                         for a in actions]
    after_view = predict(before, actions)
    if module._diff:
        result["diff"] = {"before": diff_view(predict(before, [])), "after": diff_view(after_view)}
    if module.check_mode or not actions:
        result.update(current=before["current"], previous=before["previous"],
                      instances=report(before, params["health"], servers))
        return
    reconciler = Reconciler(module, systemd, params)
    try:
        reconciler.apply(actions)
    except ShipyardModuleError as exc:
        exc.details.setdefault("health", reconciler.health)
        if balancer:
            exc.details["balancer"] = reconciler.balancer.events
        try:
            exc.details["instances"] = report(
                read_state(systemd, params["service"], params["root"], ports), params["health"],
                rotation(balancer))
        except ShipyardModuleError:
            pass  # keep the first failure; the partial result has what is known
        raise
    after = read_state(systemd, params["service"], params["root"], ports)
    result.update(current=after["current"], previous=after["previous"],
                  instances=report(after, params["health"], rotation(balancer)),
                  health=reconciler.health)
    if balancer:
        result["balancer"] = reconciler.balancer.events


def run_locked(module, result):
    """run() under the service's flock: a concurrent or orphaned run's module waits for this one."""
    if module.check_mode or check_service_name(module.params["service"]):
        run(module, result)  # (an invalid name fails in run() with its message)
    else:
        with service_flock(module.params["service"]):
            run(module, result)
