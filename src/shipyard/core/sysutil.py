"""Small system helpers for the lab: tools, commands, processes, cgroups, mounts, links.

Everything here takes argv lists (never shell strings) and tolerates objects that are already
gone, because ``down()`` must work on a half-made or crashed lab.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from shipyard.core.errors import OperationError, SetupError

log = logging.getLogger("shipyard.lab")

#: The apt packages that provide every tool the lab runs.
APT_PACKAGES = "systemd-container debootstrap iproute2 openssh-client zstd docker-registry skopeo"
#: Tool name -> apt package (for the error message).
TOOLS: dict[str, str] = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ip": "iproute2",
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
    "zstd": "zstd",
    "tar": "tar",
    "mount": "mount",
    "umount": "mount",
    "docker-registry": "docker-registry",
}
_EXTRA_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def find_tools() -> dict[str, str]:
    """Find every tool the lab needs.

    Returns:
        Tool name -> absolute path.

    Raises:
        SetupError: a tool is missing (names the apt packages to install).
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    found: dict[str, str] = {}
    missing: list[str] = []
    for tool, package in TOOLS.items():
        path = shutil.which(tool, path=search)
        if path is None:
            missing.append(f"{tool} (apt package {package})")
        else:
            found[tool] = path
    if missing:
        raise SetupError(
            f"the lab needs tools that are missing: {', '.join(missing)}: "
            f"run `apt-get install -y {APT_PACKAGES}`"
        )
    return found


def which(tool: str) -> str:
    """Absolute path of ``tool`` (PATH plus the sbin dirs), or the bare name if not found."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    return shutil.which(tool, path=search) or tool


def require_root() -> None:
    """Raise SetupError unless running as root."""
    if os.geteuid() != 0:
        raise SetupError("the lab needs root: run `sudo shipyard lab up`")


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    timeout: float = 120,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (argv list), capture its output.

    Args:
        argv: the command.
        check: raise OperationError when it fails.
        timeout: seconds before it is killed.
        input_text: text for its stdin (else /dev/null).

    Returns:
        The completed process.

    Raises:
        OperationError: ``check`` and the command failed or timed out.
    """
    args = [os.fspath(a) for a in argv]
    log.debug("run: %s", args)
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        if check:
            raise OperationError(f"`{' '.join(args)}` timed out after {timeout:.0f} s") from exc
        return subprocess.CompletedProcess(args, 124, "", f"timed out after {timeout} s")
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise OperationError(f"`{' '.join(args)}` failed (rc {proc.returncode}): {detail}")
    return proc


@contextlib.contextmanager
def flocked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- processes -----------------------------------------------------------------------------


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty when it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def reap(pid: int) -> None:
    """Reap ``pid`` if it is our own exited child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (reaping it if it is our zombie child)."""
    state = _state(pid)
    if state is None:
        return False
    if state in ("Z", "X"):
        reap(pid)
        return False
    return True


def is_nspawn(pid: int, machine: str) -> bool:
    """True if ``pid`` is really the systemd-nspawn that runs ``machine`` (not a reused PID)."""
    argv = cmdline(pid)
    return (
        bool(argv)
        and Path(argv[0]).name == "systemd-nspawn"
        and f"--machine={machine}" in argv
        and alive(pid)
    )


def is_moto(pid: int, port: int) -> bool:
    """True if ``pid`` is really the moto server we started on ``port``."""
    argv = cmdline(pid)
    return any(Path(a).name == "moto_server" for a in argv[:2]) and str(port) in argv and alive(pid)


