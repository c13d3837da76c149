"""One error hierarchy for fjshare.

Four families, separated by who is at fault and what the operator does next:

* :class:`BadInput`     - a file or argument from an agency or operator is wrong (fix and resend);
* :class:`BadBundle`    - a bundle from a peer fails verification (it is quarantined);
* :class:`TransportError` - moving bytes failed (retry later; nothing is lost);
* :class:`Refused`      - policy forbids it (the message cites the article of the Measures).

Every error carries a message that says what was wrong and what to do, and an exit code.
The CLI turns them into output in exactly one place (``fjshare.cli.main``).
"""

from __future__ import annotations


class FjshareError(Exception):
    """Base of every error fjshare raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  what to do: {self.hint}"
        return self.message


class UsageError(FjshareError):
    """The command line itself is wrong (exit 2, like click's own usage errors)."""

    exit_code = 2


class ConfigError(FjshareError):
    """The node home is missing, incomplete or inconsistent."""


class NotFound(FjshareError):
    """A named thing (agency, resource, user, bundle) does not exist here."""


class BadInput(FjshareError):
    """Input supplied by an agency or operator does not fit (a file in an outbox, an argument).

    ``file``, ``row`` (1-based data row, header excluded) and ``column`` locate the problem where
    they are known, so the ``.reason.txt`` beside a quarantined file can point at it.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.row = row
        self.column = column

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(f"file {self.file}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class BadBundle(FjshareError):
    """A bundle failed verification. ``reason`` is a short stable code (``bad-signature``...)."""

    reason = "invalid"

    def __init__(self, message: str, *, hint: str | None = None, reason: str | None = None) -> None:
        super().__init__(message, hint=hint)
        if reason:
            self.reason = reason


class AlreadyStored(FjshareError):
    """A bundle that verifies but is already in the store (not an error for ``node verify``)."""

    exit_code = 0


class EarlyBundle(FjshareError):
    """A bundle whose predecessor in its stream has not arrived yet: it waits, it is not bad."""

    exit_code = 0


class TransportError(FjshareError):
    """Moving bytes to or from a peer failed; the operation can be retried."""


class HostKeyMismatch(TransportError):
    """The peer's SSH host key is not the pinned one: the link stops until an operator acts."""


class Refused(FjshareError):
    """Policy refuses the action; the message names the rule (usually an article)."""
