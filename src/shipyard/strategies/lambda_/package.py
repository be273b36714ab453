"""Lambda packaging: a reproducible ZIP from a spec's ``lambda:`` section.

Same inputs give the same bytes: entries sorted, timestamps fixed to 1980-01-01, modes 0644
(0755 for executables), no ``__pycache__``. Dependencies from ``lambda.requirements`` are
vendored for the Lambda platform (``pip install --platform manylinux2014_x86_64
--only-binary=:all:``) and cached by the hash of the requirements and the runtime. Size limits
and the handler are checked before anything is uploaded.

A spec is data: packaging never runs code from it. The requirements file may only name
packages from the index (``name[extras] specifier ; marker`` and ``--hash=`` options; no paths,
URLs or pip options), and pip only ever sees a file shipyard wrote from the parsed lines. The
handler is checked by parsing its module with :mod:`ast`, not by importing it. The source tree
is walked without following symlinks out of it; only regular files are read, each one
size-checked before it is read.
"""

from __future__ import annotations

import ast
import base64
import errno
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from packaging.requirements import InvalidRequirement, Requirement

from shipyard.core.errors import OperationError, SpecError
from shipyard.core.fsutil import NotReadable, atomic_write, file_kind, read_regular
from shipyard.core.results import Result
from shipyard.core.runner import default_work_dir
from shipyard.core.spec import LambdaSection, LoadedSpec

log = logging.getLogger("shipyard")

#: AWS limits for a ZIP deployment package.
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
#: A requirements file larger than this is refused unread.
MAX_REQUIREMENTS = 1024 * 1024
PLATFORM = "manylinux2014_x86_64"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class PackageResult(Result):
    """A built Lambda ZIP."""

    kind: ClassVar[str] = "package"

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


@dataclass(frozen=True)
class _Entry:
    """A regular file to package: where it is, and its size and mode when it was walked."""

    path: Path
    size: int
    mode: int


def section(spec: LoadedSpec) -> LambdaSection:
    """The spec's lambda section, or a SpecError naming it."""
    sec = spec.service.lambda_
    if sec is None:
        raise SpecError("lambda", None, "add a lambda: section (source, handler)", source=str(spec.path))
    return sec


