#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: oci_image
short_description: Pull a container image by digest and install it as a release of a service
version_added: 0.1.0
description:
  - For the container strategy. Makes C(<root>/<service>/releases/<release>/) hold C(rootfs/),
    the unpacked file system of the image O(image)@O(digest), and C(image.json), a JSON object
    with the keys C(digest) (the manifest digest) and C(config) (the image config's C(config)
    object - Entrypoint, Cmd, Env, WorkingDir, Labels, User). The module
    M(shipyard.deploy.container_bundles) writes the runc bundles from it.
  - The image is pulled by digest, never by a moving tag, with C(skopeo copy) into a host-side
    OCI layout cache C(<root>/<service>/images/); each blob is checked against its sha256 again
    while it is unpacked.
  - Layers are unpacked with Python's C(tarfile) into a temporary directory next to the release,
    which is then renamed into place, so a release directory is either complete or absent. No
    entry may have an absolute name or C(..), nothing is written through a symlink, device nodes
    are skipped, and OCI whiteouts remove what lower layers made.
  - After a pull, the cache keeps only the images of the releases present (pruned releases'
    images and blobs no other image uses are removed from it).
  - When C(image.json) already names O(digest) nothing is pulled and nothing changes. A release is
    immutable; when the release directory exists with another digest (or is not an image
    release), the module fails; name a new version.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  release:
    description: The release (version), the directory C(<root>/<service>/releases/<release>/).
    type: str
    required: true
  image:
    description:
      - The image repository with its registry, C(<registry host:port>/<repository>), without a
        tag or digest, e.g. C(10.213.1.1:5000/shipyard/hello).
    type: str
    required: true
  digest:
    description: The image's manifest digest, C(sha256:<64 hex digits>).
    type: str
    required: true
  tls_verify:
    description:
      - Require HTTPS and verify the registry's certificate. The lab's registry speaks plain HTTP
        on the lab network, so set V(false) for it.
    type: bool
    default: true
  skopeo:
    description: The skopeo binary.
    type: path
    default: /usr/bin/skopeo
notes:
  - Runs as root (file owners in the image are kept).
requirements:
  - skopeo on the host
seealso:
  - module: shipyard.deploy.container_bundles
"""

EXAMPLES = r"""
- name: Install hello 1.0.0 from the lab registry (a re-run pulls nothing and changes nothing)
  shipyard.deploy.oci_image:
    service: hello
    release: 1.0.0
    image: "{{ shipyard_registry }}/shipyard/hello"
    digest: sha256:4f2a0c5d2d0c4ec8a0f29ad3ba8a9d9b3e9a2f7c1f0e6b8c7d5a4e3f2b1c0d9e
    tls_verify: false

- name: Would hello 2.0.0 be pulled?
  shipyard.deploy.oci_image:
    service: hello
    release: 2.0.0
    image: registry.example.com/shipyard/hello
    digest: "{{ hello_digest }}"
  check_mode: true
  diff: true
"""

RETURN = r"""
release_dir:
  description: The release directory.
  returned: always
  type: str
  sample: /opt/shipyard/hello/releases/1.0.0
digest:
  description: The image digest installed (or that would be).
  returned: always
  type: str
  sample: sha256:4f2a0c5d2d0c4ec8a0f29ad3ba8a9d9b3e9a2f7c1f0e6b8c7d5a4e3f2b1c0d9e
pulled:
  description: Whether skopeo copied the image (false when the release already had it).
  returned: always
  type: bool
  sample: true
config:
  description: The image config's C(config) object, as written to C(image.json).
  returned: when the release is installed (not in check mode before the first pull)
  type: dict
  sample: {"Entrypoint": ["/usr/bin/python3", "server.py", "--port", "{port}"], "WorkingDir": /app}
pruned:
  description: Blobs removed from the host's image cache after the pull (images of releases gone).
  returned: always
  type: list
  elements: str
  sample: []
skipped:
  description: Entries of the image not unpacked (device nodes, unsupported types).
  returned: always
  type: list
  elements: str
  sample: []
"""

import json
import os
import re
import shutil

from ansible.module_utils.basic import AnsibleModule
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


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "release": {"type": "str", "required": True},
            "image": {"type": "str", "required": True},
            "digest": {"type": "str", "required": True},
            "tls_verify": {"type": "bool", "default": True},
            "skopeo": {"type": "path", "default": "/usr/bin/skopeo"},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "pulled": False, "skipped": [], "pruned": [], "digest": params["digest"]}
    try:
        validate_params(params)
        release_dir = os.path.join(releases_dir(params["root"], params["service"]), params["release"])
        result["release_dir"] = release_dir
        current = read_state(release_dir)
        if current == params["digest"]:
            result["config"] = (read_image(release_dir) or {}).get("config") or {}
            module.exit_json(**result)
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
    except (ShipyardModuleError, ImageError, OSError, ValueError) as exc:
        if isinstance(exc, ShipyardModuleError):
            result.update(exc.result())
        else:
            result["msg"] = "installing %s@%s as release %s failed: %s" % (
                params["image"], params["digest"], params["release"], exc)
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
