"""oci_image and its unpacker: whiteouts, path safety, digests, idempotence, immutability."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _oci_image
from ansible_collections.shipyard.deploy.plugins.modules import oci_image

IMAGE_CONFIG = {"Entrypoint": ["/usr/bin/python3", "server.py", "--port", "{port}"], "WorkingDir": "/app",
                "User": "65534:65534", "Labels": {"io.shipyard.service": "hello"}}


def _entry(name, data=None, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    if kind == tarfile.DIRTYPE:
        info.mode = 0o755
    if data is not None:
        info.size = len(data)
    return info, data


def _layer(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + digest, len(data)


def make_layout(layout, layers, ref="v1"):
    """An OCI layout with one image of ``layers`` (lists of entries); returns its digest."""
    descs = []
    for entries in layers:
        digest, size = _blob(layout, _layer(entries))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                      "size": size})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": IMAGE_CONFIG}).encode()
    cdigest, csize = _blob(layout, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdigest, "size": csize},
                           "layers": descs}).encode()
    mdigest, msize = _blob(layout, manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": ref}}]}))
    return mdigest


BASE = [
    _entry("etc", kind=tarfile.DIRTYPE),
    _entry("etc/os-release", b"debian\n"),
    _entry("etc/gone", b"x"),
    _entry("opt", kind=tarfile.DIRTYPE),
    _entry("opt/old", b"lower"),
    _entry("usr/bin/python3", b"#!", mode=0o755),
    _entry("usr/bin/py", kind=tarfile.SYMTYPE, linkname="python3"),
    _entry("dev/null", kind=tarfile.CHRTYPE),
]
APP = [
    _entry("app", kind=tarfile.DIRTYPE),
    _entry("app/server.py", b"print('hi')\n", mode=0o755),
    _entry("etc/.wh.gone"),
    _entry("opt/.wh..wh..opq"),
    _entry("opt/new", b"upper"),
    _entry("app/again", kind=tarfile.LNKTYPE, linkname="app/server.py"),
]


def test_unpack_applies_layers_whiteouts_and_skips_devices(tmp_path):
    layout = tmp_path / "layout"
    digest = make_layout(layout, [BASE, APP])
    manifest, config = _oci_image.load_image(str(layout), digest)
    root = tmp_path / "rootfs"
    skipped = _oci_image.unpack(str(layout), manifest, str(root))
    assert skipped == ["dev/null"]
    assert (root / "app/server.py").read_text() == "print('hi')\n"
    assert os.stat(root / "app/server.py").st_mode & 0o777 == 0o755
    assert os.path.samefile(root / "app/again", root / "app/server.py")
    assert os.readlink(root / "usr/bin/py") == "python3"
    assert not (root / "etc/gone").exists() and (root / "etc/os-release").exists()
    assert sorted(os.listdir(root / "opt")) == ["new"]  # opaque: the lower layer's file is hidden
    assert _oci_image.image_json(digest, config) == {"digest": digest, "config": IMAGE_CONFIG}


@pytest.mark.parametrize(("entries", "message"), [
    ([_entry("../evil", b"x")], "contains '..'"),
    ([_entry("/etc/evil", b"x")], "absolute path"),
    ([_entry("a/../../evil", b"x")], "contains '..'"),
    ([_entry("link", kind=tarfile.SYMTYPE, linkname="/tmp"), _entry("link/evil", b"x")], "through a symlink"),
    ([_entry("link", kind=tarfile.SYMTYPE, linkname=".."), _entry("link/evil", b"x")], "through a symlink"),
    ([_entry("hard", kind=tarfile.LNKTYPE, linkname="../../etc/passwd")], "contains '..'"),
])
def test_unpack_refuses_entries_that_escape_the_root(tmp_path, entries, message):
    layout = tmp_path / "layout"
    digest = make_layout(layout, [entries])
    manifest, _ = _oci_image.load_image(str(layout), digest)
    with pytest.raises(_oci_image.ImageError, match=message):
        _oci_image.unpack(str(layout), manifest, str(tmp_path / "rootfs"))
    assert not (tmp_path / "evil").exists() and not os.path.exists("/tmp/evil")


@pytest.mark.parametrize("name", [".wh..", ".wh...", "opt/.wh...", ".wh."])
def test_a_whiteout_of_dot_or_dotdot_is_refused_and_deletes_nothing(tmp_path, name):
    layout = tmp_path / "layout"
    digest = make_layout(layout, [BASE, [_entry(name)]])
    manifest, _ = _oci_image.load_image(str(layout), digest)
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "canary").write_text("x")  # next to rootfs: '.wh...' hit its parent
    root = tmp_path / "release" / "rootfs"
    with pytest.raises(_oci_image.ImageError, match="is not a file name"):
        _oci_image.unpack(str(layout), manifest, str(root))
    assert (tmp_path / "release" / "canary").exists() and (root / "opt" / "old").exists()
    assert (layout / "index.json").exists()


def test_set_id_and_group_other_write_bits_are_stripped_fifos_skipped(tmp_path):
    sticky = _entry("var/tmp", kind=tarfile.DIRTYPE)
    sticky[0].mode = 0o1777
    layout = tmp_path / "layout"
    digest = make_layout(layout, [BASE, [
        _entry("usr/bin/su", b"#!", mode=0o4755),
        _entry("usr/bin/wall", b"#!", mode=0o2755),
        _entry("var", kind=tarfile.DIRTYPE),
        sticky,
        _entry("var/shared", b"x", mode=0o666),
        _entry("run/pipe", kind=tarfile.FIFOTYPE, mode=0o666),
        _entry("disk", kind=tarfile.BLKTYPE),
    ]])
    manifest, _ = _oci_image.load_image(str(layout), digest)
    root = tmp_path / "rootfs"
    skipped = _oci_image.unpack(str(layout), manifest, str(root))
    assert skipped == ["dev/null", "run/pipe", "disk"]
    modes = {n: os.lstat(root / n).st_mode & 0o7777 for n in ("usr/bin/su", "usr/bin/wall", "var/shared", "var/tmp")}
    assert modes == {"usr/bin/su": 0o755, "usr/bin/wall": 0o755, "var/shared": 0o644, "var/tmp": 0o755}
    assert not os.path.lexists(root / "run/pipe")


def test_a_root_reached_through_a_symlink_unpacks(tmp_path):
    layout = tmp_path / "layout"
    digest = make_layout(layout, [BASE, APP])
    manifest, _ = _oci_image.load_image(str(layout), digest)
    (tmp_path / "data").mkdir()
    (tmp_path / "opt").symlink_to(tmp_path / "data")  # e.g. /opt/shipyard on another disk
    _oci_image.unpack(str(layout), manifest, str(tmp_path / "opt" / "rootfs"))
    assert (tmp_path / "data" / "rootfs" / "app" / "server.py").is_file()


def test_a_corrupt_layer_or_manifest_is_refused(tmp_path):
    layout = tmp_path / "layout"
    digest = make_layout(layout, [APP])
    manifest, _ = _oci_image.load_image(str(layout), digest)
    blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    blob.write_bytes(_layer([_entry("app", kind=tarfile.DIRTYPE), _entry("app/x", b"tampered")]))
    with pytest.raises(_oci_image.ImageError, match="does not match its digest"):
        _oci_image.unpack(str(layout), manifest, str(tmp_path / "rootfs"))
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_text("{}")
    with pytest.raises(_oci_image.ImageError, match="does not match its digest"):
        _oci_image.load_image(str(layout), digest)


# -- the module, with skopeo replaced by a copy from a source layout -----------------------------


@pytest.fixture
def source(tmp_path):
    layout = tmp_path / "registry"
    return layout, make_layout(layout, [BASE, APP])


@pytest.fixture
def fake_skopeo(monkeypatch, source, tmp_path):
    calls = []
    skopeo = tmp_path / "skopeo"
    skopeo.write_text("")

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        dest = argv[-1].split(":", 2)
        shutil.copytree(source[0], dest[1], dirs_exist_ok=True)
        index = json.loads((source[0] / "index.json").read_text())
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = dest[2]
        with open(os.path.join(dest[1], "index.json"), "w") as handle:
            handle.write(json.dumps(index))
        return 0, "", ""

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return calls, str(skopeo)


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        oci_image.main()
    return json.loads(capsys.readouterr().out)


def _args(tmp_path, digest, skopeo, **extra):
    return dict({"service": "hello", "root": str(tmp_path / "opt"), "release": "1.0.0",
                 "image": "10.213.1.1:5000/shipyard/hello", "digest": digest, "tls_verify": False,
                 "skopeo": skopeo}, **extra)


def test_pulls_by_digest_once_then_changes_nothing(tmp_path, source, fake_skopeo, capsys):
    calls, skopeo = fake_skopeo
    digest = source[1]
    first = run_module(_args(tmp_path, digest, skopeo), capsys)
    assert (first["changed"], first["pulled"]) == (True, True), first
    assert calls[0][-2:] == ["docker://10.213.1.1:5000/shipyard/hello@" + digest,
                             f"oci:{tmp_path / 'opt/hello/images'}:{digest.split(':')[1]}"]
    assert "--src-tls-verify=false" in calls[0]
    release = tmp_path / "opt/hello/releases/1.0.0"
    assert json.loads((release / "image.json").read_text()) == {"digest": digest, "config": IMAGE_CONFIG}
    assert (release / "rootfs/app/server.py").is_file()
    assert sorted(os.listdir(release.parent)) == ["1.0.0"]  # no temp dir left
    again = run_module(_args(tmp_path, digest, skopeo), capsys)
    assert (again["changed"], again["pulled"], len(calls)) == (False, False, 1)
    assert again["config"] == IMAGE_CONFIG


def test_another_digest_for_a_release_fails_clearly(tmp_path, source, fake_skopeo, capsys):
    calls, skopeo = fake_skopeo
    run_module(_args(tmp_path, source[1], skopeo), capsys)
    other = "sha256:" + "b" * 64
    result = run_module(_args(tmp_path, other, skopeo), capsys)
    assert result["failed"] is True
    assert "already exists with image " + source[1] in result["msg"]
    assert "immutable" in result["msg"] and "new version" in result["msg"]
    assert len(calls) == 1


def test_check_mode_pulls_and_writes_nothing(tmp_path, source, fake_skopeo, capsys):
    calls, skopeo = fake_skopeo
    result = run_module(_args(tmp_path, source[1], skopeo, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert (result["changed"], result["pulled"], calls) == (True, False, [])
    assert result["diff"] == {"before": {"digest": None}, "after": {"digest": source[1]}}
    assert not (tmp_path / "opt").exists()


@pytest.mark.parametrize(("field", "value", "fix"), [
    ("digest", "latest", "never a tag"),
    ("digest", "sha256:abc", "64 hex"),
    ("image", "10.213.1.1:5000/shipyard/hello:1.0.0", "without a tag"),
    ("release", "../x", "a directory name"),
    ("service", "Bad Name", "not a valid service name"),
])
def test_bad_parameters_name_field_value_and_fix(tmp_path, source, fake_skopeo, capsys, field, value, fix):
    calls, skopeo = fake_skopeo
    result = run_module(dict(_args(tmp_path, source[1], skopeo), **{field: value}), capsys)
    assert result["failed"] is True
    assert field + "=" in result["msg"] and repr(value) in result["msg"] and fix in result["msg"]
    assert calls == []


def test_a_temp_dir_left_by_a_killed_run_is_removed(tmp_path, source, fake_skopeo, capsys):
    _calls, skopeo = fake_skopeo
    releases = tmp_path / "opt/hello/releases"
    stale = releases / ".1.0.0.tmp-999999999"
    (stale / "rootfs").mkdir(parents=True)
    result = run_module(_args(tmp_path, source[1], skopeo), capsys)
    assert result["changed"] is True
    assert sorted(os.listdir(releases)) == ["1.0.0"]


def test_the_cache_keeps_only_the_images_of_present_releases(tmp_path, source, fake_skopeo, capsys):
    _calls, skopeo = fake_skopeo
    first = run_module(_args(tmp_path, source[1], skopeo), capsys)
    assert first["pruned"] == []
    cache = tmp_path / "opt/hello/images"
    blobs = set(os.listdir(cache / "blobs/sha256"))
    # release 1.0.0 is pruned by the deploy; 2.0.0 comes with an image sharing the base layer
    shutil.rmtree(tmp_path / "opt/hello/releases/1.0.0")
    digest2 = make_layout(source[0], [BASE, [*APP, _entry("app/v2", b"2")]])
    second = run_module(_args(tmp_path, digest2, skopeo, release="2.0.0"), capsys)
    assert second["changed"] is True, second
    index = json.loads((cache / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest2]
    left = set(os.listdir(cache / "blobs/sha256"))
    manifest, _config = _oci_image.load_image(str(cache), digest2)
    assert manifest["layers"][0]["digest"].split(":")[1] in left  # the shared base layer stays
    assert source[1].split(":")[1] in blobs and source[1].split(":")[1] not in left
    assert sorted("sha256:" + b for b in blobs - left) == sorted(second["pruned"])
