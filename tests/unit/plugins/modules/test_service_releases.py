"""service_releases prune: a prune killed half-way never leaves a half-deleted 'complete' release.

service_release_unpack: a real tarball staged on a tmp "host" is unpacked by the safe rules
(hostile members refused, set-id and write bits stripped), the stage removed, the manifest last.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _release
from ansible_collections.shipyard.deploy.plugins.modules import service_release_unpack, service_releases


def release(root: Path, name: str, activated: str) -> None:
    path = root / "hello" / "releases" / name
    path.mkdir(parents=True)
    (path / "server.py").write_text("print('hi')\n")
    manifest = {"version": name, "sha256": "a" * 64, "activated": activated}
    (path / ".shipyard-release.json").write_text(json.dumps(manifest))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for i, name in enumerate(["1.0.0", "2.0.0", "3.0.0", "4.0.0"]):
        release(tmp_path, name, f"2026-01-0{i + 1}T00:00:00Z")
    (tmp_path / "hello" / "current").symlink_to(tmp_path / "hello" / "releases" / "4.0.0")
    (tmp_path / "hello" / "previous").symlink_to(tmp_path / "hello" / "releases" / "3.0.0")
    return tmp_path


def run(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    args = {"service": "hello", "root": str(root), "keep": 2}
    with patch_module_args(args), pytest.raises(SystemExit):
        service_releases.main()
    return json.loads(capsys.readouterr().out)


def test_a_prune_killed_mid_delete_leaves_no_complete_looking_release(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rmtree = shutil.rmtree

    def dies_half_way(path: str, *args: Any, **kwargs: Any) -> None:
        (Path(path) / "server.py").unlink()  # some files gone, the manifest still there ...
        raise KeyboardInterrupt  # ... and the process is gone

    monkeypatch.setattr(shutil, "rmtree", dies_half_way)
    with (
        pytest.raises(KeyboardInterrupt),
        patch_module_args({"service": "hello", "root": str(root), "keep": 2}),
    ):
        service_releases.main()
    releases = root / "hello" / "releases"
    names = sorted(p.name for p in releases.iterdir())
    # the half-deleted release is no longer under its own name: nothing can roll back to it
    assert any(n.startswith(".removing-") for n in names), names
    for name in names:
        if not name.startswith("."):
            assert (releases / name / "server.py").exists(), f"{name} is half-deleted but looks complete"
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    run(root, capsys)
    assert sorted(p.name for p in releases.iterdir()) == ["3.0.0", "4.0.0"]  # leftovers cleaned too
    again = run(root, capsys)
    assert again["changed"] is False


# -- service_release_unpack: the release install's one host call ---------------------------------


def tarball(path: Path, entries: list[tuple[str, bytes, int]], **special: Any) -> str:
    """A real tar of (name, data, mode) files, plus ``special`` TarInfo attributes for one more."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1000, 1000
            tar.addfile(info, io.BytesIO(data))
        if special:
            info = tarfile.TarInfo(special.pop("name"))
            for key, value in special.items():
                setattr(info, key, value)
            tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unpack(tmp_path: Path, capsys: pytest.CaptureFixture[str], sha: str, **extra: Any) -> dict[str, Any]:
    args = {"service": "hello", "root": str(tmp_path / "opt"), "release": "1.0.0",
            "src": str(tmp_path / "opt/hello/.staging/1.0.0.artifact"), "sha256": sha,
            "manifest": {"service": "hello", "version": "1.0.0", "sha256": sha, "kind": "tarball",
                         "time": "2026-01-01T00:00:00Z"}, **extra}
    with patch_module_args(args), pytest.raises(SystemExit):
        service_release_unpack.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    path = tmp_path / "opt/hello/.staging/1.0.0.artifact"
    path.parent.mkdir(parents=True)
    (tmp_path / "opt/hello/releases/1.0.0").mkdir(parents=True)  # the role's directory task
    return path


GOOD = [("server.py", b"print('hi')\n", 0o4775), ("data/notes", b"n\n", 0o666)]


