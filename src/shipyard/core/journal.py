"""The journals of services' instances, read from every host at once over ssh.

One ssh process per host runs ``journalctl -o json`` for the units ``shipyard-<svc>@*`` of the
services placed there (the last N lines of each service, then, when following, every new
line). The connection comes from the inventory as Ansible would use it (``ansible_host``,
``ansible_port``, ``ansible_user``, ``ansible_ssh_private_key_file``,
``ansible_ssh_common_args`` / ``ansible_ssh_extra_args``, ``ansible_become``); host keys are
checked as those options say, never turned off here. Service names are validated spec names
and every word of the remote command is quoted.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.app import InventoryView
from shipyard.core.constants import UNIT_PREFIX
from shipyard.core.errors import SpecError
from shipyard.core.spec import NAME_RE

#: The most lines per service per host ``-n`` may ask for.
MAX_LINES = 10000


@dataclass(frozen=True)
class Connection:
    """How to reach a host with ssh, from its inventory variables."""

    host: str
    address: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    args: tuple[str, ...] = ()
    become: bool = False


@dataclass(frozen=True)
class LogLine:
    """One journal line of one instance on one host."""

    host: str
    #: ``<service>@<port>`` (or the unit's name when it is no instance)
    instance: str
    service: str
    #: microseconds since the epoch (the journal's __REALTIME_TIMESTAMP)
    time: int
    message: str


def _text(host: str, key: str, value: Any, source: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if "{{" in text or "{%" in text:
        raise SpecError(
            f"{host}: {key}",
            text,
            "shipyard logs does not template inventory values: give the value itself",
            source=source,
        )
    return text


def connection(view: InventoryView, host: str) -> Connection:
    """The ssh connection of ``host`` from its inventory variables."""
    hvars = view.host_vars(host)
    source = str(view.path)
    address = _text(host, "ansible_host", hvars.get("ansible_host"), source) or host
    port_raw = hvars.get("ansible_port")
    key = _text(host, "ansible_ssh_private_key_file", hvars.get("ansible_ssh_private_key_file"), source)
    args: list[str] = []
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        text = _text(host, name, hvars.get(name), source)
        if text:
            args += shlex.split(text)
    become = hvars.get("ansible_become") in (True, "true", "yes", "True")
    return Connection(
        host=host,
        address=address,
        port=int(port_raw) if port_raw is not None else None,
        user=_text(host, "ansible_user", hvars.get("ansible_user"), source),
        key=str(Path(key).expanduser()) if key else None,
        args=tuple(args),
        become=become and hvars.get("ansible_user") not in (None, "root"),
    )


def remote_command(services: Sequence[str], lines: int, follow: bool) -> str:
    """The shell line run on the host: the last ``lines`` of each service, then (``follow``)
    every new line of all of them."""
    for name in services:
        if not NAME_RE.match(name):
            raise SpecError("--service", name, "not a service name")
    words: list[str] = []
    base = ["journalctl", "--no-pager", "-q", "-o", "json"]
    for name in services:
        words.append(shlex.join([*base, "-n", str(lines), "-u", f"{UNIT_PREFIX}{name}@*.service"]))
    if follow:
        units = [arg for name in services for arg in ("-u", f"{UNIT_PREFIX}{name}@*.service")]
        words.append("exec " + shlex.join([*base, "-f", "-n", "0", *units]))
    return "; ".join(words)


def ssh_argv(conn: Connection, command: str) -> list[str]:
    """The ssh command line that runs ``command`` on the host (no tty, no password prompt)."""
    argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    if conn.port is not None:
        argv += ["-p", str(conn.port)]
    if conn.key:
        argv += ["-i", conn.key]
    if conn.user:
        argv += ["-l", conn.user]
    argv += [*conn.args, "--", conn.address]
    return [*argv, ("sudo -n " if conn.become else "") + command]


def parse_line(host: str, raw: str) -> LogLine | None:
    """A :class:`LogLine` from one ``journalctl -o json`` line (None for anything else)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    unit = str(doc.get("_SYSTEMD_UNIT") or "")
    if not unit.startswith(UNIT_PREFIX) or "@" not in unit:
        unit = str(doc.get("UNIT") or doc.get("OBJECT_SYSTEMD_UNIT") or unit)
    name = unit.removeprefix(UNIT_PREFIX).removesuffix(".service")
    message = doc.get("MESSAGE")
    if isinstance(message, list):  # journald gives non-UTF-8 text as a list of bytes
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode("utf-8", "replace")
    try:
        stamp = int(doc.get("__REALTIME_TIMESTAMP") or 0)
    except ValueError:
        stamp = 0
    return LogLine(host, name, name.partition("@")[0], stamp, "" if message is None else str(message))


@dataclass(frozen=True)
class HostError:
    """A host whose journal could not be read."""

    host: str
    rc: int
    message: str


def read(
    targets: Mapping[str, Sequence[str]],
    view: InventoryView,
    *,
    lines: int = 10,
    follow: bool = False,
    on_line: Callable[[LogLine], None],
    timeout: float | None = None,
) -> list[HostError]:
    """Read the journals of ``targets`` (host -> service names) from every host in parallel.

    Without ``follow`` the lines are handed to ``on_line`` sorted by time once every host has
    answered; with it, as they arrive, until ``timeout`` seconds pass (None: until interrupted).
    An interrupt (KeyboardInterrupt) stops every ssh process before it propagates.

    Returns:
        The hosts that failed (ssh's exit code and its last error line).
    """
    if not 1 <= lines <= MAX_LINES:
        raise SpecError("-n", lines, f"give a number of lines from 1 to {MAX_LINES}")
    procs: dict[str, subprocess.Popen[str]] = {}
    inbox: queue.Queue[LogLine | None] = queue.Queue(maxsize=10000)
    errors: list[HostError] = []
    try:
        for host, services in targets.items():
            if not services:
                continue
            argv = ssh_argv(connection(view, host), remote_command(services, lines, follow))
            procs[host] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        threads = [
            threading.Thread(target=_pump, args=(host, proc, inbox), daemon=True)
            for host, proc in procs.items()
        ]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None or not follow else time.monotonic() + timeout
        backlog: list[LogLine] = []
        finished = 0
        while finished < len(threads):
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                break
            try:
                item = inbox.get(timeout=0.2 if wait is None else min(wait, 0.2))
            except queue.Empty:
                continue
            if item is None:
                finished += 1
            elif follow:
                on_line(item)
            else:
                backlog.append(item)
        for item in sorted(backlog, key=lambda i: (i.time, i.host)):
            on_line(item)
        if not follow:  # every host has answered: let each ssh exit by itself, with its code
            for proc in procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
    finally:
        stopped = {host for host, proc in procs.items() if proc.poll() is None}
        for host in stopped:
            procs[host].terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for host, proc in procs.items():
        if proc.returncode != 0 and host not in stopped:
            err = proc.stderr.read() if proc.stderr is not None else ""
            last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "no output")
            errors.append(HostError(host, proc.returncode, last.strip()))
        if proc.stderr is not None:
            proc.stderr.close()
    return errors


def _pump(host: str, proc: subprocess.Popen[str], inbox: queue.Queue[LogLine | None]) -> None:
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = parse_line(host, raw)
            if line is not None:
                inbox.put(line)
    finally:
        proc.stdout.close()
        inbox.put(None)
