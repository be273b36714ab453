# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""The common AWS options of shipyard.deploy's controller-side AWS modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - URL of the AWS API to use instead of AWS's (an emulator such as moto).
      - The environment variable E(AWS_ENDPOINT_URL) is used when it is not set.
    type: str
  region:
    description:
      - AWS region; E(AWS_REGION) or E(AWS_DEFAULT_REGION) when not set, else V(us-east-1).
    type: str
  profile:
    description: Named profile of the shared AWS config; E(AWS_PROFILE) when not set.
    type: str
  access_key:
    description:
      - AWS access key id. When not set, credentials come from boto3's chain
        (environment, shared credentials file, instance role).
    type: str
  secret_key:
    description: AWS secret access key, with O(access_key). Never logged.
    type: str
  session_token:
    description: AWS session token, with O(access_key). Never logged.
    type: str
requirements:
  - boto3 on the controller
notes:
  - Runs on the controller, with a local connection; boto3 is not needed on managed hosts.
"""
