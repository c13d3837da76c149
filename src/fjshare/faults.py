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

SYNC_POINTS = (
    "upload.partial",     # part of a bundle uploaded into .partial/
    "upload.uploaded",    # every file uploaded, directory not yet renamed
    "upload.renamed",     # renamed into the mailbox, not yet marked sent
    "ingest.verified",    # an arriving bundle verified, not yet stored
    "ingest.committed",   # stored, acknowledgement not yet written
    "ack.written",        # acknowledgement written, bundle not yet removed from the mailbox
)


def fault(point: str) -> None:
    """Die here if ``$FJSHARE_FAULT`` names ``point``."""
    wanted = os.environ.get("FJSHARE_FAULT")
    if wanted and point in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
