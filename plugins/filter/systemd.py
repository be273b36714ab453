# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Filters that render values safely into systemd unit files (controller side)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import program_problem

#: the placeholder in a command argument replaced by the instance name (%i = the port)
PORT_PLACEHOLDER = "{port}"

_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_text(text):
    out = []
    for char in text:
        if char in _C_ESCAPES:
            out.append(_C_ESCAPES[char])
        elif char == "%":
            out.append("%%")
        elif char == "$":
            out.append("$$")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("\\x%02x" % ord(char))
        else:
            out.append(char)
    return "".join(out)


def systemd_quote(arg, port_placeholder=PORT_PLACEHOLDER):
    """One argv element as a double-quoted systemd word; ``{port}`` becomes ``%i``.

    Backslash and double quote are backslash-escaped, control characters C-escaped, ``%``
    doubled (no specifier expansion) and ``$`` doubled (no environment expansion).
    """
    if not isinstance(arg, str):
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            raise AnsibleFilterError("systemd_exec: argument %r is not a string" % (arg,))
        arg = str(arg)
    if "\x00" in arg:
        raise AnsibleFilterError("systemd_exec: argument %r contains a NUL byte" % (arg,))
    parts = arg.split(port_placeholder) if port_placeholder else [arg]
    return '"' + "%i".join(_escape_text(part) for part in parts) + '"'


def systemd_exec(argv, port_placeholder=PORT_PLACEHOLDER):
    """An argv list as the value of ``ExecStart=``: every element quoted by systemd_quote."""
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)):
        raise AnsibleFilterError(
            "systemd_exec: the command must be a list of arguments (argv), got %r" % (argv,))
    if not argv:
        raise AnsibleFilterError("systemd_exec: the command is empty")
    problem = program_problem(argv[0])
    if problem:
        raise AnsibleFilterError("systemd_exec: " + problem)
    return " ".join(systemd_quote(arg, port_placeholder) for arg in argv)


def systemd_env_value(value):
    """A value for a line ``KEY="value"`` of an EnvironmentFile.

    Inside double quotes systemd keeps everything (newlines too) and drops the backslash
    before one of ``"``, ``\\``, ``$`` and a backtick, so those four are escaped.
    """
    text = str(value)
    for char in ("\\", '"', "$", "`"):
        text = text.replace(char, "\\" + char)
    return '"' + text + '"'


class FilterModule(object):
    """systemd_exec, systemd_quote and systemd_env_value filters."""

    def filters(self):
        return {
            "systemd_exec": systemd_exec,
            "systemd_quote": systemd_quote,
            "systemd_env_value": systemd_env_value,
        }
