"""The service spec: one YAML file per service, validated once on the controller.

The models here are the single source of truth for the format: :func:`load_spec` validates a
file, :func:`json_schema` exports the JSON Schema for editors, and :meth:`Service.to_ansible`
gives the playbooks their normalized ``shipyard_service`` variable. A bad spec raises
:class:`~shipyard.core.errors.SpecErrors` naming every wrong field, its value and the fix, before
anything is touched.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import shlex
import stat
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shipyard.core import safeyaml
from shipyard.core.constants import StrategyName
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.fsutil import NotReadable, read_regular

NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
NAME_FIX = "use lowercase letters, digits and '-' (max 40), starting with a letter"
VERSION_RE = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z._+-]{0,62})\Z")
VERSION_FIX = (
    "use letters, digits, '.', '_', '+' and '-' (max 64), starting with a letter or digit, "
    "and quote it if YAML reads it as a number (version: '1.0')"
)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}\Z")
MEMORY_RE = re.compile(r"^([1-9][0-9]{0,6})([KMG])\Z")
CPU_RE = re.compile(r"^([1-9][0-9]{0,4})%\Z")
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9/_.~%=&?-]{0,200}\Z")
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
PLACEHOLDER_RE = re.compile(r"\{[^}]*\}")
SERIAL_RE = re.compile(r"^([1-9][0-9]?|100)%\Z")
AMI_ID_RE = re.compile(r"^ami-[0-9a-f]{8,17}\Z")
HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\.[A-Za-z_][A-Za-z0-9_]*\Z")
SCHEDULE_RE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()\n]{1,200}\))\Z")
MIN_PORT, MAX_PORT = 1024, 65535
MAX_INSTANCES = 256
MEMORY_MIN_BYTES = 4 * 1024 * 1024
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}
LAMBDA_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
RESERVED_ENV = frozenset({"PORT"})
REGISTRY_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?\Z")
#: systemd strips these from the front of ExecStart's program, even inside quotes; ``+`` and
#: ``!`` run the service with full privileges, ignoring User=, DynamicUser= and the sandbox.
EXEC_PREFIXES = "+-@!:|"
PROGRAM_RE = re.compile(r"^(/[A-Za-z0-9_.+/-]+|[A-Za-z0-9_][A-Za-z0-9_.+-]*)\Z")
#: Jinja's markers: shipyard never templates a spec value, so no name, path or URL has them.
TEMPLATE_MARKERS = ("{{", "{%", "{#")
#: The most bytes a secret file may hold (it is one line).
MAX_SECRET_BYTES = 64 * 1024
_BAD_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
#: What env values and command arguments are checked for here (their own rules name NUL and
#: line breaks with their fixes).
_BAD_FREE_CHARS_RE = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _env_name(key: Any) -> str:
    """Refuse a key that is not an environment variable name (env and secrets share this)."""
    if not isinstance(key, str) or not ENV_NAME_RE.match(key):
        raise ValueError(f"{key!r} is not an environment variable name (letters, digits, _)")
    return key


def _env_keys(value: Mapping[Any, Any], reserved_fix: str) -> None:
    """Every key is an environment variable name that shipyard does not set itself."""
    for key in value:
        _env_name(key)
        if key in RESERVED_ENV:
            raise ValueError(f"{key} is set by shipyard for each instance: {reserved_fix}")


def _safe_text(value: str, field_fix: str) -> str:
    if "\x00" in value or "\n" in value or "\r" in value:
        raise ValueError(f"no NUL or line breaks: {field_fix}")
    return value


class _Model(BaseModel):
    """Base: unknown fields are errors; values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _no_dotdot(value: str) -> str:
    if ".." in value.split("/") or value.startswith("-"):
        raise ValueError("no '..' path parts and no leading '-'")
    if value.startswith("/"):
        raise ValueError("give a path relative to the spec file (inside its directory), not an absolute one")
    return value


DURATION_RE = re.compile(r"^([1-9][0-9]{0,4})(s|m|h)\Z")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
#: How long a canary may be watched, in seconds (CLI ``--watch`` and ``lambda.canary.watch``).
CANARY_WATCH_MIN, CANARY_WATCH_MAX = 10, 3600
CANARY_WATCH_FIX = "use a duration such as 30s, 5m or 1h, from 10s to 1h"
#: CloudWatch: an alarm name is 1-255 characters, no control characters; one DescribeAlarms
#: call takes at most 100 names.
MAX_CANARY_ALARMS = 100
_ALARM_BAD_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def parse_duration(value: Any) -> int:
    """Seconds of a canary watch (``30s``, ``5m``, ``1h``), bounded; ValueError naming the fix."""
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(CANARY_WATCH_FIX)
    seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not CANARY_WATCH_MIN <= seconds <= CANARY_WATCH_MAX:
        raise ValueError(CANARY_WATCH_FIX)
    return seconds


def check_alarm_name(value: Any) -> str:
    """A CloudWatch alarm name (1-255 UTF-8 characters, no ASCII control character), or ValueError."""
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or _ALARM_BAD_RE.search(value):
        raise ValueError("use a CloudWatch alarm name: 1-255 characters, no control characters")
    return value


