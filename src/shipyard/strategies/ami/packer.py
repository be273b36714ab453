"""A small adapter over the ``packer`` command line (``-machine-readable``).

Not python-packer: its last release (0.1.2, 2016) crashes on Python 3.11 in every streaming
callback, in ``validate()`` and ``inspect()``, and defaults to a removed ``-parallel`` flag.
This module runs ``packer validate`` and ``packer build -machine-readable`` as subprocesses,
streams every line into the same :data:`~shipyard.core.runner.ProgressCallback` the runner API uses,
and parses the artifact (AMI id per region) and the errors into typed results. A failed build
reports Packer's own error line and, for a failed Ansible task, the task's name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.core.errors import DeployTimeout, OperationError, SetupError, SpecError
from shipyard.core.progress import EventKind, ProgressCallback, ProgressEvent

_ARTIFACT_ID_RE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d):(ami-[0-9a-f]+)\Z")
_TASK_RE = re.compile(r"TASK \[(?P<name>[^\]]*)\]")
_FATAL_RE = re.compile(r"(fatal|failed): \[[^\]]*\]")
_INSTANCE_RE = re.compile(r"\b(i-[0-9a-f]{8,17})\b")
_SG_RE = re.compile(r"\b(sg-[0-9a-f]{8,17}|packer_[0-9a-f]{8}-[0-9a-f-]{27})\b")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
#: Environment variables the packer subprocess may see (besides AWS_* and PACKER_*).
_KEEP_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SSH_AUTH_SOCK"})


@dataclass(frozen=True)
class MachineLine:
    """One ``-machine-readable`` line: ``timestamp,target,type,data...``."""

    timestamp: int
    target: str
    type: str
    data: tuple[str, ...]

    @property
    def text(self) -> str:
        """The human message of a ``ui`` line (or the data joined)."""
        if self.type == "ui" and len(self.data) >= 2:
            return self.data[1]
        return ",".join(self.data)


def parse_line(raw: str) -> MachineLine | None:
    """Parse one machine-readable line; None for anything else (blank, plain output)."""
    parts = raw.rstrip("\r\n").split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    data = tuple(
        p.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r") for p in parts[3:]
    )
    return MachineLine(int(parts[0]), parts[1], parts[2], data)


@dataclass(frozen=True)
class Artifact:
    """One image Packer made."""

    region: str
    ami_id: str
    builder: str


@dataclass
class BuildOutput:
    """What a build's machine-readable output says (filled line by line)."""

    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    failed_task: str | None = None
    fatal: str | None = None
    lines: int = 0
    #: EC2 resources the builder mentioned (instance and security group ids), for cleanup.
    resources: dict[str, list[str]] = field(
        default_factory=lambda: {"instances": [], "security_groups": [], "key_pairs": []}
    )
    _task: str | None = None

    def feed(self, line: MachineLine) -> None:
        """Account for one parsed line."""
        self.lines += 1
        if line.type == "artifact" and len(line.data) >= 3 and line.data[1] == "id":
            for one in line.data[2].split(","):
                match = _ARTIFACT_ID_RE.match(one.strip())
                if match:
                    self.artifacts.append(Artifact(match.group(1), match.group(2), line.target))
        elif line.type == "error-count" and line.data:
            self.error_count = int(line.data[0]) if line.data[0].isdigit() else 1
        elif line.type == "error" and line.data:
            self.errors.append(line.data[0].strip())
        elif line.type == "ui" and len(line.data) >= 2:
            whole = _ANSI_RE.sub("", line.data[1])
            for text in whole.splitlines():
                self._scan(line.data[0], text)
            if self.failed_task is not None and self.fatal is None and "=> " in whole:
                self.fatal = _fatal_message(whole)

    def _scan(self, level: str, text: str) -> None:
        for kind, regex in (("instances", _INSTANCE_RE), ("security_groups", _SG_RE)):
            for found in regex.findall(text):
                if found not in self.resources[kind]:
                    self.resources[kind].append(found)
        task = _TASK_RE.search(text)
        if task:
            self._task = task.group("name")
        if _FATAL_RE.search(text) and self.failed_task is None:
            self.failed_task = self._task or "(unnamed task)"
        if level == "error":
            stripped = text.strip()
            if stripped and stripped not in self.errors and not stripped.startswith("==>"):
                self.errors.append(stripped)

    @property
    def ok(self) -> bool:
        """True when Packer made at least one artifact and reported no error."""
        return bool(self.artifacts) and self.error_count == 0 and not self.errors

    def error_line(self) -> str:
        """Packer's own error line, most specific first."""
        for text in self.errors:
            if "errored" in text or "Error" in text or "error" in text:
                return text
        return self.errors[0] if self.errors else "packer build failed without an error line"


