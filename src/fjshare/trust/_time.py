"""UTC timestamps as signed documents spell them: ``2026-11-24T21:00:00Z`` (whole seconds)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def require_aware(at: datetime, what: str = "time") -> datetime:
    """``at`` converted to UTC. Raises ``ValueError`` for a naive datetime (its zone is a guess)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return at.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def format_utc(at: datetime) -> str:
    """``at`` as ``YYYY-MM-DDTHH:MM:SSZ`` (sub-seconds dropped). Raises ``ValueError`` if naive."""
    return require_aware(at).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: object) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` into an aware UTC datetime. Raises ``ValueError``."""
    if not isinstance(text, str) or not _UTC_RE.match(text):
        raise ValueError(f"{text!r} is not a UTC timestamp like 2026-11-24T21:00:00Z")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
