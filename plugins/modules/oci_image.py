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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._image_release import (
    OciImageFailure,
    install_image,
)


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
    result = {"changed": False, "pulled": False, "skipped": [], "pruned": [],
              "digest": module.params["digest"]}
    try:
        install_image(module, result)
    except OciImageFailure as exc:
        result.update(exc.result())
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
