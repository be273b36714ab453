"""AWS settings, resolved in ONE place for every strategy that talks to AWS (ami, lambda).

:func:`resolve` reads the endpoint, region and credentials once: an explicit endpoint, else
``$AWS_ENDPOINT_URL`` (empty: real AWS); the region from ``$AWS_REGION``/``$AWS_DEFAULT_REGION``
(default us-east-1); credentials from the environment, else boto3's own chain (profile,
instance role). An emulator endpoint with no key in the environment gets moto's dummy keys.
``$AWS_CA_BUNDLE`` names the CA file to verify TLS with (boto3 and the light EC2 client alike).
The same :class:`AwsSettings` gives boto3 clients (retrying throttling with backoff), Packer's
environment, the variables the collection's AWS modules take (``shipyard_aws``, passed as
secret vars, never logged) and botocore credentials and TLS settings for the light EC2 client.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.core.errors import SetupError, SpecError
from shipyard.core.inputs import read_inventory
from shipyard.core.progress import ProgressCallback, say

log = logging.getLogger("shipyard.aws")

#: What tells that AWS settings exist without asking the network (the instance metadata service
#: is not probed: on a machine that has only that, pass --endpoint-url or AWS_PROFILE).
_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)

#: moto's dummy credentials, used only for an emulator endpoint with no key in the environment
_DUMMY = "testing"

#: botocore's "standard" retries: exponential backoff with jitter on throttling and transient
#: errors (the collection's modules use the same, plugins/module_utils/_aws.py).
RETRIES = {"mode": "standard", "max_attempts": 10}


@dataclass(frozen=True)
class AwsSettings:
    """Where AWS is and who we are there (credentials are never part of the repr)."""

    endpoint_url: str | None
    region: str
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    #: CA file to verify the AWS API's TLS certificate with ($AWS_CA_BUNDLE); None: the default
    ca_bundle: str | None = None

    def verify(self) -> str | None:
        """boto3's ``verify``: the CA bundle, or None for botocore's default.

        Raises:
            SpecError: $AWS_CA_BUNDLE names no file (instead of a TLS error at the first call).
        """
        if self.ca_bundle is None:
            return None
        if not Path(self.ca_bundle).is_file():
            fix = "no such file: point it at a PEM file of CA certificates, or unset it"
            raise SpecError("AWS_CA_BUNDLE", self.ca_bundle, fix)
        return self.ca_bundle

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of a request made without boto3: verifying, with the CA bundle if set.

        Raises:
            SpecError: $AWS_CA_BUNDLE names no file or a file without a CA certificate.
        """
        cafile = self.verify()
        try:
            return ssl.create_default_context(cafile=cafile)
        except (ssl.SSLError, OSError) as exc:
            raise SpecError(
                "AWS_CA_BUNDLE", self.ca_bundle, f"not a PEM file of CA certificates ({exc}): fix or unset it"
            ) from exc

    def client(self, service: str, *, region: str | None = None) -> Any:
        """A boto3 client for ``service`` (in ``region``, default the resolved one).

        Raises:
            SetupError: no credentials anywhere (instead of botocore's NoCredentialsError later).
        """
        if not (self.access_key and self.secret_key):
            self.require_credentials()  # keys given: boto3 uses them, nothing to look up
        verify = self.verify()
        import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import: only when AWS is used
        from botocore.config import Config  # noqa: PLC0415 - only when AWS is used

        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.session_token,
            profile_name=self.profile if self.access_key is None else None,
            region_name=region or self.region,
        )
        config = Config(retries=dict(RETRIES), user_agent_extra="shipyard")
        return session.client(service, endpoint_url=self.endpoint_url, config=config, verify=verify)

    def env(self) -> dict[str, str]:
        """What a child process (Packer) needs beyond the inherited environment."""
        out: dict[str, str] = {}
        if self.access_key and self.secret_key:
            out["AWS_ACCESS_KEY_ID"] = self.access_key
            out["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        if self.session_token:
            out["AWS_SESSION_TOKEN"] = self.session_token
        return out

    def module_params(self) -> dict[str, str]:
        """The collection's AWS module options (``shipyard_aws``): only what is set."""
        doc = {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "session_token": self.session_token,
        }
        return {k: v for k, v in doc.items() if v}

    def require_credentials(self) -> None:
        """Raise a SetupError naming the fix when no credentials can be found."""
        if self.credentials() is None:
            raise SetupError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or give --endpoint-url for an emulator (with the lab up and "
                "its inventory as the target, shipyard uses the lab's emulator)"
            )

    def credentials(self) -> Any:
        """botocore credentials (for a signed request without a boto3 client); None if none.

        Looked up once per settings object: boto3's chain reads files and may ask an instance
        metadata endpoint, so a check and the request that follows share one lookup.
        """
        return self._credentials

    @functools.cached_property
    def _credentials(self) -> Any:
        if self.access_key and self.secret_key:
            from botocore.credentials import Credentials  # noqa: PLC0415 - only when AWS is used

            return Credentials(self.access_key, self.secret_key, self.session_token)
        import botocore.session  # noqa: PLC0415 - only when AWS is used

        session = botocore.session.Session(profile=self.profile or None)
        return session.get_credentials()


def resolve(
    endpoint_url: str | None = None, *, region: str | None = None, environ: Mapping[str, str] | None = None
) -> AwsSettings:
    """The AWS settings of this run (see the module docstring)."""
    environ = os.environ if environ is None else environ
    endpoint = endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
    access = environ.get("AWS_ACCESS_KEY_ID") or None
    secret = environ.get("AWS_SECRET_ACCESS_KEY") or None
    token = environ.get("AWS_SESSION_TOKEN") or None
    if endpoint and not access:
        access, secret, token = _DUMMY, _DUMMY, None
    return AwsSettings(
        endpoint_url=endpoint,
        region=region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key=access,
        secret_key=secret,
        session_token=token,
        profile=environ.get("AWS_PROFILE") or None,
        ca_bundle=environ.get("AWS_CA_BUNDLE") or None,
    )


def has_settings(environ: Mapping[str, str] | None = None, home: Path | None = None) -> bool:
    """True when the environment or ~/.aws names an endpoint or credentials (no network asked)."""
    environ = os.environ if environ is None else environ
    if environ.get("AWS_ENDPOINT_URL") or any(environ.get(name) for name in _CREDENTIAL_VARS):
        return True
    home = home if home is not None else Path(environ.get("HOME") or Path.home())
    return (home / ".aws" / "credentials").is_file() or (home / ".aws" / "config").is_file()


def lab_endpoint(
    endpoint_url: str | None,
    inventory: Path | None,
    *,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> str | None:
    """``endpoint_url``; else, when no AWS settings exist at all and ``inventory`` is a lab's,
    the lab's emulator (said on the progress line); else None (boto3's own chain decides).

    Real credentials, a profile or $AWS_ENDPOINT_URL always take precedence over the lab.
    """
    if endpoint_url or inventory is None or not inventory.is_file() or has_settings(environ, home):
        return endpoint_url
    found = read_inventory(inventory).group_var("shipyard_aws_endpoint")
    if not isinstance(found, str) or not found:
        return endpoint_url
    message = (
        f"no AWS settings: using the lab's AWS emulator at {found} "
        "(set AWS credentials, AWS_PROFILE or AWS_ENDPOINT_URL to use another)"
    )
    if progress is not None:
        say(progress, message)
    else:
        log.warning("%s", message)  # the CLI shows shipyard's warnings on stderr
    return found
