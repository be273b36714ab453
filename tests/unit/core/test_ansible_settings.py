"""The user's Ansible settings are theirs (the ecosystem issue, item 1).

The config file is found in ansible-core's order from the USER's directory, shipyard's defaults
apply only where the user set nothing, host key checking is never turned off by shipyard, and
the inventory is chosen -i > $SHIPYARD_INVENTORY > $ANSIBLE_INVENTORY > the config's > the lab's.
Real files in tmp dirs, the real ansible-runner and ansible-config: no mocks.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.core import ansible_config as ac
from shipyard.core import inputs
from shipyard.core.errors import SetupError, SpecError
from shipyard.core.runner import ansible_env, tool_path

OURS = Path("/opt/shipyard-collections")


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with no Ansible settings at all: a fresh cwd and HOME, no ANSIBLE_*, no /etc file."""
    for key in list(os.environ):
        if key.startswith("ANSIBLE_") or key == "SHIPYARD_INVENTORY":
            monkeypatch.delenv(key)
    home, cwd = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(ac, "SYSTEM_CONFIG", tmp_path / "etc" / "ansible.cfg")
    return tmp_path


def _cfg(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _resolve() -> ac.AnsibleSettings:
    return ac.resolve(collections_path=OURS)


# -- which file --------------------------------------------------------------------------------


def test_config_file_precedence_is_ansibles(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ac.find_config().path is None
    assert ac.find_config().describe() == "none"
    system = _cfg(user / "etc" / "ansible.cfg", "[defaults]\nforks = 1\n")
    assert (ac.find_config().path, ac.find_config().source) == (system, ac.SOURCE_SYSTEM)
    home = _cfg(user / "home" / ".ansible.cfg", "[defaults]\nforks = 2\n")
    assert (ac.find_config().path, ac.find_config().source) == (home, ac.SOURCE_HOME)
    cwd = _cfg(user / "project" / "ansible.cfg", "[defaults]\nforks = 3\n")
    assert (ac.find_config().path, ac.find_config().source) == (cwd, ac.SOURCE_CWD)
    assert ac.find_config().describe() == f"{cwd} (./ansible.cfg)"
    named = _cfg(user / "elsewhere" / "mine.cfg", "[defaults]\nforks = 4\n")
    # relative to the USER's directory, made absolute (ansible-playbook runs elsewhere)
    monkeypatch.setenv("ANSIBLE_CONFIG", "../elsewhere/mine.cfg")
    found = ac.find_config()
    assert (found.path, found.source, found.values["defaults", "forks"]) == (named, ac.SOURCE_ENV, "4")
    assert _resolve().env["ANSIBLE_CONFIG"] == str(named)
    # a directory means its ansible.cfg
    in_dir = _cfg(user / "dir" / "ansible.cfg", "")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(user / "dir"))
    assert ac.find_config().path == in_dir
    # a missing ANSIBLE_CONFIG is skipped, as Ansible skips it, and -v says so
    monkeypatch.setenv("ANSIBLE_CONFIG", str(user / "nope.cfg"))
    assert ac.find_config().path == cwd
    assert any("nope.cfg" in n and "skipped" in n for n in ac.find_config().notes)


def test_the_cwd_config_is_found_from_the_users_directory_not_ansibles(user: Path) -> None:
    """The old code ran ansible-playbook in the playbook dir and never passed the user's file."""
    cfg = _cfg(user / "project" / "ansible.cfg", "[defaults]\nforks = 3\n")
    env = _resolve().env
    assert env["ANSIBLE_CONFIG"] == str(cfg)
    assert "ANSIBLE_FORKS" not in env


def test_a_world_writable_cwd_config_is_ignored_as_ansible_ignores_it(user: Path) -> None:
    _cfg(user / "project" / "ansible.cfg", "[defaults]\nforks = 3\n")
    (user / "project").chmod(0o777)
    try:
        found = ac.find_config()
        assert found.path is None
        assert any("world-writable" in n for n in found.notes)
    finally:
        (user / "project").chmod(0o755)


def test_a_config_ansible_cannot_read_is_invalid_input_naming_the_file(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _cfg(user / "project" / "ansible.cfg", "forks = 3\n")  # no section
    with pytest.raises(SpecError) as exc:
        _resolve()
    assert exc.value.exit_code == 2 and str(bad) in str(exc.value) and "fix the file" in str(exc.value)
    _cfg(user / "conf.yml", "forks: 3\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(user / "conf.yml"))
    with pytest.raises(SpecError, match=r"ANSIBLE_CONFIG.*\.cfg or \.ini"):
        _resolve()


# -- defaults only where the user set nothing --------------------------------------------------


def test_with_no_user_settings_every_default_applies(user: Path) -> None:
    env = _resolve().env
    for default in ac.DEFAULTS:
        assert env[default.env] == default.value
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(OURS)
    assert env["ANSIBLE_NOCOLOR"] == "True"
    assert "ANSIBLE_CONFIG" not in env  # the runner names an empty file then
    # the interpreter default uses the name Ansible reads (the old ANSIBLE_INTERPRETER_PYTHON was ignored)
    assert env["ANSIBLE_PYTHON_INTERPRETER"] == "/usr/bin/python3"


@pytest.mark.parametrize("default", ac.DEFAULTS, ids=lambda d: d.label)
def test_a_default_yields_to_any_env_name_of_the_setting(
    default: ac.Default, user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in default.names:
        monkeypatch.setenv(name, "users-value")
        settings = _resolve()
        assert default.env not in ansible_env(settings=settings), name
        choice = next(c for c in settings.choices if c.label == default.label)
        assert choice.users and name in choice.origin
        monkeypatch.delenv(name)


@pytest.mark.parametrize("default", ac.DEFAULTS, ids=lambda d: d.label)
def test_a_default_yields_to_any_ini_entry_of_the_setting(default: ac.Default, user: Path) -> None:
    for section, key in default.ini:
        cfg = _cfg(user / "project" / "ansible.cfg", f"[{section}]\n{key} = users-value\n")
        settings = _resolve()
        assert default.env not in settings.env, (section, key)
        choice = next(c for c in settings.choices if c.label == default.label)
        assert choice.users and f"[{section}] {key}" in choice.origin and str(cfg) in choice.origin


def test_an_exported_ssh_args_reaches_ansible_playbook_through_ansible_runner(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old code overwrote ANSIBLE_SSH_ARGS and ANSIBLE_HOST_KEY_CHECKING with its own."""
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o ProxyJump=bastion -o ServerAliveInterval=7")
    monkeypatch.setenv("ANSIBLE_FORKS", "3")
    env = _runner_env(user)
    assert env["ANSIBLE_SSH_ARGS"] == "-o ProxyJump=bastion -o ServerAliveInterval=7"
    assert env["ANSIBLE_FORKS"] == "3"
    assert env["ANSIBLE_PIPELINING"] == "True"  # not set by the user: shipyard's default


def _runner_env(user: Path) -> dict[str, str]:
    """The environment ansible-runner really gives ansible-playbook (shipyard's env laid over it)."""
    from ansible_runner.config.runner import RunnerConfig

    private = user / "private"
    (private / "project").mkdir(parents=True, exist_ok=True)
    (private / "project" / "p.yml").write_text("[]\n")
    config = RunnerConfig(
        private_data_dir=str(private), playbook="p.yml", envvars=ansible_env(), suppress_env_files=True
    )
    config.prepare()
    return dict(config.env)


# -- host key checking -------------------------------------------------------------------------


def test_host_key_checking_is_on_unless_the_user_turned_it_off(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _runner_env(user)["ANSIBLE_HOST_KEY_CHECKING"] == "True"  # ansible-runner's False loses
    cfg = user / "project" / "ansible.cfg"
    for section in ("defaults", "ssh_connection"):
        _cfg(cfg, f"[{section}]\nhost_key_checking = False\n")
        assert _runner_env(user)["ANSIBLE_HOST_KEY_CHECKING"] == "False"  # the user's own choice
    _cfg(cfg, "[defaults]\nhost_key_checking = True\n")
    monkeypatch.setenv("ANSIBLE_SSH_HOST_KEY_CHECKING", "False")  # env beats the file, alias too
    assert _runner_env(user)["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "yes")
    monkeypatch.delenv("ANSIBLE_SSH_HOST_KEY_CHECKING")
    assert _runner_env(user)["ANSIBLE_HOST_KEY_CHECKING"] == "yes"


# -- forced settings kept as shipyard's, merged with the user's -------------------------------


def test_the_users_collections_path_is_kept_after_shipyards(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cfg(user / "project" / "ansible.cfg", "[defaults]\ncollections_path = colls:~/more\n")
    got = _resolve().env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)
    # relative to the config file's directory, ~ expanded, as Ansible resolves ini paths
    assert got == [str(OURS), str(user / "project" / "colls"), str(user / "home" / "more")]
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "envcolls")
    got = _resolve().env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)
    assert got == [str(OURS), str(user / "project" / "envcolls")]


def test_ansible_reads_the_users_file_from_another_directory(user: Path) -> None:
    """ansible-config, run where ansible-playbook runs (not the user's cwd), sees the user's file."""
    cfg = _cfg(user / "project" / "ansible.cfg", "[defaults]\nforks = 7\nhost_key_checking = False\n")
    elsewhere = user / "playbooks"
    elsewhere.mkdir()
    env = {**os.environ, **ansible_env()}
    out = subprocess.run(
        [str(tool_path("ansible-config")), "dump", "--only-changed"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert f"CONFIG_FILE() = {cfg}" in out
    assert f"DEFAULT_FORKS({cfg}) = 7" in out
    assert "HOST_KEY_CHECKING(env: ANSIBLE_HOST_KEY_CHECKING) = False" in out
    assert "INTERPRETER_PYTHON(env: ANSIBLE_PYTHON_INTERPRETER) = /usr/bin/python3" in out


def test_the_checkout_ansible_cfg_is_used_when_shipyard_runs_from_the_checkout(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from _root import ROOT

    monkeypatch.chdir(ROOT)
    settings = _resolve()
    assert settings.config.path == ROOT / "ansible.cfg"
    assert settings.env["ANSIBLE_CONFIG"] == str(ROOT / "ansible.cfg")
    # the checkout's file sets these; shipyard adds none of its own for them
    assert not {"ANSIBLE_PIPELINING", "ANSIBLE_SSH_ARGS", "ANSIBLE_FORKS"} & set(settings.env)


# -- the table is ansible-core's ---------------------------------------------------------------


def _ansible_core_entries() -> Callable[[str, str | None], tuple[set[str], set[tuple[str, str]]]]:
    import ansible
    import ansible.plugins.connection.ssh as ssh

    base = yaml.safe_load((Path(ansible.__file__).parent / "config" / "base.yml").read_text())
    ssh_opts: dict[str, Any] = yaml.safe_load(ssh.DOCUMENTATION)["options"]

    def entries(base_key: str, ssh_key: str | None) -> tuple[set[str], set[tuple[str, str]]]:
        defs = [d for d in (base.get(base_key), ssh_opts.get(ssh_key or "")) if d]
        assert defs, base_key
        names = {e["name"] for d in defs for e in d.get("env", [])}
        ini = {(e["section"], e["key"]) for d in defs for e in d.get("ini", [])}
        return names, ini

    return entries


def test_every_env_name_and_ini_entry_is_the_installed_ansible_cores() -> None:
    entries = _ansible_core_entries()
    where = {
        "pipelining": ("ANSIBLE_PIPELINING", "pipelining"),
        "ssh_args": ("", "ssh_args"),
        "forks": ("DEFAULT_FORKS", None),
        "interpreter_python": ("INTERPRETER_PYTHON", None),
        "collections_scan_sys_path": ("COLLECTIONS_SCAN_SYS_PATH", None),
        "deprecation_warnings": ("DEPRECATION_WARNINGS", None),
        "localhost_warning": ("LOCALHOST_WARNING", None),
        "inventory_unparsed_warning": ("INVENTORY_UNPARSED_WARNING", None),
    }
    assert {d.label for d in ac.DEFAULTS} == set(where)
    for d in ac.DEFAULTS:
        names, ini = entries(*where[d.label])
        assert (set(d.names), set(d.ini)) == (names, ini), d.label
        assert d.env in names
    assert entries("HOST_KEY_CHECKING", "host_key_checking") == (set(ac.HOST_KEY_NAMES), set(ac.HOST_KEY_INI))
    assert entries("COLLECTIONS_PATHS", None) == ({ac.COLLECTIONS_ENV}, {ac.COLLECTIONS_INI})
    assert entries("DEFAULT_HOST_LIST", None) == ({ac.INVENTORY_ENV}, {ac.INVENTORY_INI})


# -- the inventory -----------------------------------------------------------------------------


def test_inventory_order(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = user / "project"
    assert inputs.inventory_candidate(None) == (inputs.DEFAULT_INVENTORY, None)
    _cfg(project / "ansible.cfg", "[defaults]\ninventory = inv/hosts.yml\n")
    # relative to the config file, as Ansible resolves it
    assert inputs.inventory_candidate(None) == (project / "inv" / "hosts.yml", "inventory")
    monkeypatch.setenv("ANSIBLE_INVENTORY", "from-env.yml")
    assert inputs.inventory_candidate(None) == (Path("from-env.yml"), "ANSIBLE_INVENTORY")
    monkeypatch.setenv("SHIPYARD_INVENTORY", "shipyard.yml")
    assert inputs.inventory_candidate(None) == (Path("shipyard.yml"), "SHIPYARD_INVENTORY")
    assert inputs.inventory_candidate("given.yml") == (Path("given.yml"), "--inventory")


def test_ansible_inventory_is_used_when_no_inventory_is_given(
    user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old code went straight to the lab's inventory (exit 4 here: no lab)."""
    inv = _cfg(user / "project" / "hosts.yml", "all: {hosts: {a: {}}}\n")
    monkeypatch.setenv("ANSIBLE_INVENTORY", "hosts.yml")
    assert inputs.inventory_path(None).resolve() == inv
    assert inputs.describe_inventory(None) == f"{inv} (ANSIBLE_INVENTORY)"
    inv.unlink()
    with pytest.raises(SpecError) as exc:
        inputs.inventory_path(None)
    assert exc.value.exit_code == 2 and exc.value.field == "ANSIBLE_INVENTORY"
    monkeypatch.setenv("ANSIBLE_INVENTORY", "a.yml,b.yml")
    with pytest.raises(SpecError, match="one inventory source"):
        inputs.inventory_path(None)


def test_the_config_files_inventory_is_used_when_nothing_else_names_one(user: Path) -> None:
    cfg = _cfg(user / "home" / ".ansible.cfg", "[defaults]\ninventory = ~/hosts.yml\n")
    inv = _cfg(user / "home" / "hosts.yml", "all: {hosts: {a: {}}}\n")
    assert inputs.inventory_path(None) == inv
    assert inputs.describe_inventory(None) == f"{inv} ([defaults] inventory in {cfg})"
    inv.unlink()
    with pytest.raises(SpecError) as exc:
        inputs.inventory_path(None)
    assert exc.value.exit_code == 2 and str(cfg) in str(exc.value)


def test_a_config_naming_the_labs_inventory_keeps_no_lab_a_setup_error(user: Path) -> None:
    """The checkout's ansible.cfg names inventories/lab/hosts.yml: no lab is still exit 4."""
    _cfg(user / "project" / "ansible.cfg", "[defaults]\ninventory = inventories/lab/hosts.yml\n")
    assert inputs.inventory_candidate(None) == (inputs.DEFAULT_INVENTORY, None)
    with pytest.raises(SetupError, match="no lab is up"):
        inputs.inventory_path(None)