def code_sha256(data: bytes) -> str:
    """The base64 sha256 Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- the source tree -----------------------------------------------------------------------------


class _Walk:
    """Collects the regular files of trees, keeping a running total against the unzipped limit."""

    def __init__(self, max_unzipped: int, source: str) -> None:
        self.max_unzipped = max_unzipped
        self.source = source
        self.files: dict[str, _Entry] = {}
        self.total = 0

    def add(self, arcname: str, entry: _Entry, field: str) -> None:
        old = self.files.get(arcname)
        self.total += entry.size - (old.size if old else 0)
        self.files[arcname] = entry
        if entry.size > self.max_unzipped:
            raise SpecError(
                field,
                arcname,
                f"the file is {entry.size / 1048576:.1f} MB, over Lambda's {_mb(self.max_unzipped)} "
                "unzipped limit by itself: remove it from the source",
                source=self.source,
            )
        if self.total > self.max_unzipped:
            raise SpecError(
                field,
                f"over {_mb(self.max_unzipped)} unzipped",
                f"the package is over Lambda's limit ({_mb(self.max_unzipped)} unzipped); "
                f"biggest: {_biggest(self.files)}",
                source=self.source,
            )

    def discard(self, arcname: str) -> None:
        old = self.files.pop(arcname, None)
        self.total -= old.size if old else 0

    def tree(self, root: Path, *, field: str, label: str) -> None:
        """Add the files under ``root`` (its symlinks resolved and checked, see :func:`walk`)."""
        real_root = Path(os.path.realpath(root))
        self._dir(root, real_root, "", field=field, label=label)

    def _refuse(self, rel: str, what: str, fix: str, *, field: str, label: str) -> SpecError:
        return SpecError(field, rel, f"{what} in {label}: {fix}", source=self.source)

    def _dir(self, path: Path, real_root: Path, prefix: str, *, field: str, label: str) -> None:
        # A stack, not recursion: a hostile tree may be nested deeper than Python's recursion limit.
        stack = [(path, prefix)]
        while stack:
            path, prefix = stack.pop()
            subdirs = self._entries(path, real_root, prefix, field=field, label=label)
            stack.extend(reversed(subdirs))

    def _entries(
        self, path: Path, real_root: Path, prefix: str, *, field: str, label: str
    ) -> list[tuple[Path, str]]:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise self._refuse(
                prefix.rstrip("/") or ".",
                f"a directory that cannot be listed ({exc.strerror})",
                "fix its permissions, or shorten the path",
                field=field,
                label=label,
            ) from None
        subdirs: list[tuple[Path, str]] = []
        for ent in entries:
            rel = prefix + ent.name
            if ent.name.endswith(_SKIP_SUFFIXES):
                continue
            try:
                st = ent.stat(follow_symlinks=False)
            except OSError as exc:
                raise self._refuse(
                    rel, f"a file that cannot be read ({exc.strerror})", "remove it", field=field, label=label
                ) from None
            full = Path(ent.path)
            if stat.S_ISDIR(st.st_mode):
                if ent.name not in _SKIP_DIRS:
                    subdirs.append((full, rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                self.add(rel, _Entry(full, st.st_size, st.st_mode), field)
            elif stat.S_ISLNK(st.st_mode):
                self._symlink(full, rel, real_root, field=field, label=label)
            else:
                raise self._refuse(
                    rel,
                    file_kind(st.st_mode),
                    "only regular files and directories are packaged: remove it",
                    field=field,
                    label=label,
                )
        return subdirs

    def _symlink(self, full: Path, rel: str, real_root: Path, *, field: str, label: str) -> None:
        target = str(full.readlink())
        try:
            st = full.stat()  # follows
        except OSError as exc:
            what = (
                f"a symlink loop (-> {target})"
                if exc.errno == errno.ELOOP
                else f"a dangling symlink (-> {target})"
            )
            raise self._refuse(rel, what, "remove it", field=field, label=label) from None
        real = Path(os.path.realpath(full))
        if not real.is_relative_to(real_root):
            raise self._refuse(
                rel,
                f"a symlink out of the tree (-> {target})",
                "copy the file into the source instead",
                field=field,
                label=label,
            )
        if not stat.S_ISREG(st.st_mode):
            raise self._refuse(
                rel,
                f"a symlink to {file_kind(st.st_mode)} (-> {target})",
                "only symlinks to regular files in the tree are packaged: replace it with the "
                "directory itself, or remove it",
                field=field,
                label=label,
            )
        self.add(rel, _Entry(real, st.st_size, st.st_mode), field)


def walk(root: Path, *, max_unzipped: int = MAX_UNZIPPED, source: str | None = None) -> dict[str, Path]:
    """The files to package under ``root`` (arcname -> path), refusing what cannot be packaged.

    Directories and regular files are packaged; ``__pycache__``, VCS and tool cache directories and
    ``*.pyc``/``*.pyo`` are skipped. A symlink to a regular file inside the tree is packaged as
    that file's content (under the symlink's name); every other symlink is refused: one out of
    the tree, a loop, a dangling one, and one to a directory (replace it with the directory).
    FIFOs, sockets and devices are refused. Each refusal is a SpecError on ``lambda.source``
    naming the path relative to ``root`` and what it is. Sizes come from ``lstat``/``stat``: the
    unzipped limit is checked as files are added, before anything is read.
    """
    w = _Walk(max_unzipped, source or str(root))
    w.tree(root, field="lambda.source", label=str(root))
    return {k: v.path for k, v in w.files.items()}


def _mb(size: int) -> str:
    return f"{size / 1048576:.0f} MB"


def _biggest(files: dict[str, _Entry]) -> str:
    sizes: dict[str, int] = {}
    for arcname, entry in files.items():
        top = arcname.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + entry.size
    biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return ", ".join(f"{name} ({size / 1048576:.1f} MB)" for name, size in biggest)


def runtime_python(runtime: str) -> str:
    """``python3.11`` -> ``3.11``."""
    return runtime.removeprefix("python")


# -- requirements --------------------------------------------------------------------------------

_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_HASH_RE = re.compile(r"--hash=(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})")
# PEP 508 names, as packaging checks them; pip takes a name ending like an archive for a local file.
_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE)
_ARCHIVE_SUFFIXES = (
    ".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz",
    ".tlz", ".tar.lz", ".tar.lzma",
)  # fmt: skip
_REQ_FIX = (
    "only 'name[extras] specifier ; marker' lines (and --hash=sha256:... options) are allowed: "
    "no paths, URLs or pip options"
)


def parse_requirements(text: str, *, name: str, source: str | None = None) -> list[str]:
    """The requirement lines of a requirements file, normalised; SpecError on any other line.

    Accepted: a PEP 508 name with optional extras, version specifier and ``; marker``, followed
    by ``--hash=sha256:<hex>`` (or sha384/sha512) options; comments, blank lines and ``\\``
    continuations. Refused, naming ``name``, the line number and the line: local paths and
    archives, URLs (``name @ url``, ``git+...``), every pip option (``-e``, ``-r``, ``-c``,
    ``--index-url``, ``-f``, ``--trusted-host``, ...) and ``${VAR}`` (pip expands them).
    """
    out: list[str] = []
    physical = text.splitlines()
    i = 0
    while i < len(physical):
        number = i + 1
        line = physical[i]
        i += 1
        while line.endswith("\\") and i < len(physical):
            line = line[:-1] + physical[i]
            i += 1
        line = line.removesuffix("\\")
        shown = _COMMENT_RE.sub("", line).strip()
        if not shown:
            continue
        out.append(_requirement_line(shown, name=name, number=number, source=source))
    return out


def _requirement_line(line: str, *, name: str, number: int, source: str | None) -> str:
    def refuse(why: str) -> SpecError:
        return SpecError(
            "lambda.requirements", f"{name}:{number}: {line}", f"{why}; {_REQ_FIX}", source=source
        )

    if "\x00" in line or "${" in line:
        raise refuse("NUL bytes and ${VAR} are not allowed")
    tokens = line.split()
    first_option = next((n for n, tok in enumerate(tokens) if tok.startswith("-")), len(tokens))
    req_text, options = " ".join(tokens[:first_option]), tokens[first_option:]
    if not req_text:
        raise refuse("a pip option")
    for option in options:
        if not _HASH_RE.fullmatch(option):
            raise refuse(f"the option {option.split('=', 1)[0]!r} is not allowed")
    try:
        req = Requirement(req_text)
    except InvalidRequirement:
        raise refuse("not a requirement (a path or URL?)") from None
    if req.url is not None:
        raise refuse("a URL requirement")
    if not _NAME_RE.match(req.name) or req.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise refuse("pip would take this name for a local file")
    return " ".join([str(req), *options])


def _requirements(spec: LoadedSpec, sec: LambdaSection) -> str | None:
    if sec.requirements is None:
        return None
    path = spec.dir / sec.requirements
    try:
        raw = read_regular(path, MAX_REQUIREMENTS)
    except NotReadable as exc:
        raise SpecError(
            "lambda.requirements",
            sec.requirements,
            f"give a requirements file ({path}: {exc}); at most {MAX_REQUIREMENTS} bytes",
            source=str(spec.path),
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(
            "lambda.requirements", sec.requirements, "the file is not UTF-8 text", source=str(spec.path)
        ) from None
    lines = parse_requirements(text, name=sec.requirements, source=str(spec.path))
    return "\n".join(lines) + "\n" if lines else None


def pip_argv(requirements_file: Path, target: Path, runtime: str) -> list[str]:
    """The pip command that vendors ``requirements_file`` (lines from :func:`parse_requirements`).

    ``python -I`` and ``--isolated`` ignore PYTHONPATH, the user site, ``PIP_*`` variables and pip
    configuration files; ``--only-binary=:all:`` means no build backend runs, for the listed
    packages or their dependencies; ``--no-input`` never prompts.
    """
    return [
        sys.executable, "-I", "-m", "pip", "install", "--isolated", "--no-input", "--quiet",
        "--disable-pip-version-check", "--no-compile",
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", runtime_python(runtime),
        "--only-binary=:all:", "--target", str(target), "-r", str(requirements_file),
    ]  # fmt: skip


def vendor(requirements: str, runtime: str, cache_dir: Path) -> tuple[Path, bool]:
    """Install ``requirements`` for the Lambda platform into a cached dir; (dir, from cache).

    ``requirements`` must be the output of :func:`parse_requirements` (the lines are checked
    again here): pip reads only a file written from them, in an empty scratch directory.
    """
    lines = parse_requirements(requirements, name="requirements")
    requirements = "\n".join(lines) + "\n"
    key = hashlib.sha256(f"{PLATFORM}\n{runtime}\n{requirements}".encode()).hexdigest()[:24]
    target = cache_dir / key
    if (target / ".shipyard-complete").is_file():
        return target, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    req = tmp / "requirements.txt"
    req.write_text(requirements, encoding="utf-8")
    out = tmp / "site"
    scratch = tmp / "cwd"
    scratch.mkdir()
    proc = subprocess.run(
        pip_argv(req, out, runtime), capture_output=True, text=True, cwd=scratch, check=False
    )
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


# -- the ZIP -------------------------------------------------------------------------------------


def _build(files: dict[str, _Entry], *, source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(files):
            entry = files[arcname]
            try:
                data = read_regular(entry.path, entry.size, follow=False, expect_size=entry.size)
            except NotReadable as exc:
                raise OperationError(f"{source}: lambda.source: {arcname}: {exc}: package again") from None
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            mode = 0o755 if entry.mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def build_zip(files: dict[str, Path]) -> tuple[bytes, int]:
    """A reproducible ZIP of ``files`` (arcname -> path of a regular file); (bytes, unzipped size)."""
    entries: dict[str, _Entry] = {}
    for arcname, path in files.items():
        real = Path(os.path.realpath(path))
        st = real.stat()
        entries[arcname] = _Entry(real, st.st_size, st.st_mode)
    return _build(entries, source="build_zip"), sum(e.size for e in entries.values())


def _check_size(
    files: dict[str, _Entry], zipped: int, unzipped: int, *, max_zipped: int, max_unzipped: int, source: str
) -> None:
    if zipped <= max_zipped and unzipped <= max_unzipped:
        return
    raise SpecError(
        "lambda.source",
        f"{zipped / 1048576:.1f} MB zipped, {unzipped / 1048576:.1f} MB unzipped",
        f"the package is over Lambda's limits ({_mb(max_zipped)} zipped, "
        f"{_mb(max_unzipped)} unzipped); biggest: {_biggest(files)}",
        source=source,
    )


# -- the handler ---------------------------------------------------------------------------------


def _top_level_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
                names.update(t.id for t in elts if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.If | ast.Try | ast.With):
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])]
            blocks += [h.body for h in getattr(node, "handlers", [])]
            for block in blocks:
                names |= _top_level_names(block)
    return names


def handler_check(module_file: Path, arcname: str, handler: str, *, source: str) -> None:
    """Check that ``handler``'s function is defined in its module, without running any of it.

    The module is parsed with :mod:`ast`: the function must be bound at the module's top level
    (``def``/``async def``/``class``, an assignment, or an import of that name; also inside a top-level
    ``if``/``try``/``with``). A syntax error or a missing name is a SpecError on
    ``lambda.handler``. Whether the module imports (its own imports, what it runs at import
    time) is only seen when it runs: ``shipyard invoke`` or in Lambda.
    """
    func = handler.rpartition(".")[2]
    try:
        text = read_regular(module_file, MAX_UNZIPPED).decode("utf-8")
        tree = ast.parse(text, filename=arcname)
    except NotReadable as exc:
        raise SpecError(
            "lambda.handler", handler, f"{arcname} cannot be read: {exc}", source=source
        ) from None
    except UnicodeDecodeError:
        raise SpecError("lambda.handler", handler, f"{arcname} is not UTF-8 text", source=source) from None
    except (RecursionError, MemoryError):
        raise SpecError(
            "lambda.handler", handler, f"{arcname} is nested too deeply to parse: simplify it", source=source
        ) from None
    except (SyntaxError, ValueError) as exc:
        where = f"{arcname}:{getattr(exc, 'lineno', None) or '?'}"
        raise SpecError(
            "lambda.handler",
            handler,
            f"{where} does not parse ({getattr(exc, 'msg', exc)}): fix the syntax",
            source=source,
        ) from None
    if func not in _top_level_names(tree.body):
        raise SpecError(
            "lambda.handler",
            handler,
            f"{arcname} defines no top-level {func!r}: add 'def {func}(event, context)' or fix the "
            "handler (module.function)",
            source=source,
        )


def base_env() -> dict[str, str]:
    """A minimal environment for subprocesses that run function code."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _source_dir(spec: LoadedSpec, sec: LambdaSection, src_name: str) -> Path:
    """The resolved source directory; it must be a directory inside the spec's directory."""
    source = Path(os.path.realpath(spec.dir / sec.source))
    spec_dir = Path(os.path.realpath(spec.dir))
    if not source.is_relative_to(spec_dir):
        raise SpecError(
            "lambda.source",
            sec.source,
            f"it resolves to {source}, outside the spec's directory {spec_dir}: "
            "put the code under the spec's directory (a real directory, not a symlink out)",
            source=src_name,
        )
    try:
        st = source.stat()
    except OSError as exc:
        what = "a symlink loop" if exc.errno == errno.ELOOP else f"no such directory ({source})"
        raise SpecError("lambda.source", sec.source, f"{what}: fix the path", source=src_name) from None
    if not stat.S_ISDIR(st.st_mode):
        raise SpecError(
            "lambda.source",
            sec.source,
            f"{source} is {file_kind(st.st_mode)}, not a directory: fix the path",
            source=src_name,
        )
    return source


