#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ami_prune
short_description: Remove a service's old machine images and their snapshots (ami strategy)
version_added: 0.1.0
description:
  - Deregisters all but the O(keep) newest available images of O(service) and deletes their
    EBS snapshots.
  - An image that a launch template version or a live instance uses is never removed, and does
    not count against O(keep).
  - In check mode nothing is removed; RV(removed) lists what would go.
  - Uses the same code as C(shipyard prune).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy.aws
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
    details: Runs on the controller; calls the AWS API with boto3.
options:
  service:
    description: Service name (the C(shipyard:service) tag).
    type: str
    required: true
  keep:
    description: How many of the newest images not in use to keep (at least 1).
    type: int
    default: 3
"""

EXAMPLES = r"""
- name: What would go (dry run)
  shipyard.deploy.ami_prune:
    service: hello
    keep: 1
  check_mode: true

- name: Keep the newest image of hello, plus any a launch template uses
  shipyard.deploy.ami_prune:
    service: hello
    keep: 1

- name: A re-run removes nothing
  shipyard.deploy.ami_prune:
    service: hello
    keep: 1
"""

RETURN = r"""
removed:
  description: The images removed (or that would be, in check mode), with their snapshots.
  returned: always
  type: list
  elements: dict
  sample: [{ami_id: ami-0123456789abcdef0, name: shipyard-hello-1.0.0-20260101120000, version: 1.0.0,
            snapshots: [snap-0123456789abcdef0], in_use: false}]
kept:
  description: The images kept (the newest O(keep), and those in use).
  returned: always
  type: list
  elements: dict
  sample: [{ami_id: ami-0fedcba9876543210, version: 1.0.1, snapshots: [], in_use: true}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._ami import prune
from ansible_collections.shipyard.deploy.plugins.module_utils._aws import (
    AwsError,
    Clients,
    aws_argument_spec,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError


class AmiPruneFailure(ShipyardModuleError):
    """The module's one error: message and cause."""


def main():
    module = AnsibleModule(
        argument_spec=aws_argument_spec(
            service={"type": "str", "required": True},
            keep={"type": "int", "default": 3},
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["keep"] < 1:
        module.fail_json(msg="keep=%s: keep at least one image" % p["keep"])
    result = {"changed": False, "removed": [], "kept": []}
    try:
        ec2 = Clients(p)("ec2")
        try:
            done = prune(ec2, p["service"], p["keep"], dry_run=module.check_mode)
        except Exception as exc:  # botocore's errors
            raise AmiPruneFailure("prune of %s: %s" % (p["service"], exc), exc) from exc
        result.update(done, changed=bool(done["removed"]))
    except (AwsError, AmiPruneFailure) as exc:
        module.fail_json(msg=str(exc), **result)
    if module._diff:
        kept = [d["ami_id"] for d in result["kept"]]
        result["diff"] = {
            "before": {"images": sorted(kept + [d["ami_id"] for d in result["removed"]])},
            "after": {"images": sorted(kept)},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
