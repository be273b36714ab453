"""Local invoke: run a handler from its built ZIP in a clean subprocess, like Lambda would.

The child is started with ``python -I`` in an empty temporary directory: the ZIP is first on
``sys.path`` (then the interpreter's own library, standing in for the Lambda runtime's, which
provides boto3), the environment is the spec's env and secrets plus the ``AWS_LAMBDA_*``
variables, region, credentials and ``AWS_ENDPOINT_URL``. The spec's timeout is enforced (the
child is killed) and its memory is applied as ``RLIMIT_AS`` (memory + interpreter allowance).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from shipyard.core.errors import SpecError
from shipyard.core.fsutil import NotReadable, read_regular
from shipyard.core.results import Result
from shipyard.core.spec import LambdaTriggers, LoadedSpec
from shipyard.strategies.lambda_.package import base_env, section

#: Lambda's limit for a synchronous invoke's payload; a bigger --event is refused unread.
MAX_EVENT = 6 * 1024 * 1024
#: Address space allowed to the interpreter itself on top of the function's memory.
INTERPRETER_ALLOWANCE_MB = 768
_PASSED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)

_BOOTSTRAP = r"""
import importlib, json, sys, time, traceback
zip_path, handler, result_path, deadline_ms = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
sys.path.insert(0, zip_path)
import os

class Context:
    def __init__(self):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = os.environ["SHIPYARD_FUNCTION_ARN"]
        self.aws_request_id = os.environ["SHIPYARD_REQUEST_ID"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
    def get_remaining_time_in_millis(self):
        return max(0, int(deadline_ms - time.time() * 1000))

def write(doc):
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, default=str)

event = json.loads(sys.stdin.read() or "null")
module_name, _, func = handler.rpartition(".")
try:
    fn = getattr(importlib.import_module(module_name), func)
    result = fn(event, Context())
    write({"ok": True, "result": result})
except BaseException as exc:
    traceback.print_exc()
    stack = traceback.format_exception(type(exc), exc, exc.__traceback__)
    error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": stack}
    write({"ok": False, "error": error})
"""


@dataclass(frozen=True)
class InvokeResult(Result):
    """The outcome of a local invoke."""

    kind: ClassVar[str] = "invoke"

    function: str
    ok: bool
    result: Any
    #: errorType, errorMessage and (when the handler raised) stackTrace: the traceback's lines
    error: Mapping[str, Any] | None
    logs: str
    duration: float
    timed_out: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "function": self.function,
            "ok": self.ok,
            "result": self.result,
            "error": dict(self.error) if self.error else None,
            "logs": self.logs,
            "duration": self.duration,
            "timed_out": self.timed_out,
        }


def _limit(memory_mb: int) -> Any:
    limit = (memory_mb + INTERPRETER_ALLOWANCE_MB) * 1024 * 1024

    def apply() -> None:
        with contextlib.suppress(ValueError, OSError):  # the OS refuses: run without it
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def invoke_zip(
    spec: LoadedSpec,
    zip_path: Path,
    event: Any,
    *,
    endpoint_url: str | None = None,
    secrets: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> InvokeResult:
    """Run the spec's handler from ``zip_path`` with ``event``; never raises for handler errors."""
    sec = section(spec)
    environ = os.environ if environ is None else environ
    name = spec.service.name
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    request = str(uuid.uuid4())
    env = base_env()
    env.update({k: environ[k] for k in _PASSED if k in environ})
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(sec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{request}",
            "LAMBDA_TASK_ROOT": str(zip_path),
            "SHIPYARD_FUNCTION_ARN": f"arn:aws:lambda:{region}:123456789012:function:{name}",
            "SHIPYARD_REQUEST_ID": request,
        }
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(spec.service.env)
    env.update(secrets or {})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipyard-invoke-") as tmp:
        result_path = Path(tmp) / "result.json"
        deadline_ms = (time.time() + sec.timeout) * 1000
        argv = [
            sys.executable,
            "-I",
            "-c",
            _BOOTSTRAP,
            str(zip_path),
            sec.handler,
            str(result_path),
            str(deadline_ms),
        ]
        timed_out = False
        try:
            proc = subprocess.run(
                argv,
                input=json.dumps(event),
                capture_output=True,
                text=True,
                cwd=tmp,
                env=env,
                timeout=sec.timeout,
                preexec_fn=_limit(sec.memory),
                check=False,
            )
            logs = proc.stdout + proc.stderr
            rc = proc.returncode
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            logs = _text(exc.stdout) + _text(exc.stderr)
            rc = -9
        doc: dict[str, Any] = {}
        if result_path.is_file():
            doc = json.loads(result_path.read_text(encoding="utf-8"))
    duration = round(time.monotonic() - started, 3)
    if timed_out:
        error: dict[str, Any] | None = {
            "errorType": "Timeout",
            "errorMessage": f"Task timed out after {sec.timeout} seconds (lambda.timeout)",
        }
    elif not doc:
        error = {"errorType": "Runtime.ExitError", "errorMessage": f"the handler process exited with {rc}"}
    else:
        error = doc.get("error")
    return InvokeResult(
        function=name,
        ok=error is None,
        result=doc.get("result"),
        error=error,
        logs=logs,
        duration=duration,
        timed_out=timed_out,
    )


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def read_event(event: str, *, stdin: IO[str] | None = None) -> Any:
    """The JSON event of ``shipyard invoke --event EVENT``: a file, or ``-`` for stdin.

    Only a regular file of at most :data:`MAX_EVENT` bytes is read (checked on the open file
    before reading, so a FIFO, ``/dev/zero``, a directory or a huge sparse file is refused
    without hanging or reading it); stdin is read up to that limit. Anything else, unreadable or
    not JSON is one SpecError on ``--event``.
    """
    limit = MAX_EVENT
    if event == "-":
        raw = (sys.stdin if stdin is None else stdin).read(limit + 1)
        if len(raw.encode("utf-8", errors="replace")) > limit:
            raise SpecError("--event", event, f"stdin gave over {limit} bytes: Lambda takes at most 6 MB")
    else:
        try:
            raw = read_regular(Path(event), limit).decode("utf-8")
        except NotReadable as exc:
            raise SpecError("--event", event, f"give a regular JSON file of at most 6 MB ({exc})") from None
        except UnicodeDecodeError:
            raise SpecError("--event", event, "give a JSON file in UTF-8") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        shown = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError("--event", event, f"give a valid JSON file ({shown})") from None


