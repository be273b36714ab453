#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_instances
short_description: Reconcile all instances of one service on one host in one call
version_added: 0.1.0
description:
  - Takes the desired set of instances (one per port) of a service whose systemd template
    unit C(shipyard-<service>@.service) is installed, and the release they must run.
  - Reads the host first (C(current)/C(previous) links, every instance's state, pid, memory and
    the release it really runs from C(/proc/<MainPID>/cwd)), plans, then applies the plan.
  - Applying activates the release (C(current) is switched atomically and C(previous) keeps the
    old one), stops and disables surplus instances in one systemctl call, starts and enables
    missing ones in one call and health-checks them together, then restarts instances running
    another release O(max_unavailable) at a time, each batch health-checked before the next.
  - When an instance fails its health check and O(rollback_on_failure) is set, C(current) is
    switched back, the instances touched are restarted on the old release and waited for, and the
    module fails naming the instance, the reason and the unit's last journal lines.
  - With O(balancer), the instances sit behind an HAProxy backend (one server per port, named
    after the port). Before an instance restarts it is set to C(drain) through HAProxy's runtime
    API, its in-flight requests are waited for (at most O(balancer.drain_timeout) seconds), then
    it is set to C(maint); after its health check passes it is set to C(ready) again. An instance
    that fails stays in C(maint), so the balancer never sends it traffic; the rollback drains and
    restarts the touched instances the same way and readies only those that pass.
  - A run with nothing to do changes nothing and reports RV(ignore:changed=false).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  ports:
    description:
      - The desired instances, one per port; the instance name is the port.
      - Instances of the service on other ports are stopped and disabled.
      - Required when O(state=started).
    type: list
    elements: int
    default: []
  release:
    description:
      - The release every instance must run, a directory under C(<root>/<service>/releases/).
      - It must exist when O(state=started), except in check mode.
    type: str
  state:
    description:
      - V(started) reconciles the instances to O(ports) running O(release).
      - V(absent) stops and disables every instance of the service.
    type: str
    choices: [started, absent]
    default: started
  health:
    description:
      - The HTTP health check each started or restarted instance must pass.
      - Required with O(state=started). The spec's C(health); its defaults live in the spec model only.
    type: dict
    suboptions:
      path:
        description: Path requested at C(http://127.0.0.1:<port>); HTTP 200 is healthy.
        type: str
        required: true
      timeout:
        description: Seconds one request may take.
        type: float
        required: true
      interval:
        description: Longest wait between two attempts (the first comes after 50 ms, doubling).
        type: float
        required: true
      start_timeout:
        description: Seconds an instance has to become healthy after it was (re)started.
        type: float
        required: true
  max_unavailable:
    description:
      - How many instances a rolling restart takes down at a time.
      - Required with O(state=started). The spec's C(rollout.max_unavailable).
    type: int
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) first, because the unit or its environment files changed.
    type: bool
    default: false
  restart_all:
    description:
      - Rolling-restart every running instance, also those already on O(release), for example
        because the environment files changed.
    type: bool
    default: false
  rollback_on_failure:
    description:
      - On a failed health check, switch C(current) back to the release it had before this run
        and restart the instances this run touched. Only possible when the run activated a
        release and there was one before.
    type: bool
    default: true
  balancer:
    description:
      - The HAProxy in front of the instances; omit when there is none.
      - Running instances on O(release) that the balancer holds in C(maint) or C(drain) (left by
        an earlier failed run) are set C(ready) again.
    type: dict
    version_added: 0.1.0
    suboptions:
      socket:
        description: Path of HAProxy's runtime API socket (C(level admin)).
        type: path
        required: true
      backend:
        description: The backend whose servers are the instances (server name = port).
        type: str
        required: true
      drain_timeout:
        description: Seconds an instance's in-flight requests get before it is restarted anyway.
        type: float
        default: 10.0
notes:
  - Runs as root. Uses C(systemctl) and C(journalctl); health checks use Python's urllib; the
    balancer is driven over its unix socket (no C(socat) needed).
seealso:
  - module: shipyard.deploy.service_instances_info
  - module: shipyard.deploy.service_ports