def is_registry(pid: int, config: Path) -> bool:
    """True if ``pid`` is really the docker-registry we started with ``config``."""
    argv = cmdline(pid)
    return bool(argv) and Path(argv[0]).name == "docker-registry" and os.fspath(config) in argv and alive(pid)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid``: children, their children, … (a process group does not
    reach them all: ansible's workers, for one, live in sessions of their own)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def kill(pid: int, sig: int) -> None:
    """Send ``sig`` to ``pid``; ignore a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone (reaping our zombies). True if it went in time."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def spawn_detached(argv: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session, stdin /dev/null, stdout+stderr appended to ``log_path``.

    Uses ``posix_spawn`` (safe in threads, no ``Popen`` object to warn when it outlives us).

    Returns:
        The PID of the new process.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.fspath(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(
        argv[0],
        list(argv),
        env if env is not None else dict(os.environ),
        file_actions=actions,
        setsid=True,
    )


def launcher_argv(*, cgroup_procs: Sequence[Path], cwd: Path | None, argv: Sequence[str]) -> list[str]:
    """Argv of the small launcher that joins cgroups / changes dir, then execs ``argv``."""
    out = [sys.executable, "-I", "-m", "shipyard.lab._launch"]
    for procs in cgroup_procs:
        out += ["--cgroup", os.fspath(procs)]
    if cwd is not None:
        out += ["--cwd", os.fspath(cwd)]
    return [*out, "--", *argv]


def processes_with_cwd(path: Path) -> list[int]:
    """PIDs whose current directory is ``path`` (or was it, now deleted)."""
    want = os.fspath(path)
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.fspath((entry / "cwd").readlink())
        except OSError:
            continue
        if cwd in (want, f"{want} (deleted)"):
            out.append(int(entry.name))
    return out


def cgroup_hierarchies() -> list[tuple[str, Path, str]]:
    """The machine's cgroup hierarchies as seen by this process.

    Returns:
        ``(kind, mount point, own path)`` per hierarchy; kind is the controller list
        (``memory``), ``name=systemd``, or ``""`` for cgroup2.
    """
    mounts: dict[str, Path] = {}
    for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        fstype, mnt, opts = parts[2], Path(parts[1]), parts[3].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("", mnt)
        elif fstype == "cgroup":
            kinds = [
                o
                for o in opts
                if o
                not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec", "noprefix", "clone_children")
                and not o.startswith(("release_agent=", "xattr"))
            ]
            mounts.setdefault(",".join(kinds), mnt)
    out: list[tuple[str, Path, str]] = []
    for line in Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines():
        _, kind, own = line.split(":", 2)
        if kind in mounts:
            out.append((kind, mounts[kind], own))
    return out


def cgroup_mounts() -> list[Path]:
    """Mount points of every cgroup hierarchy on the machine."""
    return [mnt for _, mnt, _ in cgroup_hierarchies()]


def _copy_cpuset(parent: Path, child: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems", "cpus", "mems"):
        src = parent / name
        dst = child / name
        if src.exists() and dst.exists() and not dst.read_text().strip():
            dst.write_text(src.read_text().strip() or "0")


def make_cgroup(mount: Path, own: str, rel: str, *, cpuset: bool) -> Path:
    """Create ``mount/own/rel`` level by level (copying cpuset cpus/mems down for cpuset)."""
    path = mount / own.lstrip("/")
    for part in Path(rel).parts:
        parent, path = path, path / part
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if cpuset:
            _copy_cpuset(parent, path)
    return path


def cgroup_pids(path: Path) -> list[int]:
    """PIDs in the cgroup tree at ``path`` (all levels)."""
    out: list[int] = []
    if not path.is_dir():
        return out
    for dirpath, _, _ in os.walk(path):
        with contextlib.suppress(OSError):
            out.extend(int(p) for p in (Path(dirpath) / "cgroup.procs").read_text().split())
    return out


def remove_cgroup_tree(path: Path, *, timeout: float = 5) -> bool:
    """``rmdir`` a cgroup dir and everything under it, deepest first, retrying while busy.

    Returns:
        True when it is gone.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not path.exists():
            return True
        dirs = sorted((Path(d) for d, _, _ in os.walk(path)), key=lambda p: len(p.parts), reverse=True)
        busy = False
        for d in dirs:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
                busy = True
        if not busy and not path.exists():
            return True
        if time.monotonic() >= deadline:
            log.warning("cgroup %s still busy, left behind", path)
            return False
        for pid in cgroup_pids(path):
            kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def find_cgroup_dirs(name: str, parent_name: str) -> list[Path]:
    """Every cgroup dir called ``name`` whose parent is called ``parent_name``, in any hierarchy."""
    out: list[Path] = []
    for mnt in cgroup_mounts():
        for dirpath, dirnames, _ in os.walk(mnt):
            here = Path(dirpath)
            if here.name == parent_name and name in dirnames:
                out.append(here / name)
            if len(here.relative_to(mnt).parts) >= 6:
                dirnames.clear()
    return out


# --- mounts and links ----------------------------------------------------------------------


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or under ``path``, deepest first."""
    root = os.fspath(path)
    out: list[Path] = []
    for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        mnt = parts[1].replace("\\040", " ")
        if mnt == root or mnt.startswith(root + "/"):
            out.append(Path(mnt))
    return sorted(out, key=lambda p: len(p.parts), reverse=True)


def unmount(path: Path, umount: str) -> None:
    """Unmount ``path``, lazily if busy; no-op when it is not mounted."""
    if path not in mounts_under(path):
        return
    if run([umount, path], check=False).returncode != 0:
        run([umount, "-l", path], check=False)


def link_names(ip: str) -> list[str]:
    """Names of the network links of the machine."""
    out = run([ip, "-o", "link", "show"], check=False).stdout
    names: list[str] = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def netns_names(ip: str) -> list[str]:
    """Names of the machine's named network namespaces."""
    out = run([ip, "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ipv4_addresses(ip: str) -> list[str]:
    """Every IPv4 address (``a.b.c.d/nn``) configured on the machine."""
    out = run([ip, "-o", "-4", "addr", "show"], check=False).stdout
    addrs: list[str] = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            addrs.append(parts[parts.index("inet") + 1])
    return addrs
