"""Container images: build a reproducible OCI image layout from a spec, push it with skopeo.

The image has two layers: a base runtime layer (a minimal Debian root with python3, made once
with debootstrap by the lab's base-root machinery and cached under ``/var/cache/shipyard``) and
the service's release (the spec's artifact, checked by sha256, under ``/app``). The layout is
written here with ``tarfile``, ``gzip``, ``json`` and ``hashlib`` rather than with umoci, because
every byte must be a function of the inputs: entries sorted, mtimes fixed, owners numeric, gzip
headers without time or name, ``created`` fixed, JSON with sorted keys. Same inputs, same
digest; a changed artifact changes only the top layer (and the config and manifest naming it).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from shipyard.core import sysutil as _sys
from shipyard.core.errors import OperationError, SetupError, SpecError
from shipyard.core.fsutil import atomic_write
from shipyard.core.inputs import read_inventory, verify_artifact
from shipyard.core.progress import ProgressCallback, say
from shipyard.core.results import Result
from shipyard.core.rootfs import SUITE, base_key, ensure_base
from shipyard.core.spec import REGISTRY_RE, LoadedSpec, as_loaded

log = logging.getLogger("shipyard")

#: Packages of the ``debian-python3`` base runtime layer.
RUNTIME_PACKAGES: tuple[str, ...] = ("python3", "ca-certificates")
#: Where the base root and the base layer are cached.
DEFAULT_CACHE_DIR = Path("/var/cache/shipyard")
#: Fixed timestamps: the epoch of every entry and of the config's ``created``.
EPOCH = 0
CREATED = "1970-01-01T00:00:00Z"
#: The repository of a service's image in a registry: ``shipyard/<service>``.
REPOSITORY_PREFIX = "shipyard/"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
#: The application's directory in the image (the image's WorkingDir).
APP_DIR = "app"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The image's user: nobody (the run side maps a non-numeric or root user to nobody as well).
IMAGE_USER = "65534:65534"
#: Paths of the base root left out of the base layer (their contents, the dirs stay).
_EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp", "var/tmp", "var/cache/apt", "var/lib/apt/lists", "var/log")
_CHUNK = 1 << 20
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class ImageResult(Result):
    """A built (or pushed) image.

    Attributes:
        image: the repository (``shipyard/<service>``; with the registry after a push).
        tag: the tag (the spec's version).
        digest: the manifest digest, ``sha256:…``.
        layers: the layer digests, base first.
        path: the OCI image layout on the controller.
    """

    kind: ClassVar[str] = "image"

    image: str
    tag: str
    digest: str
    layers: tuple[str, ...]
    path: Path

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        return {
            "image": self.image,
            "tag": self.tag,
            "digest": self.digest,
            "layers": list(self.layers),
            "path": str(self.path),
        }


# -- reproducible layers -------------------------------------------------------------------------


class _Digesting(io.RawIOBase):
    """A write-only file that hashes and counts what is written, then passes it on."""

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self.sha.update(view)
        self.size += len(view)
        self.out.write(view)
        return len(view)


@dataclass(frozen=True)
class Layer:
    """A written layer blob: its digest (of the gzip), diff id (of the tar) and size."""

    digest: str
    diff_id: str
    size: int


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = EPOCH
    info.uname = info.gname = ""
    info.pax_headers = {}
    return info


def write_layer(out: IO[bytes], fill: Callable[[tarfile.TarFile], None]) -> Layer:
    """Write a gzipped tar layer to ``out``: ``fill`` adds the entries, in a fixed order.

    The gzip header carries no name and mtime 0; the tar is PAX with no extra headers.
    """
    blob = _Digesting(out)
    with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=_GZIP_LEVEL) as gz:
        tar_out = _Digesting(gz)  # type: ignore[arg-type]
        with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            fill(tar)
    return Layer(f"sha256:{blob.sha.hexdigest()}", f"sha256:{tar_out.sha.hexdigest()}", blob.size)


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """(arcname, path) of everything under ``root``, sorted, without the emptied dirs' contents."""

    def inner(rel: str) -> Iterator[tuple[str, Path]]:
        path = root / rel if rel else root
        for name in sorted(p.name for p in path.iterdir()):
            child = f"{rel}/{name}" if rel else name
            full = root / child
            yield child, full
            if full.is_dir() and not full.is_symlink() and child not in _EMPTY_DIRS:
                yield from inner(child)

    yield from inner("")


def fill_from_tree(root: Path) -> Callable[[tarfile.TarFile], None]:
    """A layer filler that adds the tree ``root`` (numeric owners and modes kept, no devices)."""

    def fill(tar: tarfile.TarFile) -> None:
        for arcname, path in _walk(root):
            info = tar.gettarinfo(str(path), arcname)
            if info is None or info.ischr() or info.isblk():
                continue  # sockets (None) and device nodes: runc gives containers their own /dev
            _normalize(info)
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)

    return fill