# -- sample events -------------------------------------------------------------------------------

#: The kinds ``shipyard invoke --sample`` knows (``apigw`` is ``http``'s older name).
SAMPLE_KINDS = ("ses", "sqs", "sns", "s3", "kinesis", "dynamodb", "http", "schedule", "apigw", "direct")
_REGION, _ACCOUNT = "us-east-1", "123456789012"
_TIME, _EPOCH = "2026-01-01T12:00:00.000Z", 1767268800
_ID = "c9a3b0a4-1f6e-4a5b-9d43-0d4c8f2a7e11"
_SEQUENCE = "49590338271490256608559692538361571095921575989136588898"


def _arn_region(arn: str) -> str:
    return arn.split(":")[3]


def _records(trig: LambdaTriggers | None, kind: str, name: str) -> dict[str, Any]:
    if kind == "ses":
        rule = trig.ses[0] if trig and trig.ses else None
        to = next((r for r in (rule.recipients if rule else []) if "@" in r), None)
        if to is None:
            domain = rule.recipients[0].lstrip(".") if rule and rule.recipients else "example.com"
            to = f"orders@{domain}"
        headers = [
            {"name": "From", "value": "Jane Doe <jane@example.org>"},
            {"name": "To", "value": to},
            {"name": "Subject", "value": "Order 42"},
            {"name": "Message-ID", "value": "<0123456789@example.org>"},
            {"name": "Date", "value": "Thu, 01 Jan 2026 12:00:00 +0000"},
        ]
        verdict = {"status": "PASS"}
        return {
            "Records": [
                {
                    "eventSource": "aws:ses",
                    "eventVersion": "1.0",
                    "ses": {
                        "mail": {
                            "timestamp": _TIME,
                            "source": "jane@example.org",
                            "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g01",
                            "destination": [to],
                            "headersTruncated": False,
                            "headers": headers,
                            "commonHeaders": {
                                "returnPath": "jane@example.org",
                                "from": ["Jane Doe <jane@example.org>"],
                                "date": "Thu, 01 Jan 2026 12:00:00 +0000",
                                "to": [to],
                                "messageId": "<0123456789@example.org>",
                                "subject": "Order 42",
                            },
                        },
                        "receipt": {
                            "timestamp": _TIME,
                            "processingTimeMillis": 574,
                            "recipients": [to],
                            "spamVerdict": verdict,
                            "virusVerdict": verdict,
                            "spfVerdict": verdict,
                            "dkimVerdict": verdict,
                            "dmarcVerdict": verdict,
                            "action": {
                                "type": "Lambda",
                                "functionArn": f"arn:aws:lambda:{_REGION}:{_ACCOUNT}:function:{name}",
                                "invocationType": rule.invocation if rule else "Event",
                            },
                        },
                    },
                }
            ]
        }
    if kind == "sqs":
        arn = trig.sqs[0].arn if trig and trig.sqs else f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:my-queue"
        body = '{"order": 42}'
        return {
            "Records": [
                {
                    "messageId": _ID,
                    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                    "body": body,
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": str(_EPOCH * 1000),
                        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                        "ApproximateFirstReceiveTimestamp": str(_EPOCH * 1000 + 2),
                    },
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": _arn_region(arn),
                }
            ]
        }
    if kind == "sns":
        topic = trig.sns[0].topic if trig and trig.sns else f"arn:aws:sns:{_REGION}:{_ACCOUNT}:my-topic"
        return {
            "Records": [
                {
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{topic}:{_ID}",
                    "EventSource": "aws:sns",
                    "Sns": {
                        "SignatureVersion": "1",
                        "Timestamp": _TIME,
                        "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                        "SigningCertUrl": f"https://sns.{_arn_region(topic)}.amazonaws.com/"
                        "SimpleNotificationService-0000000000000000000000.pem",
                        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                        "Message": '{"order": 42}',
                        "MessageAttributes": {"kind": {"Type": "String", "Value": "order"}},
                        "Type": "Notification",
                        "UnsubscribeUrl": f"https://sns.{_arn_region(topic)}.amazonaws.com/"
                        f"?Action=Unsubscribe&SubscriptionArn={topic}:{_ID}",
                        "TopicArn": topic,
                        "Subject": "order",
                    },
                }
            ]
        }
    if kind == "s3":
        entry = trig.s3[0] if trig and trig.s3 else None
        bucket = entry.bucket if entry else "my-bucket"
        prefix = entry.prefix if entry and entry.prefix else "images/"
        key = f"{prefix}cat{entry.suffix if entry and entry.suffix else '.png'}"
        return {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": _REGION,
                    "eventTime": _TIME,
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
                    "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                    "responseElements": {
                        "x-amz-request-id": "D82B88E5F771F645",
                        "x-amz-id-2": "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6q",
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": f"shipyard-{name}-0",
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": "A3I5XTEXAMAI3E"},
                            "arn": f"arn:aws:s3:::{bucket}",
                        },
                        "object": {
                            "key": key,
                            "size": 1024,
                            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                            "sequencer": "0A1B2C3D4E5F678901",
                        },
                    },
                }
            ]
        }
    raise AssertionError(kind)


