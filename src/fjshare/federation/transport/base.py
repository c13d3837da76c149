"""The one transport interface of the federation (DESIGN §6) and the directory-upload protocol.

A :class:`Transport` moves files between this node and one place: a peer's SFTP mailbox (embedded
server or OpenSSH ``internal-sftp``) or a directory (removable media, tests). Every implementation
passes the same behaviour suite (``tests/test_transport_behaviour.py``), so the rules below hold
on all of them:

* paths are relative POSIX paths (``up/.partial/b1/data/part-0000.parquet``), checked by
  :func:`check_path` before they touch anything: no ``..``, no absolute path, no NUL, no
  backslash, no empty or ``.`` component. A bad path raises :class:`~fjshare.errors.BadInput`;
* listings hide names that start with ``.`` (temp names, ``.partial/``) and symbolic links;
  symbolic links are never followed: a path through one is reported as not found;
* ``rename`` replaces an existing *file* atomically (POSIX), but never replaces a directory:
  renaming onto an existing directory raises :class:`TransportError` (so a completed upload is
  never silently swapped for another);
* a missing path raises :class:`PathNotFound`; any other failure :class:`TransportError`.

:func:`upload_dir` and :func:`download_dir` implement the mailbox protocol: a bundle directory is
written under ``.partial/<name>/``, resumed from the sizes already there after an interruption,
and renamed into place as a whole when complete, so a receiver sees all of it or nothing.
"""

from __future__ import annotations

import os
import shutil
import stat as stat_mod
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fjshare.errors import BadInput, TransportError
from fjshare.fsutil import fsync_dir

PARTIAL_DIR = ".partial"
#: Read/write block for streamed copies; big enough to amortise per-call costs.
COPY_BLOCK = 1024 * 1024


class PathNotFound(TransportError):
    """The named path does not exist on the transport (or is a symbolic link, which is not followed)."""


@dataclass(frozen=True)
class Entry:
    """One name in a listing, or the result of :meth:`Transport.stat`."""

    name: str
    size: int
    is_dir: bool
    mtime: float


@dataclass(frozen=True)
class DirTransfer:
    """What :func:`upload_dir` / :func:`download_dir` did."""

    path: str
    files: int
    bytes_sent: int
    bytes_resumed: int
    already_present: bool = False


def check_path(path: str, *, allow_root: bool = False) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise :class:`BadInput`.

    ``allow_root`` accepts ``""`` and ``"."`` (the transport's root, returned as ``""``) for
    operations where the root makes sense (``list``). Refused: absolute paths, ``..``, empty or
    ``.`` components, NUL bytes, backslashes and non-string values.
    """
    if not isinstance(path, str):
        raise BadInput(f"transport path must be a string, not {type(path).__name__}")
    if path in ("", "."):
        if allow_root:
            return ""
        raise BadInput("empty transport path", hint="name a file or directory under the transport root")
    why = None
    if "\x00" in path:
        why = "contains a NUL byte"
    elif "\\" in path:
        why = "contains a backslash"
    elif path.startswith("/"):
        why = "is absolute"
    else:
        parts = path.split("/")
        if any(p == ".." for p in parts):
            why = "contains '..'"
        elif any(p in ("", ".") for p in parts):
            why = "has an empty or '.' component"
    if why:
        raise BadInput(
            f"refused transport path {path[:80]!r}: it {why}",
            hint="transport paths are relative POSIX paths inside the peer's mailbox",
        )
    return path


def join(*parts: str) -> str:
    """Join relative transport path parts, skipping empty ones (``join("", "a")`` is ``"a"``)."""
    return "/".join(p for p in parts if p)


class Transport(ABC):
    """One place files are moved to or from. All paths are relative (see :func:`check_path`).

    Every method raises :class:`~fjshare.errors.BadInput` for a refused path,
    :class:`PathNotFound` when the path does not exist, and :class:`TransportError` for any other
    failure (connection lost, permission denied, disk full). Implementations are not thread-safe;
    use one per thread.
    """

    @abstractmethod
    def list(self, directory: str = "", *, include_hidden: bool = False) -> list[Entry]:
        """Entries of ``directory`` sorted by name, never symbolic links.

        Names starting with ``.`` (temp names, ``.partial``) are left out unless
        ``include_hidden`` (used to resume uploads).
        """

    @abstractmethod
    def stat(self, path: str) -> Entry:
        """Size, kind and mtime of ``path`` (``name`` is its last component)."""

    @abstractmethod
    def get(self, path: str, local_path: Path, *, offset: int = 0) -> int:
        """Stream ``path`` into ``local_path``; return the bytes transferred.

        With ``offset`` > 0 the local file must already hold that many bytes (an interrupted
        download): the rest is appended and the local file is cut to the remote size. Raises
        :class:`TransportError` if the local file is shorter than ``offset``.
        """

    @abstractmethod
    def put(self, local_path: Path, path: str, *, offset: int = 0) -> int:
        """Stream ``local_path`` to ``path``; return the bytes transferred.

        With ``offset`` > 0 the remote file must already hold at least ``offset`` bytes (an
        interrupted upload): bytes from ``offset`` on are written and the remote file ends at the
        local size. Raises :class:`TransportError` if the remote file is shorter than ``offset``.
        """

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Atomically rename ``src`` to ``dst``; an existing file ``dst`` is replaced.

        Raises :class:`TransportError` if ``dst`` is an existing directory (never overwritten).
        """

    @abstractmethod
    def mkdir(self, path: str, *, parents: bool = True) -> None:
        """Create directory ``path`` (and missing parents if ``parents``); existing is fine."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove file ``path`` (or an empty directory)."""

    @abstractmethod
    def rmtree(self, path: str) -> None:
        """Remove directory ``path`` with everything in it, dot names included."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; further calls raise :class:`TransportError`."""

    def exists(self, path: str) -> bool:
        """True if ``path`` exists (a symbolic link does not count)."""
        try:
            self.stat(path)
        except PathNotFound:
            return False
        return True

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- directory protocol


def _local_files(local_dir: Path) -> list[tuple[str, Path, int]]:
    """``(relative posix path, path, size)`` of every regular file under ``local_dir``, sorted.

    Raises :class:`BadInput` if the tree holds a symbolic link or a special file: a bundle is
    plain files only.
    """
    found: list[tuple[str, Path, int]] = []
    for dirpath, dirnames, filenames in os.walk(local_dir):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            rel = p.relative_to(local_dir).as_posix()
            if stat_mod.S_ISLNK(st.st_mode) or not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISDIR(st.st_mode)):
                raise BadInput(f"{p} is not a plain file or directory; refusing to upload it")
            if stat_mod.S_ISREG(st.st_mode):
                found.append((check_path(rel), p, st.st_size))
    return found


