"""Lambda packaging: a reproducible ZIP from a spec's ``lambda:`` section.

Same inputs give the same bytes: entries sorted, timestamps fixed to 1980-01-01, modes 0644
(0755 for executables), no ``__pycache__``. Dependencies from ``lambda.requirements`` are
vendored for the Lambda platform (``pip install --platform manylinux2014_x86_64
--only-binary=:all:``) and cached by the hash of the requirements and the runtime. Size limits
and the handler's import are checked before anything is uploaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import OperationError, SpecError
from shipyard.fsutil import atomic_write
from shipyard.runner import default_work_dir
from shipyard.spec import LambdaSection, LoadedSpec

log = logging.getLogger("shipyard")

#: AWS limits for a ZIP deployment package.
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
PLATFORM = "manylinux2014_x86_64"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class PackageResult:
    """A built Lambda ZIP."""

    service: str
    version: str
    path: Path
    #: hex sha256 of the ZIP.
    sha256: str
    #: base64 sha256, as Lambda reports it in CodeSha256.
    code_sha256: str
    size: int
    unzipped_size: int
    files: int
    #: True when the vendored dependencies came from the cache.
    deps_cached: bool


def section(spec: LoadedSpec) -> LambdaSection:
    """The spec's lambda section, or a SpecError naming it."""
    sec = spec.service.lambda_
    if sec is None:
        raise SpecError("lambda", None, "add a lambda: section (source, handler)", source=str(spec.path))
    return sec


def code_sha256(data: bytes) -> str:
    """The base64 sha256 Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _walk(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in filenames:
            if name.endswith(_SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
                raise SpecError(
                    "lambda.source", str(path), "a symlink points outside the source: copy the file"
                )
            out[path.relative_to(root).as_posix()] = path
    return out


def runtime_python(runtime: str) -> str:
    """``python3.11`` -> ``3.11``."""
    return runtime.removeprefix("python")


def _requirements(spec: LoadedSpec, sec: LambdaSection) -> str | None:
    if sec.requirements is None:
        return None
    path = spec.dir / sec.requirements
    if not path.is_file():
        raise SpecError(
            "lambda.requirements",
            sec.requirements,
            f"no such file ({path}): fix the path",
            source=str(spec.path),
        )
    text = path.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return "\n".join(lines) + "\n" if lines else None


def vendor(requirements: str, runtime: str, cache_dir: Path) -> tuple[Path, bool]:
    """Install ``requirements`` for the Lambda platform into a cached dir; (dir, from cache)."""
    key = hashlib.sha256(f"{PLATFORM}\n{runtime}\n{requirements}".encode()).hexdigest()[:24]
    target = cache_dir / key
    if (target / ".shipyard-complete").is_file():
        return target, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    req = tmp / "requirements.txt"
    req.write_text(requirements, encoding="utf-8")
    out = tmp / "site"
    argv = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", runtime_python(runtime),
        "--only-binary=:all:", "--target", str(out), "-r", str(req),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SpecError(
            "lambda.requirements",
            requirements.strip(),
            f"pip could not vendor them for {PLATFORM}/{runtime}: {proc.stderr.strip()[-400:]}",
        )
    for extra in out.glob("bin"):
        shutil.rmtree(extra, ignore_errors=True)
    (out / ".shipyard-complete").write_text(key, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    out.replace(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target, False


def build_zip(files: dict[str, Path]) -> tuple[bytes, int]:
    """A reproducible ZIP of ``files`` (arcname -> path); (bytes, unzipped size)."""
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(files):
            path = files[arcname]
            data = path.read_bytes()
            total += len(data)
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue(), total


def check_size(
    files: dict[str, Path], zipped: int, unzipped: int, *, max_zipped: int, max_unzipped: int, source: str
) -> None:
    """Refuse a package over Lambda's limits, naming the biggest contributors."""
    if zipped <= max_zipped and unzipped <= max_unzipped:
        return
    sizes: dict[str, int] = {}
    for arcname, path in files.items():
        top = arcname.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    listing = ", ".join(f"{name} ({size / 1048576:.1f} MB)" for name, size in biggest)
    raise SpecError(
        "lambda.source",
        f"{zipped / 1048576:.1f} MB zipped, {unzipped / 1048576:.1f} MB unzipped",
        f"the package is over Lambda's limits ({max_zipped / 1048576:.0f} MB zipped, "
        f"{max_unzipped / 1048576:.0f} MB unzipped); biggest: {listing}",
        source=source,
    )