class LambdaCanary(_Model):
    """A canary that finishes itself: shift ``weight`` percent, watch, then promote or roll back."""

    weight: int = Field(ge=1, le=99, description="Percent of the alias's traffic for the new version.")
    watch: str = Field(default="5m", description="How long to watch before promoting: 30s, 5m, 1h (10s-1h).")
    alarms: list[str] = Field(
        default_factory=list,
        max_length=MAX_CANARY_ALARMS,
        description="CloudWatch alarms that roll back when one goes to ALARM (none: the new "
        "version's own Errors metric is watched).",
    )

    @field_validator("watch", mode="before")
    @classmethod
    def _watch(cls, value: Any) -> Any:
        parse_duration(value)
        return value

    @field_validator("alarms")
    @classmethod
    def _alarms(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            try:
                check_alarm_name(name)
            except ValueError as exc:
                raise _FieldError(f"lambda.canary.alarms[{index}]", name, str(exc)) from None
        if len(set(value)) != len(value):
            raise ValueError("name each alarm once")
        return value

    @property
    def watch_seconds(self) -> int:
        """The watch in seconds."""
        return parse_duration(self.watch)


class Artifact(_Model):
    """The release artifact: a local file or an http(s) URL, and its sha256."""

    path: str | None = Field(default=None, description="File on the controller, relative to the spec file.")
    url: str | None = Field(default=None, description="http(s) URL the controller downloads.")
    sha256: str = Field(
        description="Lowercase hex sha256 of the artifact; checked before any host is touched."
    )
    kind: Literal["tarball", "binary", "wheel", "jar"] = Field(
        default="tarball",
        description="tarball: unpacked into the release dir; binary/wheel/jar: copied as one file.",
    )

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if not SHA256_RE.match(value):
            raise ValueError("give the 64 lowercase hex digits of the artifact's sha256 (sha256sum FILE)")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value or "\x00" in value or "\n" in value:
            raise ValueError("give the artifact's file path, relative to the spec file")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^\s/]+/[^\s]*\Z", value):
            raise ValueError("use an http:// or https:// URL without spaces")
        path = urllib.parse.urlsplit(value).path
        if any(part in (".", "..") for part in path.split("/")) or path.endswith("/"):
            raise ValueError("the URL's path must end in the artifact's file name, with no '.' or '..' parts")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Artifact:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of artifact.path and artifact.url")
        return self


class Ports(_Model):
    """Ports as a base: instance i listens on base + i."""

    base: int = Field(ge=MIN_PORT, le=MAX_PORT, description="Port of the first instance.")


class SecretRef(_Model):
    """Where a secret's value comes from on the controller (never the spec file itself)."""

    env: str | None = Field(default=None, description="Environment variable on the controller.")
    file: str | None = Field(default=None, description="File on the controller (relative to the spec).")
    required: bool = Field(default=True, description="Fail when the value cannot be found.")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: VAR or file: PATH")
        if self.env is not None and not ENV_NAME_RE.match(self.env):
            raise ValueError("env must be an environment variable name")
        return self


class Resources(_Model):
    """Per-instance limits, enforced by systemd (MemoryMax, CPUQuota, TasksMax)."""

    memory: str | None = Field(default=None, description="MemoryMax per instance, e.g. 64M, 1G.")
    cpu: str | None = Field(default=None, description="CPUQuota per instance, e.g. 50% (200% = two cores).")
    tasks: int | None = Field(default=None, ge=1, le=65535, description="TasksMax per instance.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = MEMORY_RE.match(value)
        if not match or int(match.group(1)) * _UNITS[match.group(2)] < MEMORY_MIN_BYTES:
            raise ValueError("use a size of at least 4M with a K, M or G suffix, e.g. 64M")
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = CPU_RE.match(value)
        if not match or not 1 <= int(match.group(1)) <= 6400:
            raise ValueError("use a percentage from 1% to 6400%, e.g. 50% (100% is one core)")
        return value


class Health(_Model):
    """The HTTP health check each instance must pass."""

    path: str = Field(default="/health", description="HTTP path answered with 200 when healthy.")
    timeout: float = Field(default=5.0, ge=0.1, le=300, description="Seconds one probe may take.")
    interval: float = Field(
        default=0.5,
        ge=0.05,
        le=60,
        description="Longest wait between probes: the first comes after 50 ms, doubling up to this.",
    )
    start_timeout: float = Field(
        default=30.0, ge=1, le=900, description="Seconds an instance has to become healthy."
    )

    @field_validator("timeout", "interval", "start_timeout", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("use a number of seconds")
        return float(value) if isinstance(value, int) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not HEALTH_PATH_RE.match(value):
            raise ValueError("use an absolute URL path such as /health (letters, digits, / _ . ~ - ? = & %)")
        return value


class Rollout(_Model):
    """How hosts and instances roll."""

    serial: int | str = Field(default="100%", description="Hosts per batch: a count or a percentage.")
    max_fail_percentage: int = Field(
        default=0, ge=0, le=100, description="Failed hosts tolerated per batch, in percent."
    )
    max_unavailable: int = Field(
        default=1, ge=1, le=MAX_INSTANCES, description="Instances restarted at once on a host."
    )

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: int | str) -> int | str:
        if isinstance(value, bool) or (isinstance(value, int) and value < 1):
            raise ValueError("use a host count of at least 1 or a percentage such as 50%")
        if isinstance(value, str) and not SERIAL_RE.match(value):
            raise ValueError("use a host count of at least 1 or a percentage such as 50%")
        return value


class Balancer(_Model):
    """A load balancer (HAProxy) per host in front of the instances (multi strategy)."""

    port: int = Field(
        ge=MIN_PORT, le=MAX_PORT, description="The service's well-known port the balancer listens on."
    )
    drain_timeout: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Seconds an instance's in-flight requests get to finish before it restarts.",
    )

    @field_validator("drain_timeout", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("use a number of seconds")
        return float(value) if isinstance(value, int) else value


class AmiBaseFilter(_Model):
    """How to pick the base AMI (Packer's source_ami_filter)."""

    name: str = Field(description="Image name filter, wildcards allowed.")
    owners: list[str] = Field(default_factory=lambda: ["amazon"], description="Image owners.")


class AmiSection(_Model):
    """Settings for the ami strategy (one AMI per service and version, baked by Packer)."""

    base_ami: str | None = Field(default=None, description="A fixed base AMI id.")
    base_filter: AmiBaseFilter | None = Field(default=None, description="Pick the newest matching base AMI.")
    regions: list[str] = Field(
        default_factory=lambda: ["us-east-1"], min_length=1, description="Regions to bake in."
    )
    instance_type: str = Field(default="t3.micro", description="Builder instance type.")
    ssh_username: str = Field(default="admin", description="User Packer connects as.")
    launch_template: str | None = Field(default=None, description="Launch template to roll out to.")
    autoscaling_group: str | None = Field(default=None, description="Auto Scaling group to refresh.")
    keep: int = Field(default=3, ge=1, le=100, description="AMIs kept by prune.")

    @field_validator("base_ami")
    @classmethod
    def _ami(cls, value: str | None) -> str | None:
        if value is not None and not AMI_ID_RE.match(value):
            raise ValueError("use an AMI id such as ami-0123456789abcdef0")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d\Z", region):
                raise ValueError(f"{region!r} is not a region name such as us-east-1")
        return value

    @field_validator("launch_template", "autoscaling_group")
    @classmethod
    def _aws_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9()./_-]{3,125}\Z", value):
            raise ValueError("use 3-125 letters, digits and ( ) . / _ -")
        return value