def _remote_tree(transport: Transport, root: str) -> dict[str, Entry]:
    """Every entry under ``root`` (dot names included), keyed by path relative to ``root``."""
    out: dict[str, Entry] = {}
    pending = [""]
    while pending:
        rel = pending.pop()
        for e in transport.list(join(root, rel), include_hidden=True):
            sub = join(rel, e.name)
            out[sub] = e
            if e.is_dir:
                pending.append(sub)
    return out


def upload_dir(transport: Transport, local_dir: Path, remote_parent: str, name: str) -> DirTransfer:
    """Upload directory ``local_dir`` as ``remote_parent/name`` (DESIGN §6).

    Files go to ``remote_parent/.partial/name/``; a file already there is resumed from its size
    (or rewritten if it is longer than the local one), stray files are removed, and the directory
    is renamed to ``remote_parent/name`` once every size matches. If ``remote_parent/name``
    already exists the bundle was delivered before: nothing is sent and ``already_present`` is
    set. Raises :class:`BadInput` for a bad name or a local tree with links, and
    :class:`TransportError` if the transfer or the final rename fails (call again to resume).
    """
    check_path(name)
    if "/" in name or name.startswith("."):
        raise BadInput(f"refused upload name {name!r}: it must be one plain path component")
    remote_parent = check_path(remote_parent, allow_root=True)
    final = join(remote_parent, name)
    staging = join(remote_parent, PARTIAL_DIR, name)
    if transport.exists(final):
        if transport.exists(staging):  # a resend raced a completed upload: drop the leftovers
            transport.rmtree(staging)
        return DirTransfer(final, 0, 0, 0, already_present=True)
    files = _local_files(Path(local_dir))
    transport.mkdir(staging, parents=True)
    remote = _remote_tree(transport, staging)
    wanted = {rel for rel, _, _ in files}
    wanted_dirs = {str(p) for rel in wanted for p in PurePosixPath(rel).parents if str(p) != "."}
    stale = False
    for rel, entry in sorted(remote.items(), key=lambda kv: -kv[0].count("/")):
        if entry.is_dir and rel not in wanted_dirs:
            transport.rmtree(join(staging, rel))
            stale = True
        elif not entry.is_dir and rel not in wanted:
            transport.delete(join(staging, rel))
            stale = True
    if stale:  # what was removed must not count as already uploaded
        remote = _remote_tree(transport, staging)
    for d in sorted(wanted_dirs):
        if d not in remote:
            transport.mkdir(join(staging, d), parents=True)
    sent = resumed = 0
    for rel, path, size in files:
        have = remote.get(rel)
        offset = have.size if have is not None and not have.is_dir and have.size <= size else 0
        if have is not None and not have.is_dir and have.size == size:
            resumed += size
            continue
        sent += transport.put(path, join(staging, rel), offset=offset)
        resumed += offset
    for rel, _, size in files:
        got = transport.stat(join(staging, rel)).size
        if got != size:
            raise TransportError(f"upload of {final}/{rel} ended at {got} bytes, expected {size}; retry to resume")
    transport.rename(staging, final)
    return DirTransfer(final, len(files), sent, resumed)


