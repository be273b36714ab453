"""Running playbooks through ansible-runner, with typed results and a progress callback.

No global state: every run gets its own private data directory, its own environment (passed
to ansible-runner, never written to ``os.environ``), and never changes the working directory.
``ansible-playbook`` is found beside ``sys.executable`` so an un-activated venv works.

Secret variables never reach ansible-runner's artifacts: they go to a 0600 file outside the
run directory, passed as ``-e @file`` and deleted when the run ends.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.core import ansible_config, ansible_vars, collection, sysutil
from shipyard.core.errors import DeployTimeout, OperationError, SetupError
from shipyard.core.progress import EventKind, ProgressCallback, ProgressEvent

log = logging.getLogger("shipyard.core.runner")

#: How many finished run directories are kept under the work dir (for post-mortems).
KEEP_RUNS = 20


class RunStatus(enum.Enum):
    """How a playbook run ended."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


@dataclass(frozen=True)
class HostResult:
    """Per-host counts from the play recap."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0

    @property
    def succeeded(self) -> bool:
        """True when the host neither failed nor was unreachable."""
        return self.failed == 0 and self.unreachable == 0


@dataclass(frozen=True)
class TaskFailure:
    """One failed (or unreachable) task on one host."""

    host: str
    task: str
    action: str
    message: str
    unreachable: bool = False
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskDiff:
    """What one task changed on one host, as a unified diff (``--diff``; never a no_log task's)."""

    host: str
    task: str
    text: str


def diff_text(diff: Any) -> str:
    """Ansible's ``diff`` result (a dict or a list of them) as unified diff text."""
    parts = diff if isinstance(diff, list) else [diff]
    out: list[str] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        if part.get("prepared"):
            out.append(str(part["prepared"]).rstrip("\n"))
            continue
        before, after = part.get("before", ""), part.get("after", "")
        if not isinstance(before, str):
            before = json.dumps(before, indent=2, sort_keys=True, default=str) + "\n"
        if not isinstance(after, str):
            after = json.dumps(after, indent=2, sort_keys=True, default=str) + "\n"
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=str(part.get("before_header") or "before"),
            tofile=str(part.get("after_header") or "after"),
        )
        out.append("".join(lines).rstrip("\n"))
    return "\n".join(t for t in out if t)


