# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module container_bundles.

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
import time

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, read_bytes
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    releases_dir,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._oci import (
    BUNDLES,
    BundleError,
    bundle_config,
    read_image,
    render,
)


class ContainerBundlesFailure(ShipyardModuleError):
    """The bundles could not be written."""


def plan_bundles(release_dir, image, params):
    """({port: config bytes} to write, [ports] to remove): only what differs on disk."""
    bundles = os.path.join(release_dir, BUNDLES)
    write = {}
    for port in params["ports"]:
        data = render(bundle_config(
            image.get("config") or {}, params["service"], port, env=params["env"],
            secrets=params["secrets"], resources=params["resources"],
            read_only=params["read_only"]))
        if read_bytes(os.path.join(bundles, str(port), "config.json")) != data:
            write[port] = data
    try:
        existing = [int(n) for n in os.listdir(bundles) if n.isdigit()]
    except OSError:
        existing = []
    return write, sorted(p for p in existing if p not in params["ports"])


def present(module, result):
    params = module.params
    release = params["release"]
    if not release or "/" in release or release in (".", ".."):
        raise ContainerBundlesFailure(
            "release=%r: give the name of a directory under %s"
            % (release, releases_dir(params["root"], params["service"])))
    release_dir = os.path.join(releases_dir(params["root"], params["service"]), release)
    image = read_image(release_dir)
    if image is None:
        if module.check_mode:  # the image is not unpacked yet: every bundle would be written
            result.update(written=sorted(params["ports"]), changed=bool(params["ports"]))
            return
        raise ContainerBundlesFailure(
            "release %s has no readable %s/image.json: install the image first "
            "(module shipyard.deploy.oci_image)" % (release, release_dir))
    try:
        write, remove = plan_bundles(release_dir, image, params)
    except BundleError as exc:
        raise ContainerBundlesFailure(str(exc), cause=exc) from exc
    manifest = os.path.join(release_dir, MANIFEST)
    needs_manifest = not os.path.exists(manifest)
    bundles = os.path.join(release_dir, BUNDLES)
    result.update(
        changed=bool(write or remove or needs_manifest), written=sorted(write), removed=remove,
        digest=image.get("digest"),
        bundles={str(p): os.path.join(bundles, str(p)) for p in params["ports"]})
    if module._diff:
        result["diff"] = {"before": {"bundles": sorted(set(params["ports"]) - set(write))
                                     + remove},
                          "after": {"bundles": sorted(params["ports"])}}
    if module.check_mode:
        return
    if not os.path.isdir(bundles):
        os.mkdir(bundles, 0o700)
    for port, data in sorted(write.items()):
        path = os.path.join(bundles, str(port))
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
        atomic_write(os.path.join(path, "config.json"), data, mode=0o600)
    for port in remove:
        shutil.rmtree(os.path.join(bundles, str(port)), ignore_errors=True)
    if needs_manifest:
        doc = {"service": params["service"], "version": release, "kind": "oci-image",
               "sha256": (image.get("digest") or "").split(":")[-1], "image": image.get("digest"),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write(manifest, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), mode=0o644)


def absent(module, result):
    params = module.params
    if not os.path.exists(params["runc"]):
        return
    rc, out, err = module.run_command([params["runc"], "list", "-q"])
    if rc != 0:
        raise ContainerBundlesFailure("'runc list' failed (rc %d): %s" % (rc, (err or out).strip()))
    pattern = re.compile(r"^shipyard-%s-\d+\Z" % re.escape(params["service"]))
    ids = sorted(i for i in out.split() if pattern.match(i))
    result.update(changed=bool(ids), removed=ids)
    if module.check_mode:
        return
    for cid in ids:
        rc, out, err = module.run_command([params["runc"], "delete", "--force", cid])
        if rc != 0:
            raise ContainerBundlesFailure("'runc delete --force %s' failed (rc %d): %s"
                                          % (cid, rc, (err or out).strip()), removed=ids)
