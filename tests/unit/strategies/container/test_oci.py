"""shipyard.strategies.container.image: reproducible image layouts (digest, layers, labels) and input errors (exit 2).

The base runtime layer is a small tree written into a temporary cache the way
``ensure_base_layer`` caches the real one, so no debootstrap runs here; the integration test
builds and pushes the real image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.core.errors import SpecError
from shipyard.core.spec import load_spec
from shipyard.strategies.container import image as oci


def _tarball(path: Path, files: dict[str, bytes], mtime: int = 1_700_000_000) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.uname = len(data), mtime, 1000, "dev"
            info.mode = 0o755 if name.endswith(".py") else 0o640
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(tmp_path: Path, artifact: str, sha: str, *, extra: str = "", name: str = "svc.yml") -> Path:
    spec = tmp_path / name
    spec.write_text(
        "name: hello\nversion: 1.0.0\nstrategy: container\n"
        f"artifact: {{path: {artifact}, sha256: {sha}, kind: tarball}}\n"
        "command: /usr/bin/python3 server.py --port {port}\nports: {base: 8080}\n" + extra
    )
    return spec


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache dir holding a (tiny) base runtime layer, as ensure_base_layer leaves it."""
    root = tmp_path / "baseroot"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").write_bytes(b"#!fake\n")
    (root / "dev").mkdir()
    (root / "dev/keep-out").write_text("not in the layer")
    cache = tmp_path / "cache"
    cache.mkdir()
    key = oci.runtime_key()
    with (cache / f"runtime-{key}.layer.tar.gz").open("wb") as out:
        layer = oci.write_layer(out, oci.fill_from_tree(root))
    (cache / f"runtime-{key}.layer.json").write_text(
        json.dumps({"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size})
    )
    return cache


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    sha = _tarball(tmp_path / "hello-1.0.0.tar", {"server.py": b"print(1)\n", "VERSION": b"1.0.0\n"})
    return _spec(tmp_path, "hello-1.0.0.tar", sha)


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_same_inputs_same_digest(tmp_path: Path, spec: Path, cache: Path) -> None:
    first = oci.build(spec, out=tmp_path / "a", cache_dir=cache)
    # a re-made artifact with other mtimes and owners, but the same content: same sha256 needed
    # by the spec, so re-use the file; touching it must not matter either
    os.utime(tmp_path / "hello-1.0.0.tar", (1, 1))
    second = oci.build(spec, out=tmp_path / "b", cache_dir=cache)
    assert first.digest == second.digest and first.digest.startswith("sha256:")
    assert first.layers == second.layers and len(first.layers) == 2
    for path in (tmp_path / "a").rglob("*"):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.is_dir() or path.read_bytes() == twin.read_bytes(), path


def test_changed_artifact_changes_only_the_top_layer(tmp_path: Path, spec: Path, cache: Path) -> None:
    one = oci.build(spec, out=tmp_path / "layout", cache_dir=cache)
    sha = _tarball(tmp_path / "hello-2.tar", {"server.py": b"print(2)\n", "VERSION": b"2.0.0\n"})
    spec2 = _spec(tmp_path, "hello-2.tar", sha, name="svc2.yml")
    spec2.write_text(spec2.read_text().replace("version: 1.0.0", "version: 2.0.0"))
    two = oci.build(spec2, out=tmp_path / "layout", cache_dir=cache)
    assert one.layers[0] == two.layers[0]
    assert one.layers[1] != two.layers[1]
    assert one.digest != two.digest
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    tags = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}
    assert tags == {"1.0.0": one.digest, "2.0.0": two.digest}


def test_config_entrypoint_labels_and_layers(tmp_path: Path, spec: Path, cache: Path) -> None:
    result = oci.build(spec, out=tmp_path / "layout", cache_dir=cache)
    layout = tmp_path / "layout"
    manifest = json.loads(_blob(layout, result.digest))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    assert config["created"] == "1970-01-01T00:00:00Z"
    cfg = config["config"]
    assert cfg["Entrypoint"] == ["/usr/bin/python3", "server.py", "--port", "{port}"]
    assert cfg["WorkingDir"] == "/app"
    sha = hashlib.sha256((tmp_path / "hello-1.0.0.tar").read_bytes()).hexdigest()
    assert cfg["Labels"]["io.shipyard.service"] == "hello"
    assert cfg["Labels"]["io.shipyard.version"] == "1.0.0"
    assert cfg["Labels"]["io.shipyard.artifact-sha256"] == sha
    assert [x["digest"] for x in manifest["layers"]] == list(result.layers)
    # the release layer: /app with normalized entries, sorted
    raw = gzip.decompress(_blob(layout, result.layers[1]))
    assert hashlib.sha256(raw).hexdigest() == config["rootfs"]["diff_ids"][1].split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/VERSION", "app/server.py"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(0, 0, 0, "")}
    assert [m.mode for m in members] == [0o755, 0o644, 0o755]
    # the base layer leaves out the contents of /dev
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(_blob(layout, result.layers[0])))) as tar:
        assert "dev/keep-out" not in tar.getnames() and "usr/bin/python3" in tar.getnames()


