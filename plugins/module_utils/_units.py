# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the text of every file shipyard writes for a service.

The instance template unit (process or container runtime), the environment and secrets
files, and the balancer's HAProxy configuration and unit. One renderer serves both the
host-side converge module (``service_converge``) and the controller-side roles (through the
filters in ``plugins/filter/systemd.py``), so the files are the same whichever way a
service is deployed.

Every value comes from the service spec and is data: arguments are quoted for systemd
(``%`` and ``$`` doubled, so no specifier or variable expansion), environment values are
escaped for an EnvironmentFile, and names and numbers are checked by the spec model before
they get here. Host-side code: standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import program_problem

HEADER = "# Managed by shipyard (shipyard.deploy): changes here are overwritten."

#: the placeholder in a command argument replaced by the instance name (%i = the port)
PORT_PLACEHOLDER = "{port}"

_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}

#: systemd sandboxing every instance and balancer unit gets
HARDENING = (
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "NoNewPrivileges=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
)
_SANDBOX_TAIL = (
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "CapabilityBoundingSet=",
)
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_LIMIT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGT%]?\Z")


class UnitTextError(ValueError):
    """A value that cannot be put into a unit or environment file as given."""


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
            raise UnitTextError("systemd_exec: argument %r is not a string" % (arg,))
        arg = str(arg)
    if "\x00" in arg:
        raise UnitTextError("systemd_exec: argument %r contains a NUL byte" % (arg,))
    parts = arg.split(port_placeholder) if port_placeholder else [arg]
    return '"' + "%i".join(_escape_text(part) for part in parts) + '"'


def systemd_exec(argv, port_placeholder=PORT_PLACEHOLDER):
    """An argv list as the value of ``ExecStart=``: every element quoted by systemd_quote."""
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)):
        raise UnitTextError(
            "systemd_exec: the command must be a list of arguments (argv), got %r" % (argv,))
    if not argv:
        raise UnitTextError("systemd_exec: the command is empty")
    problem = program_problem(argv[0])
    if problem:
        raise UnitTextError("systemd_exec: " + problem)
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


def _text(lines):
    return "\n".join(lines) + "\n"


def env_file(env):
    """An EnvironmentFile with ``env`` (sorted by name)."""
    lines = [HEADER]
    for key in sorted(env or {}):
        if not _ENV_NAME_RE.match(str(key)):
            raise UnitTextError("environment name %r: use letters, digits and '_'" % (key,))
        lines.append("%s=%s" % (key, systemd_env_value(env[key])))
    return _text(lines)


def _limit(name, value):
    if value in (None, ""):
        return []
    if not _LIMIT_RE.match(str(value)):
        raise UnitTextError("resources: %s=%r is not a systemd limit such as 256M or 50%%"
                            % (name, value))
    return ["%s=%s" % (name, value)]


def process_unit(service, command, etc_dir, home, user=None, resources=None, timeout_stop_sec=30):
    """The template unit ``shipyard-<service>@.service`` of the multi strategy."""
    resources = resources or {}
    lines = [
        HEADER,
        "# Instances of %s: shipyard-%s@<port>.service" % (service, service),
        "[Unit]",
        "Description=shipyard %s on port %%i" % service,
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "WorkingDirectory=%s/current" % home,
        "ExecStart=%s" % systemd_exec(command),
        "Environment=PORT=%i",
        "EnvironmentFile=%s/env" % etc_dir,
        "EnvironmentFile=-%s/secrets.env" % etc_dir,
    ]
    lines.append("User=%s" % user if user else "DynamicUser=yes")
    lines += _limit("MemoryMax", resources.get("memory"))
    lines += _limit("CPUQuota", resources.get("cpu"))
    if resources.get("tasks"):
        lines.append("TasksMax=%d" % int(resources["tasks"]))
    lines += [
        "Restart=on-failure",
        "RestartSec=1",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=%d" % int(timeout_stop_sec),
        "UMask=0077",
        "# Hardening",
    ]
    lines += list(HARDENING) + ["MemoryDenyWriteExecute=yes"] + list(_SANDBOX_TAIL)
    lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return _text(lines)