#: S3 bucket names: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a
#: letter or digit, no '..' and not an IP address.
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}\Z")
#: The event types S3 can send to a Lambda function (AWS's "Supported event types" list).
S3_EVENTS = (
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
)
_ARN_HEAD = r"^arn:aws(?:-cn|-us-gov)?:{service}:[a-z]{{2}}(?:-[a-z]+)+-\d:\d{{12}}:"
KINESIS_ARN_RE = re.compile(_ARN_HEAD.format(service="kinesis") + r"stream/[A-Za-z0-9_.-]{1,128}\Z")
DYNAMODB_STREAM_ARN_RE = re.compile(
    _ARN_HEAD.format(service="dynamodb") + r"table/[A-Za-z0-9_.-]{3,255}/stream/[0-9A-Za-z:._-]{1,64}\Z"
)
SQS_ARN_RE = re.compile(
    _ARN_HEAD.format(service="sqs") + r"(?:[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)\Z"
)
SNS_ARN_RE = re.compile(_ARN_HEAD.format(service="sns") + r"[A-Za-z0-9_-]{1,256}\Z")
#: SES rule set and rule names: letters, digits, '.', '_' and '-' (max 64), starting and
#: ending with a letter or digit.
SES_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?\Z")
_DOMAIN = r"(?=[A-Za-z0-9.-]{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
SES_RECIPIENT_RE = re.compile(
    rf"^(?:[A-Za-z0-9!#$%&'*+/=?^_`|~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`|~-]+)*@|\.)?{_DOMAIN}\Z"
)
PRINCIPAL_RE = re.compile(
    r"^(\d{12}|[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com|arn:aws:iam::\d{12}:(root|(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}))\Z"
)
HTTP_ROUTE_RE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|ANY) /[A-Za-z0-9/{}_+.-]*\Z")


def _route(value: str) -> str:
    if not HTTP_ROUTE_RE.match(value):
        raise ValueError("use 'METHOD /path', e.g. 'POST /images'")
    return value


def _schedule_expr(value: str) -> str:
    if not SCHEDULE_RE.match(value):
        raise ValueError("use rate(5 minutes) or cron(0 12 * * ? *)")
    return value


def _principal(value: str) -> str:
    if not PRINCIPAL_RE.match(value):
        raise ValueError(
            "use a 12-digit account id, a service principal (events.amazonaws.com) or an IAM role/user ARN"
        )
    return value


def _recipient(value: str) -> str:
    if not SES_RECIPIENT_RE.match(value):
        raise ValueError(
            "use an email address (orders@example.com), a domain (example.com) or '.example.com' "
            "for all its subdomains"
        )
    return value


HttpRoute = Annotated[str, AfterValidator(_route)]
ScheduleExpr = Annotated[str, AfterValidator(_schedule_expr)]
Principal = Annotated[str, AfterValidator(_principal)]
SesRecipient = Annotated[str, AfterValidator(_recipient)]


def _s3_event(value: str) -> str:
    if value not in S3_EVENTS:
        close = difflib.get_close_matches(value, S3_EVENTS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"{hint}use an S3 event type such as s3:ObjectCreated:*, s3:ObjectCreated:Put or "
            "s3:ObjectRemoved:Delete (AWS's list of event types)"
        )
    return value


S3Event = Annotated[
    str, AfterValidator(_s3_event), WithJsonSchema({"type": "string", "enum": list(S3_EVENTS)})
]


def _unique(value: list[Any], what: str) -> list[Any]:
    seen: set[Any] = set()
    for item in value:
        if item in seen:
            raise ValueError(f"{item!r} is given twice: name each {what} once")
        seen.add(item)
    return value


