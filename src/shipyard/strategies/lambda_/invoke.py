"""Local invoke: run a handler from its built ZIP in a clean subprocess, like Lambda would.

The child is started with ``python -I`` in an empty temporary directory: the ZIP is first on
``sys.path`` (then the interpreter's own library, standing in for the Lambda runtime's, which
provides boto3), the environment is the spec's env and secrets plus the ``AWS_LAMBDA_*``
variables, region, credentials and ``AWS_ENDPOINT_URL``. The spec's timeout is enforced (the
child is killed) and its memory is applied as ``RLIMIT_AS`` (memory + interpreter allowance).
"""

from __future__ import annotations

import contextlib
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
from shipyard.core.results import Result
from shipyard.core.spec import LoadedSpec
from shipyard.strategies.lambda_.package import NotReadable, base_env, read_regular, section

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

SAMPLE_KINDS = ("s3", "apigw", "schedule", "kinesis", "dynamodb", "direct")


def sample_event(kind: str, spec: LoadedSpec | None = None) -> dict[str, Any]:
    """A sample event for a trigger kind, filled from the spec's triggers where it names them."""
    trig = spec.service.lambda_.triggers if spec is not None and spec.service.lambda_ is not None else None
    if kind == "s3":
        bucket = str(trig.s3[0].get("bucket", "my-bucket")) if trig and trig.s3 else "my-bucket"
        return {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "1970-01-01T00:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": "images/cat.png", "size": 1024, "eTag": "0123456789abcdef"},
                    },
                }
            ]
        }
    if kind == "apigw":
        method, _, path = (trig.http[0] if trig and trig.http else "GET /").partition(" ")
        return {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
            "body": "{}",
            "isBase64Encoded": False,
        }
    if kind == "schedule":
        return {
            "version": "0",
            "id": "00000000-0000-0000-0000-000000000000",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": "1970-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-schedule"],
            "detail": {},
        }
    if kind == "kinesis":
        return {
            "Records": [
                {
                    "eventSource": "aws:kinesis",
                    "eventName": "aws:kinesis:record",
                    "kinesis": {
                        "partitionKey": "1",
                        "data": "eyJoZWxsbyI6ICJ3b3JsZCJ9",
                        "sequenceNumber": "1",
                    },
                }
            ]
        }
    if kind == "dynamodb":
        return {
            "Records": [
                {
                    "eventSource": "aws:dynamodb",
                    "eventName": "INSERT",
                    "dynamodb": {"Keys": {"id": {"S": "1"}}, "NewImage": {"id": {"S": "1"}}},
                }
            ]
        }
    if kind == "direct":
        return {}
    raise SpecError("--sample", kind, f"use one of {', '.join(SAMPLE_KINDS)}")