def container_unit(service, home, runc="/usr/sbin/runc", timeout_stop_sec=30):
    """The template unit of the container strategy: ``runc run`` of the port's bundle."""
    cid = "shipyard-%s-%%i" % service
    lines = [
        HEADER,
        "# Instances of %s as containers: shipyard-%s@<port>.service" % (service, service),
        "# runs `runc run` in the foreground on the current release's bundle for the port, so",
        "# systemd supervises the container; the container's cgroup is a child of this unit's",
        "# (Delegate=yes), so the unit's memory accounting covers it. Limits, env and secrets are",
        "# in the bundle's config.json (0600 root).",
        "[Unit]",
        "Description=shipyard %s container on port %%i" % service,
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "# A container of the same id left by a killed runc would make `runc run` refuse to start.",
        "ExecStartPre=-%s delete --force %s" % (runc, cid),
        "ExecStart=%s run --no-new-keyring --bundle %s/current/bundles/%%i %s" % (runc, home, cid),
        "ExecStopPost=-%s delete --force %s" % (runc, cid),
        "Delegate=yes",
        "# SIGTERM goes to runc, which forwards it to the container's PID 1; a PID 1 that ignores",
        "# it (no handler) gets SIGKILL with the whole cgroup after TimeoutStopSec.",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=%d" % int(timeout_stop_sec),
        "Restart=on-failure",
        "RestartSec=1",
        "UMask=0077",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return _text(lines)


def haproxy_config(service, ports, balancer_port, health_path, socket, maxconn=4096,
                   timeout_stop_sec=30):
    """The balancer's configuration: ``balancer_port`` -> one server per instance port."""
    lines = [
        HEADER,
        "# Load balancer of %s: port %d -> one server per instance." % (service, balancer_port),
        "global",
        "    maxconn %d" % int(maxconn),
        "    # The runtime API: drain/ready per instance without a reload; expose-fd lets a reload",
        "    # hand the listening sockets to the new worker, so no connection is refused during it.",
        "    stats socket %s mode 600 level admin expose-fd listeners" % socket,
        "    stats timeout 30s",
        "    hard-stop-after %ds" % int(timeout_stop_sec),
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "    # A request that meets a closing instance is sent again, to another one.",
        "    option redispatch",
        "    retries 3",
        "    retry-on conn-failure empty-response response-timeout",
        "",
        "frontend %s" % service,
        "    bind :%d" % int(balancer_port),
        "    default_backend %s" % service,
        "",
        "backend %s" % service,
        "    balance roundrobin",
        "    option httpchk GET %s" % (health_path or "/health"),
        "    http-check expect status 200",
        "    default-server check inter 500ms fastinter 250ms downinter 500ms rise 1 fall 2",
    ]
    lines += ["    server %d 127.0.0.1:%d" % (int(p), int(p)) for p in ports]
    return _text(lines)


def balancer_unit(service, config, haproxy="/usr/sbin/haproxy"):
    """The unit ``shipyard-lb-<service>.service`` running HAProxy in master-worker mode."""
    lines = [
        HEADER,
        "# Load balancer (HAProxy) of %s" % service,
        "[Unit]",
        "Description=shipyard load balancer of %s (HAProxy)" % service,
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        'Environment="CONFIG=%s"' % config,
        "ExecStartPre=%s -c -q -f $CONFIG" % haproxy,
        "# Master-worker mode: USR2 makes the master start new workers on the new configuration,",
        "# which take the listening sockets over (seamless reload); the old workers finish their",
        "# connections.",
        "ExecStart=%s -Ws -f $CONFIG" % haproxy,
        "ExecReload=%s -c -q -f $CONFIG" % haproxy,
        "ExecReload=/bin/kill -USR2 $MAINPID",
        "KillMode=mixed",
        "Restart=always",
        "RestartSec=1",
        "RuntimeDirectory=shipyard-lb-%s" % service,
        "RuntimeDirectoryMode=0700",
        "DynamicUser=yes",
        "UMask=0077",
        "# Hardening",
    ]
    lines += list(HARDENING) + list(_SANDBOX_TAIL)
    lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return _text(lines)


# --- where a service's files live (the role's vars/main.yml names the same paths) ----------
def paths(service, root="/opt/shipyard", config_dir="/etc/shipyard",
          unit_dir="/etc/systemd/system"):
    etc = "%s/%s" % (config_dir, service)
    return {
        "home": "%s/%s" % (root, service),
        "etc": etc,
        "env": etc + "/env",
        "secrets": etc + "/secrets.env",
        "unit_name": "shipyard-%s@.service" % service,
        "unit": "%s/shipyard-%s@.service" % (unit_dir, service),
        "lb_unit_name": "shipyard-lb-%s.service" % service,
        "lb_unit": "%s/shipyard-lb-%s.service" % (unit_dir, service),
        "lb_config": etc + "/haproxy.cfg",
        "lb_socket": "/run/shipyard-lb-%s/admin.sock" % service,
        "lb_backend": service,
    }