class S3Trigger(_Model):
    """An S3 bucket notification invoking the alias."""

    bucket: str = Field(description="Bucket name (3-63 lowercase letters, digits, '.', '-').")
    events: list[S3Event] = Field(
        default_factory=lambda: ["s3:ObjectCreated:*"],
        min_length=1,
        description="S3 event types, e.g. s3:ObjectCreated:*, s3:ObjectRemoved:Delete.",
    )
    prefix: str | None = Field(default=None, min_length=1, max_length=1024, description="Key prefix filter.")
    suffix: str | None = Field(default=None, min_length=1, max_length=1024, description="Key suffix filter.")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not S3_BUCKET_RE.match(value) or ".." in value or IPV4_RE.match(value):
            raise ValueError(
                "use an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and "
                "ending with a letter or digit, no '..', not an IP address"
            )
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return _unique(value, "event")


class StreamTrigger(_Model):
    """A Kinesis or DynamoDB stream event source mapping on the alias."""

    arn: str = Field(description="Kinesis stream ARN or DynamoDB stream ARN.")
    starting_position: Literal["LATEST", "TRIM_HORIZON"] = Field(
        default="LATEST", description="Where a new mapping starts reading."
    )
    batch_size: int = Field(default=100, ge=1, le=10000, description="Records per invocation (1-10000).")
    batching_window: int = Field(
        default=0, ge=0, le=300, description="Seconds to gather records before invoking (0-300)."
    )
    enabled: bool = Field(default=True, description="Whether the mapping polls.")

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not (KINESIS_ARN_RE.match(value) or DYNAMODB_STREAM_ARN_RE.match(value)):
            raise ValueError(
                "use a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME) or a DynamoDB "
                "stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL)"
            )
        return value


class SqsTrigger(_Model):
    """An SQS queue event source mapping on the alias."""

    arn: str = Field(description="Queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME).")
    batch_size: int = Field(
        default=10, ge=1, le=10000, description="Messages per invocation (1-10000; 10 for FIFO queues)."
    )
    batching_window: int = Field(
        default=0,
        ge=0,
        le=300,
        validate_default=True,
        description="Seconds to gather messages (0-300; at least 1 when batch_size is above 10).",
    )
    enabled: bool = Field(default=True, description="Whether the mapping polls.")

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not SQS_ARN_RE.match(value):
            raise ValueError("use an SQS queue ARN: arn:aws:sqs:REGION:ACCOUNT:NAME")
        return value

    @field_validator("batch_size")
    @classmethod
    def _fifo(cls, value: int, info: ValidationInfo) -> int:
        if str(info.data.get("arn", "")).endswith(".fifo") and value > 10:
            raise ValueError("a FIFO queue takes a batch_size of at most 10")
        return value

    @field_validator("batching_window")
    @classmethod
    def _window(cls, value: int, info: ValidationInfo) -> int:
        size = info.data.get("batch_size")
        if isinstance(size, int) and size > 10 and value < 1:
            raise ValueError("a batch_size above 10 needs a batching_window of at least 1 second")
        return value


class SnsTrigger(_Model):
    """An SNS subscription of the alias (protocol lambda) to a topic."""

    topic: str = Field(description="Topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); not a FIFO topic.")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not SNS_ARN_RE.match(value):
            if value.endswith(".fifo"):
                raise ValueError("a FIFO topic cannot deliver to Lambda: use a standard topic")
            raise ValueError("use an SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME")
        return value


class SesTrigger(_Model):
    """An SES receipt rule, in a rule set, whose Lambda action invokes the alias."""

    rule_set: str = Field(description="Receipt rule set; created when missing.")
    rule: str | None = Field(default=None, description="Receipt rule name; shipyard-<name> when not given.")
    recipients: list[SesRecipient] = Field(
        default_factory=list,
        max_length=100,
        description="Addresses, domains or .domain (all subdomains); empty: every verified identity.",
    )
    invocation: Literal["Event", "RequestResponse"] = Field(
        default="Event",
        description="Event: asynchronous; RequestResponse: the function can stop the rule set.",
    )
    enabled: bool = Field(default=True, description="Whether the rule is active.")
    scan: bool = Field(default=False, description="Spam and virus scanning.")
    activate: bool = Field(
        default=False,
        description="Make rule_set the active rule set (only one is active per region); off by default.",
    )

    @field_validator("rule_set", "rule")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not SES_NAME_RE.match(value):
            raise ValueError(
                "use letters, digits, '.', '_' and '-' (max 64), starting and ending with a letter or digit"
            )
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return _unique([v.lower() for v in value], "recipient")