@dataclass(frozen=True)
class PlaybookResult:
    """The typed outcome of one playbook run."""

    status: RunStatus
    rc: int
    hosts: tuple[HostResult, ...]
    failures: tuple[TaskFailure, ...]
    #: host -> action -> the module's result, for actions named in ``capture``.
    captured: Mapping[str, Mapping[str, Mapping[str, Any]]]
    run_dir: Path
    duration: float
    #: what each changed task changed, in diff mode (``--diff``)
    diffs: tuple[TaskDiff, ...] = ()
    #: host -> action -> every result of the action in order (``captured`` keeps the last)
    captured_all: Mapping[str, Mapping[str, tuple[Mapping[str, Any], ...]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the run succeeded on every host."""
        return self.status is RunStatus.SUCCESSFUL and all(h.succeeded for h in self.hosts)

    @property
    def changed(self) -> int:
        """Total changed tasks over all hosts."""
        return sum(h.changed for h in self.hosts)


def tool_path(name: str) -> Path:
    """Find an Ansible console script beside the running Python (works in an un-activated venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise SetupError(
        f"{name} not found beside {sys.executable} nor on PATH: "
        "install ansible-core into this environment (`pip install shipyard`)"
    )


def default_work_dir() -> Path:
    """Where run directories go: $SHIPYARD_WORK_DIR, else ~/.cache/shipyard."""
    env = os.environ.get("SHIPYARD_WORK_DIR")
    return Path(env) if env else Path.home() / ".cache" / "shipyard"


def ansible_env(
    *, extra: Mapping[str, str] | None = None, settings: ansible_config.AnsibleSettings | None = None
) -> dict[str, str]:
    """What shipyard adds to ansible-playbook's environment: tools on PATH, the collection,
    the user's config file, and shipyard's defaults only where the user set nothing.

    ``settings`` defaults to :func:`shipyard.core.ansible_config.resolve` of the calling process
    (its environment and working directory). Every ``ANSIBLE_*`` the caller exported reaches
    ansible-playbook anyway (ansible-runner seeds the run with the caller's environment); what
    is returned here is laid over it, so it holds no default for a setting the user set.

    Host keys are checked as ssh checks them (the user's known_hosts, or the file an
    inventory names, like the lab's) unless the user turned checking off themselves: the
    variable is always set, because ansible-runner turns checking off (the variable set to
    False) in the environment of every run that does not name it (ansible_runner/config/_base.py).
    """
    settings = settings or ansible_config.resolve()
    bindir = str(tool_path("ansible-playbook").parent)
    env = {"PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"), **settings.env}
    if extra:
        env.update(extra)
    return env


#: Variables of the caller's environment that ansible-playbook may see (besides ANSIBLE_*).
_INHERITED = frozenset(
    {
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TERM",
        "TMPDIR",
        "TZ",
        "SSH_AUTH_SOCK",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
    }
)


def inherited_env(env: Mapping[str, str], *, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """Drop the variables ``env`` merely inherited from ``parent`` unless ansible needs them.

    What shipyard or ansible-runner set (absent from ``parent``, or set to another value) stays;
    of the rest, only :data:`_INHERITED` names and ``ANSIBLE_*`` settings are kept.
    """
    parent = os.environ if parent is None else parent
    return {
        key: value
        for key, value in env.items()
        if key not in parent
        or parent[key] != value
        or key in _INHERITED
        or (key.startswith("ANSIBLE_") and not _secret_setting(key))
    }


def _secret_setting(key: str) -> bool:
    """An ANSIBLE_* variable that holds a secret itself (a path to one is fine)."""
    return any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")) and not key.endswith(
        ("_FILE", "_PATH")
    )


class _Collector:
    """Turns ansible-runner events into progress events and the typed result."""

    def __init__(self, progress: ProgressCallback | None, capture: frozenset[str]) -> None:
        self.progress = progress
        self.capture = capture
        self.failures: list[TaskFailure] = []
        self.diffs: list[TaskDiff] = []
        self.captured: dict[str, dict[str, dict[str, Any]]] = {}
        self.captured_all: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.stats: dict[str, dict[str, int]] = {}

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def __call__(self, event: Mapping[str, Any]) -> bool:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        task = data.get("task")
        action = data.get("task_action") or data.get("resolved_action") or ""
        res = data.get("res") or {}
        if name == "playbook_on_play_start":
            self._emit(ProgressEvent(EventKind.PLAY, data.get("play", ""), task=None))
        elif name == "playbook_on_task_start":
            self._emit(ProgressEvent(EventKind.TASK, task or "", task=task))
        elif name == "runner_on_ok":
            changed = bool(res.get("changed"))
            kind = EventKind.CHANGED if changed else EventKind.OK
            self._emit(ProgressEvent(kind, f"{host}: {task}", host=host, task=task))
            self._capture(host, action, data.get("resolved_action"), res)
            if changed and res.get("diff") and not res.get("censored"):
                text = diff_text(res["diff"])
                if text:
                    self.diffs.append(TaskDiff(host or "?", task or "?", text))
        elif name in ("runner_on_failed", "runner_on_unreachable"):
            unreachable = name == "runner_on_unreachable"
            ignored = bool(data.get("ignore_errors"))
            message = _failure_message(res)
            if not ignored:
                self.failures.append(
                    TaskFailure(host or "?", task or "?", action, message, unreachable, _safe_res(res))
                )
            else:  # a failure the play goes on after: its result still counts
                self._capture(host, action, data.get("resolved_action"), res, last=False)
            kind = EventKind.UNREACHABLE if unreachable else EventKind.FAILED
            self._emit(ProgressEvent(kind, f"{host}: {task}: {message}", host=host, task=task))
        elif name == "runner_on_skipped":
            self._emit(ProgressEvent(EventKind.SKIPPED, f"{host}: {task}", host=host, task=task))
        elif name == "playbook_on_stats":
            for key in ("ok", "changed", "failures", "dark", "skipped", "rescued"):
                for h, count in (data.get(key) or {}).items():
                    self.stats.setdefault(h, {})[key] = count
            self._emit(ProgressEvent(EventKind.STATS, "play recap"))
        # Returning True keeps the event on disk for post-mortems (no secrets reach events:
        # secret values only travel through no_log tasks).
        return True

    def _capture(
        self,
        host: str | None,
        action: str,
        resolved: str | None,
        res: Mapping[str, Any],
        *,
        last: bool = True,
    ) -> None:
        """Keep ``res`` in every result of the action (``captured_all``), and with ``last`` as
        its latest successful one (``captured``)."""
        if host is None:
            return
        for name in {action, resolved}:
            if name and name in self.capture:
                if last:
                    self.captured.setdefault(host, {})[name] = dict(res)
                self.captured_all.setdefault(host, {}).setdefault(name, []).append(dict(res))

    def hosts(self) -> tuple[HostResult, ...]:
        return tuple(
            HostResult(
                host=h,
                ok=c.get("ok", 0),
                changed=c.get("changed", 0),
                failed=c.get("failures", 0),
                unreachable=c.get("dark", 0),
                skipped=c.get("skipped", 0),
                rescued=c.get("rescued", 0),
            )
            for h, c in sorted(self.stats.items())
        )


def _failure_message(res: Mapping[str, Any]) -> str:
    if res.get("censored"):
        return str(res["censored"])
    msg = res.get("msg") or res.get("stderr") or res.get("module_stderr") or "failed"
    return str(msg).strip()


def _safe_res(res: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("msg", "instance", "unit", "port", "reason", "journal", "rolled_back", "instances", "rc")
    return {k: res[k] for k in keep if k in res}


def _prune_runs(runs_dir: Path, keep: int) -> None:
    try:
        entries = sorted((p for p in runs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    except FileNotFoundError:
        return
    for old in entries[:-keep] if keep > 0 else entries:
        shutil.rmtree(old, ignore_errors=True)


#: How often (seconds) a run looks for an interrupt while ansible-playbook prints nothing.
_POLL_SECONDS = 0.5
#: Seconds ansible-playbook gets after SIGINT to stop its workers before everything is killed.
_INTERRUPT_GRACE = 10.0


class _Interrupt:
    """SIGINT/SIGTERM during a run: stop ansible-playbook and everything it started.

    The first signal sends SIGINT to ansible-playbook (it stops its workers and exits);
    after :data:`_INTERRUPT_GRACE` seconds, or at a second signal, ansible-runner kills the
    process group. :meth:`reap` then kills any descendant still alive. The deploy lease on
    a host names the dead ansible-playbook, so the next run breaks it at once.
    """

    def __init__(self) -> None:
        self.requested: float | None = None
        self.forced = False
        self.seen: set[int] = set()
        self._sent = False

    def _signal(self, signum: int, frame: object) -> None:
        if self.requested is not None:
            self.forced = True
        else:
            self.requested = time.monotonic()

    @contextlib.contextmanager
    def catching(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to this object while the run lasts (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __call__(self) -> bool:
        """ansible-runner's cancel callback: True ends the run (SIGKILL to its group)."""
        if self.requested is None:
            return False
        self.seen |= sysutil.descendants(os.getpid())
        if not self._sent:
            self._sent = True
            for pid in sysutil.children(os.getpid()):  # ansible-playbook
                sysutil.kill(pid, signal.SIGINT)
        return self.forced or time.monotonic() - self.requested > _INTERRUPT_GRACE

    def reap(self) -> None:
        """Kill what the interrupted run left alive (TERM, then KILL after 2 s)."""
        if self.requested is None:
            return
        alive = {pid for pid in self.seen | sysutil.descendants(os.getpid()) if sysutil.alive(pid)}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in alive:
                sysutil.kill(pid, sig)
            deadline = time.monotonic() + 2
            while alive and time.monotonic() < deadline:
                alive = {pid for pid in alive if sysutil.alive(pid)}
                time.sleep(0.05)
            if not alive:
                return


def run_playbook(
    playbook: Path | str,
    *,
    inventory: Path | str,
    extravars: Mapping[str, Any] | None = None,
    secret_vars: Mapping[str, Any] | None = None,
    limit: str | None = None,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    progress: ProgressCallback | None = None,
    capture: Iterable[str] = (),
    work_dir: Path | None = None,
    timeout: int | None = None,
    env: Mapping[str, str] | None = None,
) -> PlaybookResult:
    """Run one playbook with ansible-runner and return its typed result.

    Args:
        playbook: a path, or the name of one of the collection's playbooks (``"deploy"``).
        inventory: inventory file or directory.
        extravars: variables passed with ``-e @vars.yml`` in the run directory (no secrets);
            every string is ``!unsafe``: data, never templated.
        secret_vars: variables passed through a 0600 file deleted after the run (``!unsafe`` too).
        limit: ``--limit`` host pattern.
        check: Ansible check mode.
        diff: Ansible diff mode.
        verbosity: number of ``-v``.
        progress: called for every progress event.
        capture: module names (FQCN) whose results are returned per host in ``captured``.
        work_dir: parent of the run directory; :func:`default_work_dir` when None.
        timeout: seconds before the run is stopped (raises DeployTimeout).
        env: extra environment for ansible-playbook.
    """
    import ansible_runner.interface  # noqa: PLC0415 - heavy: kept off the CLI start-up path

    book = Path(playbook) if str(playbook).endswith((".yml", ".yaml")) else collection.playbook(str(playbook))
    inv = Path(inventory).resolve()
    if not inv.exists():
        raise SetupError(f"inventory {inv} does not exist: run `shipyard lab up` or pass --inventory")
    runs = (work_dir or default_work_dir()) / "runs"
    runs.mkdir(parents=True, exist_ok=True, mode=0o700)
    ident = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    private = runs / ident
    private.mkdir(mode=0o700)
    cmdline: list[str] = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    # Every value from a spec, a secret or a CLI argument is data: it reaches ansible-playbook
    # through vars files whose strings are all !unsafe, so Ansible never templates them.
    if extravars:
        cmdline += ["-e", "@" + str(ansible_vars.write(private / "vars.yml", extravars))]
    secret_dir: str | None = None
    interrupt = _Interrupt()
    try:
        if secret_vars:
            secret_dir = tempfile.mkdtemp(prefix="shipyard-secrets-")
            secret_file = ansible_vars.write(Path(secret_dir) / "vars.yml", secret_vars, mode=0o600)
            cmdline += ["-e", f"@{secret_file}"]
        envvars = ansible_env(extra=env)
        if ansible_config.SOURCE_ENV not in envvars:
            # the user has no config file: name an empty one, so that Ansible reads none
            # either (not one a missing ANSIBLE_CONFIG or a world-writable cwd would let in)
            empty = private / "empty-ansible.cfg"
            empty.write_text("# shipyard: the user has no Ansible config file\n", encoding="utf-8")
            envvars[ansible_config.SOURCE_ENV] = str(empty)
        collector = _Collector(progress, frozenset(capture))
        started = time.monotonic()
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(private),
            playbook=str(book.resolve()),
            inventory=str(inv),
            cmdline=shlex.join(cmdline) if cmdline else None,
            limit=limit,
            verbosity=verbosity or None,
            envvars=envvars,
            event_handler=collector,
            cancel_callback=interrupt,
            settings={"pexpect_timeout": _POLL_SECONDS},
            quiet=True,
            suppress_env_files=True,
            rotate_artifacts=1,
            ident="run",
            timeout=timeout,
            # ansible-playbook runs in the user's directory, as `ansible-playbook` typed there
            # would: relative paths in their ANSIBLE_* variables and the ones Ansible takes
            # relative to its cwd (ssh's control_path_dir, say) mean what they mean to them.
            # The playbook path is absolute; its own files resolve against its directory.
            project_dir=str(Path.cwd()),
        )
        # ansible-runner seeds the child's environment with all of ours and records it in
        # artifacts/<ident>/command: keep only what ansible-playbook needs, so no variable of
        # the controller's (a token, an AWS secret key) reaches the run directory.
        runner.config.env = inherited_env(runner.config.env)
        with interrupt.catching():
            runner.run()
        duration = time.monotonic() - started
    finally:
        interrupt.reap()
        if secret_dir is not None:
            shutil.rmtree(secret_dir, ignore_errors=True)
        _prune_runs(runs, KEEP_RUNS)
    if interrupt.requested:
        raise KeyboardInterrupt(f"{book.name} interrupted (run dir {private})")
    status = {
        "successful": RunStatus.SUCCESSFUL,
        "timeout": RunStatus.TIMEOUT,
        "canceled": RunStatus.CANCELED,
    }.get(runner.status, RunStatus.FAILED)
    if status is RunStatus.TIMEOUT:
        raise DeployTimeout(f"{book.name} did not finish within {timeout} s (run dir {private})")
    if runner.rc == 127 or (runner.rc != 0 and not collector.stats and not collector.failures):
        stdout = _tail(private / "artifacts" / "run" / "stdout")
        if "was not found or was not executable" in stdout or runner.rc == 127:
            raise SetupError(f"ansible-playbook could not be started: {stdout.strip()}")
        if "ERROR!" in stdout or "[ERROR]" in stdout:
            raise OperationError(f"{book.name}: {stdout.strip()}")
    return PlaybookResult(
        status=status,
        rc=int(runner.rc or 0),
        hosts=collector.hosts(),
        failures=tuple(collector.failures),
        captured=collector.captured,
        captured_all={h: {a: tuple(r) for a, r in v.items()} for h, v in collector.captured_all.items()},
        run_dir=private,
        duration=duration,
        diffs=tuple(collector.diffs),
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
