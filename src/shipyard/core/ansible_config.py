"""The user's Ansible settings, found as Ansible finds them, and shipyard's defaults around them.

shipyard looks the user's config file up on its side, from the directory the user ran shipyard
from, in ansible-core's own order (``find_ini_config_file`` in ``ansible/config/manager.py``),
the first that exists and is readable:

1. ``$ANSIBLE_CONFIG`` (a directory means its ``ansible.cfg``);
2. ``./ansible.cfg`` of the user's working directory (skipped when that directory is
   world-writable, as Ansible skips it);
3. ``~/.ansible.cfg``;
4. ``/etc/ansible/ansible.cfg``;

and hands it to ansible-playbook as ``ANSIBLE_CONFIG=<absolute path>``, so that the file is the
one the user's own ``ansible-playbook`` would read, whatever directory ansible-playbook runs in
(the runner runs it in the user's directory too). Ansible resolves relative paths of its own
settings against the file's directory, and some plugin options against its working directory.

Every ``ANSIBLE_*`` variable the user exported reaches ansible-playbook unchanged (ansible-runner
seeds the run's environment with the caller's). shipyard's own settings are of two kinds:

* :data:`DEFAULTS` (speed and quiet): set only where the user set nothing, neither in the
  environment (any of the names Ansible reads for it) nor in the chosen config file (any of its
  ini entries);
* forced ones, each for a reason given where it is set in :func:`resolve`.

Host key checking is never turned off by shipyard: ansible-runner sets
``ANSIBLE_HOST_KEY_CHECKING=False`` in every run whose environment lacks the variable, so shipyard
always sets it, to the user's own value (environment, then config file) or else ``True``. A user
who sets it to False gets what they asked for.

Nothing here writes ``os.environ`` or changes the working directory: everything is read at call
time from the mappings and paths given (the process's own by default).
"""

from __future__ import annotations

import configparser
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.core import collection
from shipyard.core.errors import SpecError

#: Where each candidate config file comes from, in Ansible's order (the label ``-v`` shows).
SOURCE_ENV = "ANSIBLE_CONFIG"
SOURCE_CWD = "./ansible.cfg"
SOURCE_HOME = "~/.ansible.cfg"
SOURCE_SYSTEM = "/etc/ansible/ansible.cfg"
#: The system-wide file Ansible reads last (a module constant so that tests can move it).
SYSTEM_CONFIG = Path("/etc/ansible/ansible.cfg")


@dataclass(frozen=True)
class Default:
    """One of shipyard's defaults: applied only when the user set the setting nowhere.

    ``names`` and ``ini`` are every environment variable and every ``(section, key)`` ansible-core
    reads for the setting (lib/ansible/config/base.yml and the ssh connection plugin's options);
    a unit test checks them against the installed ansible-core.
    """

    label: str
    env: str
    value: str
    names: tuple[str, ...]
    ini: tuple[tuple[str, str], ...]


#: shipyard's defaults, each only where the user set nothing.
DEFAULTS: tuple[Default, ...] = (
    # one ssh session per task instead of copy + run + delete (3 round trips)
    Default(
        "pipelining",
        "ANSIBLE_PIPELINING",
        "True",
        ("ANSIBLE_PIPELINING", "ANSIBLE_SSH_PIPELINING"),
        (("defaults", "pipelining"), ("connection", "pipelining"), ("ssh_connection", "pipelining")),
    ),
    # one ssh master per host, reused for 60 s (Ansible's own default without -C: the payloads
    # are small and compressing them costs CPU on a 2-core controller)
    Default(
        "ssh_args",
        "ANSIBLE_SSH_ARGS",
        "-o ControlMaster=auto -o ControlPersist=60s",
        ("ANSIBLE_SSH_ARGS",),
        (("ssh_connection", "ssh_args"),),
    ),
    Default("forks", "ANSIBLE_FORKS", "20", ("ANSIBLE_FORKS",), (("defaults", "forks"),)),
    # no interpreter discovery round trip per host (the roles need python3 anyway)
    Default(
        "interpreter_python",
        "ANSIBLE_PYTHON_INTERPRETER",
        "/usr/bin/python3",
        ("ANSIBLE_PYTHON_INTERPRETER",),
        (("defaults", "interpreter_python"),),
    ),
    # shipyard passes its collections path; a second shipyard.deploy from site-packages is noise
    Default(
        "collections_scan_sys_path",
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH",
        "False",
        ("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH",),
        (("defaults", "collections_scan_sys_path"),),
    ),
    Default(
        "deprecation_warnings",
        "ANSIBLE_DEPRECATION_WARNINGS",
        "False",
        ("ANSIBLE_DEPRECATION_WARNINGS",),
        (("defaults", "deprecation_warnings"),),
    ),
    Default(
        "localhost_warning",
        "ANSIBLE_LOCALHOST_WARNING",
        "False",
        ("ANSIBLE_LOCALHOST_WARNING",),
        (("defaults", "localhost_warning"),),
    ),
    Default(
        "inventory_unparsed_warning",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING",
        "False",
        ("ANSIBLE_INVENTORY_UNPARSED_WARNING",),
        (("inventory", "inventory_unparsed_warning"),),
    ),
)

