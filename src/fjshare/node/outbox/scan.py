"""Finding complete files in the outboxes (DESIGN §3).

A file is complete when its name is not a temp or lock name (``~$*``, ``.~lock*``, ``*.tmp``,
``*.part``, dot files, ``*.crdownload``...) and its size and mtime have not changed for the settle
time. Office writes lock files beside a workbook being saved; SFTP clients and browsers write to
temp names and rename when done; a plain ``cp`` grows the file in place, which the settle time
catches.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fjshare.node.home import resource_from_dirname

TEMP_PATTERNS = ("~$*", ".~lock*", "*.tmp", "*.part", "*.partial", "*.crdownload", "*.swp", "*~", ".*")


def is_temp_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in TEMP_PATTERNS) or name.endswith(".reason.txt")


@dataclass(frozen=True)
class OutboxFile:
    path: Path
    agency: str
    resource: str   # the resource code (``_`` in the directory name read back as ``/``)
    size: int
    mtime_ns: int

    def relative(self, outbox: Path) -> str:
        return self.path.relative_to(outbox).as_posix()


def candidates(outbox: Path) -> Iterator[OutboxFile]:
    """Every regular, non-temp file at ``outbox/AGENCY/RESOURCE/NAME``, oldest first per folder.

    Files directly under ``outbox/AGENCY/`` or deeper are yielded with ``resource=""`` so the
    caller can quarantine them with a reason rather than ignore them silently. Symlinks are
    skipped (an outbox must never be a way to read other files on the node).
    """
    if not outbox.is_dir():
        return
    for agency_dir in sorted(outbox.iterdir()):
        if agency_dir.is_symlink() or not agency_dir.is_dir() or is_temp_name(agency_dir.name):
            continue
        for entry in sorted(agency_dir.iterdir()):
            if entry.is_symlink() or is_temp_name(entry.name):
                continue
            if entry.is_file():
                st = entry.stat()
                yield OutboxFile(entry, agency_dir.name, "", st.st_size, st.st_mtime_ns)
                continue
            if not entry.is_dir():
                continue
            files = []
            for f in entry.iterdir():
                if f.is_symlink() or is_temp_name(f.name) or not f.is_file():
                    continue
                st = f.stat()
                files.append(OutboxFile(f, agency_dir.name, resource_from_dirname(entry.name), st.st_size, st.st_mtime_ns))
            yield from sorted(files, key=lambda f: (f.mtime_ns, f.path.name))


def is_settled(f: OutboxFile, settle_seconds: float, *, now: float | None = None) -> bool:
    """True when the file has not changed for ``settle_seconds`` (mtime) and still has its size."""
    try:
        st = f.path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
        return False
    now = time.time() if now is None else now
    return now - st.st_mtime_ns / 1e9 >= settle_seconds


def wait_settled(f: OutboxFile, settle_seconds: float) -> bool:
    """Sleep out the settle time once and report whether the file stayed still (for `node intake`)."""
    remaining = settle_seconds - (time.time() - f.mtime_ns / 1e9)
    if remaining > 0:
        time.sleep(remaining)
    return is_settled(f, settle_seconds)