def _stream_arn(trig: LambdaTriggers | None, service: str) -> str | None:
    for entry in trig.streams if trig else []:
        if entry.arn.split(":")[2] == service:
            return entry.arn
    return None


def sample_event(kind: str, spec: LoadedSpec | None = None) -> dict[str, Any]:
    """A realistic sample event for a trigger kind, shaped like AWS's documented events and
    filled from the spec's triggers where it names them (bucket, queue, topic, stream, route)."""
    trig = spec.service.lambda_.triggers if spec is not None and spec.service.lambda_ is not None else None
    name = spec.service.name if spec is not None else "my-function"
    if kind in ("ses", "sqs", "sns", "s3"):
        return _records(trig, kind, name)
    if kind in ("http", "apigw"):
        method, _, path = (trig.http[0] if trig and trig.http else "GET /").partition(" ")
        return {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {
                "accept": "application/json",
                "content-type": "application/json",
                "host": f"a1b2c3d4e5.execute-api.{_REGION}.amazonaws.com",
                "user-agent": "curl/8.5.0",
                "x-forwarded-for": "203.0.113.10",
                "x-forwarded-proto": "https",
            },
            "requestContext": {
                "accountId": _ACCOUNT,
                "apiId": "a1b2c3d4e5",
                "domainName": f"a1b2c3d4e5.execute-api.{_REGION}.amazonaws.com",
                "domainPrefix": "a1b2c3d4e5",
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10",
                    "userAgent": "curl/8.5.0",
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": f"{method} {path}",
                "stage": "$default",
                "time": "01/Jan/2026:12:00:00 +0000",
                "timeEpoch": _EPOCH * 1000,
            },
            "body": "{}",
            "isBase64Encoded": False,
        }
    if kind == "schedule":
        expr = trig.schedule[0] if trig and trig.schedule else "rate(1 hour)"
        rule = f"shipyard-{name}-{hashlib.sha256(expr.encode()).hexdigest()[:8]}"
        return {
            "version": "0",
            "id": _ID,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": _ACCOUNT,
            "time": "2026-01-01T12:00:00Z",
            "region": _REGION,
            "resources": [f"arn:aws:events:{_REGION}:{_ACCOUNT}:rule/{rule}"],
            "detail": {},
        }
    if kind == "kinesis":
        arn = _stream_arn(trig, "kinesis") or f"arn:aws:kinesis:{_REGION}:{_ACCOUNT}:stream/my-stream"
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": "1",
                        "sequenceNumber": _SEQUENCE,
                        "data": "eyJoZWxsbyI6ICJ3b3JsZCJ9",
                        "approximateArrivalTimestamp": float(_EPOCH),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"shardId-000000000006:{_SEQUENCE}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": f"arn:aws:iam::{_ACCOUNT}:role/shipyard-{name}-lambda",
                    "awsRegion": _arn_region(arn),
                    "eventSourceARN": arn,
                }
            ]
        }
    if kind == "dynamodb":
        arn = _stream_arn(trig, "dynamodb") or (
            f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/my-table/stream/2026-01-01T00:00:00.000"
        )
        return {
            "Records": [
                {
                    "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                    "eventName": "INSERT",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": _arn_region(arn),
                    "dynamodb": {
                        "ApproximateCreationDateTime": float(_EPOCH),
                        "Keys": {"id": {"S": "1"}},
                        "NewImage": {"id": {"S": "1"}, "size": {"N": "1024"}},
                        "SequenceNumber": "4421584500000000017450439091",
                        "SizeBytes": 26,
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                    "eventSourceARN": arn,
                }
            ]
        }
    if kind == "direct":
        return {}
    raise SpecError("--sample", kind, f"use one of {', '.join(SAMPLE_KINDS)}")
