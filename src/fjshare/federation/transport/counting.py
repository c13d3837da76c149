"""A transport wrapper that counts remote operations and marks the named crash points of an upload.

The count is what the idle-round benchmark compares (10 vs 10,000 bundles exchanged: equal
counts); the crash points are ``upload.partial`` (after the first file of a bundle reached
``.partial/``), ``upload.uploaded`` (before the rename into the mailbox) and ``upload.renamed``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fjshare.faults import fault
from fjshare.federation.transport.base import PARTIAL_DIR, Entry, Transport


class CountingTransport(Transport):
    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.ops: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def list(self, directory: str = "", *, include_hidden: bool = False) -> list[Entry]:
        self.ops["list"] += 1
        return self.inner.list(directory, include_hidden=include_hidden)

    def stat(self, path: str) -> Entry:
        self.ops["stat"] += 1
        return self.inner.stat(path)

    def get(self, path: str, local_path: Path, *, offset: int = 0) -> int:
        self.ops["get"] += 1
        return self.inner.get(path, local_path, offset=offset)

    def put(self, local_path: Path, path: str, *, offset: int = 0) -> int:
        self.ops["put"] += 1
        n = self.inner.put(local_path, path, offset=offset)
        if f"/{PARTIAL_DIR}/" in f"/{path}":
            fault("upload.partial")
        return n

    def rename(self, src: str, dst: str) -> None:
        self.ops["rename"] += 1
        if PARTIAL_DIR in src:
            fault("upload.uploaded")
        self.inner.rename(src, dst)
        if PARTIAL_DIR in src:
            fault("upload.renamed")

    def mkdir(self, path: str, *, parents: bool = True) -> None:
        self.ops["mkdir"] += 1
        self.inner.mkdir(path, parents=parents)

    def delete(self, path: str) -> None:
        self.ops["delete"] += 1
        self.inner.delete(path)

    def rmtree(self, path: str) -> None:
        self.ops["rmtree"] += 1
        self.inner.rmtree(path)

    def exists(self, path: str) -> bool:
        self.ops["exists"] += 1
        return self.inner.exists(path)

    def close(self) -> None:
        self.inner.close()