class LambdaTriggers(_Model):
    """The ways to invoke a function: direct, AWS service events (S3, Kinesis/DynamoDB streams,
    SQS, SNS, SES), HTTP and schedules; every one points at the alias."""

    http: list[HttpRoute] = Field(
        default_factory=list, description="API Gateway HTTP API routes, e.g. 'POST /images'."
    )
    schedule: list[ScheduleExpr] = Field(
        default_factory=list, description="EventBridge rate() or cron() expressions."
    )
    s3: list[S3Trigger] = Field(
        default_factory=list, description="S3 notifications: {bucket, events, prefix, suffix}."
    )
    streams: list[StreamTrigger] = Field(
        default_factory=list,
        description="Kinesis/DynamoDB streams: {arn, starting_position, batch_size, batching_window, "
        "enabled}.",
    )
    sqs: list[SqsTrigger] = Field(
        default_factory=list, description="SQS queues: {arn, batch_size, batching_window, enabled}."
    )
    sns: list[SnsTrigger] = Field(default_factory=list, description="SNS topics: {topic}.")
    ses: list[SesTrigger] = Field(
        default_factory=list,
        description="SES receipt rules: {rule_set, rule, recipients, invocation, enabled, scan, activate}.",
    )
    direct: list[Principal] = Field(
        default_factory=list, description="Principals allowed to invoke directly."
    )

    @model_validator(mode="after")
    def _once_each(self) -> LambdaTriggers:
        """A source is named once: two mappings of one queue or stream, two subscriptions to
        one topic or two rules of one name in a rule set are refused (AWS keeps one)."""
        kinds: list[tuple[str, str, list[Any]]] = [
            ("streams", "arn", [e.arn for e in self.streams]),
            ("sqs", "arn", [e.arn for e in self.sqs]),
            ("sns", "topic", [e.topic for e in self.sns]),
            ("ses", "rule", [(e.rule_set, e.rule) for e in self.ses]),
        ]
        for kind, key, values in kinds:
            for index, value in enumerate(values):
                if value in values[:index]:
                    shown = value[1] if kind == "ses" else value
                    raise _FieldError(
                        f"lambda.triggers.{kind}[{index}].{key}",
                        shown,
                        f"entry {values.index(value)} names the same {key}: give each entry its own"
                        + (" rule name in the rule set" if kind == "ses" else ""),
                    )
        return self


class LambdaSection(_Model):
    """Settings for the lambda strategy."""

    source: str = Field(description="Directory with the function's code, relative to the spec.")
    handler: str = Field(description="module.function, e.g. app.handler.")
    runtime: Literal[LAMBDA_RUNTIMES] = Field(default="python3.11", description="Lambda runtime.")  # type: ignore[valid-type]
    memory: int = Field(default=128, ge=128, le=10240, description="Memory in MB.")
    timeout: int = Field(default=30, ge=1, le=900, description="Seconds (at most 900).")
    requirements: str | None = Field(default=None, description="requirements.txt to vendor.")
    role: str | None = Field(default=None, description="IAM role ARN; created when absent.")
    alias: str = Field(default="live", description="Alias moved to each new version.")
    triggers: LambdaTriggers = Field(default_factory=LambdaTriggers)
    canary: LambdaCanary | None = Field(
        default=None, description="Deploy as a canary, watch it, then promote or roll back."
    )

    @field_validator("handler")
    @classmethod
    def _handler(cls, value: str) -> str:
        if not HANDLER_RE.match(value):
            raise ValueError("use module.function, e.g. app.handler")
        return value

    @field_validator("source", "requirements")
    @classmethod
    def _rel(cls, value: str | None) -> str | None:
        return None if value is None else _no_dotdot(value)


class ContainerSection(_Model):
    """Settings for the container strategy."""

    base: Literal["debian-python3"] = Field(default="debian-python3", description="Base runtime layer.")
    registry: str | None = Field(default=None, description="Registry host:port; the lab's when absent.")
    read_only: bool = Field(default=True, description="Read-only root filesystem.")

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is not None and not REGISTRY_RE.match(value):
            raise ValueError("use a registry as host or host:port, e.g. registry.example.com:5000")
        return value