def test_unpack_installs_normalized_removes_the_stage_and_writes_the_manifest_last(
    tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = tarball(staged, GOOD)
    release = tmp_path / "opt/hello/releases/1.0.0"
    (release / "half-written-by-a-killed-run").write_text("x")  # an incomplete release: emptied
    order = []
    real_write = _release.atomic_write

    def watch(path: str, data: bytes, mode: int = 0o644) -> None:
        order.append((os.path.basename(path), sorted(os.listdir(release)), staged.exists()))
        real_write(path, data, mode)

    monkeypatch.setattr(_release, "atomic_write", watch)
    result = unpack(tmp_path, capsys, sha, _ansible_diff=True)
    assert result["changed"] is True, result
    assert (result["files"], sorted(result["stripped"])) == (2, ["data/notes", "server.py"])
    # the manifest was the last write: every file already there, the stage already gone
    assert order == [(".shipyard-release.json", ["data", "server.py"], False)]
    manifest = json.loads((release / ".shipyard-release.json").read_text())
    assert manifest == {"service": "hello", "version": "1.0.0", "sha256": sha, "kind": "tarball",
                        "time": "2026-01-01T00:00:00Z"}
    assert result["diff"]["after"] == (release / ".shipyard-release.json").read_text()
    for name, mode in (("server.py", 0o755), ("data/notes", 0o644), ("data", 0o755)):
        st = os.lstat(release / name)
        assert stat.S_IMODE(st.st_mode) == mode, name
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (0, 0), name
    again = unpack(tmp_path, capsys, sha)
    assert again["changed"] is False, again


def test_unpack_in_check_mode_writes_nothing_and_shows_the_manifest(
    tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = "a" * 64  # in check mode the role's copy made no staged file
    result = unpack(tmp_path, capsys, sha, _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and "failed" not in result, result
    assert json.loads(result["diff"]["after"])["sha256"] == sha
    assert os.listdir(tmp_path / "opt/hello/releases/1.0.0") == []


@pytest.mark.parametrize(("special", "message"), [
    ({"name": "dev/null", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, "'dev/null' is a character device"),
    ({"name": "disk", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, "'disk' is a block device"),
    ({"name": "pipe", "type": tarfile.FIFOTYPE}, "'pipe' is a FIFO"),
    ({"name": "etc", "type": tarfile.SYMTYPE, "linkname": "/etc"}, "'etc' is a symlink to '/etc'"),
    ({"name": "shadow", "type": tarfile.LNKTYPE, "linkname": "/etc/shadow"}, "'/etc/shadow' has an absolute path"),
    ({"name": "../x", "type": tarfile.REGTYPE}, "'../x' contains '..'"),
    ({"name": "/x", "type": tarfile.REGTYPE}, "'/x' has an absolute path"),
    ({"name": ".shipyard-release.json", "type": tarfile.REGTYPE}, "reserved"),
])
def test_unpack_refuses_a_hostile_tarball_and_writes_no_manifest(
    tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str], special: dict[str, Any], message: str
) -> None:
    sha = tarball(staged, GOOD, **special)
    result = unpack(tmp_path, capsys, sha)
    assert result["failed"] is True
    assert "the tarball is refused" in result["msg"] and message in result["msg"], result["msg"]
    assert not (tmp_path / "opt/hello/releases/1.0.0/.shipyard-release.json").exists()
    assert not (tmp_path / "opt/hello/releases/x").exists() and not (tmp_path / "x").exists()
    assert not staged.exists()  # the refused artifact is not left on the host


@pytest.mark.parametrize("name", ["..", ".", "", "a/b"])
def test_unpack_refuses_a_binary_name_that_is_no_plain_file_name(
    tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    staged.write_bytes(b"\x7fELF")
    sha = hashlib.sha256(b"\x7fELF").hexdigest()
    result = unpack(tmp_path, capsys, sha, kind="binary", name=name)
    assert result["failed"] is True and "name=" in result["msg"] and "plain file name" in result["msg"]
    assert sorted(os.listdir(tmp_path / "opt/hello/releases")) == ["1.0.0"]
    assert os.listdir(tmp_path / "opt/hello/releases/1.0.0") == [] and not staged.exists()


def test_unpack_places_a_binary_as_one_file(tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staged.write_bytes(b"\x7fELF")
    sha = hashlib.sha256(b"\x7fELF").hexdigest()
    result = unpack(tmp_path, capsys, sha, kind="binary", name="tool")
    assert result["changed"] is True and result["files"] == 1, result
    tool = tmp_path / "opt/hello/releases/1.0.0/tool"
    assert tool.read_bytes() == b"\x7fELF" and stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert sorted(os.listdir(tool.parent)) == [".shipyard-release.json", "tool"] and not staged.exists()


def test_unpack_refuses_a_corrupt_stage_and_another_artifact_for_a_release(
    tmp_path: Path, staged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = tarball(staged, GOOD)
    corrupt = unpack(tmp_path, capsys, "b" * 64)
    assert corrupt["failed"] is True and f"has sha256 {sha}, not {'b' * 64}" in corrupt["msg"]
    assert corrupt["changed"] is False and not staged.exists()
    tarball(staged, GOOD)  # the role's copy task stages it again
    assert unpack(tmp_path, capsys, sha)["changed"] is True
    other = unpack(tmp_path, capsys, "c" * 64)
    assert other["failed"] is True and "immutable" in other["msg"], other
