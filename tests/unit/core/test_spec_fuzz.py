"""Hostile input: property tests over the spec parser and ``shipyard validate``.

Any input gives a valid spec or a :class:`SpecError` naming the field; never another exception.
A valid spec never puts a host path outside the service's directories and its command is an
argv list (never a shell string).
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _root import ROOT
from shipyard.cli import main
from shipyard.core import safeyaml
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.spec import Service, parse_spec

VALID: dict[str, Any] = {
    "name": "hello",
    "version": "1.0.0",
    "artifact": {"path": "hello.tar", "sha256": "a" * 64, "kind": "tarball"},
    "command": "/usr/bin/python3 server.py --port {port}",
    "instances": 2,
    "ports": {"base": 8080},
    "env": {"GREETING": "hi"},
    "secrets": {"API_TOKEN": {"env": "HELLO_API_TOKEN", "required": False}},
    "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
    "health": {"path": "/health", "timeout": 5, "interval": 0.5, "start_timeout": 30},
    "user": "app",
    "keep_releases": 3,
    "rollout": {"serial": "50%", "max_fail_percentage": 0, "max_unavailable": 1},
    "balancer": {"port": 8000, "drain_timeout": 10},
    "lambda": {"source": "src", "handler": "app.handler"},
}

#: Strings a hostile author would try: traversal, shell syntax, control characters, huge.
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "..",
            "../../etc",
            "/etc/passwd",
            "a/../../b",
            "1.0/../../x",
            "$(reboot)",
            "`id`",
            "a; rm -rf /",
            "a && b",
            "x\ny",
            "x\x00y",
            "{port}",
            "{host}",
            "-rf",
            "~root",
            "%i",
            "%%",
            "\u202e",
            "a" * 300,
            "",
            " ",
        ]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    NASTY_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(NASTY_TEXT, st.sampled_from(sorted(VALID))), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """A valid spec with one to three fields replaced, removed or added."""
    doc: Any = yaml.safe_load(yaml.safe_dump(VALID))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(NASTY_TEXT)] = draw(VALUES)
    return doc


def check_outcome(data: Any) -> None:
    """The property: a valid Service that is safe on hosts, or SpecErrors naming fields."""
    try:
        service = parse_spec(data, source="fuzz.yml")
    except SpecErrors as exc:
        assert exc.errors
        for err in exc.errors:
            assert isinstance(err, SpecError)
            assert err.fix and str(err).startswith("fuzz.yml: ")
            # a field is named, except when the document itself is not a mapping
            assert err.field or not isinstance(data, dict), err
            assert "Traceback" not in str(err)
        return
    assert isinstance(service, Service)
    var = service.to_ansible()
    # host paths stay inside the service's own directories
    home = f"/opt/shipyard/{service.name}"
    release = posixpath.join(home, "releases", service.version)
    assert posixpath.normpath(release) == release
    assert posixpath.dirname(release) == f"{home}/releases"
    assert "/" not in service.name and service.name not in (".", "..")
    assert posixpath.normpath(f"/etc/shipyard/{service.name}") == f"/etc/shipyard/{service.name}"
    # the command is argv: a list of one-line strings, the program a path or a plain name
    command = var["command"]
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    assert all("\n" not in a and "\x00" not in a for a in command)
    if command:
        assert command[0].startswith("/") or re.fullmatch(r"[A-Za-z0-9_.+-]+", command[0])
    for key, value in var["env"].items():
        assert isinstance(value, str) and "\n" not in value and "\x00" not in value, key
    assert all(1024 <= p <= 65535 for p in var["ports"])
    assert len(set(var["ports"])) == len(var["ports"])
    assert var["user"] != "root"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_mutated_spec_is_valid_and_safe_or_a_field_error(data: Any) -> None:
    check_outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_any_data_is_a_spec_or_a_field_error(data: Any) -> None:
    check_outcome(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.builds(yaml.safe_dump, mutated_specs())))
def test_any_yaml_text_is_a_spec_or_a_field_error(text: str) -> None:
    try:
        data = safeyaml.loads(text, source="fuzz.yml")
    except SpecError as exc:
        assert str(exc).startswith("fuzz.yml: ")
        return
    check_outcome(data)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.one_of(st.binary(max_size=300), st.builds(lambda d: yaml.safe_dump(d).encode(), mutated_specs()))
)
def test_cli_validate_on_fuzzed_files_exits_0_or_2_without_traceback(
    raw: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "fuzz.yml"
    spec.write_bytes(raw)
    code = main(["validate", str(spec)])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert "invalid input" in err or "fuzz.yml" in err


@pytest.mark.parametrize(
    "raw",
    [
        b"a: &a [1]\nb: *a\n",
        b"name: [" * 200,
        b"name: !!python/object/apply:os.system ['id']\n",
        b"\xff\xfe\x00",
        b"name: hello\nversion: 1.0\n",
        b"- 1\n- 2\n",
        b"name: x\n" + b"#" * (300 * 1024),
    ],
)
def test_the_console_script_refuses_hostile_files_with_exit_2(raw: bytes, tmp_path: Path) -> None:
    spec = tmp_path / "hostile.yml"
    spec.write_bytes(raw)
    script = Path(sys.executable).parent / "shipyard"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "shipyard"]
    proc = subprocess.run(
        [*argv, "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "hostile.yml" in proc.stderr