_IMPORT_CHECK = r"""
import importlib, sys
zip_path, handler = sys.argv[1], sys.argv[2]
sys.path.insert(0, zip_path)
module_name, _, func = handler.rpartition(".")
try:
    module = importlib.import_module(module_name)
except Exception as exc:
    print(f"module {module_name!r} cannot be imported: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(3)
if not callable(getattr(module, func, None)):
    print(f"module {module_name!r} has no function {func!r}", file=sys.stderr)
    sys.exit(3)
"""


def import_check(zip_path: Path, handler: str, env: dict[str, str], *, source: str) -> None:
    """Import the handler from the ZIP in a clean subprocess; SpecError naming lambda.handler."""
    with tempfile.TemporaryDirectory(prefix="shipyard-import-") as cwd:
        proc = subprocess.run(
            # absolute: the check runs in a scratch cwd, where a relative path finds nothing
            [sys.executable, "-I", "-c", _IMPORT_CHECK, str(zip_path.resolve()), handler],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=60,
            check=False,
        )
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise SpecError(
            "lambda.handler", handler, f"the handler does not import from the ZIP: {reason}", source=source
        )


def base_env() -> dict[str, str]:
    """A minimal environment for subprocesses that run function code."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def package(
    spec: LoadedSpec,
    *,
    out_dir: Path | None = None,
    cache_dir: Path | None = None,
    max_zipped: int | None = None,
    max_unzipped: int | None = None,
    check_import: bool = True,
) -> PackageResult:
    """Build the spec's ZIP; refuse (SpecError) over-size packages and handlers that do not import."""
    sec = section(spec)
    src_name = str(spec.path)
    source = (spec.dir / sec.source).resolve()
    if not source.is_dir():
        raise SpecError(
            "lambda.source", sec.source, f"no such directory ({source}): fix the path", source=src_name
        )
    work = default_work_dir()
    files: dict[str, Path] = {}
    cached = False
    requirements = _requirements(spec, sec)
    if requirements is not None:
        deps, cached = vendor(requirements, sec.runtime, cache_dir or work / "lambda-deps")
        files.update({k: v for k, v in _walk(deps).items() if k != ".shipyard-complete"})
    files.update(_walk(source))
    module = sec.handler.rpartition(".")[0].replace(".", "/")
    if f"{module}.py" not in files and f"{module}/__init__.py" not in files:
        raise SpecError(
            "lambda.handler",
            sec.handler,
            f"no {module}.py in {sec.source}: fix the handler (module.function) or the source",
            source=src_name,
        )
    data, unzipped = build_zip(files)
    check_size(
        files,
        len(data),
        unzipped,
        max_zipped=MAX_ZIPPED if max_zipped is None else max_zipped,
        max_unzipped=MAX_UNZIPPED if max_unzipped is None else max_unzipped,
        source=src_name,
    )
    out = (out_dir or work / "lambda") / f"{spec.service.name}-{spec.service.version}.zip"
    digest = hashlib.sha256(data).hexdigest()
    if not (out.is_file() and hashlib.sha256(out.read_bytes()).hexdigest() == digest):
        atomic_write(out, data, mode=0o644)
    if check_import:
        try:
            import_check(out, sec.handler, base_env(), source=src_name)
        except subprocess.TimeoutExpired:
            raise OperationError(f"importing {sec.handler} took over 60 s") from None
    log.info("packaged %s (%d bytes, sha256 %s)", out, len(data), digest)
    return PackageResult(
        service=spec.service.name,
        version=spec.service.version,
        path=out,
        sha256=digest,
        code_sha256=code_sha256(data),
        size=len(data),
        unzipped_size=unzipped,
        files=len(files),
        deps_cached=cached,
    )
