"""Small file-system helpers: atomic writes with tight modes, reading only regular files, hashing."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def atomic_write(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same dir, fsync, then rename.

    The file never exists half-written, and it has ``mode`` from its first byte on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words (for error messages)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


class NotReadable(Exception):
    """:func:`read_regular` refused a path; the message says why, in a few words.

    ``errno`` is the open's error number when the path could not be opened (ENOENT: missing).
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def read_regular(path: Path, limit: int, *, follow: bool = True, expect_size: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    The file is opened non-blocking (a FIFO does not hang the open) and checked with ``fstat`` on
    the open descriptor, so what is read is what was checked: a FIFO, socket, device or
    directory, or a file over ``limit`` (by its size, unread: a sparse 4 GB file costs nothing),
    raises :class:`NotReadable`. ``follow=False`` refuses a symlink (``O_NOFOLLOW``);
    ``expect_size`` refuses a file whose size changed since it was walked.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotReadable("a symlink (or a symlink loop)") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing
            raise NotReadable("a socket") from None
        raise NotReadable(exc.strerror or str(exc), exc.errno) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(file_kind(st.st_mode))
        if st.st_size > limit:
            raise NotReadable(f"{st.st_size} bytes, over the limit of {limit}")
        if expect_size is not None and st.st_size != expect_size:
            raise NotReadable("changed while being packaged")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotReadable(f"grew over the limit of {limit} bytes while being read")
    if expect_size is not None and len(data) != expect_size:
        raise NotReadable("changed while being packaged")
    return data


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
