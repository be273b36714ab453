"""A spec is data: hostile Lambda input is refused with one clear error, never run, never a hang.

Real files in tmp_path: FIFOs (os.mkfifo), unix sockets (socket.bind), sparse files (truncate),
symlink loops. Every test is bounded: a module-wide timeout, and FIFO tests open the FIFO's
write end after a few seconds so that a reader stuck on it (the old code) fails instead of
hanging.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli import main
from shipyard.core.errors import SpecError
from shipyard.core.spec import load_spec
from shipyard.strategies.lambda_ import invoke as lambda_invoke
from shipyard.strategies.lambda_ import package as lambda_pkg

pytestmark = pytest.mark.timeout(30)

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
SHA = "a" * 64
GiB = 1024**3


def _spec(tmp_path: Path, *, extra: str = "", code: str = HANDLER, source: str = "fn") -> Path:
    src = tmp_path / "fn"
    src.mkdir(exist_ok=True)
    (src / "app.py").write_text(code)
    spec = tmp_path / "fn.yml"
    spec.write_text(
        "name: fn\nversion: 1.0.0\nstrategy: lambda\n"
        f"lambda:\n  source: {source}\n  handler: app.handler\n  timeout: 2\n{extra}"
    )
    return spec


@contextlib.contextmanager
def _unblock(fifo: Path, after: float = 3.0) -> Iterator[None]:
    """After ``after`` s, open and close ``fifo``'s write end: a reader blocked on it gets EOF."""
    done = threading.Event()

    def run() -> None:
        if done.wait(after):
            return
        with contextlib.suppress(OSError):  # no reader: nothing is stuck
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """subprocess.run records its argv and fails the test: no subprocess (pip) may start."""
    calls: list[list[str]] = []

    def run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(argv))
        raise AssertionError(f"a subprocess was started: {argv}")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", run)
    return calls


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- 1. requirements -----------------------------------------------------------------------------

HOSTILE_LINES = [
    "./localpkg",
    "localpkg/",
    "/abs/path/to/pkg",
    "file:///tmp/pkg",
    "evil-1.0-py3-none-any.whl",
    "evil.tar.gz",
    "git+https://example.invalid/evil.git",
    "evil @ https://example.invalid/evil-1.0.tar.gz",
    "evil @ file:///tmp/evil",
    "-e .",
    "-e git+https://example.invalid/evil.git#egg=evil",
    "--editable=./evil",
    "-r other.txt",
    "--requirement other.txt",
    "-c constraints.txt",
    "--constraint=constraints.txt",
    "--index-url https://evil.invalid/simple",
    "-i https://evil.invalid/simple",
    "--extra-index-url https://evil.invalid/simple",
    "-f https://evil.invalid/links",
    "--find-links=/tmp/wheels",
    "--trusted-host evil.invalid",
    "--no-binary :all:",
    "--only-binary=:none:",
    "--pre",
    "requests --index-url https://evil.invalid/simple",
    "requests --hash=md5:0123456789abcdef0123456789abcdef",
    "requests --hash=sha256:tooshort",
    'requests; python_version == "${HOME}"',
]


@pytest.mark.parametrize("line", HOSTILE_LINES)
def test_a_hostile_requirements_line_is_refused_before_pip_runs(
    tmp_path: Path, no_pip: list[list[str]], line: str
) -> None:
    spec = _spec(tmp_path, extra="  requirements: fn/requirements.txt\n")
    (tmp_path / "fn" / "requirements.txt").write_text(f"# deps\nboto3-stubs==1.0\n{line}\n")
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o", cache_dir=tmp_path / "cache")
    assert err.value.field == "lambda.requirements"
    assert err.value.value == f"fn/requirements.txt:3: {line}"
    assert "no paths, URLs or pip options" in err.value.fix
    assert no_pip == []
    assert not (tmp_path / "cache").exists()


