"""Advisory file locks: one daemon per home (``run.lock``) and one run of each operation at a time.

Locks are ``flock`` locks on files under the home, so they vanish with the process that held them
(a SIGKILLed intake never leaves a stale lock behind).
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fjshare.errors import Refused


@contextmanager
def hold(path: Path, *, wait: float | None = None, what: str = "this operation") -> Iterator[None]:
    """Hold an exclusive lock on ``path``.

    ``wait=None`` waits as long as it takes; a number waits that many seconds and then raises
    Refused naming the holder's pid.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
                    raise Refused(
                        f"{what} is already running on this home (pid {holder})",
                        hint=f"wait for it to finish, or stop it; the lock is {path}",
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
