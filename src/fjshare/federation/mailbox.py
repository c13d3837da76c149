"""Mailboxes on the province (DESIGN §6): ``exchange/<city>/up|down``, named from the city's side.

``up/``            bundles the city sends; ``up/.partial/`` holds uploads in progress
``up/acks/``       the city's acknowledgements of bundles it took from ``down/``
``down/``          bundles for the city; ``down/.partial/`` holds copies in progress
``down/acks/``     the province's acknowledgements of bundles it took from ``up/``

An acknowledgement is a small JSON file ``<bundle-id>.json``: ``{"bundle_id", "status"
(stored|rejected), "reason"}``. The city's client reads and writes only these four places, so an
idle round costs a constant number of remote operations however many bundles were exchanged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

UP, DOWN, ACKS, PARTIAL = "up", "down", "acks", ".partial"
ACK_SUFFIX = ".json"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,127}$")


def create(root: Path) -> None:
    """Create a mailbox's directories (idempotent)."""
    for sub in (UP, f"{UP}/{ACKS}", f"{UP}/{PARTIAL}", DOWN, f"{DOWN}/{ACKS}", f"{DOWN}/{PARTIAL}"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def is_bundle_name(name: str) -> bool:
    return bool(_ID.match(name)) and name not in (ACKS,) and not name.startswith(".")


@dataclass(frozen=True)
class Ack:
    bundle_id: str
    status: str = "stored"
    reason: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps({"bundle_id": self.bundle_id, "status": self.status, "reason": self.reason},
                          ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "Ack | None":
        """Parse an acknowledgement; None for a file that is not one (it is ignored, never trusted)."""
        try:
            d = json.loads(data)
            if not is_bundle_name(d["bundle_id"]) or d.get("status") not in ("stored", "rejected"):
                return None
            return cls(d["bundle_id"], d["status"], d.get("reason"))
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def filename(self) -> str:
        return self.bundle_id + ACK_SUFFIX
