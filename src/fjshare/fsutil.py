"""Durable local writes: temp file + fsync + ``os.replace`` (DESIGN §3), and directory fsync."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO, Callable


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_from(
    path: Path,
    write: Callable[[BinaryIO], object],
    *,
    mode: int = 0o644,
    sync_dir: bool = True,
    temp_name: str | None = None,
) -> None:
    """Let ``write`` fill a temp file beside ``path``, fsync it and ``os.replace`` it into place.

    A reader sees the old file or the whole new one, never part of it. ``sync_dir=False`` leaves
    the directory fsync to a caller that writes several files. Raises ``OSError``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name or f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644, sync_dir: bool = True,
                       temp_name: str | None = None) -> None:
    """:func:`atomic_write_from` for bytes already in memory."""
    atomic_write_from(path, lambda f: f.write(data), mode=mode, sync_dir=sync_dir, temp_name=temp_name)


def durable_move(src: Path, dst: Path) -> None:
    """Move a file or directory into place; across filesystems, copy + fsync first, then remove."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno != 18:  # EXDEV: another filesystem
            raise
        tmp = dst.with_name(f".{dst.name}.moving")
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copy2(src, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dst)
        if src.is_dir():
            shutil.rmtree(src)
        else:
            src.unlink()
    fsync_dir(dst.parent)


def copy_dir(src: Path, dest: Path) -> None:
    """Copy the directory ``src`` to ``dest`` (which must not exist) so that ``dest`` appears whole or not at all.

    The copy is made under a temporary sibling name, every file is fsynced, then it is renamed into
    place and the parent fsynced. Symbolic links are copied as links, never followed (a bundle that
    holds one is refused by the verifier, not silently resolved here).
    """
    tmp = dest.with_name(f".{dest.name}.copying")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, symlinks=True)
    for f in tmp.rglob("*"):
        if f.is_file() and not f.is_symlink():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def unique_path(path: Path) -> Path:
    """``path`` if free, else ``name.1.ext``, ``name.2.ext``... so nothing is overwritten."""
    if not path.exists():
        return path
    stem, suffix = path.name.split(".", 1) if "." in path.name else (path.name, "")
    n = 1
    while True:
        candidate = path.with_name(f"{stem}.{n}.{suffix}" if suffix else f"{stem}.{n}")
        if not candidate.exists():
            return candidate
        n += 1
