"""_archive.safe_extract, the one unpacker of release tarballs and OCI layers: what it refuses,
what it normalizes, what it keeps. Every archive is a real tar file written with tarfile."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.shipyard.deploy.plugins.module_utils import _archive
from ansible_collections.shipyard.deploy.plugins.module_utils._archive import ArchiveError, safe_extract

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root")


def entry(
    name: str,
    data: bytes | None = None,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
    mode: int | None = None,
    uid: int = 1000,
    gid: int = 1000,
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.uid, info.gid = kind, linkname, uid, gid
    info.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    if data is not None:
        info.size = len(data)
    return info, data


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def extract(tmp_path: Path, entries: list[Any], **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    archive = make_tar(tmp_path / "a.tar", entries)
    dest = tmp_path / "box" / "release"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        return dest, safe_extract(tar, str(dest), **kwargs)


# -- refused: the member is named, with the reason ----------------------------------------------

REFUSED = {
    "char-device": ([entry("dev/null", kind=tarfile.CHRTYPE)], r"'dev/null' is a character device"),
    "block-device": ([entry("sda", kind=tarfile.BLKTYPE)], r"'sda' is a block device"),
    "fifo": ([entry("pipe", kind=tarfile.FIFOTYPE)], r"'pipe' is a FIFO"),
    "absolute": ([entry("/tmp/evil", b"x")], r"'/tmp/evil' has an absolute path"),
    "dotdot": ([entry("../x", b"x")], r"'\.\./x' contains '\.\.'"),
    "dotdot-inner": ([entry("a/../../x", b"x")], r"contains '\.\.'"),
    "symlink-to-etc": ([entry("etc", kind=tarfile.SYMTYPE, linkname="/etc")], r"'etc' is a symlink to '/etc'"),
    "symlink-up": ([entry("a/up", kind=tarfile.SYMTYPE, linkname="../../x")], r"'a/up' is a symlink to '\.\./\.\./x', outside"),
    "file-through-inside-symlink": (
        [entry("real", kind=tarfile.DIRTYPE), entry("link", kind=tarfile.SYMTYPE, linkname="real"),
         entry("link/x", b"x")],
        r"'link/x' would be written through a symlink",
    ),
    "file-through-symlink-to-etc-in-place": (
        # the same name twice: a lax reader keeps only the last, so check the symlink kind first
        [entry("conf", kind=tarfile.SYMTYPE, linkname="/etc"), entry("conf/passwd", b"x")],
        r"'conf' is a symlink to '/etc'",
    ),
    "chain-of-links": (
        # each link alone stays inside ("." and "a/.."), the chain resolves to the parent
        [entry("a", kind=tarfile.SYMTYPE, linkname="."), entry("b", kind=tarfile.SYMTYPE, linkname="a/..")],
        r"'b' is a symlink to 'a/\.\.', which resolves outside",
    ),
    "hardlink-to-shadow": ([entry("shadow", kind=tarfile.LNKTYPE, linkname="/etc/shadow")], r"'/etc/shadow' has an absolute path"),
    "hardlink-up": ([entry("h", kind=tarfile.LNKTYPE, linkname="../outside")], r"contains '\.\.'"),
    "hardlink-to-nothing": ([entry("h", kind=tarfile.LNKTYPE, linkname="missing")], r"'h' links to 'missing', which the archive does not have"),
    "hardlink-to-dir": (
        [entry("d", kind=tarfile.DIRTYPE), entry("h", kind=tarfile.LNKTYPE, linkname="d")],
        r"'h' is a hard link to the directory 'd'",
    ),
    "hardlink-through-symlink": (
        [entry("d", kind=tarfile.DIRTYPE), entry("d/f", b"x"), entry("l", kind=tarfile.SYMTYPE, linkname="d"),
         entry("h", kind=tarfile.LNKTYPE, linkname="l/f")],
        r"the target of hard link 'h' would be written through a symlink",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refuses_naming_the_member_and_why(tmp_path: Path, case: str) -> None:
    entries, message = REFUSED[case]
    (tmp_path / "outside").write_text("keep")
    with pytest.raises(ArchiveError, match=message):
        extract(tmp_path, entries)
    assert (tmp_path / "outside").read_text() == "keep"
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["release"]
    assert not os.path.lexists("/tmp/evil")


def test_a_reserved_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=r"'\./\.shipyard-release\.json' has a name reserved"):
        extract(tmp_path, [entry("./.shipyard-release.json", b"{}")], reserved=(".shipyard-release.json",))


def test_devices_and_fifos_can_be_skipped_instead(tmp_path: Path) -> None:
    dest, done = extract(
        tmp_path,
        [entry("dev/null", kind=tarfile.CHRTYPE), entry("sda", kind=tarfile.BLKTYPE),
         entry("pipe", kind=tarfile.FIFOTYPE), entry("ok", b"x")],
        specials=_archive.SKIP,
    )
    assert done["skipped"] == ["dev/null", "sda", "pipe"]
    assert sorted(os.listdir(dest)) == ["ok"]


# -- normalized: set-id, sticky, group/other write, owner ---------------------------------------


@as_root
def test_set_id_sticky_and_group_other_write_bits_are_stripped_and_owner_is_root(tmp_path: Path) -> None:
    dest, done = extract(tmp_path, [
        entry("bin", kind=tarfile.DIRTYPE, mode=0o2775),  # setgid, group-writable dir
        entry("bin/su", b"#!", mode=0o4755, uid=0, gid=0),  # setuid root
        entry("bin/sg", b"#!", mode=0o2711),
        entry("shared", kind=tarfile.DIRTYPE, mode=0o777),  # world-writable dir
        entry("tmp", kind=tarfile.DIRTYPE, mode=0o1777),  # sticky + world-writable
        entry("shared/notes", b"x", mode=0o666),  # world-writable file
        entry("plain", b"x", mode=0o640),
    ])
    modes = {name: stat.S_IMODE(os.lstat(dest / name).st_mode) for name in
             ("bin", "bin/su", "bin/sg", "shared", "tmp", "shared/notes", "plain")}
    assert modes == {"bin": 0o755, "bin/su": 0o755, "bin/sg": 0o711, "shared": 0o755, "tmp": 0o755,
                     "shared/notes": 0o644, "plain": 0o640}
    assert done["stripped"] == ["bin", "bin/su", "bin/sg", "shared", "tmp", "shared/notes"]
    for name in modes:
        st = os.lstat(dest / name)
        assert (st.st_uid, st.st_gid) == (0, 0), name


@as_root
def test_owner_none_keeps_the_archive_owners(tmp_path: Path) -> None:
    dest, _ = extract(tmp_path, [entry("app", kind=tarfile.DIRTYPE, uid=65534, gid=65534),
                                 entry("app/x", b"x", uid=1000, gid=1001)], owner=None)
    assert (os.lstat(dest / "app").st_uid, os.lstat(dest / "app/x").st_gid) == (65534, 1001)


# -- kept -----------------------------------------------------------------------------------------


def test_links_inside_files_and_dirs_are_kept(tmp_path: Path) -> None:
    dest, done = extract(tmp_path, [
        entry("app", kind=tarfile.DIRTYPE),
        entry("app/server.py", b"print('hi')\n", mode=0o755),
        entry("app/lib", kind=tarfile.DIRTYPE),
        entry("app/lib/up", kind=tarfile.SYMTYPE, linkname="../server.py"),
        entry("current", kind=tarfile.SYMTYPE, linkname="app"),
        entry("dangling", kind=tarfile.SYMTYPE, linkname="app/not-yet"),
        entry("app/again", kind=tarfile.LNKTYPE, linkname="app/server.py"),
        entry(".wh.name", b"just a file here"),  # whiteouts mean something in OCI layers only
        entry("app/server.py", b"print('v2')\n", mode=0o755),  # the last entry of a name wins
    ])
    assert (dest / "app/server.py").read_text() == "print('v2')\n"
    assert os.readlink(dest / "app/lib/up") == "../server.py"
    assert os.readlink(dest / "current") == "app" and os.readlink(dest / "dangling") == "app/not-yet"
    assert (dest / "app/again").read_text() == "print('hi')\n"
    assert (dest / ".wh.name").read_text() == "just a file here"
    assert done == {"count": 9, "skipped": [], "stripped": []}


def test_a_link_made_earlier_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    dest = tmp_path / "box" / "release"
    dest.mkdir(parents=True)
    os.symlink(str(target), dest / "f")  # already there (a lower layer, a leftover)
    with tarfile.open(make_tar(tmp_path / "a.tar", [entry("f", b"new")])) as tar:
        safe_extract(tar, str(dest), links_inside=False)
    assert target.read_text() == "keep"
    assert not (dest / "f").is_symlink() and (dest / "f").read_text() == "new"


def test_a_destination_reached_through_a_symlink_works(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "opt").symlink_to(tmp_path / "data")
    dest = tmp_path / "opt" / "release"
    dest.mkdir()
    with tarfile.open(make_tar(tmp_path / "a.tar", [entry("a/b", b"x")])) as tar:
        safe_extract(tar, str(dest))
    assert (tmp_path / "data/release/a/b").read_text() == "x"


# -- OCI whiteouts --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".wh..", ".wh...", ".wh.", "sub/.wh..", "sub/.wh..."])
def test_a_whiteout_of_dot_dotdot_or_nothing_is_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "box" / "release"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "keep").write_text("x")
    (tmp_path / "box" / "sibling").write_text("x")
    with (
        tarfile.open(make_tar(tmp_path / "a.tar", [entry(name)])) as tar,
        pytest.raises(ArchiveError, match="is not a file name"),
    ):
        safe_extract(tar, str(dest), whiteouts=True)
    assert (dest / "sub" / "keep").exists() and (tmp_path / "box" / "sibling").exists()


def test_whiteouts_remove_lower_entries(tmp_path: Path) -> None:
    dest = tmp_path / "box" / "release"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc" / "gone").write_text("x")
    (dest / "opt").mkdir()
    (dest / "opt" / "old").write_text("x")
    with tarfile.open(make_tar(tmp_path / "a.tar", [
        entry("etc/.wh.gone"), entry("opt/.wh..wh..opq"), entry("opt/new", b"x"),
    ])) as tar:
        safe_extract(tar, str(dest), whiteouts=True, owner=None)
    assert os.listdir(dest / "etc") == [] and os.listdir(dest / "opt") == ["new"]


@pytest.mark.parametrize(("name", "ok"), [
    ("tool", True), ("hello-1.0.jar", True), ("..", False), (".", False), ("", False),
    ("a/b", False), ("/", False), (None, False),
])
def test_check_file_name(name: str | None, ok: bool) -> None:
    assert (_archive.check_file_name(name) is None) is ok
