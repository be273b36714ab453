# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: runc bundles for the container strategy.

Host-side code: standard library only. An image installed as a release
(``<root>/<svc>/releases/<release>/`` with ``rootfs/`` and ``image.json``, see the module
``oci_image``) runs one container per instance from ``bundles/<port>/config.json``, whose root is
``../../rootfs``. ``bundle_config`` is pure (image config and settings in, OCI config out) so
that unit tests, check mode and diff mode share it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

IMAGE_JSON = "image.json"
BUNDLES = "bundles"
#: process.user when the image names no numeric user: nobody/nogroup
NOBODY = 65534
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MEMORY_RE = re.compile(r"^(\d+)([KMG])\Z")
_CPU_RE = re.compile(r"^(\d+)%\Z")
_UNITS = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
CPU_PERIOD = 100000


class BundleError(ValueError):
    """An image config or setting a bundle cannot be made from (message names the fix)."""


def container_id(service, port):
    """The runc container id of an instance: ``shipyard-<svc>-<port>``."""
    return "shipyard-%s-%d" % (service, port)


def memory_bytes(value):
    """``64M`` -> bytes; None stays None."""
    if value is None:
        return None
    match = _MEMORY_RE.match(str(value))
    if not match:
        raise BundleError("resources.memory=%r: use a size with a K, M or G suffix, e.g. 64M" % (value,))
    return int(match.group(1)) * _UNITS[match.group(2)]


def cpu_quota(value):
    """``50%`` -> the CFS quota per CPU_PERIOD microseconds; None stays None."""
    if value is None:
        return None
    match = _CPU_RE.match(str(value))
    if not match or int(match.group(1)) < 1:
        raise BundleError("resources.cpu=%r: use a percentage such as 50%% (100%% is one core)" % (value,))
    return int(match.group(1)) * CPU_PERIOD // 100


def process_user(user):
    """The OCI process.user of the image's ``User`` ("uid" or "uid:gid"; anything else: nobody)."""
    match = re.match(r"^(\d+)(?::(\d+))?\Z", user or "")
    if not match or int(match.group(1)) == 0:
        return {"uid": NOBODY, "gid": NOBODY}
    uid = int(match.group(1))
    return {"uid": uid, "gid": int(match.group(2)) if match.group(2) else uid}


def _argv(config, port):
    argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not argv:
        raise BundleError("the image has no Entrypoint or Cmd: build it from a spec with a command")
    return [a.replace("{port}", str(port)) for a in argv]


def _env(config, port, env, secrets):
    merged = {}
    for item in config.get("Env") or [DEFAULT_PATH]:
        key, sep, value = item.partition("=")
        if sep:
            merged[key] = value
    merged.update(env or {})
    merged.update(secrets or {})
    merged["PORT"] = str(port)
    return ["%s=%s" % (k, merged[k]) for k in sorted(merged)]


def _mounts(tmp_size):
    nosuid = ["nosuid", "noexec", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": nosuid + ["mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nosuid},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": nosuid + ["ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": nosuid + ["mode=1777", "size=%s" % tmp_size]},
    ]


def bundle_config(image, service, port, env=None, secrets=None, resources=None, read_only=True,
                  tmp_size="64m"):
    """The OCI runtime config (a dict) of instance ``port`` of ``service`` from ``image``.

    ``image``: the image's config ({Entrypoint, Cmd, Env, WorkingDir, User, ...}). The
    container shares the host's network namespace (its port is the host's), gets its own
    pid, ipc, uts and mount namespaces, a read-only root with a tmpfs /tmp, no capabilities,
    no new privileges, and the spec's memory, CPU and pids limits in its own cgroup, a
    child of the unit's (``cgroupsPath`` relative to runc's cgroup: the unit's, Delegate=yes).
    """
    resources = resources or {}
    limits = {}
    memory = memory_bytes(resources.get("memory"))
    if memory:
        limits["memory"] = {"limit": memory}
    quota = cpu_quota(resources.get("cpu"))
    if quota:
        limits["cpu"] = {"quota": quota, "period": CPU_PERIOD}
    if resources.get("tasks"):
        limits["pids"] = {"limit": int(resources["tasks"])}
    limits["devices"] = [{"allow": False, "access": "rwm"}]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": process_user(image.get("User")),
            "args": _argv(image, port),
            "env": _env(image, port, env, secrets),
            "cwd": image.get("WorkingDir") or "/",
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [],
                             "ambient": []},
            "noNewPrivileges": True,
        },
        "root": {"path": "../../rootfs", "readonly": bool(read_only)},
        "hostname": container_id(service, port),
        "mounts": _mounts(tmp_size),
        "linux": {
            "resources": limits,
            "cgroupsPath": container_id(service, port),
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def render(config):
    """The bytes written to config.json (stable: sorted keys)."""
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_image(release_dir):
    """The parsed ``image.json`` of a release ({digest, config}), or None when it has none."""
    try:
        with open(os.path.join(release_dir, IMAGE_JSON), "rb") as handle:
            doc = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