"""

EXAMPLES = r"""
- name: Run three instances of hello 1.0.0 (first run starts them, a re-run changes nothing)
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 1.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
  register: hello_instances

- name: Upgrade to 2.0.0, one instance at a time, rolling back on a failed health check
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 2.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
    daemon_reload: true

- name: Show what an upgrade would do
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 3.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
  check_mode: true
  diff: true

- name: Stop and disable every instance of hello
  shipyard.deploy.service_instances:
    service: hello
    state: absent
"""

RETURN = r"""
instances:
  description: Every instance of the service after the run, sorted by port.
  returned: always
  type: list
  elements: dict
  sample:
    - port: 8080
      unit: shipyard-hello@8080.service
      state: active/running
      pid: 4242
      release: 1.0.0
      memory: 11403264
      restarts: 0
      healthy: true
      in_rotation: true
  contains:
    port:
      description: The instance's port (its instance name).
      type: int
      returned: always
      sample: 8080
    unit:
      description: The instance's unit.
      type: str
      returned: always
      sample: shipyard-hello@8080.service
    state:
      description: ActiveState/SubState.
      type: str
      returned: always
      sample: active/running
    pid:
      description: MainPID, null when not running.
      type: int
      returned: always
      sample: 4242
    release:
      description: The release the process runs (from its working directory).
      type: str
      returned: always
      sample: 1.0.0
    memory:
      description: MemoryCurrent in bytes, null when unknown.
      type: int
      returned: always
      sample: 11403264
    restarts:
      description: NRestarts.
      type: int
      returned: always
      sample: 0
    healthy:
      description: Result of one health probe now; null when not running.
      type: bool
      returned: always
      sample: true
    in_rotation:
      description:
        - Whether the balancer sends the instance new requests (HAProxy status UP); null without
          O(balancer) or when the balancer cannot be asked.
      type: bool
      returned: always
      sample: true
    container:
      description: The runc container id when the release is an image (container strategy), else null.
      type: str
      returned: always
      sample: shipyard-hello-8080
    image:
      description: The image digest of the release the instance runs (container strategy), else null.
      type: str
      returned: always
      sample: sha256:4f2a...
current:
  description: The release C(current) points to after the run.
  returned: always
  type: str
  sample: 1.0.0
previous:
  description: The release C(previous) points to after the run.
  returned: always
  type: str
  sample: 0.9.0
actions:
  description: The plan, in order; in check mode what would be done.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: activate, release: 2.0.0, from: 1.0.0, msg: "activate release 2.0.0 (was 1.0.0)"}
    - action: restart
      ports: [8080]
      release: 2.0.0
      msg: "restart (rolling) shipyard-hello@8080.service -> 2.0.0"
health:
  description: Health check results of the instances started or restarted, by port.
  returned: when instances were started or restarted
  type: dict
  sample: {"8080": {healthy: true, reason: HTTP 200, attempts: 2, seconds: 0.61}}
balancer:
  description: What the balancer did, in order (drained ports and seconds waited, readied ports).
  returned: when O(balancer) is set and instances were restarted
  type: list
  elements: dict
  sample: [{drained: [8080], seconds: 0.2, timed_out: []}, {ready: [8080], seconds: 0.6, not_up: []}]
rolled_back:
  description: Whether C(current) was switched back after a failed health check.
  returned: always
  type: bool
  sample: false
failed_instance:
  description: The instance that failed its health check, with the reason and its journal tail.
  returned: failure
  type: dict
  sample: {port: 8080, unit: shipyard-hello@8080.service, reason: HTTP 503, journal: "..."}
diff:
  description: Links and port -> release before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample:
    before: {current: 1.0.0, instances: {"8080": 1.0.0}}
    after: {current: 2.0.0, instances: {"8080": 2.0.0}}
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
    run_module,
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


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("state", "started", ("release", "health", "max_unavailable"))],
    )
    result = {"changed": False, "actions": [], "instances": [], "rolled_back": False}
    run_module(module, result, run_locked)


if __name__ == "__main__":
    main()
