"""The systemd_exec filter: argv -> ExecStart= with hostile arguments."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.shipyard.deploy.plugins.filter.systemd import (
    FilterModule,
    systemd_env_value,
    systemd_exec,
    systemd_quote,
)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("server.py", '"server.py"'),
        ("{port}", '"%i"'),
        ("--listen=0.0.0.0:{port}", '"--listen=0.0.0.0:%i"'),
        ("{port}{port}", '"%i%i"'),
        ("100%", '"100%%"'),
        ("%i", '"%%i"'),
        ("%{port}", '"%%%i"'),
        ("$HOME", '"$$HOME"'),
        ("${PORT}", '"$${PORT}"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("two words", '"two words"'),
        ("; rm -rf /", '"; rm -rf /"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\there", '"tab\\there"'),
        ("bell\x07", '"bell\\x07"'),
        ("", '""'),
        ("ünïcode", '"ünïcode"'),
        (8080, '"8080"'),
    ],
)
def test_quote(arg, expected):
    assert systemd_quote(arg) == expected


def test_exec_joins_quoted_words():
    argv = ["/usr/bin/python3", "server.py", "--port", "{port}"]
    assert systemd_exec(argv) == '"/usr/bin/python3" "server.py" "--port" "%i"'


@pytest.mark.parametrize("bad", ["python3 server.py", [], None, {"a": 1}])
def test_exec_refuses_non_argv(bad):
    with pytest.raises(AnsibleFilterError):
        systemd_exec(bad)


@pytest.mark.parametrize("bad", ["nul\x00byte", True, None, ["list"]])
def test_quote_refuses_bad_args(bad):
    with pytest.raises(AnsibleFilterError):
        systemd_quote(bad)


def test_quoted_word_cannot_be_closed_early():
    """Whatever the input, the word is one quoted string: no unescaped quote inside."""
    hostile = 'a" "b\\" c\\\\" ; $(x) `y` %n'
    word = systemd_quote(hostile)
    inner = word[1:-1]
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != '"'
        i += 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('q"uote', '"q\\"uote"'),
        ("$VAR", '"\\$VAR"'),
        ("`cmd`", '"\\`cmd\\`"'),
        ("back\\", '"back\\\\"'),
        (42, '"42"'),
    ],
)
def test_env_value(value, expected):
    assert systemd_env_value(value) == expected


def test_filters_registered():
    assert set(FilterModule().filters()) == {
        "systemd_exec", "systemd_quote", "systemd_env_value",
        # the file renderers shared with service_converge (module_utils/_units.py)
        "service_env_file", "service_process_unit", "service_container_unit",
        "service_haproxy_config", "service_balancer_unit",
    }


@pytest.mark.parametrize("program", ["+python3", "-python3", "@/bin/sh", "!/bin/sh", ":/bin/true", "!!x",
                                     "|/bin/sh", "./server.py", "bin/server", "python3\n", ""])
def test_a_program_with_a_systemd_prefix_or_relative_path_is_refused(program: str) -> None:
    with pytest.raises(AnsibleFilterError, match="systemd_exec: the program"):
        systemd_exec([program, "server.py"])


@pytest.mark.parametrize("program", ["python3", "/usr/bin/python3", "/opt/app/bin/run-it", "node"])
def test_an_absolute_or_plain_program_is_accepted(program: str) -> None:
    assert systemd_exec([program, "a"]) == f'"{program}" "a"'