def download_dir(transport: Transport, remote_dir: str, local_parent: Path, name: str | None = None) -> DirTransfer:
    """Download directory ``remote_dir`` to ``local_parent/name`` (default: its last component).

    Files are written under ``local_parent/.partial/name/``, resumed from the local sizes after
    an interruption, fsynced, and the directory is moved into place with ``os.replace``. If the
    destination already exists nothing is fetched and ``already_present`` is set. Raises
    :class:`BadInput` for a bad path or name, :class:`PathNotFound` if ``remote_dir`` is missing,
    :class:`TransportError` if the transfer fails (call again to resume).
    """
    remote_dir = check_path(remote_dir)
    name = name or PurePosixPath(remote_dir).name
    check_path(name)
    if "/" in name or name.startswith("."):
        raise BadInput(f"refused download name {name!r}: it must be one plain path component")
    local_parent = Path(local_parent)
    final = local_parent / name
    if final.exists():
        return DirTransfer(str(final), 0, 0, 0, already_present=True)
    if not transport.stat(remote_dir).is_dir:
        raise TransportError(f"{remote_dir} is not a directory")
    staging = local_parent / PARTIAL_DIR / name
    staging.mkdir(parents=True, exist_ok=True)
    tree = _remote_tree(transport, remote_dir)
    for local in sorted(staging.rglob("*"), key=lambda p: -len(p.parts)):
        rel = local.relative_to(staging).as_posix()
        entry = tree.get(rel)
        if entry is None or entry.is_dir != (local.is_dir() and not local.is_symlink()):
            if local.is_dir() and not local.is_symlink():
                shutil.rmtree(local)
            else:
                local.unlink()
    sent = resumed = files = 0
    for rel, entry in sorted(tree.items()):
        target = staging / rel
        if entry.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        files += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        have = target.stat().st_size if target.is_file() else 0
        offset = have if have <= entry.size else 0
        if have == entry.size:
            resumed += have
        else:
            sent += transport.get(join(remote_dir, rel), target, offset=offset)
            resumed += offset
        with open(target, "rb") as f:
            os.fsync(f.fileno())
    try:
        os.replace(staging, final)
    except OSError as e:
        raise TransportError(f"cannot move downloaded {remote_dir} into {final}: {e.strerror or e}") from e
    fsync_dir(local_parent)
    partial_root = local_parent / PARTIAL_DIR
    try:
        partial_root.rmdir()
    except OSError:
        pass
    return DirTransfer(str(final), files, sent, resumed)


def copy_stream(src: BinaryIO, dst: BinaryIO, block: int = COPY_BLOCK) -> int:
    """Copy file object ``src`` into ``dst`` in ``block``-sized reads; return the bytes copied."""
    total = 0
    while True:
        chunk = src.read(block)
        if not chunk:
            return total
        dst.write(chunk)
        total += len(chunk)


def open_local_for_resume(local_path: Path, offset: int) -> BinaryIO:
    """Open ``local_path`` for writing from ``offset`` (0: create or truncate).

    Raises :class:`TransportError` if the file holds fewer than ``offset`` bytes or cannot be
    opened. The caller truncates at the final size and fsyncs.
    """
    local_path = Path(local_path)
    if offset < 0:
        raise TransportError(f"negative offset {offset} for {local_path}")
    try:
        if offset == 0:
            return open(local_path, "wb")
        f = open(local_path, "r+b")
    except OSError as e:
        raise TransportError(f"cannot write {local_path}: {e.strerror or e}") from e
    size = os.fstat(f.fileno()).st_size
    if size < offset:
        f.close()
        raise TransportError(f"cannot resume {local_path} at byte {offset}: it holds only {size} bytes")
    f.seek(offset)
    return f


def check_offset(offset: int, have: int, what: str) -> None:
    """Raise :class:`TransportError` unless ``0 <= offset <= have`` (bytes already at the target)."""
    if offset < 0:
        raise TransportError(f"negative offset {offset} for {what}")
    if offset > have:
        raise TransportError(f"cannot resume {what} at byte {offset}: it holds only {have} bytes")
