"""Launcher: join cgroups and/or change directory, then exec a command (keeps the PID).

Usage: ``python -I -m shipyard.lab._launch [--cgroup PROCS]... [--cwd DIR] -- ARGV...``

The lab starts systemd-nspawn through this so that the process writes ITS OWN PID into the
host's cgroup dirs before it becomes nspawn (LAB-FACTS, "A cgroup per host is REQUIRED").
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    """Join the cgroups, chdir, exec the command after ``--``.

    Args:
        argv: the arguments (without the program name).

    Returns:
        2 on a usage error (on success it never returns).
    """
    if "--" not in argv:
        sys.stderr.write("usage: _launch [--cgroup PROCS]... [--cwd DIR] -- ARGV...\n")
        return 2
    split = argv.index("--")
    opts, command = argv[:split], argv[split + 1 :]
    if not command or len(opts) % 2:
        sys.stderr.write("_launch: bad arguments\n")
        return 2
    pid = str(os.getpid())
    for flag, value in zip(opts[::2], opts[1::2], strict=True):
        if flag == "--cgroup":
            with open(value, "w", encoding="ascii") as fh:  # noqa: PTH123
                fh.write(pid)
        elif flag == "--cwd":
            os.chdir(value)
        else:
            sys.stderr.write(f"_launch: unknown option {flag}\n")
            return 2
    os.execv(command[0], command)  # noqa: S606
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