#: Host key checking: the names and ini entries Ansible reads (base.yml HOST_KEY_CHECKING and
#: the ssh plugin's ``host_key_checking``), in Ansible's order (the last one found wins).
HOST_KEY_NAMES = ("ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_HOST_KEY_CHECKING")
HOST_KEY_INI = (("defaults", "host_key_checking"), ("ssh_connection", "host_key_checking"))
#: base.yml COLLECTIONS_PATHS and DEFAULT_HOST_LIST.
COLLECTIONS_ENV, COLLECTIONS_INI = "ANSIBLE_COLLECTIONS_PATH", ("defaults", "collections_path")
INVENTORY_ENV, INVENTORY_INI = "ANSIBLE_INVENTORY", ("defaults", "inventory")


def _unfrack(path: str, base: Path) -> Path:
    """Ansible's ``unfrackpath(follow=False)``: ``~`` and ``$VARS`` expanded, relative to ``base``."""
    expanded = Path(os.path.expandvars(path)).expanduser()
    return Path(os.path.normpath(base / expanded))  # no symlink resolved: Ansible's follow=False


@dataclass(frozen=True)
class AnsibleConfig:
    """The config file Ansible would use for the user, and its ini values."""

    #: the file (absolute), or None when there is none
    path: Path | None
    #: where it was found (:data:`SOURCE_ENV` …), None when there is none
    source: str | None
    #: (section, key) -> value (unquoted), keys lower-case as Ansible's configparser has them
    values: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: candidates Ansible would skip too, and why (shown by ``-v``)
    notes: tuple[str, ...] = ()

    def lookup(self, entries: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
        """The value of the last entry set (Ansible's order) and its ``[section] key``, or None."""
        found = None
        for section, key in entries:
            if (section, key) in self.values:
                found = (self.values[section, key], f"[{section}] {key}")
        return found

    def path_list(self, entry: tuple[str, str], sep: str) -> list[Path]:
        """A path-list value, each path resolved against the file's directory, as Ansible does."""
        raw = self.values.get(entry)
        if raw is None or self.path is None:
            return []
        return [_unfrack(p.strip(), self.path.parent) for p in raw.split(sep) if p.strip()]

    def describe(self) -> str:
        """``/path/ansible.cfg (./ansible.cfg)``, or ``none``."""
        return f"{self.path} ({self.source})" if self.path else "none"


def _readable(path: Path) -> bool:
    return path.exists() and os.access(path, os.R_OK)


def find_config(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> AnsibleConfig:
    """The config file Ansible would use when run from ``cwd`` (default: the process's own).

    Raises:
        SpecError: the file is not an ini file Ansible could read (exit 2).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    notes: list[str] = []
    candidates: list[tuple[Path, str]] = []
    if SOURCE_ENV in environ:
        env_path = _unfrack(environ[SOURCE_ENV], cwd)
        if env_path.is_dir():
            env_path = env_path / "ansible.cfg"
        candidates.append((env_path, SOURCE_ENV))
    cwd_cfg = cwd / "ansible.cfg"
    try:
        world_writable = bool(cwd.stat().st_mode & stat.S_IWOTH)
    except OSError:
        world_writable = True  # Ansible skips a cwd it cannot stat
    if not world_writable:
        candidates.append((cwd_cfg, SOURCE_CWD))
    elif cwd_cfg.exists():
        notes.append(f"{cwd_cfg} ignored: {cwd} is world-writable (Ansible ignores it too)")
    candidates += [(home / ".ansible.cfg", SOURCE_HOME), (SYSTEM_CONFIG, SOURCE_SYSTEM)]
    for path, source in candidates:
        if _readable(path):
            return AnsibleConfig(path, source, _parse(path, source), tuple(notes))
        if source == SOURCE_ENV:
            notes.append(
                f"ANSIBLE_CONFIG={environ[SOURCE_ENV]}: no such readable file, skipped (as Ansible does)"
            )
    return AnsibleConfig(None, None, {}, tuple(notes))


def _parse(path: Path, source: str) -> dict[tuple[str, str], str]:
    """Read an ini config file as ansible-core does (same configparser settings)."""
    field_name = SOURCE_ENV if source == SOURCE_ENV else "ansible.cfg"
    if path.suffix not in (".cfg", ".ini"):
        raise SpecError(
            field_name,
            str(path),
            "Ansible reads only .cfg or .ini config files: rename it or unset ANSIBLE_CONFIG",
        )
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",))
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
        return {
            (section, key): _unquote(value)
            for section in parser.sections()
            for key, value in parser.items(section, raw=True)
        }
    except (configparser.Error, UnicodeError, OSError) as exc:
        first = str(exc).splitlines()[0]
        raise SpecError(
            field_name, str(path), f"Ansible cannot read it ({first}): fix the file", source=str(path)
        ) from None


def _unquote(value: str) -> str:
    """Ansible unquotes ini strings (``'a'`` and ``"a"`` are ``a``)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


@dataclass(frozen=True)
class Choice:
    """How one setting was decided, for ``-v``."""

    label: str
    #: True: the user's (environment or config file); False: shipyard's default or forced
    users: bool
    origin: str


@dataclass(frozen=True)
class AnsibleSettings:
    """What ansible-playbook gets: the user's config file and the variables shipyard adds."""

    config: AnsibleConfig
    #: variables shipyard puts into ansible-playbook's environment (over the caller's own)
    env: Mapping[str, str]
    choices: tuple[Choice, ...]

    def describe(self) -> list[str]:
        """Lines for ``-v``: the config file, then where each setting came from."""
        lines = [f"using Ansible config {self.config.describe()}"]
        lines += [f"  {note}" for note in self.config.notes]
        for c in self.choices:
            lines.append(f"  {c.label}: {'yours' if c.users else 'shipyard default'} ({c.origin})")
        return lines


def resolve(
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
    *,
    collections_path: Path | None = None,
) -> AnsibleSettings:
    """The user's Ansible settings and what shipyard adds to them (see the module docstring).

    Args:
        environ: the user's environment (default: ``os.environ``).
        cwd: the directory the user runs shipyard from (default: the process's).
        home: the user's home (default: ``~``).
        collections_path: the directory holding ``ansible_collections/shipyard/deploy``
            (default: :func:`shipyard.core.collection.collections_path`).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    config = find_config(environ, cwd, home)
    env: dict[str, str] = {}
    choices: list[Choice] = []

    # Forced: the file found from the USER's directory, as an absolute path, so that Ansible
    # reads this very file. With none, the runner names an empty file in the run directory
    # (no ANSIBLE_CONFIG left pointing at a missing file lets Ansible pick another one).
    if config.path is not None:
        env[SOURCE_ENV] = str(config.path)

    # Forced, merged: shipyard's collection must be found (the playbooks call it by FQCN). It
    # comes FIRST so that shipyard.deploy is the copy that matches this Python package; the
    # user's paths follow, so every other collection of theirs is still found.
    ours = str(collections_path or collection.collections_path())
    theirs = environ.get(COLLECTIONS_ENV)
    if theirs:
        user_paths = [str(_unfrack(p, cwd)) for p in theirs.split(os.pathsep) if p]
        origin = f"shipyard.deploy first, then ${COLLECTIONS_ENV}"
    else:
        user_paths = [str(p) for p in config.path_list(COLLECTIONS_INI, os.pathsep)]
        origin = f"shipyard.deploy first, then [defaults] collections_path in {config.path}"
    user_paths = [p for p in user_paths if p != ours]
    env[COLLECTIONS_ENV] = os.pathsep.join([ours, *user_paths])
    choices.append(Choice("collections_path", bool(user_paths), origin if user_paths else ours))

    # Forced: shipyard reads task messages and ansible-playbook's output (errors before any
    # task) as text; colour codes would end up in its error messages and JSON results.
    env["ANSIBLE_NOCOLOR"] = "True"
    # Not set here, forced by ansible-runner itself: ANSIBLE_STDOUT_CALLBACK=awx_display (the
    # events shipyard parses; a user's stdout_callback is passed on to it as
    # ORIGINAL_STDOUT_CALLBACK) and ANSIBLE_RETRY_FILES_ENABLED=False.

    # Host key checking: the user's value wherever they set it, else on. Always SET, because
    # ansible-runner turns checking off in a run whose environment lacks the variable.
    env_key = next(((n, environ[n]) for n in reversed(HOST_KEY_NAMES) if n in environ), None)
    ini_key = config.lookup(HOST_KEY_INI)
    if env_key is not None:
        env[HOST_KEY_NAMES[0]] = env_key[1]
        choices.append(Choice("host_key_checking", True, f"{env_key[0]}={env_key[1]}"))
    elif ini_key is not None:
        env[HOST_KEY_NAMES[0]] = ini_key[0]
        choices.append(Choice("host_key_checking", True, f"{ini_key[1]} = {ini_key[0]} in {config.path}"))
    else:
        env[HOST_KEY_NAMES[0]] = "True"
        choices.append(Choice("host_key_checking", False, "on: ssh checks known_hosts"))

    for default in DEFAULTS:
        name = next((n for n in default.names if n in environ), None)
        ini = config.lookup(default.ini)
        if name is not None:
            choices.append(Choice(default.label, True, f"${name}"))
        elif ini is not None:
            choices.append(Choice(default.label, True, f"{ini[1]} in {config.path}"))
        else:
            env[default.env] = default.value
            choices.append(Choice(default.label, False, f"{default.env}={default.value}"))
    return AnsibleSettings(config, env, tuple(choices))


def configured_inventory(config: AnsibleConfig) -> Path | str | None:
    """The config file's ``[defaults] inventory`` (resolved against its directory), or None.

    Several sources (``a.yml, b.yml``) come back as the raw text: shipyard takes one.
    """
    paths = config.path_list(INVENTORY_INI, ",")
    if not paths:
        return None
    return paths[0] if len(paths) == 1 else config.values[INVENTORY_INI]
