"""The node's clock. ``$FJSHARE_NOW`` (ISO date-time) replaces it for tests and demonstrations.

Times are stored as ISO 8601 UTC strings ending in ``Z``; China time (UTC+8) is used only where a
rule is stated in it (deadlines end at 24:00 China time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from fjshare.errors import UsageError

CHINA = timezone(timedelta(hours=8), "CST")


def parse_time(text: str) -> datetime:
    """Parse an ISO date or date-time; a value without a zone is China time. Raises UsageError."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO date-time: {text!r}", hint="write e.g. 2026-11-24T09:30:00+08:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA)
    return value.astimezone(timezone.utc)


def iso(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, to the second."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Clock:
    """Real time, or a fixed instant when ``fixed`` is set."""

    fixed: datetime | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Clock":
        value = (environ if environ is not None else os.environ).get("FJSHARE_NOW")
        return cls(parse_time(value) if value else None)

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(timezone.utc)

    def stamp(self) -> str:
        return iso(self.now())
