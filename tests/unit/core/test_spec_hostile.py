"""A spec is data: every string field refuses line breaks, NUL and lone surrogates; YAML
never coerces what was written; secret files are only ever regular files of a sane size."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli import main
from shipyard.core import safeyaml
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.spec import load_spec, parse_spec, read_secret_file

SHA = "0" * 64

#: A spec with every section, so that every string field of the format appears once.
FULL: dict[str, Any] = {
    "name": "orders",
    "version": "1.2.3",
    "strategy": "multi",
    "artifact": {"url": "https://example.com/orders-1.2.3.tar", "sha256": SHA, "kind": "tarball"},
    "command": ["/usr/bin/python3", "server.py", "--port", "{port}"],
    "instances": 2,
    "ports": {"base": 8080},
    "env": {"GREETING": "hi"},
    "secrets": {"TOKEN": {"env": "ORDERS_TOKEN"}, "KEY": {"file": "key.txt"}},
    "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
    "health": {"path": "/health"},
    "user": "app",
    "rollout": {"serial": "50%"},
    "balancer": {"port": 8000},
    "ami": {
        "base_filter": {"name": "debian-12-*", "owners": ["amazon"]},
        "regions": ["us-east-1"],
        "instance_type": "t3.micro",
        "ssh_username": "admin",
        "launch_template": "orders-lt",
        "autoscaling_group": "orders-asg",
    },
    "lambda": {
        "source": "src",
        "handler": "app.handler",
        "requirements": "requirements.txt",
        "role": "arn:aws:iam::123456789012:role/orders",
        "alias": "live",
        "triggers": {
            "http": ["POST /orders"],
            "schedule": ["rate(5 minutes)"],
            "s3": [{"bucket": "orders-in", "events": ["s3:ObjectCreated:*"], "prefix": "in/"}],
            "streams": [{"arn": "arn:aws:kinesis:us-east-1:123456789012:stream/orders"}],
            "direct": ["123456789012"],
        },
    },
    "container": {"registry": "registry.example.com:5000"},
}


def _strings(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, (*path, index))
    elif isinstance(data, str):
        yield path, data


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


STRING_FIELDS = [p for p, _ in _strings(FULL)]


def test_the_full_spec_is_valid() -> None:
    parse_spec(FULL)


@pytest.mark.parametrize("suffix", ["\n", "\r", "\x00", "\udcff"], ids=["LF", "CR", "NUL", "surrogate"])
@pytest.mark.parametrize("path", STRING_FIELDS, ids=[_dotted(p) for p in STRING_FIELDS])
def test_every_string_field_refuses_a_trailing_line_break_nul_or_surrogate(
    path: tuple[Any, ...], suffix: str
) -> None:
    data = copy.deepcopy(FULL)
    original = dict(_strings(FULL))[path]
    _set(data, path, original + suffix)
    with pytest.raises(SpecErrors) as info:
        parse_spec(data, source="s.yml")
    fields = [e.field for e in info.value.errors]
    dotted = _dotted(path)
    # env values and command arguments are named by their own rules (env, command)
    assert any(dotted == f or dotted.startswith(f) for f in fields), (dotted, fields)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("suffix", ["\n", "\r", "\x00"], ids=["LF", "CR", "NUL"])
@pytest.mark.parametrize("section", ["env", "secrets"])
def test_every_key_refuses_a_trailing_line_break_or_nul(section: str, suffix: str) -> None:
    data = copy.deepcopy(FULL)
    key, value = next(iter(data[section].items()))
    data[section] = {key + suffix: value}
    with pytest.raises(SpecErrors) as info:
        parse_spec(data)
    assert any(e.field.startswith(section) for e in info.value.errors)


def test_root_only_with_allow_root() -> None:
    with pytest.raises(SpecErrors, match="allow_root"):
        parse_spec({**FULL, "user": "root"})
    assert parse_spec({**FULL, "user": "root", "allow_root": True}).to_ansible()["user"] == "root"


def test_env_values_may_hold_template_markers_they_are_data() -> None:
    env = {"A": "{{ lookup('pipe', 'id') }}", "B": "{% raw %}"}
    assert parse_spec({**FULL, "env": env}).env == env


def test_yaml_never_coerces_what_was_written() -> None:
    text = "UMASK: 0022\nAT: 12:30\nHEX: 0x1F\nBIG: 1_000\nPLUS: +5\nN: 8080\nF: 0.5\nNEG: -3\n"
    assert safeyaml.loads(text) == {
        "UMASK": "0022",
        "AT": "12:30",
        "HEX": "0x1F",
        "BIG": "1_000",
        "PLUS": "+5",
        "N": 8080,
        "F": 0.5,
        "NEG": -3,
    }


def _spec_file(tmp_path: Path, extra: str) -> Path:
    spec = tmp_path / "svc.yml"
    spec.write_text(
        "name: orders\nversion: '1.0'\ncommand: /usr/bin/python3 s.py --port {port}\n"
        f"artifact: {{url: 'https://h/o.tar', sha256: '{SHA}'}}\n{extra}"
    )
    return spec


def test_an_env_value_yaml_would_have_coerced_arrives_as_written(tmp_path: Path) -> None:
    spec = load_spec(_spec_file(tmp_path, "env: {UMASK: 0022, AT: 12:30}\n"))
    assert spec.service.env == {"UMASK": "0022", "AT": "12:30"}


def test_instances_with_5000_digits_is_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec_file(tmp_path, "instances: " + "9" * 5000 + "\n")
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "instances" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _bounded(fn: Any, seconds: float = 5.0) -> Any:
    """Run ``fn`` in a thread; fail (not hang) if it does not return in time."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "it hung"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "huge"])
def test_a_secret_file_that_is_not_a_small_regular_file_is_refused_at_validate_and_deploy(
    kind: str, tmp_path: Path, fifo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = {
        "dev-zero": Path("/dev/zero"),
        "fifo": fifo,
        "directory": tmp_path,
        "huge": tmp_path / "huge",
    }[kind]
    if kind == "huge":
        with target.open("wb") as handle:
            handle.truncate(4 * 1024**3)  # sparse: refused by its size, never read
    spec = _spec_file(tmp_path, f"secrets: {{TOKEN: {{file: '{target}'}}}}\n")
    code = _bounded(lambda: main(["validate", str(spec)]))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "secrets.TOKEN.file" in err and "Traceback" not in err
    with pytest.raises(SpecError) as info:
        _bounded(lambda: load_spec(spec).resolve_secrets())
    assert info.value.field == "secrets.TOKEN"
    assert info.value.exit_code == 2


def test_read_secret_file_reads_one_regular_file_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("pa{{ 7*7 }}ss\n")
    assert read_secret_file(path) == "pa{{ 7*7 }}ss"


def test_a_secret_from_the_environment_with_invalid_utf8_is_refused(tmp_path: Path) -> None:
    spec = load_spec(_spec_file(tmp_path, "secrets: {TOKEN: {env: T}}\n"))
    with pytest.raises(SpecError, match="one line of text"):
        spec.resolve_secrets({"T": "x\udcff"})
