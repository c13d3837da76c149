"""Named crash points for the fault tests (``FJSHARE_FAULT=<point>``).

At a named point the process kills itself with SIGKILL, as a power cut or the OOM killer would:
no ``finally`` blocks, no flushing. The tests then restart the work and check that every row
arrives exactly once. ``FJSHARE_FAULT`` may name several points separated by commas.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "intake.seen",        # journal row written, nothing converted
    "intake.converted",   # Parquet written to work/, no sequence yet
    "intake.sequenced",   # sequence and creation time recorded, bundle.json not signed
    "intake.packaged",    # bag signed in work/, not yet in the store
    "store.moved",        # bag moved into store/, state.db not updated
    "store.committed",    # state.db updated, original not yet archived
)


def fault(point: str) -> None:
    """Die here if ``$FJSHARE_FAULT`` names ``point``."""
    wanted = os.environ.get("FJSHARE_FAULT")
    if wanted and point in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
