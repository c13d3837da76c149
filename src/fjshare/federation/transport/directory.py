"""A transport onto a local directory: removable media for air-gapped links, and tests.

Everything stays inside ``root``: paths are checked by :func:`check_path`, and every component is
looked at with ``lstat`` so a symbolic link planted in the tree (pointing outside or not) is never
followed; the final open also uses ``O_NOFOLLOW``. Writes are fsynced before ``put`` returns.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
from pathlib import Path

from fjshare.errors import TransportError
from fjshare.federation.transport.base import (
    Entry,
    PathNotFound,
    Transport,
    check_offset,
    check_path,
    copy_stream,
    open_local_for_resume,
)
from fjshare.fsutil import fsync_dir

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NOT_FOUND = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP}


def _error(e: OSError, what: str) -> TransportError:
    if e.errno in _NOT_FOUND:
        return PathNotFound(f"{what}: no such file or directory")
    return TransportError(f"{what}: {e.strerror or e}")


class DirectoryTransport(Transport):
    """Transport confined to the directory ``root`` (which must exist).

    Raises :class:`TransportError` from the constructor if ``root`` is not a directory.
    """

    def __init__(self, root: Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise TransportError(f"transport directory {root} does not exist or is not a directory")
        self.root = root.resolve()
        self._closed = False

    def __repr__(self) -> str:
        return f"DirectoryTransport({str(self.root)!r})"

    # ------------------------------------------------------------------ path resolution

    def _resolve(self, path: str, *, allow_root: bool = False, missing_last: bool = False) -> Path:
        """Local path for transport ``path``; no component may be a symbolic link.

        With ``missing_last`` the final component may be absent (it is about to be created).
        Raises :class:`PathNotFound` if a component is missing or is a link.
        """
        if self._closed:
            raise TransportError(f"{self!r} is closed")
        rel = check_path(path, allow_root=allow_root)
        current = self.root
        parts = rel.split("/") if rel else []
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = current.lstat()
            except OSError as e:
                if missing_last and i == len(parts) - 1 and e.errno == errno.ENOENT:
                    return current
                raise _error(e, rel) from e
            if stat_mod.S_ISLNK(st.st_mode):
                raise PathNotFound(f"{rel}: no such file or directory (a symbolic link is not followed)")
            if i < len(parts) - 1 and not stat_mod.S_ISDIR(st.st_mode):
                raise PathNotFound(f"{rel}: {'/'.join(parts[: i + 1])} is not a directory")
        return current

    @staticmethod
    def _entry(name: str, st: os.stat_result) -> Entry:
        is_dir = stat_mod.S_ISDIR(st.st_mode)
        return Entry(name, 0 if is_dir else st.st_size, is_dir, st.st_mtime)

    # ------------------------------------------------------------------ interface

    def list(self, directory: str = "", *, include_hidden: bool = False) -> list[Entry]:
        """See :meth:`Transport.list`."""
        d = self._resolve(directory, allow_root=True)
        out = []
        try:
            with os.scandir(d) as it:
                for de in it:
                    if de.name.startswith(".") and not include_hidden:
                        continue
                    st = de.stat(follow_symlinks=False)
                    if stat_mod.S_ISDIR(st.st_mode) or stat_mod.S_ISREG(st.st_mode):
                        out.append(self._entry(de.name, st))
        except OSError as e:
            raise _error(e, directory or ".") from e
        return sorted(out, key=lambda e: e.name)

    def stat(self, path: str) -> Entry:
        """See :meth:`Transport.stat`."""
        p = self._resolve(path)
        try:
            return self._entry(p.name, p.lstat())
        except OSError as e:
            raise _error(e, path) from e

    def get(self, path: str, local_path: Path, *, offset: int = 0) -> int:
        """See :meth:`Transport.get`."""
        p = self._resolve(path)
        try:
            fd = os.open(p, os.O_RDONLY | _NOFOLLOW)
        except OSError as e:
            raise _error(e, path) from e
        with os.fdopen(fd, "rb") as src:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                raise TransportError(f"{path} is not a regular file")
            with open_local_for_resume(local_path, offset) as dst:
                src.seek(offset)
                n = copy_stream(src, dst)
                dst.truncate()
                dst.flush()
                os.fsync(dst.fileno())
        return n

    def put(self, local_path: Path, path: str, *, offset: int = 0) -> int:
        """See :meth:`Transport.put`."""
        p = self._resolve(path, missing_last=True)
        flags = os.O_WRONLY | _NOFOLLOW | (os.O_CREAT | os.O_TRUNC if offset == 0 else 0)
        try:
            src = open(local_path, "rb")
        except OSError as e:
            raise TransportError(f"cannot read {local_path}: {e.strerror or e}") from e
        with src:
            try:
                fd = os.open(p, flags, 0o644)
            except OSError as e:
                raise _error(e, path) from e
            with os.fdopen(fd, "wb") as dst:
                check_offset(offset, os.fstat(fd).st_size, path)
                src.seek(offset)
                dst.seek(offset)
                try:
                    n = copy_stream(src, dst)
                    dst.truncate()
                    dst.flush()
                    os.fsync(fd)
                except OSError as e:
                    raise _error(e, path) from e
        return n

    def rename(self, src: str, dst: str) -> None:
        """See :meth:`Transport.rename`."""
        check_path(src)
        check_path(dst)
        s = self._resolve(src)
        d = self._resolve(dst, missing_last=True)
        if d.exists() and d.is_dir():
            raise TransportError(f"cannot rename {src} to {dst}: {dst} is an existing directory")
        try:
            os.rename(s, d)
        except OSError as e:
            raise _error(e, f"rename {src} -> {dst}") from e
        fsync_dir(d.parent)

    def mkdir(self, path: str, *, parents: bool = True) -> None:
        """See :meth:`Transport.mkdir`."""
        rel = check_path(path)
        parts = rel.split("/")
        start = 0 if parents else len(parts) - 1
        for i in range(start, len(parts)):
            p = self._resolve("/".join(parts[: i + 1]), missing_last=True)
            try:
                os.mkdir(p, 0o755)
            except FileExistsError:
                if not p.is_dir() or p.is_symlink():
                    raise TransportError(f"cannot create directory {rel}: {'/'.join(parts[: i + 1])} is a file")
            except OSError as e:
                raise _error(e, f"mkdir {rel}") from e

    def delete(self, path: str) -> None:
        """See :meth:`Transport.delete`."""
        p = self._resolve(path)
        try:
            if p.is_dir():
                os.rmdir(p)
            else:
                os.unlink(p)
        except OSError as e:
            raise _error(e, f"delete {path}") from e

    def rmtree(self, path: str) -> None:
        """See :meth:`Transport.rmtree`."""
        p = self._resolve(path)
        if not p.is_dir():
            raise TransportError(f"rmtree {path}: not a directory")
        try:
            shutil.rmtree(p)  # removes links inside, never follows them
        except OSError as e:
            raise _error(e, f"rmtree {path}") from e

    def close(self) -> None:
        """Mark the transport closed (nothing to release)."""
        self._closed = True