def _safe_member(name: str, source: Path) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise SpecError(
            "artifact.path",
            str(source),
            f"the tarball has the entry {name!r}, outside /app once unpacked: use relative paths",
        )
    return "/".join(parts)


def fill_from_artifact(path: Path, kind: str) -> Callable[[tarfile.TarFile], None]:
    """A layer filler that puts the release under ``/app`` (a tarball unpacked, else one file)."""

    def add_dir(tar: tarfile.TarFile, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(_normalize(info))

    def fill(tar: tarfile.TarFile) -> None:
        add_dir(tar, APP_DIR)
        if kind != "tarball":
            info = tarfile.TarInfo(f"{APP_DIR}/{path.name}")
            info.size = path.stat().st_size
            info.mode = 0o755 if kind == "binary" else 0o644
            with path.open("rb") as handle:
                tar.addfile(_normalize(info), handle)
            return
        try:
            src = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed below)
        except (tarfile.TarError, OSError) as exc:
            raise SpecError(
                "artifact.path", str(path), f"not a readable tarball ({exc}): fix the artifact"
            ) from exc
        with src:
            members: dict[str, tarfile.TarInfo] = {}
            for member in src.getmembers():
                name = _safe_member(member.name, path)
                if name and (member.isreg() or member.isdir() or member.issym()):
                    members[name] = member  # the last entry of a name wins, as when unpacking
            dirs = {str(Path(n).parent) for n in members if "/" in n}
            for parent in list(dirs):
                dirs.update(str(p) for p in Path(parent).parents if str(p) != ".")
            for name in sorted(set(members) | dirs):
                entry = members.get(name)
                if entry is None or entry.isdir():
                    add_dir(tar, f"{APP_DIR}/{name}")
                    continue
                info = tarfile.TarInfo(f"{APP_DIR}/{name}")
                info.uid = info.gid = 0
                if entry.issym():
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.linkname, 0o777
                    tar.addfile(_normalize(info))
                    continue
                info.size = entry.size
                info.mode = 0o755 if entry.mode & 0o111 else 0o644
                data = src.extractfile(entry)
                assert data is not None
                tar.addfile(_normalize(info), data)

    return fill


# -- the base runtime layer ----------------------------------------------------------------------


def _prepare_runtime(root: Path) -> None:
    """Clean a fresh runtime root: apt caches and lists, logs (left out of the layer anyway)."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in root.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()


def runtime_key() -> str:
    """The cache key of the base runtime (package list and suite)."""
    return base_key(RUNTIME_PACKAGES)


def ensure_base_layer(cache_dir: Path, progress: ProgressCallback | None) -> tuple[Path, Layer]:
    """The cached base layer blob (``runtime-<key>.layer.tar.gz``) and its digests, made once."""
    key = runtime_key()
    blob = cache_dir / f"runtime-{key}.layer.tar.gz"
    meta = cache_dir / f"runtime-{key}.layer.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        doc = json.loads(meta.read_text(encoding="utf-8"))
        layer = Layer(doc["digest"], doc["diff_id"], int(doc["size"]))
        if blob.is_file() and blob.stat().st_size == layer.size:
            return blob, layer
    if os.geteuid() != 0:
        raise SetupError(
            "the base runtime layer is not cached yet and building it needs root: run as root once"
        )
    tools = {tool: _sys.which(tool) for tool in ("tar", "debootstrap", "zstd")}
    missing = [t for t, p in tools.items() if not Path(p).is_absolute()]
    if missing:
        raise SetupError(
            f"building the base runtime needs {', '.join(missing)}: run `apt-get install -y debootstrap zstd`"
        )
    root = ensure_base(
        cache_dir, tools, progress, packages=RUNTIME_PACKAGES, name="runtime", prepare=_prepare_runtime
    )
    say(progress, f"writing the base runtime layer ({SUITE}, python3) once")
    fd, tmp = tempfile.mkstemp(prefix=f".{blob.name}.", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            layer = write_layer(out, fill_from_tree(root))
        Path(tmp).chmod(0o644)
        Path(tmp).replace(blob)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write(
        meta, json.dumps({"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size}), mode=0o644
    )
    return blob, layer


# -- the image layout ----------------------------------------------------------------------------


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _put_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    if not (path.is_file() and path.stat().st_size == len(data)):
        atomic_write(path, data, mode=0o644)
    return f"sha256:{digest}", len(data)


def _put_file_blob(layout: Path, src: Path, digest: str) -> None:
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    if path.is_file() and path.stat().st_size == src.stat().st_size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.copyfile(src, tmp)
    tmp.chmod(0o644)
    tmp.replace(path)


def image_config(spec: LoadedSpec, diff_ids: list[str]) -> dict[str, Any]:
    """The OCI image config of a spec's image (no time in it but the fixed ``created``)."""
    svc = spec.service
    art = svc.artifact
    labels = {
        "io.shipyard.service": svc.name,
        "io.shipyard.version": svc.version,
        "io.shipyard.artifact-sha256": art.sha256 if art else "",
        "org.opencontainers.image.title": svc.name,
        "org.opencontainers.image.version": svc.version,
        "org.opencontainers.image.base.name": f"shipyard/debian-python3:{SUITE}-{runtime_key()}",
    }
    return {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": list(svc.command),
            "Env": [DEFAULT_PATH],
            "WorkingDir": f"/{APP_DIR}",
            "User": IMAGE_USER,
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": CREATED, "created_by": f"shipyard base runtime debian-python3 ({SUITE})"},
            {"created": CREATED, "created_by": f"shipyard release {svc.name} {svc.version} under /{APP_DIR}"},
        ],
    }


