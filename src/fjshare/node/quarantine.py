"""Quarantine: where rejected inputs go, each beside a ``.reason.txt`` (DESIGN §3).

Nothing an agency or a peer sends is deleted before it has been stored or quarantined with its
reason. The original bytes are moved, never rewritten.
"""

from __future__ import annotations

from pathlib import Path

from fjshare.fsutil import atomic_write_bytes, durable_move, unique_path


def quarantine(src: Path, dest_dir: Path, reason: str, *, stamp: str, name: str | None = None) -> Path:
    """Move ``src`` (a file or a bundle directory) into ``dest_dir`` with ``NAME.reason.txt`` beside it.

    The reason file is written first, so a crash between the two steps leaves an explanation and
    the original still in place (the next run quarantines it again), never a file without a reason.
    ``name`` keeps the original file name when ``src`` sits under a staging name. Returns the
    quarantined path.
    """
    dest = unique_path(dest_dir / (name or src.name))
    reason_path = dest.with_name(dest.name + ".reason.txt")
    text = f"{reason.rstrip()}\n\nquarantined: {stamp}\noriginal: {src}\n"
    atomic_write_bytes(reason_path, text.encode("utf-8"))
    durable_move(src, dest)
    return dest


def reason_text(*, what: str, problem: str, location: str = "", hint: str | None = None) -> str:
    """A reason an agency's staff can act on: what, where, what is wrong, what to do."""
    lines = [f"file: {what}"]
    if location:
        lines.append(f"where: {location}")
    lines.append(f"problem: {problem}")
    if hint:
        lines.append(f"what to do: {hint}")
    return "\n".join(lines)
