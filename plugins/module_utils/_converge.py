# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: a host's whole desired state converged in one module call.

For every service placed on the host: its deploy lease, port claim, release (present and
complete, manifest last), env/secrets/unit files, container bundles, balancer, instances
(health-gated rolling restart with rollback) and old releases pruned. The steps are the work
of the single-purpose modules (service_ports, service_release_unpack, service_files,
container_bundles, oci_image, service_instances, service_releases, service_lock), run through
``_task.SubTask`` so there is one copy of each.

Two phases. First, for every service and before anything changes: the lease is taken (or
the call reports who holds it), and the release is looked up. A release installed from
another artifact fails that service; a release whose artifact is not on the host yet is
reported as ``missing``, and then nothing else changes: the action plugin copies just those
artifacts and calls again with ``staged``. Second, each service converges under its flock;
one that fails rolls back alone (the reconcile step's rule) and the others go on.

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import shutil
import tempfile
import time

from ansible_collections.shipyard.deploy.plugins.module_utils import _units
from ansible_collections.shipyard.deploy.plugins.module_utils._bundles import present as bundles_present
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_release,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._files import run as write_files
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import (
    atomic_write,
    read_bytes,
    read_link,
    service_flock,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._image_release import install_image
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    releases_dir,
    service_dir,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._lease import (
    ServiceLockFailure,
    lease_path,
    read_lease,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._lease import drop as drop_lease
from ansible_collections.shipyard.deploy.plugins.module_utils._lease import plan as lease_plan
from ansible_collections.shipyard.deploy.plugins.module_utils._lease import take as take_lease
from ansible_collections.shipyard.deploy.plugins.module_utils._port_claim import reconcile as claim_ports
from ansible_collections.shipyard.deploy.plugins.module_utils._prune import prune
from ansible_collections.shipyard.deploy.plugins.module_utils._reconcile import (
    ARGUMENT_SPEC as INSTANCES_SPEC,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._reconcile import run as reconcile
from ansible_collections.shipyard.deploy.plugins.module_utils._release import read_manifest
from ansible_collections.shipyard.deploy.plugins.module_utils._release import work as unpack_release
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import Systemctl
from ansible_collections.shipyard.deploy.plugins.module_utils._task import SubTask

_RUNTIMES = ("process", "container")


def _get(doc, key, kind, default=None, where=""):
    """``doc[key]`` if it is a ``kind`` (``default`` when missing or null), else a failure."""
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConvergeFailure("%s%s=%r: expected a %s" % (where, key, value, kind.__name__))
    return value


def normalize(spec, release=None, runtime=None, image=None, container=None):
    """One service in the converge's own form, from the normalized spec (``shipyard render``).

    ``release`` (default: the spec's version), ``runtime`` (process or container), ``image``
    ({name, digest, tls_verify}: the container release pulled on the host) and ``container``
    ({read_only}) may also be keys of ``spec`` itself (an app's list of services).
    """
    if not isinstance(spec, dict):
        raise ConvergeFailure("service: expected the normalized spec (a mapping), got %r" % (spec,))
    name = _get(spec, "name", str, "")
    where = "service %s: " % (name or "?")
    release = release or spec.get("release") or _get(spec, "version", str, "", where)
    runtime = runtime or spec.get("runtime") or "process"
    if runtime not in _RUNTIMES:
        raise ConvergeFailure("%sruntime=%r: use process or container" % (where, runtime))
    image = image if image is not None else spec.get("image")
    container = container if container is not None else spec.get("container")
    artifact = _get(spec, "artifact", dict, None, where)
    if artifact is not None:
        artifact = {"sha256": str(artifact.get("sha256") or "").lower(),
                    "kind": artifact.get("kind") or "tarball",
                    "name": _artifact_name(artifact)}
    health = _get(spec, "health", dict, {}, where)
    for key in ("path", "timeout", "interval", "start_timeout"):
        if key not in health:
            raise ConvergeFailure("%shealth.%s is missing: pass the normalized spec "
                                  "(shipyard render), whose model fills it" % (where, key))
    rollout = _get(spec, "rollout", dict, {}, where)
    balancer = _get(spec, "balancer", dict, None, where)
    if balancer is not None:
        balancer = {"port": _get(balancer, "port", int, None, where + "balancer."),
                    "drain_timeout": float(balancer.get("drain_timeout", 10.0))}
    if image:
        image = {"name": _get(image, "name", str, "", where + "image."),
                 "digest": _get(image, "digest", str, "", where + "image."),
                 "tls_verify": bool(image.get("tls_verify", True))}
    resources = _get(spec, "resources", dict, {}, where)
    return {
        "name": name,
        "release": str(release),
        "runtime": runtime,
        "artifact": artifact,
        "image": image or None,
        "command": [str(a) for a in _get(spec, "command", list, [], where)],
        "ports": [int(p) for p in _get(spec, "ports", list, [], where)],
        "env": {str(k): str(v) for k, v in _get(spec, "env", dict, {}, where).items()},
        "resources": {"memory": resources.get("memory"), "cpu": resources.get("cpu"),
                      "tasks": resources.get("tasks")},
        "user": spec.get("user") or None,
        "health": {"path": str(health["path"]), "timeout": float(health["timeout"]),
                   "interval": float(health["interval"]),
                   "start_timeout": float(health["start_timeout"])},
        "max_unavailable": int(rollout.get("max_unavailable") or 1),
        "balancer": balancer,
        "keep": int(spec.get("keep_releases") or 3),
        "read_only": bool((container or {}).get("read_only", True)),
    }


def _artifact_name(artifact):
    """The file name a non-tarball artifact gets in its release (the basename of its source)."""
    source = artifact.get("path") or artifact.get("url") or ""
    return source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None


ARGUMENT_SPEC = {
    "service": {"type": "dict"},
    "services": {"type": "list", "elements": "dict"},
    "release": {"type": "str"},
    "runtime": {"type": "str", "choices": list(_RUNTIMES)},
    "image": {"type": "dict"},
    "container": {"type": "dict"},
    "secrets": {"type": "dict", "default": {}, "no_log": True},
    "staged": {"type": "dict", "default": {}},
    "owner": {"type": "dict"},
    "wait": {"type": "int", "default": 600},  # the action plugin's (it waits for leases)
    # lease tokens (controller, boot id, pid, start time) of runs that are gone: no secret
    "break_tokens": {"type": "dict", "default": {}, "no_log": False},
    "lock_ttl": {"type": "int", "default": 3600},
    "lock_wait": {"type": "int", "default": 600},
    "root": {"type": "path", "default": "/opt/shipyard"},
    "config_dir": {"type": "path", "default": "/etc/shipyard"},
    "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
    "port_registry": {"type": "path", "default": "/etc/shipyard/ports.json"},
    "lock_dir": {"type": "path", "default": "/run/shipyard/locks"},
    "runc": {"type": "path", "default": "/usr/sbin/runc"},
    "haproxy": {"type": "path", "default": "/usr/sbin/haproxy"},
    "skopeo": {"type": "path", "default": "/usr/bin/skopeo"},
    "systemd_analyze": {"type": "path", "default": "systemd-analyze"},
    "verify_unit": {"type": "bool", "default": True},
    "rollback_on_failure": {"type": "bool", "default": True},
    "timeout_stop_sec": {"type": "int", "default": 30},
    "balancer_maxconn": {"type": "int", "default": 4096},
    # the application the services belong to: recorded in <config_dir>/<service>/app, so that
    # `shipyard deploy APP --prune` finds the services dropped from the app file (the record
    # goes with the service's config dir when the service is removed)
    "app": {"type": "str"},
    "runner": {"type": "str", "choices": ["lean", "module"], "default": "lean"},  # the action's
}


class ConvergeFailure(ShipyardModuleError):
    """One service could not be converged (message and the partial per-service result)."""


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_service(svc):
    """The problems of one service entry the argument spec cannot express."""
    problems = []
    for message in (check_service_name(svc["name"]), check_release(svc["release"])):
        if message:
            problems.append(message)
    if svc["runtime"] == "process" and not svc["command"]:
        problems.append("services[%s].command is empty: give the argv of the service" % svc["name"])
    if svc["max_unavailable"] < 1:
        problems.append("services[%s].max_unavailable=%d: it must be 1 or more"
                        % (svc["name"], svc["max_unavailable"]))
    return problems


# --- phase 1: leases and releases, nothing changed yet ----------------------------------------
class Lease(object):
    """The deploy lease of one service in ``lock_dir`` (the rules of service_lock, in _lease)."""

    def __init__(self, params, service):
        self.service = service
        self.directory = params["lock_dir"]
        self.owner = params["owner"]
        self.ttl = params["lock_ttl"]
        self.break_token = params["break_tokens"].get(service)
        self.wait = params["lock_wait"]

    def take(self, check_mode):
        """(taken, holder, broken): take the lease unless another live run holds it."""
        if check_mode:
            lease = read_lease(lease_path(self.directory, self.service))
            return lease_plan(lease, self.owner, time.time(), self.ttl, None)[0], lease, {}
        # the lease's own short flock, not the service's: that one is held for a whole
        # converge, and a waiting run must see the lease's holder, not block behind the work
        return take_lease(self.directory, self.service, self.owner, self.ttl, self.break_token,
                          self.wait)

    def release(self):
        """Drop the lease if this run holds it; returns the host time it was released."""
        with contextlib.suppress(OSError, TimeoutError):
            drop_lease(self.directory, self.service, self.owner, self.wait)
        return time.time()


def release_state(params, svc):
    """'present', 'missing' (the artifact must be copied) or 'image' (pulled on the host).

    Raises a ConvergeFailure for a release already installed from a different artifact.
    """
    if svc["runtime"] == "container":
        return "image"
    directory = os.path.join(releases_dir(params["root"], svc["name"]), svc["release"])
    manifest = os.path.join(directory, MANIFEST)
    existing = read_manifest(manifest) if not os.path.islink(manifest) else None
    if existing is None:
        if svc["artifact"] is None:
            if os.path.isdir(directory):
                return "present"  # put there by another tool: the reconcile step checks it
            raise ConvergeFailure(
                "release %s of %s is not on the host and the service has no artifact: give "
                "artifact in the spec" % (svc["release"], svc["name"]))
        return "missing"
    want = (svc["artifact"] or {}).get("sha256", "").lower()
    have = str(existing.get("sha256", "")).lower()
    if want and have != want:
        raise ConvergeFailure(
            "version %s is already on this host with artifact sha256 %s (this deploy has %s); "
            "bump `version` in the service spec." % (svc["release"], have, want))
    return "present"


# --- phase 2: one service's steps -------------------------------------------------------------
class ServiceRun(object):
    """Converges one service; ``result`` is its part of the module's result."""

    def __init__(self, module, params, svc, systemd):
        self.module = module
        self.params = params
        self.svc = svc
        self.name = svc["name"]
        self.systemd = systemd
        self.paths = _units.paths(self.name, params["root"], params["config_dir"],
                                  params["unit_dir"])
        self.result = {"changed": False, "release": svc["release"], "steps": {}}
        self.diffs = []

    def step(self, name, func, params):
        out = {"changed": False}
        func(SubTask(self.module, params), out)
        diff = out.pop("diff", None)
        if diff and self.module._diff:
            self.diffs.extend(diff if isinstance(diff, list) else [diff])
        self.result["steps"][name] = out
        self.result["changed"] = self.result["changed"] or bool(out.get("changed"))
        return out

    def claim(self):
        ports = list(self.svc["ports"])
        if self.svc["balancer"]:
            ports.append(self.svc["balancer"]["port"])
        self.step("ports", claim_ports, {
            "service": self.name, "ports": ports, "state": "present",
            "registry": self.params["port_registry"], "check_listeners": True})

    def install_release(self, staged):
        svc, params = self.svc, self.params
        if svc["runtime"] == "container":
            if svc["image"]:
                image = svc["image"]
                self.step("release", install_image, {
                    "service": self.name, "root": params["root"], "release": svc["release"],
                    "image": image["name"], "digest": image["digest"],
                    "tls_verify": image["tls_verify"], "skopeo": params["skopeo"]})
            return
        if not staged:
            return
        artifact = svc["artifact"]
        kind = artifact["kind"]
        release_dir = os.path.join(releases_dir(params["root"], self.name), svc["release"])
        try:
            self.step("release", unpack_release, {
                "service": self.name, "root": params["root"], "release": svc["release"],
                "src": staged, "kind": kind, "name": artifact.get("name"),
                "sha256": artifact["sha256"].lower(), "remove_src": True,
                "manifest": {"service": self.name, "version": svc["release"],
                             "sha256": artifact["sha256"].lower(), "kind": kind, "time": _now()}})
        except (ShipyardModuleError, OSError) as exc:
            current = read_link(os.path.join(service_dir(params["root"], self.name), "current"))
            if not self.module.check_mode and current != release_dir:
                shutil.rmtree(release_dir, ignore_errors=True)  # never activated: not kept
            message = getattr(exc, "msg", None) or str(exc)
            raise ConvergeFailure("installing release %s of %s failed: %s"
                                  % (svc["release"], self.name, message)) from exc

    def files(self, secrets):
        svc, params, paths = self.svc, self.params, self.paths
        files = []
        secret = {}
        if svc["runtime"] == "process":
            files.append({"path": paths["env"], "content": _units.env_file(svc["env"]),
                          "mode": "0644", "verify_unit": None})
            unit = _units.process_unit(self.name, svc["command"], paths["etc"], paths["home"],
                                       svc["user"], svc["resources"], params["timeout_stop_sec"])
            secret = {"secret_path": paths["secrets"], "secret_content": _units.env_file(secrets),
                      "secret_mode": "0600"}
        else:
            unit = _units.container_unit(self.name, paths["home"], params["runc"],
                                         params["timeout_stop_sec"])
        verify = "shipyard-%s@%d.service" % (self.name, (svc["ports"] or [8080])[0])
        files.append({"path": paths["unit"], "content": unit, "mode": "0644",
                      "verify_unit": verify if params["verify_unit"] else None})
        step = dict({"directories": [paths["etc"]], "files": files, "secret_path": None,
                     "secret_content": None, "secret_mode": "0600",
                     "systemd_analyze": params["systemd_analyze"]}, **secret)
        return self.step("files", write_files, step)

    def bundles(self, secrets):
        svc, params = self.svc, self.params
        return self.step("bundles", bundles_present, {
            "service": self.name, "root": params["root"], "release": svc["release"],
            "ports": svc["ports"], "env": svc["env"], "secrets": secrets,
            "resources": svc["resources"], "read_only": svc["read_only"],
            "runc": params["runc"], "state": "present"})

    def balancer(self):
        """Config (checked with haproxy -c first) and unit; start, or reload on a change."""
        svc, params, paths = self.svc, self.params, self.paths
        config = _units.haproxy_config(self.name, svc["ports"], svc["balancer"]["port"],
                                       svc["health"]["path"], paths["lb_socket"],
                                       params["balancer_maxconn"], params["timeout_stop_sec"])
        unit = _units.balancer_unit(self.name, paths["lb_config"], params["haproxy"])
        if read_bytes(paths["lb_config"]) != config.encode() and not self.module.check_mode:
            self.check_haproxy(config)
        out = self.step("balancer", write_files, {
            "directories": [paths["etc"]],
            "files": [{"path": paths["lb_config"], "content": config, "mode": "0644",
                       "verify_unit": None},
                      {"path": paths["lb_unit"], "content": unit, "mode": "0644",
                       "verify_unit": None}],
            "secret_path": None, "secret_content": None, "secret_mode": "0600",
            "systemd_analyze": params["systemd_analyze"]})
        if self.module.check_mode:
            return
        changed = out.get("changed_files") or []
        if paths["lb_unit"] in changed:
            self.systemd.daemon_reload()
        name = paths["lb_unit_name"]
        props = self.systemd.show([name], ("Id", "ActiveState", "UnitFileState")).get(name, {})
        if props.get("ActiveState") not in ("active", "activating", "reloading") \
                or props.get("UnitFileState") != "enabled":
            self.systemd.enable_now([name])
            out["started"] = True
            self.result["changed"] = True
        elif changed:
            self.systemd.reload([name])
            out["reloaded"] = True

    def check_haproxy(self, config):
        scratch = tempfile.mkdtemp(prefix="shipyard-lb-")
        try:
            path = os.path.join(scratch, "haproxy.cfg")
            with open(path, "w") as handle:
                handle.write(config)
            rc, out, err = self.module.run_command([self.params["haproxy"], "-c", "-q", "-f", path])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if rc != 0:
            raise ConvergeFailure("the balancer configuration of %s does not pass haproxy -c "
                                  "(rc %d): %s; nothing was written"
                                  % (self.name, rc, (err or out).strip()))

    def instances(self, daemon_reload, restart_all):
        svc, params, paths = self.svc, self.params, self.paths
        balancer = None
        if svc["balancer"]:
            balancer = {"socket": paths["lb_socket"], "backend": paths["lb_backend"],
                        "drain_timeout": svc["balancer"]["drain_timeout"]}
        out = {"changed": False, "actions": [], "instances": [], "rolled_back": False}
        try:
            reconcile(SubTask(self.module, {
                "service": self.name, "root": params["root"], "ports": svc["ports"],
                "release": svc["release"], "state": "started", "health": svc["health"],
                "max_unavailable": svc["max_unavailable"], "daemon_reload": daemon_reload,
                "restart_all": restart_all, "rollback_on_failure": params["rollback_on_failure"],
                "balancer": balancer}, INSTANCES_SPEC), out)
        finally:
            diff = out.pop("diff", None)
            if diff and self.module._diff:
                self.diffs.append(diff)
            self.result["steps"]["instances"] = out
            for key in ("instances", "current", "previous", "actions", "health", "rolled_back",
                        "failed_instance", "balancer"):
                if key in out:
                    self.result[key] = out[key]
            self.result["changed"] = self.result["changed"] or bool(out.get("changed"))

    def prune(self):
        self.step("prune", prune, {"service": self.name, "root": self.params["root"],
                                   "keep": self.svc["keep"], "protect": [self.svc["release"]]})

    def run(self, secrets, staged):
        self.claim()
        self.install_release(staged)
        files = self.files(secrets)
        bundles = self.bundles(secrets) if self.svc["runtime"] == "container" else {}
        if self.svc["balancer"]:
            self.balancer()
        changed_files = files.get("changed_files") or []
        self.instances(daemon_reload=self.paths["unit"] in changed_files,
                       restart_all=bool(files.get("changed") or bundles.get("changed")))
        self.prune()
        self.record_app()

    def record_app(self):
        """Write the app the service belongs to into its config dir (once)."""
        app = self.params.get("app")
        if not app or self.module.check_mode:
            return
        if check_service_name(app):
            raise ConvergeFailure("app=%r: %s" % (app, check_service_name(app)))
        path = os.path.join(self.paths["etc"], "app")
        if read_bytes(path) != (app + "\n").encode():
            atomic_write(path, (app + "\n").encode(), mode=0o644)


def converge(module, result):
    """The module's work; ``result`` gets per-service results under ``services``."""
    params = module.params
    if not (params["owner"] or {}).get("token"):
        raise ConvergeFailure("owner.token is required (use the action plugin, not the module alone)")
    if (params["service"] is None) == (params["services"] is None):
        raise ConvergeFailure("give service (one normalized spec) or services (a list), not both")
    if params["service"] is not None:
        services = [normalize(params["service"], params["release"], params["runtime"],
                              params["image"], params["container"])]
        secrets = {services[0]["name"]: params["secrets"] or {}}
    else:
        services = [normalize(s) for s in params["services"] or []]
        secrets = params["secrets"] or {}
    names = [s["name"] for s in services]
    problems = []
    for svc in services:
        problems.extend(check_service(svc))
    if len(set(names)) != len(names):
        problems.append("services: a service is listed twice (%s): list each once"
                        % ", ".join(sorted({n for n in names if names.count(n) > 1})))
    if problems:
        raise ConvergeFailure("; ".join(problems))
    check_mode = module.check_mode
    out = result["services"] = {n: {"changed": False, "release": s["release"]}
                                for n, s in zip(names, services, strict=True)}

    # phase 1: every lease, or none; then every release looked up; nothing changed yet
    leases = {}
    locked = {}
    try:
        for svc in services:
            lease = Lease(params, svc["name"])
            taken, holder, broken = lease.take(check_mode)
            if broken:
                result.setdefault("broken", {})[svc["name"]] = broken
            if taken:
                leases[svc["name"]] = lease
            else:
                locked[svc["name"]] = holder
    except (ServiceLockFailure, TimeoutError, OSError) as exc:
        for lease in leases.values():
            lease.release()
        raise ConvergeFailure("cannot take the deploy lease in %s: %s"
                              % (params["lock_dir"], exc), cause=exc) from exc
    if locked and not check_mode:
        for lease in leases.values():
            lease.release()
        result["locked"] = locked
        return
    result["lock"] = {n: {"acquired": time.time()} for n in leases}

    failed = {}
    missing = []
    for svc in services:
        try:
            state = release_state(params, svc)
        except ConvergeFailure as exc:
            failed[svc["name"]] = exc.msg
            continue
        if state == "missing" and svc["name"] not in params["staged"]:
            missing.append(svc["name"])
    if missing and not check_mode:
        result["missing"] = missing  # the leases stay: the action copies and calls again
        return

    # phase 2: each service on its own; one failing does not stop the others
    systemd = Systemctl(module)
    diffs = []
    for svc in services:
        name = svc["name"]
        if name in failed:
            out[name].update(failed=True, msg=failed[name])
            continue
        run = ServiceRun(module, params, svc, systemd)
        try:
            if check_mode:
                run.run(secrets.get(name) or {}, params["staged"].get(name))
            else:
                with service_flock(name, timeout=params["lock_wait"], directory=params["lock_dir"]):
                    run.run(secrets.get(name) or {}, params["staged"].get(name))
        except (ShipyardModuleError, OSError, ValueError) as exc:
            message = getattr(exc, "msg", None) or str(exc)
            run.result.update(getattr(exc, "details", {}) or {})
            run.result.update(failed=True, msg=message)
        out[name].update(run.result)
        diffs.extend(run.diffs)
    for name, lease in leases.items():
        if not check_mode:
            result["lock"][name]["released"] = lease.release()
    if diffs:
        result["diff"] = diffs
    result["changed"] = any(o.get("changed") for o in out.values())
    result["instances"] = [dict(i, service=n) for n, o in out.items()
                           for i in o.get("instances") or []]
    if len(names) == 1:
        result["current_release"] = out[names[0]].get("current")
        result["previous_release"] = out[names[0]].get("previous")
    bad = [n for n in names if out[n].get("failed")]
    if bad:
        result["failed_services"] = bad
        if len(names) == 1:
            msg = out[bad[0]]["msg"]
        else:
            msg = "; ".join("service %s: %s" % (n, out[n]["msg"]) for n in bad)
        raise ConvergeFailure(msg, **{k: v for k, v in out[bad[0]].items()
                                      if k in ("rolled_back", "failed_instance")})


def run(module, result):
    """converge() with the host seconds it took in ``result["seconds"]`` (both runners)."""
    started = time.monotonic()
    try:
        converge(module, result)
    finally:
        result["seconds"] = round(time.monotonic() - started, 4)
