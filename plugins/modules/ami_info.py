#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ami_info
short_description: Find a service's baked machine image (ami strategy)
version_added: 0.1.0
description:
  - With O(bake_hash), returns the newest available image of O(service) tagged with that bake
    hash (the image C(shipyard bake) would reuse), or none.
  - Without it, lists the service's shipyard-managed images, oldest first, optionally of one
    O(version), and which of them a launch template or a live instance uses.
  - Uses the same code as C(shipyard bake), C(shipyard prune) and C(shipyard rollout).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy.aws
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller; calls the AWS API with boto3.
options:
  service:
    description: Service name (the C(shipyard:service) tag).
    type: str
    required: true
  bake_hash:
    description: The bake hash (the C(shipyard:bake-hash) tag) to look for.
    type: str
  version:
    description: Only images of this version (the C(shipyard:version) tag). Ignored with O(bake_hash).
    type: str
"""

EXAMPLES = r"""
- name: Is there an image of hello for this bake hash?
  shipyard.deploy.ami_info:
    service: hello
    bake_hash: "{{ shipyard_bake_hash }}"
  register: cached

- name: Every image of hello 1.0.0
  shipyard.deploy.ami_info:
    service: hello
    version: 1.0.0
    endpoint_url: http://127.0.0.1:5000
    region: us-east-1
"""

RETURN = r"""
image:
  description: The newest available image with O(bake_hash), or null (also null without O(bake_hash)).
  returned: always
  type: dict
  sample: {ami_id: ami-0123456789abcdef0, name: shipyard-hello-1.0.0-20260101120000, version: 1.0.0,
           bake_hash: 3f2a..., state: available, creation_date: "2026-01-01T12:00:00.000Z",
           snapshots: [snap-0123456789abcdef0], in_use: false}
images:
  description: The service's images, oldest first (with O(bake_hash) only the matching one).
  returned: always
  type: list
  elements: dict
  sample: [{ami_id: ami-0123456789abcdef0, version: 1.0.0, in_use: true}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._ami import (
    find_cached,
    image_doc,
    images_in_use,
    service_images,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._aws import (
    AwsError,
    Clients,
    aws_argument_spec,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError


class AmiInfoFailure(ShipyardModuleError):
    """The module's one error: message and cause."""


def main():
    module = AnsibleModule(
        argument_spec=aws_argument_spec(
            service={"type": "str", "required": True},
            bake_hash={"type": "str"},
            version={"type": "str"},
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = {"changed": False, "image": None, "images": []}
    try:
        ec2 = Clients(p)("ec2")
        try:
            used = images_in_use(ec2)
            if p["bake_hash"]:
                found = find_cached(ec2, p["service"], p["bake_hash"])
                images = [found] if found else []
            else:
                images = service_images(ec2, p["service"], version=p["version"])
        except Exception as exc:  # botocore's errors
            raise AmiInfoFailure("images of %s: %s" % (p["service"], exc), exc) from exc
        result["images"] = [image_doc(i, used) for i in images]
        if p["bake_hash"] and result["images"]:
            result["image"] = result["images"][0]
    except (AwsError, AmiInfoFailure) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