def repository(service: str) -> str:
    """The repository of a service's image: ``shipyard/<service>``."""
    return REPOSITORY_PREFIX + service


def default_out(spec: LoadedSpec) -> Path:
    """Where ``build`` writes a spec's image layout by default: ``build/images/<service>``."""
    return Path("build") / "images" / spec.service.name


def _check_container_spec(spec: LoadedSpec) -> Path:
    svc = spec.service
    if svc.artifact is None or spec.artifact_path() is None:
        raise SpecError(
            "artifact",
            None,
            "a container image needs a local artifact: set artifact.path and artifact.sha256",
            source=str(spec.path),
        )
    if not svc.command:
        raise SpecError(
            "command", [], "the image's entrypoint is the spec's command: set command", source=str(spec.path)
        )
    path = verify_artifact(spec)
    assert path is not None
    return path


def build(
    spec: Path | str | LoadedSpec,
    *,
    out: Path | str | None = None,
    cache_dir: Path | str = DEFAULT_CACHE_DIR,
    progress: ProgressCallback | None = None,
) -> ImageResult:
    """Build the spec's image as an OCI image layout (tag = the version); reproducible.

    Args:
        spec: the spec path (or a loaded spec).
        out: the layout directory (default ``build/images/<service>``); other tags in it stay.
        cache_dir: where the base runtime root and layer are cached.
        progress: called with one line per step.

    Returns:
        The image: repository, tag, manifest digest, layer digests, layout path.

    Raises:
        SpecError: no local artifact, its sha256 differs, no command, a tarball entry escapes.
        SetupError: the base runtime must be built and we are not root.
    """
    loaded = as_loaded(spec)
    artifact = _check_container_spec(loaded)
    svc = loaded.service
    layout = Path(out) if out is not None else default_out(loaded)
    base_blob, base = ensure_base_layer(Path(cache_dir), progress)
    say(progress, f"writing the image layout {layout}")
    layout.mkdir(parents=True, exist_ok=True)
    atomic_write(layout / "oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}), mode=0o644)
    _put_file_blob(layout, base_blob, base.digest)
    buf = io.BytesIO()
    app = write_layer(buf, fill_from_artifact(artifact, svc.artifact.kind if svc.artifact else "tarball"))
    _put_blob(layout, buf.getvalue())
    config_digest, config_size = _put_blob(
        layout, _canonical(image_config(loaded, [base.diff_id, app.diff_id]))
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": x.digest, "size": x.size} for x in (base, app)],
    }
    digest, size = _put_blob(layout, _canonical(manifest))
    _write_index(layout, svc.version, digest, size)
    say(progress, f"built {repository(svc.name)}:{svc.version} {digest}")
    return ImageResult(
        repository(svc.name), svc.version, digest, (base.digest, app.digest), layout.absolute()
    )


def _write_index(layout: Path, tag: str, digest: str, size: int) -> None:
    index_path = layout / "index.json"
    manifests: list[dict[str, Any]] = []
    with contextlib.suppress(OSError, ValueError):
        manifests = list(json.loads(index_path.read_text(encoding="utf-8")).get("manifests") or [])
    ref = "org.opencontainers.image.ref.name"
    manifests = [m for m in manifests if (m.get("annotations") or {}).get(ref) != tag]
    manifests.append({"mediaType": MEDIA_MANIFEST, "digest": digest, "size": size, "annotations": {ref: tag}})
    manifests.sort(key=lambda m: str((m.get("annotations") or {}).get(ref)))
    atomic_write(index_path, _canonical({"schemaVersion": 2, "manifests": manifests}), mode=0o644)


# -- push ----------------------------------------------------------------------------------------


def inventory_registry(inventory: Path) -> str | None:
    """The ``shipyard_registry`` group var of an inventory (the lab writes it), if any."""
    value = read_inventory(inventory).group_var("shipyard_registry")
    return value if isinstance(value, str) else None


def resolve_registry(spec: LoadedSpec, inventory: Path | None) -> tuple[str, bool]:
    """(registry, from the lab): the spec's ``container.registry``, else the inventory's."""
    section = spec.service.container
    if section is not None and section.registry:
        registry, lab = section.registry, False
    else:
        found = inventory_registry(inventory) if inventory is not None and inventory.exists() else None
        if not found:
            raise SpecError(
                "container.registry",
                None,
                "no registry: set container.registry (host:port) or pass -i with the lab's inventory "
                "(it names shipyard_registry)",
                source=str(spec.path),
            )
        registry, lab = found, True
    if not REGISTRY_RE.match(registry):
        raise SpecError(
            "container.registry", registry, "give host:port, e.g. 10.213.1.1:5000", source=str(spec.path)
        )
    return registry, lab


def push(
    spec: LoadedSpec | Path | str,
    *,
    inventory: Path | None = None,
    layout: Path | str | None = None,
    tls_verify: bool | None = None,
    cache_dir: Path | str = DEFAULT_CACHE_DIR,
    progress: ProgressCallback | None = None,
    timeout: float = 900,
) -> ImageResult:
    """Build the spec's image (cheap when cached) and push it by tag (the version) with skopeo.

    Args:
        spec: the spec path.
        inventory: the inventory naming ``shipyard_registry`` when the spec names no registry.
        layout: the layout to build into and push from (default ``build/images/<service>``).
        tls_verify: require HTTPS; default: off for the lab's registry (plain HTTP), else on.
        cache_dir: where the base runtime is cached.
        progress: called with one line per step.
        timeout: seconds skopeo may take.

    Returns:
        The image in the registry: ``<registry>/shipyard/<service>``, tag, digest, layers.

    Raises:
        SpecError: no registry, bad spec or artifact.
        SetupError: skopeo is missing.
        OperationError: the push failed, or the registry stored another digest.
    """
    loaded = as_loaded(spec)
    registry, lab = resolve_registry(loaded, inventory)
    skopeo = _sys.which("skopeo")
    if not Path(skopeo).is_absolute():
        raise SetupError("pushing needs skopeo: run `apt-get install -y skopeo`")
    built = build(loaded, out=layout, cache_dir=cache_dir, progress=progress)
    verify = (not lab) if tls_verify is None else tls_verify
    target = f"{registry}/{built.image}"
    say(progress, f"pushing {target}:{built.tag}")
    with tempfile.TemporaryDirectory(prefix="shipyard-push-") as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [
            skopeo,
            "copy",
            "--quiet",
            "--retry-times",
            "3",
            f"--dest-tls-verify={'true' if verify else 'false'}",
            "--digestfile",
            str(digest_file),
            f"oci:{built.path}:{built.tag}",
            f"docker://{target}:{built.tag}",
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise OperationError(f"pushing {target}:{built.tag} took over {timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise OperationError(
                f"pushing {target}:{built.tag} failed (skopeo rc {proc.returncode}): {proc.stderr.strip()}"
            )
        pushed = digest_file.read_text(encoding="ascii").strip()
    if pushed != built.digest:
        raise OperationError(f"the registry stored {target}:{built.tag} as {pushed}, not {built.digest}")
    say(progress, f"pushed {target}:{built.tag} {pushed}")
    return ImageResult(target, built.tag, pushed, built.layers, built.path)
