# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module oci_image.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_release,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import releases_dir
from ansible_collections.shipyard.deploy.plugins.module_utils._oci import IMAGE_JSON, read_image
from ansible_collections.shipyard.deploy.plugins.module_utils._oci_image import (
    DIGEST_RE,
    ImageError,
    image_json,
    load_image,
    manifest_for_ref,
    prune_layout,
    unpack,
)

IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+\Z")


class OciImageFailure(ShipyardModuleError):
    """The image could not be installed as the release."""


def validate_params(params):
    """Every rule the argument spec cannot express, as one message naming field, value and fix."""
    problems = []
    message = check_service_name(params["service"])
    if message:
        problems.append(message)
    message = check_release(params["release"])
    if message:
        problems.append(message)
    if not IMAGE_RE.match(params["image"] or ""):
        problems.append("image=%r: give <registry host:port>/<repository> in lower case, "
                        "without a tag or digest" % (params["image"],))
    if not DIGEST_RE.match(params["digest"] or ""):
        problems.append("digest=%r: give the manifest digest sha256:<64 hex digits> "
                        "(`shipyard push` prints it); never a tag" % (params["digest"],))
    if problems:
        raise OciImageFailure("; ".join(problems))


def read_state(release_dir):
    """'absent', or the digest in the release's image.json, or None (a dir that is no image)."""
    if not os.path.lexists(release_dir):
        return "absent"
    image = read_image(release_dir)
    return (image or {}).get("digest")


def pull(module, layout, ref):
    """skopeo copy the image by digest into the host-side OCI layout cache."""
    params = module.params
    if not os.path.isdir(layout):
        os.makedirs(layout, 0o700)
    argv = [params["skopeo"], "copy", "--quiet", "--retry-times", "3",
            "--src-tls-verify=%s" % ("true" if params["tls_verify"] else "false"),
            "docker://%s@%s" % (params["image"], params["digest"]),
            "oci:%s:%s" % (layout, ref)]
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
    if rc != 0:
        raise OciImageFailure("pulling %s@%s failed (skopeo rc %d): %s"
                              % (params["image"], params["digest"], rc, (err or out).strip()))


def remove_stale_temps(parent, release):
    """Remove ``.<release>.tmp-<pid>`` dirs left by a run that was killed (its pid is gone)."""
    prefix = ".%s.tmp-" % release
    for name in os.listdir(parent):
        pid = name[len(prefix):]
        if not (name.startswith(prefix) and pid.isdigit()):
            continue
        if int(pid) != os.getpid() and os.path.exists("/proc/%s" % pid):
            continue  # another run, alive (the deploy lock normally prevents this)
        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def install(module, result, release_dir):
    params = module.params
    digest = params["digest"]
    service_dir = os.path.dirname(os.path.dirname(release_dir))
    layout = os.path.join(service_dir, "images")
    ref = digest.split(":", 1)[1]
    pull(module, layout, ref)
    result["pulled"] = True
    desc = manifest_for_ref(layout, ref)
    if desc.get("digest") != digest:
        raise OciImageFailure("skopeo stored %s as %s, not %s: the registry changed the manifest"
                              % (params["image"], desc.get("digest"), digest))
    manifest, config = load_image(layout, digest)
    doc = image_json(digest, config)
    parent = os.path.dirname(release_dir)
    remove_stale_temps(parent, os.path.basename(release_dir))
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(release_dir), os.getpid()))
    os.mkdir(tmp, 0o755)
    try:
        result["skipped"] = unpack(layout, manifest, os.path.join(tmp, "rootfs"))
        atomic_write(os.path.join(tmp, IMAGE_JSON),
                     (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"), mode=0o644)
        os.rename(tmp, release_dir)  # fails if another run made it meanwhile: nothing half-made
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result["config"] = doc["config"]
    keep = {digest}
    for name in os.listdir(parent):
        keep.add((read_image(os.path.join(parent, name)) or {}).get("digest"))
    result["pruned"] = prune_layout(layout, keep)


def install_image(module, result):
    """Install image@digest as the release (once): the module's whole work.

    Every failure is raised as an OciImageFailure with the partial ``result``'s message.
    """
    params = module.params
    try:
        validate_params(params)
        release_dir = os.path.join(releases_dir(params["root"], params["service"]), params["release"])
        result["release_dir"] = release_dir
        current = read_state(release_dir)
        if current == params["digest"]:
            result["config"] = (read_image(release_dir) or {}).get("config") or {}
            return
        if current != "absent":
            raise OciImageFailure(
                "release %s of %s already exists with %s, not %s: a release is immutable; "
                "build and push the new image under a new version"
                % (params["release"], params["service"],
                   "image %s" % current if current else "no image.json (not an image release)",
                   params["digest"]))
        result["changed"] = True
        if module._diff:
            result["diff"] = {"before": {"digest": None}, "after": {"digest": params["digest"]}}
        if not module.check_mode:
            if not os.path.exists(params["skopeo"]):
                raise OciImageFailure("skopeo=%s does not exist: install skopeo on the host "
                                      "(apt-get install skopeo)" % params["skopeo"])
            parent = os.path.dirname(release_dir)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            install(module, result, release_dir)
    except OciImageFailure:
        raise
    except (ShipyardModuleError, ImageError, OSError, ValueError) as exc:
        if isinstance(exc, ShipyardModuleError):
            raise OciImageFailure(exc.msg, cause=exc.cause, **exc.details) from exc
        raise OciImageFailure("installing %s@%s as release %s failed: %s" % (
            params["image"], params["digest"], params["release"], exc), cause=exc) from exc