def _fatal_message(text: str) -> str:
    """The module's ``msg`` of an Ansible ``fatal: [host]: FAILED! => {...}`` line (first line)."""
    _, sep, payload = text.partition("=> ")
    if sep:
        try:
            doc, _ = json.JSONDecoder(strict=False).raw_decode(payload.strip())
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("msg"):
            return str(doc["msg"]).splitlines()[0][:500]
    return text.strip()[:500]


class PackerError(OperationError):
    """A Packer build or validation failed; ``error`` is Packer's own line.

    Args:
        message: the one-line summary.
        error: Packer's error line.
        failed_task: the Ansible task that failed in the provisioner, if any.
    """

    def __init__(self, message: str, *, error: str, failed_task: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.failed_task = failed_task
        self.resources: dict[str, list[str]] = {}


def packer_path() -> Path:
    """The ``packer`` binary ($SHIPYARD_PACKER, else PATH)."""
    explicit = os.environ.get("SHIPYARD_PACKER")
    found = explicit or shutil.which("packer")
    if not found or not os.access(found, os.X_OK):
        raise SetupError("packer not found: install it (`apt-get install packer`, or make apt)")
    return Path(found)


def packer_env(
    extra: Mapping[str, str] | None = None, *, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the packer subprocess: a small allow-list plus AWS_*/PACKER_* and ``extra``.

    Credentials travel only here (the AWS chain), never in -var arguments or files.
    """
    parent = os.environ if parent is None else parent
    env = {
        k: v
        for k, v in parent.items()
        if k in _KEEP_ENV or k.startswith(("AWS_", "PACKER_")) or k == "CHECKPOINT_DISABLE"
    }
    env.setdefault("PATH", "/usr/bin:/bin")
    env["CHECKPOINT_DISABLE"] = "1"
    env["PACKER_NO_COLOR"] = "1"
    if extra:
        env.update(extra)
    return env


def _var_args(variables: Mapping[str, str | int]) -> list[str]:
    out: list[str] = []
    for key, value in sorted(variables.items()):
        out += ["-var", f"{key}={value}"]
    return out


def validate(
    template_dir: Path, variables: Mapping[str, str | int], *, env: Mapping[str, str] | None = None
) -> None:
    """``packer validate``: raises SpecError with Packer's message when the template is invalid."""
    proc = subprocess.run(
        [str(packer_path()), "validate", *_var_args(variables), str(template_dir)],
        capture_output=True,
        text=True,
        env=packer_env(env),
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip()
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        first = next((ln for ln in lines if "Error" in ln or "error" in ln), lines[0] if lines else "")
        raise SpecError("packer", str(template_dir), f"packer validate failed: {first}")


def build(
    template_dir: Path,
    variables: Mapping[str, str | int],
    *,
    env: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> BuildOutput:
    """``packer build -machine-readable``, streaming each line to ``progress``.

    Returns the parsed output; raises :class:`PackerError` when the build fails, with Packer's
    own error line (and the failed Ansible task). On timeout or interruption Packer gets SIGINT
    (it then cleans up its builder) and, if it does not stop, SIGKILL.
    """
    argv = [
        str(packer_path()),
        "build",
        "-machine-readable",
        "-color=false",
        *_var_args(variables),
        str(template_dir),
    ]
    out = BuildOutput()
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=packer_env(env),
        cwd=str(cwd) if cwd else None,
        start_new_session=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = parse_line(raw)
                if line is None:
                    continue
                out.feed(line)
                if progress is not None and line.type == "ui":
                    for text in _ANSI_RE.sub("", line.text).splitlines():
                        if text.strip():
                            progress(ProgressEvent(EventKind.LINE, text.rstrip(), task=out._task))
                if deadline is not None and time.monotonic() > deadline:
                    timed_out = True
                    break
            if timed_out:
                stop(proc)
            rc = proc.wait()
        except BaseException:
            stop(proc)
            raise
    if timed_out:
        raise DeployTimeout(f"packer build did not finish within {timeout} s (stopped; builder cleaned up)")
    if rc != 0 or not out.ok:
        error = out.error_line()
        if out.failed_task:
            message = f"packer build failed: Ansible task {out.failed_task!r} failed: {out.fatal or error}"
        else:
            message = f"packer build failed: {error}"
        exc = PackerError(message, error=error, failed_task=out.failed_task)
        exc.resources = out.resources
        raise exc
    return out


def stop(proc: subprocess.Popen[str], grace: float = 60.0) -> None:
    """Ask Packer to stop (SIGINT: it cleans up its builder), then SIGKILL after ``grace`` s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def parse_output(lines: Iterable[str]) -> BuildOutput:
    """Parse recorded machine-readable output (for tests and post-mortems)."""
    out = BuildOutput()
    for raw in lines:
        line = parse_line(raw)
        if line is not None:
            out.feed(line)
    return out


__all__: Sequence[str] = (
    "Artifact",
    "BuildOutput",
    "MachineLine",
    "PackerError",
    "build",
    "packer_env",
    "packer_path",
    "parse_line",
    "parse_output",
    "validate",
)
