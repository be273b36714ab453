# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: one wrapper per systemctl verb, argv lists only.

Host-side code: standard library and ansible.module_utils only. Every verb takes a whole batch
of units so that a module makes one systemctl call per batch, never one per instance.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

#: properties read for every instance, in one ``systemctl show`` call
SHOW_PROPERTIES = (
    "Id", "LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "MemoryCurrent",
    "UnitFileState",
)
#: systemd strips these from the front of ExecStart's program even inside quotes: '+' and '!'
#: run the service with full privileges, ignoring User=, DynamicUser= and the whole sandbox.
EXEC_PREFIXES = "+-@!:|"
#: an absolute path, or a plain name that systemd resolves in its fixed search path (never
#: relative to WorkingDirectory=)
_PROGRAM_RE = re.compile(r"^(/[A-Za-z0-9_.+/-]+|[A-Za-z0-9_][A-Za-z0-9_.+-]*)\Z")


def program_problem(program):
    """Why ``program`` may not start an ExecStart= line, or None when it may."""
    if not isinstance(program, str) or not program:
        return "the program must be a non-empty string, got %r" % (program,)
    if program[0] in EXEC_PREFIXES:
        return ("the program %r begins with %r, which systemd reads as an ExecStart prefix "
                "('+' runs it as root outside the sandbox): name the program itself"
                % (program, program[0]))
    if not _PROGRAM_RE.match(program):
        return "the program %r must be an absolute path or a plain command name" % (program,)
    return None


def exec_start_problems(unit_text):
    """The problems of every ExecStart= program of a unit file's text (quotes stripped)."""
    problems = []
    for line in unit_text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.strip() != "ExecStart":
            continue
        words = value.strip()
        if words and words[0] in "\"'":
            quote = words[0]
            end = words.find(quote, 1)
            program = words[1:end] if end > 0 else words[1:]
        else:
            program = words.split(None, 1)[0] if words else ""
        problem = program_problem(program)
        if problem:
            problems.append("ExecStart=%s: %s" % (words, problem))
    return problems


#: systemd's "no value" for 64-bit counters
_UINT64_MAX = 18446744073709551615


class SystemdError(ShipyardModuleError):
    """A systemctl or journalctl call failed: the argv, rc and stderr are in the details."""


def parse_show(text):
    """Parse ``systemctl show`` output for several units (blocks split by blank lines)."""
    units = []
    block = {}
    for line in text.splitlines():
        if not line.strip():
            if block:
                units.append(block)
                block = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            block[key] = value
    if block:
        units.append(block)
    return {u["Id"]: u for u in units if "Id" in u}


def parse_int(value):
    """An integer property, or None for '', '[not set]' and systemd's UINT64_MAX."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return None if number == _UINT64_MAX else number


class Systemctl(object):
    """systemctl and journalctl through ``module.run_command`` with argument lists."""

    def __init__(self, module):
        self.module = module
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.journalctl = module.get_bin_path("journalctl")

    def _run(self, args, check=True):
        argv = [self.systemctl] + list(args)
        rc, out, err = self.module.run_command(argv)
        if rc != 0 and check:
            raise SystemdError(
                "'%s' failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()),
                argv=argv, rc=rc, stderr=err,
            )
        return rc, out, err

    # --- reading -------------------------------------------------------------------------
    def list_units(self, pattern):
        """Names of loaded units (any state) matching the glob ``pattern``."""
        _rc, out, _err = self._run(
            ["list-units", "--all", "--plain", "--no-legend", "--full", pattern], check=False
        )
        names = []
        for line in out.splitlines():
            fields = line.split()
            if fields and fields[0] != "●":
                names.append(fields[0])
            elif len(fields) > 1:
                names.append(fields[1])
        return names

    @staticmethod
    def wanted_units(pattern, root="/etc/systemd/system"):
        """Units enabled through a ``*.wants`` link in ``root`` that match ``pattern``."""
        return sorted({os.path.basename(p) for p in glob.glob(os.path.join(root, "*.wants", pattern))})

    def show(self, units, properties=SHOW_PROPERTIES):
        """``systemctl show -p ... UNIT...`` in one call: {unit: {property: value}}."""
        if not units:
            return {}
        _rc, out, _err = self._run(["show", "-p", ",".join(properties), "--"] + list(units))
        return parse_show(out)

    def journal(self, unit, lines=15):
        """The unit's last ``lines`` journal lines (message text only), or '' if unavailable."""
        if not self.journalctl:
            return ""
        rc, out, _err = self.module.run_command(
            [self.journalctl, "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"]
        )
        return out if rc == 0 else ""

    # --- changing: one call per batch -----------------------------------------------------
    def daemon_reload(self):
        self._run(["daemon-reload"])

    def enable_now(self, units):
        """Enable and start ``units`` (one call)."""
        self._run(["enable", "--now", "--"] + list(units))

    def enable(self, units):
        self._run(["enable", "--"] + list(units))

    def disable_now(self, units):
        """Stop and disable ``units`` (one call)."""
        self._run(["disable", "--now", "--"] + list(units))

    def restart(self, units):
        self._run(["restart", "--"] + list(units))

    def reload(self, units):
        self._run(["reload", "--"] + list(units))

    def reset_failed(self, units):
        """Forget a failed state (and the start rate limit); never fails the caller."""
        self._run(["reset-failed", "--"] + list(units), check=False)
