#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launch_template_version
short_description: Point a launch template's default version at a machine image (ami strategy)
version_added: 0.1.0
description:
  - Creates a launch template version with O(image_id) (from the latest version) and makes it
    the default; creates the launch template when it does not exist.
  - Nothing changes when the default version already uses O(image_id).
  - With O(autoscaling_group), starts an instance refresh of the group when a version was made.
  - Uses the same code as C(shipyard rollout).
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
  name:
    description: Launch template name.
    type: str
    required: true
  image_id:
    description: The AMI id the default version must use.
    type: str
    required: true
  service:
    description: Service name, tagged (C(shipyard:service)) on a launch template this module creates.
    type: str
    required: true
  autoscaling_group:
    description: Auto Scaling group to instance-refresh after a new default version.
    type: str
"""

EXAMPLES = r"""
- name: Roll hello out to its new image (a re-run changes nothing)
  shipyard.deploy.launch_template_version:
    name: shipyard-hello
    service: hello
    image_id: ami-0123456789abcdef0
    autoscaling_group: hello-asg

- name: What would change
  shipyard.deploy.launch_template_version:
    name: shipyard-hello
    service: hello
    image_id: ami-0fedcba9876543210
  check_mode: true
"""

RETURN = r"""
launch_template_id:
  description: The launch template's id (null in check mode when it would be created).
  returned: always
  type: str
  sample: lt-0123456789abcdef0
template_version:
  description: The default version after the run (or that would be, in check mode).
  returned: always
  type: int
  sample: 3
previous_image_id:
  description: The image the default version used before, or null.
  returned: always
  type: str
  sample: ami-0fedcba9876543210
action:
  description: V(create), V(version) or V(none).
  returned: always
  type: str
  sample: version
instance_refresh:
  description: The instance refresh id, or null.
  returned: always
  type: str
  sample: 0b7e8a0c-1234-4d5e-9f00-123456789abc
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._ami import AmiError, rollout
from ansible_collections.shipyard.deploy.plugins.module_utils._aws import (
    AwsError,
    Clients,
    aws_argument_spec,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError


class LaunchTemplateFailure(ShipyardModuleError):
    """The module's one error: message and cause."""


def main():
    module = AnsibleModule(
        argument_spec=aws_argument_spec(
            name={"type": "str", "required": True},
            image_id={"type": "str", "required": True},
            service={"type": "str", "required": True},
            autoscaling_group={"type": "str"},
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = {"changed": False}
    try:
        clients = Clients(p)
        asg = clients("autoscaling") if p["autoscaling_group"] else None
        try:
            done = rollout(clients("ec2"), asg, service=p["service"], ami_id=p["image_id"],
                           launch_template=p["name"], autoscaling_group=p["autoscaling_group"],
                           check=module.check_mode)  # fmt: skip
        except AmiError:
            raise
        except Exception as exc:  # botocore's errors
            raise LaunchTemplateFailure("launch template %s: %s" % (p["name"], exc), exc) from exc
        result.update(done)
    except (AwsError, AmiError, LaunchTemplateFailure) as exc:
        module.fail_json(msg=str(exc), **result)
    if module._diff:
        result["diff"] = {
            "before": {"image_id": result["previous_image_id"]},
            "after": {"image_id": result["ami_id"]},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