def test_a_local_build_backend_never_runs(tmp_path: Path, no_pip: list[list[str]]) -> None:
    # The original report: a local path made pip run an in-tree build backend despite --only-binary.
    evil = tmp_path / "fn" / "evil"
    evil.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (evil / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    (evil / "backend.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    spec = _spec(tmp_path, extra="  requirements: fn/requirements.txt\n")
    (tmp_path / "fn" / "requirements.txt").write_text("./fn/evil\n")
    with pytest.raises(SpecError, match=r"requirements\.txt:1: \./fn/evil"):
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o", cache_dir=tmp_path / "cache")
    assert no_pip == [] and not marker.exists()


def test_the_cli_refuses_a_hostile_requirements_line_in_one_line_exit_2(
    tmp_path: Path, no_pip: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, extra="  requirements: fn/requirements.txt\n")
    (tmp_path / "fn" / "requirements.txt").write_text("requests==2.32.3\n--index-url https://evil.invalid/\n")
    code, err = _cli(["package", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    line = _one_line(err)
    assert "lambda.requirements" in line and "requirements.txt:2: --index-url" in line
    assert no_pip == []


def test_good_requirements_lines_are_accepted_and_normalised() -> None:
    text = (
        "# comment\n"
        "\n"
        "requests==2.32.3  # pinned\n"
        "Requests-Toolbelt[socks,security] >=1.0, <2 ; python_version >= '3.8'\n"
        f"urllib3==2.2.2 \\\n    --hash=sha256:{SHA} \\\n    --hash=sha256:{'b' * 64}\n"
        "idna\n"
    )
    lines = lambda_pkg.parse_requirements(text, name="r.txt")
    assert lines == [
        "requests==2.32.3",
        'Requests-Toolbelt[security,socks]<2,>=1.0; python_version >= "3.8"',
        f"urllib3==2.2.2 --hash=sha256:{SHA} --hash=sha256:{'b' * 64}",
        "idna",
    ]


def test_the_line_number_of_a_continued_line_is_its_first(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        lambda_pkg.parse_requirements("idna\nrequests \\\n  -e .\n", name="r.txt")
    assert err.value.value == "r.txt:2: requests   -e ."


def test_pip_cannot_be_steered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        req = Path(argv[argv.index("-r") + 1])
        seen.update(argv=argv, req=req.read_text(), cwd=kwargs.get("cwd"))
        seen["cwd_files"] = sorted(os.listdir(kwargs["cwd"])) if kwargs.get("cwd") else None
        return subprocess.CompletedProcess(argv, 1, "", "no network in the test")

    monkeypatch.setattr(subprocess, "run", run)
    spec = _spec(tmp_path, extra="  requirements: fn/requirements.txt\n")
    (tmp_path / "fn" / "requirements.txt").write_text("requests == 2.32.3   # the client\n")
    with pytest.raises(SpecError, match="pip could not vendor"):
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o", cache_dir=tmp_path / "cache")
    argv = seen["argv"]
    assert argv[1:4] == ["-I", "-m", "pip"]
    for flag in ("--isolated", "--no-input", "--only-binary=:all:"):
        assert flag in argv
    assert seen["req"] == "requests==2.32.3\n"  # pip reads shipyard's normalised lines only
    assert seen["cwd_files"] == []  # in an empty scratch directory


@pytest.mark.parametrize("kind", ["fifo", "sparse", "dir"])
def test_a_requirements_file_that_is_not_a_small_regular_file_is_refused(
    tmp_path: Path, no_pip: list[list[str]], kind: str
) -> None:
    spec = _spec(tmp_path, extra="  requirements: fn/req\n")
    req = tmp_path / "fn" / "req"
    if kind == "fifo":
        os.mkfifo(req)
    elif kind == "sparse":
        with req.open("wb") as fh:
            fh.truncate(4 * GiB)
    else:
        req.mkdir()
    with _unblock(req), pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o", cache_dir=tmp_path / "cache")
    assert err.value.field == "lambda.requirements"
    assert no_pip == []


# -- 2. the handler check does not import user code ----------------------------------------------


def test_packaging_does_not_run_the_handler_module(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('imported')\n" + HANDLER
    res = lambda_pkg.package(load_spec(_spec(tmp_path, code=code)), out_dir=tmp_path / "o")
    assert res.files == 1
    assert not marker.exists()


def test_a_handler_module_that_hangs_at_import_packages_at_once(tmp_path: Path) -> None:
    code = "while True:\n    pass\n" + HANDLER
    started = time.monotonic()
    lambda_pkg.package(load_spec(_spec(tmp_path, code=code)), out_dir=tmp_path / "o")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "code",
    [
        "async def handler(event, context):\n    return 1\n",
        "def make():\n    return lambda e, c: 1\nhandler = make()\n",
        "handler: object = print\n",
        "from os import getcwd as handler\n",
        "try:\n    from fast import handler\nexcept ImportError:\n    def handler(e, c):\n        return 1\n",
    ],
)
def test_a_handler_bound_at_top_level_is_accepted(tmp_path: Path, code: str) -> None:
    lambda_pkg.package(load_spec(_spec(tmp_path, code=code)), out_dir=tmp_path / "o")


@pytest.mark.parametrize(
    "code",
    [
        "def other(event, context):\n    return 1\n",
        "def outer():\n    def handler(e, c):\n        return 1\n",
        "class C:\n    handler = 1\n",
        "app.handler = 1\n",
    ],
)
def test_a_handler_not_bound_at_top_level_is_refused_in_one_line(
    tmp_path: Path, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, code=code)
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o")
    assert err.value.field == "lambda.handler" and err.value.value == "app.handler"
    assert (
        "defines no top-level 'handler'" in err.value.fix and "def handler(event, context)" in err.value.fix
    )
    code_, line = _cli(["package", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code_ == 2 and "lambda.handler: 'app.handler'" in _one_line(line)


def test_the_local_invoke_still_runs_the_handler(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    pkg = lambda_pkg.package(spec, out_dir=tmp_path / "o")
    res = lambda_invoke.invoke_zip(spec, pkg.path, {}, environ={})
    assert res.ok and res.result == {"ok": True}, res.logs


# -- 3. the source tree --------------------------------------------------------------------------


def _refused(tmp_path: Path, **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(_spec(tmp_path)), out_dir=tmp_path / "o", **kwargs)
    assert err.value.field == "lambda.source"
    assert not (tmp_path / "o").exists()
    return err.value


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "sub").mkdir()
    (src / "sub" / "a").symlink_to("b")
    (src / "sub" / "b").symlink_to("a")
    err = _refused(tmp_path)
    assert err.value == "sub/a" and "a symlink loop" in err.fix


def test_a_self_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "me").symlink_to("me")
    err = _refused(tmp_path)
    assert err.value == "me" and "a symlink loop" in err.fix


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "gone").symlink_to("nowhere")
    err = _refused(tmp_path)
    assert err.value == "gone" and "a dangling symlink" in err.fix


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    os.mkfifo(tmp_path / "fn" / "pipe")
    with _unblock(tmp_path / "fn" / "pipe"):
        err = _refused(tmp_path)
    assert err.value == "pipe" and "a FIFO" in err.fix


def test_a_socket_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(tmp_path / "fn" / "sock"))
        err = _refused(tmp_path)
    assert err.value == "sock" and "a socket" in err.fix


def test_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    try:
        os.mknod(tmp_path / "fn" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    err = _refused(tmp_path)
    assert err.value == "null" and "a character device" in err.fix


def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "secret").write_text("key")
    (tmp_path / "fn" / "creds").symlink_to(tmp_path / "secret")
    (tmp_path / "fn" / "etc").symlink_to("/etc")
    err = _refused(tmp_path)
    assert err.value == "creds" and "a symlink out of the tree" in err.fix


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "zero").symlink_to("/dev/zero")
    err = _refused(tmp_path)
    assert err.value == "zero"


def test_a_symlink_to_a_directory_in_the_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fn" / "lib").mkdir(parents=True)
    (tmp_path / "fn" / "lib2").symlink_to("lib")
    err = _refused(tmp_path)
    assert err.value == "lib2" and "a symlink to a directory" in err.fix


def test_a_symlink_to_a_file_in_the_tree_is_packaged_as_its_content(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    (tmp_path / "fn" / "data.txt").write_text("payload")
    (tmp_path / "fn" / "alias.txt").symlink_to("data.txt")
    res = lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o")
    with zipfile.ZipFile(res.path) as zf:
        assert zf.read("alias.txt") == b"payload"
        assert zf.getinfo("alias.txt").external_attr >> 16 == 0o100644


def test_a_tree_deeper_than_the_recursion_limit_packages(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    fd = os.open(tmp_path / "fn", os.O_RDONLY)
    for _ in range(1100):  # one-letter names: the path stays under PATH_MAX
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    try:
        res = lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o")
        assert res.files == 2
    finally:  # pytest's own (recursive) cleanup of old tmp dirs must not meet this tree
        top = tmp_path / "fn"
        while (top / "d" / "d").is_dir():
            (top / "d" / "d").rename(top / "up")
            (top / "d").rmdir()
            (top / "up").rename(top / "d")


def test_a_huge_sparse_file_is_refused_by_its_size_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    with (tmp_path / "fn" / "huge.bin").open("wb") as fh:
        fh.truncate(4 * GiB)
    code, err = _cli(["package", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    line = _one_line(err)
    assert "lambda.source: 'huge.bin'" in line and "4096.0 MB" in line


def test_the_total_size_is_checked_before_any_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path)
    for name in ("a.bin", "b.bin", "c.bin"):
        with (tmp_path / "fn" / name).open("wb") as fh:
            fh.truncate(100 * 1024 * 1024)  # each one under the limit, together over it

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a file was read before the size check")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(lambda_pkg, "read_regular", no_read, raising=False)
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o")
    assert err.value.field == "lambda.source" and "over 250 MB unzipped" in str(err.value.value)
    assert "biggest:" in err.value.fix


def test_a_source_that_resolves_outside_the_spec_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.py").write_text(HANDLER)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "fn").symlink_to(outside)
    spec = tmp_path / "specs" / "fn.yml"
    spec.write_text(
        "name: fn\nversion: 1.0.0\nstrategy: lambda\nlambda:\n  source: fn\n  handler: app.handler\n"
    )
    code, err = _cli(["package", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    line = _one_line(err)
    assert "lambda.source: 'fn'" in line and "outside the spec's directory" in line
    assert not (tmp_path / "o").exists()


def test_an_absolute_source_outside_the_spec_directory_is_refused(tmp_path: Path) -> None:
    # Refused by the spec's validation (where it refuses absolute paths) or else by the packager.
    spec = _spec(tmp_path, source="/etc")
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(load_spec(spec), out_dir=tmp_path / "o")
    assert err.value.field == "lambda.source"
    assert not (tmp_path / "o").exists()


def test_the_cli_refuses_a_symlink_loop_in_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    (tmp_path / "fn" / "loop").symlink_to("loop")
    code, err = _cli(["package", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "lambda.source: 'loop'" in _one_line(err)


# -- 4. invoke --event ---------------------------------------------------------------------------


def test_a_good_event_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "ev.json").write_text('{"x": 1}')
    assert lambda_invoke.read_event(str(tmp_path / "ev.json")) == {"x": 1}
    assert lambda_invoke.read_event("-", stdin=io.StringIO("[1, 2]")) == [1, 2]


@pytest.mark.parametrize(
    "kind", ["dev-zero", "fifo", "dir", "sparse-7mb", "sparse-4gb", "missing", "not-json"]
)
def test_a_bad_event_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ev"
    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind.startswith("sparse"):
        with path.open("wb") as fh:
            fh.truncate(7 * 1024 * 1024 if kind == "sparse-7mb" else 4 * GiB)
    elif kind == "not-json":
        path.write_text("{nope")
    with _unblock(path), pytest.raises(SpecError) as err:
        lambda_invoke.read_event(str(path))
    assert err.value.field == "--event" and err.value.value == str(path)
    assert "\n" not in str(err.value)


def test_a_huge_event_on_stdin_is_refused() -> None:
    with pytest.raises(SpecError, match="over 6291456 bytes"):
        lambda_invoke.read_event("-", stdin=io.StringIO("1" * (7 * 1024 * 1024)))




@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "dir", "sparse-4gb"])
def test_the_cli_refuses_a_bad_event_in_one_line_exit_2(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    path = tmp_path / "ev"
    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    else:
        with path.open("wb") as fh:
            fh.truncate(4 * GiB)
    with _unblock(path):
        code, err = _cli(["invoke", str(spec), "--event", str(path)], capsys)
    assert code == 2
    assert "--event" in _one_line(err)