class Service(_Model):
    """One service, described once, deployable by every strategy."""

    name: str = Field(description="Service name: lowercase letters, digits and '-' (max 40).")
    version: str = Field(description="Release version; becomes a directory name on hosts.")
    strategy: StrategyName = Field(default="multi", description="Default strategy.")
    artifact: Artifact | None = Field(
        default=None, description="The release artifact (multi, ami, container)."
    )
    command: list[str] = Field(
        default_factory=list,
        description="argv, or a string split like a shell would (never run by one); {port}: the port.",
    )
    instances: int = Field(default=1, ge=1, le=MAX_INSTANCES, description="Instances per host.")
    ports: Ports | list[int] | None = Field(default=None, description="{base: N} or one port per instance.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment of every instance.")
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="Secret env vars, from the controller's environment or files; never logged.",
    )
    resources: Resources = Field(default_factory=Resources)
    health: Health = Field(default_factory=Health)
    user: str | None = Field(
        default=None, description="Run as this existing user; a dynamic user when absent."
    )
    allow_root: bool = Field(
        default=False, description="Allow user: root (refused otherwise: a service needs no root)."
    )
    keep_releases: int = Field(default=3, ge=1, le=50, description="Activated releases kept per host.")
    rollout: Rollout = Field(default_factory=Rollout)
    balancer: Balancer | None = Field(
        default=None, description="A load balancer per host in front of the instances (multi)."
    )
    ami: AmiSection | None = None
    lambda_: LambdaSection | None = Field(default=None, alias="lambda")
    container: ContainerSection | None = None

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    # -- field rules -------------------------------------------------------------------------
    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and not NAME_RE.match(value):
            raise ValueError(NAME_FIX)
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"YAML read it as a number: quote it (version: '{value}')")
        if isinstance(value, str) and (not VERSION_RE.match(value) or ".." in value):
            raise ValueError(VERSION_FIX)
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"fix the quoting ({exc})") from None
        if isinstance(value, list):
            for arg in value:
                if not isinstance(arg, str):
                    raise ValueError("every argument must be a string: quote numbers")
                _safe_text(arg, "one argument per list item")
                for placeholder in PLACEHOLDER_RE.findall(arg):
                    if placeholder != "{port}":
                        raise ValueError(f"unknown placeholder {placeholder}: only {{port}} is replaced")
            if value and value[0][:1] in EXEC_PREFIXES:
                raise ValueError(
                    f"the program may not begin with {value[0][:1]!r}: systemd reads "
                    f"{' '.join(EXEC_PREFIXES)} there as ExecStart prefixes ('+' would run it as root, "
                    "outside the sandbox); name the program itself"
                )
            if value and not PROGRAM_RE.match(value[0]):
                raise ValueError(
                    "the program must be an absolute path or a plain command name that systemd "
                    "finds in its search path (e.g. /usr/bin/python3 server.py --port {port})"
                )
        return value

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"base": value}
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        _env_keys(value, "remove it")
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, bool) or item is None:
                raise ValueError(f"{key}: quote the value ({key}: 'true')")
            if isinstance(item, float):
                raise ValueError(f"{key}: YAML read {item!r} as a number: quote the value ({key}: '…')")
            text = str(item) if isinstance(item, int) else item
            if isinstance(text, str):
                _safe_text(text, f"{key} must be one line")
            out[key] = text
        return out

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        _env_keys(value, "name the secret otherwise")
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, str):
                raise ValueError(
                    f"{key}: do not put a secret's value in the spec: use {{env: VAR}} or {{file: PATH}}"
                )
            out[key] = item
        return out

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not USER_RE.match(value) and value != "0":
            raise ValueError("use a system user name (lowercase letters, digits, '_', '-')")
        return value

    @model_validator(mode="after")
    def _whole(self) -> Service:
        if self.user in ("root", "0") and not self.allow_root:
            raise _FieldError(
                "user",
                self.user,
                "do not run services as root: leave user out for a dynamic user "
                "(or set allow_root: true if it truly needs root)",
            )
        if self.strategy in ("multi", "ami", "container"):
            if self.artifact is None:
                raise _FieldError(
                    "artifact",
                    None,
                    f"the {self.strategy} strategy needs an artifact: add artifact: {{path, sha256}}",
                )
            if not self.command:
                raise _FieldError("command", [], "give the command that starts one instance, with {port}")
        if self.strategy == "lambda" and self.lambda_ is None:
            raise _FieldError("lambda", None, "the lambda strategy needs a lambda: section (source, handler)")
        if (
            self.strategy == "ami"
            and self.ami is not None
            and self.ami.base_ami is None
            and self.ami.base_filter is None
        ):
            raise _FieldError("ami.base_ami", None, "give ami.base_ami or ami.base_filter")
        overlap = set(self.env) & set(self.secrets)
        if overlap:
            name = sorted(overlap)[0]
            raise _FieldError(f"secrets.{name}", name, "the name is also in env: keep it in one place")
        ports = self.port_list()
        if isinstance(self.ports, list):
            if len(self.ports) != self.instances:
                raise _FieldError(
                    "ports",
                    self.ports,
                    f"give one port per instance ({self.instances}) or use ports: {{base: N}}",
                )
            bad = [p for p in self.ports if not MIN_PORT <= p <= MAX_PORT]
            if bad:
                raise _FieldError("ports", bad[0], f"use ports from {MIN_PORT} to {MAX_PORT}")
            if len(set(self.ports)) != len(self.ports):
                raise _FieldError(
                    "ports", self.ports, "every instance needs its own port: remove the repeats"
                )
        elif ports and ports[-1] > MAX_PORT:
            raise _FieldError("ports.base", ports[0], f"base + instances - 1 must be at most {MAX_PORT}")
        if self.balancer is not None and self.balancer.port in ports:
            raise _FieldError(
                "balancer.port",
                self.balancer.port,
                "the balancer needs a port of its own: pick one that no instance uses",
            )
        if self.health.interval > self.health.start_timeout:
            raise _FieldError(
                "health.interval", self.health.interval, "make it smaller than health.start_timeout"
            )
        return self

    # -- derived -----------------------------------------------------------------------------
    def port_list(self) -> list[int]:
        """One port per instance, in instance order."""
        if isinstance(self.ports, list):
            return list(self.ports)
        base = self.ports.base if self.ports is not None else 8080
        return [base + i for i in range(self.instances)]

    def to_ansible(self, *, spec_dir: Path | None = None) -> dict[str, Any]:
        """The normalized ``shipyard_service`` variable the playbooks take (no secret values)."""
        artifact = None
        if self.artifact is not None:
            path = self.artifact.path
            if path is not None and spec_dir is not None:
                path = str((spec_dir / path).resolve())
            artifact = {
                "path": path,
                "url": self.artifact.url,
                "sha256": self.artifact.sha256,
                "kind": self.artifact.kind,
            }
        return {
            "name": self.name,
            "version": self.version,
            "artifact": artifact,
            "command": list(self.command),
            "instances": self.instances,
            "ports": self.port_list(),
            "env": dict(self.env),
            "secret_names": sorted(self.secrets),
            "resources": self.resources.model_dump(),
            "health": self.health.model_dump(),
            "user": self.user,
            "keep_releases": self.keep_releases,
            "rollout": self.rollout.model_dump(),
            "balancer": self.balancer.model_dump() if self.balancer is not None else None,
        }


class _FieldError(ValueError):
    """Raised inside model validators to point at a specific field."""

    def __init__(self, field: str, value: Any, fix: str) -> None:
        super().__init__(fix)
        self.field = field
        self.value = value
        self.fix = fix


# -- loading -----------------------------------------------------------------------------------

_GENERIC_FIX = {
    "missing": "add this required field",
    "string_type": "use a string (quote it)",
    "int_type": "use a whole number",
    "float_type": "use a number",
    "bool_type": "use true or false",
    "list_type": "use a list",
    "dict_type": "use a mapping (key: value)",
    "model_type": "use a mapping (key: value)",
    "model_attributes_type": "use a mapping (key: value)",
}