def package(
    spec: LoadedSpec,
    *,
    out_dir: Path | None = None,
    cache_dir: Path | None = None,
    max_zipped: int | None = None,
    max_unzipped: int | None = None,
    check_import: bool = True,
) -> PackageResult:
    """Build the spec's ZIP; refuse (SpecError) what cannot be packaged, over-size packages and
    handlers that are not defined (``check_import``: checked with :func:`handler_check`, which
    does not import the code)."""
    sec = section(spec)
    src_name = str(spec.path)
    source = _source_dir(spec, sec, src_name)
    limit_unzipped = MAX_UNZIPPED if max_unzipped is None else max_unzipped
    work = default_work_dir()
    walker = _Walk(limit_unzipped, src_name)
    cached = False
    requirements = _requirements(spec, sec)
    if requirements is not None:
        deps, cached = vendor(requirements, sec.runtime, cache_dir or work / "lambda-deps")
        walker.tree(deps, field="lambda.requirements", label="the vendored dependencies")
        walker.discard(".shipyard-complete")
    walker.tree(source, field="lambda.source", label=repr(sec.source))
    files = walker.files
    module = sec.handler.rpartition(".")[0].replace(".", "/")
    module_arc = next((n for n in (f"{module}.py", f"{module}/__init__.py") if n in files), None)
    if module_arc is None:
        raise SpecError(
            "lambda.handler",
            sec.handler,
            f"no {module}.py in {sec.source}: fix the handler (module.function) or the source",
            source=src_name,
        )
    if check_import:
        handler_check(files[module_arc].path, module_arc, sec.handler, source=src_name)
    data = _build(files, source=src_name)
    unzipped = sum(e.size for e in files.values())
    _check_size(
        files,
        len(data),
        unzipped,
        max_zipped=MAX_ZIPPED if max_zipped is None else max_zipped,
        max_unzipped=limit_unzipped,
        source=src_name,
    )
    out = (out_dir or work / "lambda") / f"{spec.service.name}-{spec.service.version}.zip"
    digest = hashlib.sha256(data).hexdigest()
    if not (out.is_file() and hashlib.sha256(out.read_bytes()).hexdigest() == digest):
        atomic_write(out, data, mode=0o644)
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
