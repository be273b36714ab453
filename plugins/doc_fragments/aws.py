# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""The common AWS options of shipyard.deploy's controller-side AWS modules.

The names, aliases and environment fallbacks are amazon.aws's (its ``common`` and ``region``
doc fragments), so tasks and ``module_defaults`` written for amazon.aws work unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - AWS access key ID.
      - The E(AWS_ACCESS_KEY_ID) or E(AWS_ACCESS_KEY) environment variables are used, in this
        order, when it is not set. Without it, credentials come from boto3's chain (shared
        credentials file, O(profile), instance role).
      - O(access_key) and an explicitly given O(profile) are mutually exclusive; a profile that
        only comes from E(AWS_PROFILE) yields to the keys, as in boto3.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - AWS secret access key, with O(access_key). Never logged.
      - The E(AWS_SECRET_ACCESS_KEY) or E(AWS_SECRET_KEY) environment variables are used, in this
        order, when it is not set.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - AWS STS session token for temporary credentials, with O(access_key). Never logged.
      - The E(AWS_SESSION_TOKEN) environment variable is used when it is not set.
    type: str
    aliases: [aws_session_token]
  profile:
    description:
      - A named profile of the shared AWS configuration.
      - The E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE) environment variables are used when it is not set.
    type: str
    aliases: [aws_profile]
  region:
    description:
      - The AWS region.
      - The E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variables are used when it is not
        set, then the region of O(profile), else V(us-east-1).
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - URL of the AWS API to use instead of AWS's (for example an emulator such as moto).
      - The E(AWS_ENDPOINT_URL) or E(AWS_URL) environment variables are used, in this order,
        when it is not set.
    type: str
    aliases: [aws_endpoint_url]
  validate_certs:
    description:
      - When V(false), TLS certificates of the AWS API are not verified.
      - Strongly discouraged; give O(aws_ca_bundle) instead.
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - A PEM file of CA certificates to verify the AWS API's TLS certificate with.
      - The E(AWS_CA_BUNDLE) environment variable is used when it is not set.
    type: path
  aws_config:
    description:
      - "botocore client settings (C(botocore.config.Config) keyword arguments), for example
        C({retries: {mode: adaptive, max_attempts: 20}, connect_timeout: 10})."
      - Merged over the module's own, which retry throttling and transient errors with
        exponential backoff (retry mode V(standard), 10 attempts).
    type: dict
requirements:
  - boto3 on the controller
notes:
  - Runs on the controller, with a local connection; boto3 is not needed on managed hosts.
  - Every list and describe call reads all pages of the answer.
"""