def _fix_for(error: Mapping[str, Any], model_fields: list[str]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        err = ctx.get("error")
        return str(err) if err is not None else error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        close = difflib.get_close_matches(name, model_fields, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field: {hint}remove it (known: {', '.join(sorted(model_fields))})"
    if kind in ("greater_than_equal", "greater_than"):
        return f"use a value of at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"use a value of at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("literal_error", "enum"):
        return f"use one of {ctx.get('expected', '')}"
    if kind in ("too_short", "too_long"):
        return str(error["msg"]).lower()
    return _GENERIC_FIX.get(kind, str(error["msg"]))


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Service
    for part in loc[:-1]:
        if isinstance(part, int):  # an index into a list of models
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            for candidate in model.model_fields.values():
                if candidate.alias == part:
                    field = candidate
        if field is None:
            return []
        annotation = field.annotation
        inner = [
            a
            for a in getattr(annotation, "__args__", (annotation,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not inner:
            return []
        model = inner[0]
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_name(loc: tuple[Any, ...]) -> str:
    """``lambda.triggers.s3[1].bucket``: a list index in brackets, as in the text check."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            name = "''" if part == "" else str(part)  # an empty key is named too
            out += f".{name}" if out else name
    return out


_UNION_TAGS = {"Ports", "list[int]", "int", "str", "SecretRef", "none"}


def errors_from_validation(exc: ValidationError, source: str | None) -> SpecErrors:
    """Turn a pydantic ValidationError into shipyard's field/value/fix errors."""
    out: list[SpecError] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        raw_ctx = error.get("ctx") or {}
        inner = raw_ctx.get("error")
        raw_loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":  # the last part is the unknown key itself
            raw_loc, last = raw_loc[:-1], raw_loc[-1:]
        else:
            last = ()
        loc = (
            tuple(
                p
                for p in raw_loc
                if not (isinstance(p, str) and (p in _UNION_TAGS or p.startswith(("function-", "list["))))
            )
            + last
        )
        if isinstance(inner, _FieldError):
            field, value, fix = inner.field, inner.value, inner.fix
        else:
            field = _field_name(loc)
            value = error.get("input")
            fix = _fix_for(error, _fields_at(loc))
        if field in seen:  # union members repeat the same field: keep the first message
            continue
        seen.add(field)
        out.append(SpecError(field, "(missing)" if error["type"] == "missing" else value, fix, source=source))
    return SpecErrors(out)


def _text_errors(data: Any, source: str | None, path: str = "") -> list[SpecError]:
    """Every string of the spec (keys too) is one line of text, and none but an env value or
    a command argument holds a Jinja marker: shipyard never templates spec values, and a
    trailing newline, NUL or lone surrogate in a name would reach unit files and paths."""
    out: list[SpecError] = []
    if isinstance(data, dict):
        for key, item in data.items():
            name = "''" if key == "" else str(key)  # an empty key is named too
            here = f"{path}.{name}" if path else name
            if isinstance(key, str):
                out += _check_text(key, here, source, templated=True)
            out += _text_errors(item, source, here)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            out += _text_errors(item, source, f"{path}[{index}]")
    elif isinstance(data, str):
        free = path.startswith(("env.", "command[", "command"))  # data the service reads itself
        out += _check_text(data, path, source, templated=not free, free=free)
    return out


def _check_text(
    text: str, field: str, source: str | None, *, templated: bool, free: bool = False
) -> list[SpecError]:
    bad = (_BAD_FREE_CHARS_RE if free else _BAD_CHARS_RE).search(text)
    if bad is not None:
        char = bad.group()
        what = (
            "a lone surrogate (not valid text)"
            if "\ud800" <= char <= "\udfff"
            else f"the control character {char!r}"
        )
        return [SpecError(field, text, f"remove {what}: every value is one line of text", source=source)]
    if templated and any(marker in text for marker in TEMPLATE_MARKERS):
        return [
            SpecError(
                field,
                text,
                "remove the template markers ({{ {% {#): shipyard never templates spec values",
                source=source,
            )
        ]
    return []


def parse_spec(data: Any, *, source: str | None = None) -> Service:
    """Validate already-parsed data as a service spec."""
    if isinstance(data, dict):
        bad = _text_errors(data, source)
        if bad:
            raise SpecErrors(bad)
    if not isinstance(data, dict):
        raise SpecErrors(
            [
                SpecError(
                    "", type(data).__name__, "a spec is a YAML mapping (name: …, version: …)", source=source
                )
            ]
        )
    try:
        return Service.model_validate(data)
    except ValidationError as exc:
        raise errors_from_validation(exc, source) from None


class LoadedSpec:
    """A validated spec with the file it came from (paths in it are relative to that file)."""

    def __init__(self, service: Service, path: Path) -> None:
        self.service = service
        self.path = path.resolve()
        self.dir = self.path.parent

    def artifact_path(self) -> Path | None:
        """Absolute path of a local artifact, if the spec names one."""
        art = self.service.artifact
        return None if art is None or art.path is None else (self.dir / art.path).resolve()

    def to_ansible(self) -> dict[str, Any]:
        """The ``shipyard_service`` variable, with the artifact path made absolute."""
        return self.service.to_ansible(spec_dir=self.dir)

    def check_secret_files(self) -> None:
        """Refuse a file secret that exists but is not a regular file of a sane size (no read)."""
        for name, ref in sorted(self.service.secrets.items()):
            if ref.file is None:
                continue
            try:
                info = (self.dir / ref.file).stat()
            except OSError:
                continue  # may be created before the deploy; resolve_secrets checks again
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SECRET_BYTES:
                raise SpecError(
                    f"secrets.{name}.file",
                    ref.file,
                    "give a regular file of at most 64 KiB holding the secret's one line",
                    source=str(self.path),
                )

    def resolve_secrets(self, environ: Mapping[str, str] | None = None) -> dict[str, SecretStr]:
        """Read every secret's value from the controller's environment or files."""
        environ = os.environ if environ is None else environ
        values: dict[str, SecretStr] = {}
        for name, ref in sorted(self.service.secrets.items()):
            field = f"secrets.{name}"
            if ref.env is not None:
                value = environ.get(ref.env)
                if value is None:
                    if ref.required:
                        raise SpecError(
                            field,
                            f"env {ref.env}",
                            f"set {ref.env} in the environment or mark the secret required: false",
                            source=str(self.path),
                        )
                    continue
            else:
                assert ref.file is not None
                try:
                    value = read_secret_file(self.dir / ref.file)
                except FileNotFoundError:
                    if ref.required:
                        raise SpecError(
                            field,
                            ref.file,
                            "the secret file does not exist: check the path or mark it required: false",
                            source=str(self.path),
                        ) from None
                    continue
                except (OSError, ValueError) as exc:
                    raise SpecError(field, ref.file, str(exc), source=str(self.path)) from None
            if _BAD_CHARS_RE.search(value):
                raise SpecError(
                    field,
                    "(hidden)",
                    "a secret must be one line of text (no NUL, control characters or invalid UTF-8)",
                    source=str(self.path),
                )
            values[name] = SecretStr(value)
        return values


def read_secret_file(path: Path) -> str:
    """A secret file's one line: only a regular file of at most :data:`MAX_SECRET_BYTES`,
    checked on the open descriptor before a byte is read (:func:`shipyard.core.fsutil.read_regular`:
    a FIFO never blocks, /dev/zero is refused, a huge file is not read).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a regular file, too large, not UTF-8, or unreadable.
    """
    try:
        raw = read_regular(path, MAX_SECRET_BYTES)
    except NotReadable as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
        raise ValueError(
            f"the secret file is {exc}: give a regular file of at most 64 KiB holding one line"
        ) from None
    try:
        return raw.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise ValueError("the secret file is not UTF-8 text") from None


def load_spec(path: Path | str) -> LoadedSpec:
    """Read, parse and validate a spec file. Raises SpecErrors naming every bad field."""
    path = Path(path)
    data = safeyaml.load(path)
    return LoadedSpec(parse_spec(data, source=str(path)), path)


def as_loaded(spec: LoadedSpec | Path | str) -> LoadedSpec:
    """``spec`` itself when it is already loaded, else the spec file read and validated once."""
    return spec if isinstance(spec, LoadedSpec) else load_spec(spec)


#: The schema's ``$id`` (``shipyard schema`` writes it; editors match specs to it by modeline).
SCHEMA_ID = "https://example.invalid/shipyard/service-spec.schema.json"


#: The very end of the text in ECMA-262 and Python alike (``$`` in Python, which jsonschema
#: uses, also matches before a trailing newline; ECMA has no ``\\Z``).
_END = "(?![\\s\\S])"


def _ecma(pattern: re.Pattern[str]) -> str:
    """A model's pattern in JSON Schema's (ECMA-262) dialect, anchored at the very end."""
    return pattern.pattern.replace("\\Z", _END)


#: The patterns the models check, by ``$defs`` model ("" for the spec itself) and property.
_SCHEMA_PATTERNS: dict[str, dict[str, str]] = {
    "": {
        "name": _ecma(NAME_RE),
        "version": _ecma(VERSION_RE),
        "user": "^(?:" + USER_RE.pattern[1:].replace("\\Z", "") + "|0)" + _END,
    },
    "Artifact": {"sha256": _ecma(SHA256_RE), "url": "^https?://[^\\s/]+/[^\\s]*" + _END},
    "Resources": {"memory": _ecma(MEMORY_RE), "cpu": _ecma(CPU_RE)},
    "Health": {"path": _ecma(HEALTH_PATH_RE)},
    "LambdaSection": {"handler": _ecma(HANDLER_RE)},
    "ContainerSection": {"registry": _ecma(REGISTRY_RE)},
    "AmiSection": {"base_ami": _ecma(AMI_ID_RE)},
    "SecretRef": {"env": _ecma(ENV_NAME_RE)},
}


def _with_pattern(prop: dict[str, Any], pattern: str) -> None:
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            branch["pattern"] = pattern


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format, for editors (``shipyard schema``).

    It accepts what the models accept as written in YAML: ``command`` as a string or a list,
    ``ports`` as a number, env values as strings or whole numbers; names, versions, sizes and
    paths carry the models' patterns.
    """
    schema = Service.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "shipyard service spec"
    props = schema["properties"]
    props["command"] = {
        "description": props["command"].get("description", ""),
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    }
    props["ports"]["anyOf"].insert(0, {"type": "integer", "minimum": MIN_PORT, "maximum": MAX_PORT})
    props["env"]["additionalProperties"] = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    for key in ("env", "secrets"):
        props[key]["propertyNames"] = {"pattern": _ecma(ENV_NAME_RE)}
    for model, patterns in _SCHEMA_PATTERNS.items():
        target = schema if not model else schema["$defs"][model]
        for name, pattern in patterns.items():
            _with_pattern(target["properties"][name], pattern)
    return schema