def test_gzip_header_has_no_time_or_name(tmp_path: Path, spec: Path, cache: Path) -> None:
    result = oci.build(spec, out=tmp_path / "layout", cache_dir=cache)
    head = _blob(tmp_path / "layout", result.layers[1])[:10]
    assert head[4:8] == b"\0\0\0\0" and not head[3] & 0x08  # MTIME 0, no FNAME


@pytest.mark.parametrize("field", ["artifact.sha256", "artifact.path", "command"])
def test_bad_input_exits_2_naming_the_field(
    tmp_path: Path, spec: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    text = spec.read_text()
    if field == "artifact.sha256":
        text = text.replace(text.split("sha256: ")[1][:64], "0" * 64)
    elif field == "artifact.path":
        text = text.replace("hello-1.0.0.tar", "missing.tar")
    else:
        text = text.replace("command: /usr/bin/python3 server.py --port {port}\n", "")
    spec.write_text(text)
    assert main(["build", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_tarball_entry_outside_app_is_refused(tmp_path: Path, cache: Path) -> None:
    sha = _tarball(tmp_path / "evil.tar", {"../etc/passwd": b"x"})
    spec = _spec(tmp_path, "evil.tar", sha)
    with pytest.raises(SpecError, match=r"outside /app"):
        oci.build(spec, out=tmp_path / "out", cache_dir=cache)


def test_push_without_a_registry_exits_2_before_building(
    tmp_path: Path, spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    lab:\n      hosts: {}\n")
    assert main(["push", str(spec), "-i", str(inventory), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "container.registry" in err and "shipyard_registry" in err
    assert not (tmp_path / "out").exists()
    bad = tmp_path / "b.yml"
    bad.write_text(spec.read_text() + "container: {registry: 'http://x/'}\n")
    assert main(["push", str(bad), "-i", str(inventory)]) == 2
    assert "container.registry: 'http://x/'" in capsys.readouterr().err


def test_registry_from_inventory(tmp_path: Path, spec: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    lab:\n      vars: {shipyard_registry: '10.213.4.1:5000'}\n")
    loaded = load_spec(spec)
    assert oci.resolve_registry(loaded, inventory) == ("10.213.4.1:5000", True)


def test_tree_layer_skips_sockets_and_is_independent_of_mtimes(tmp_path: Path) -> None:
    import socket

    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "srv").mkdir()
    (root / "srv/file").write_text("x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "srv/sock"))
        first = oci.write_layer(io.BytesIO(), oci.fill_from_tree(root))
        os.utime(root / "srv/file", (12345, 12345))
        second = oci.write_layer(io.BytesIO(), oci.fill_from_tree(root))
    assert first == second
    out = io.BytesIO()
    oci.write_layer(out, oci.fill_from_tree(root))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(out.getvalue()))) as tar:
        assert tar.getnames() == ["run", "srv", "srv/file"]
