"""state.db: one SQLite database per node home, shared by the daemon and CLI commands.

Connection rules (DESIGN §3): WAL journal, a busy timeout so a CLI command waits for the daemon
rather than failing, and short ``BEGIN IMMEDIATE`` transactions so a writer takes the write lock
up front instead of failing half-way on upgrade. Schema changes are numbered migrations applied
in order under ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fjshare.errors import ConfigError
from fjshare.state.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open ``state.db`` with fjshare's connection rules and bring its schema up to date.

    Raises ConfigError if the database does not exist (and ``create`` is false) or was written by
    a newer fjshare.
    """
    if not create and not path.exists():
        raise ConfigError(
            f"no state database at {path}",
            hint="run `node init DIR --tier ... --code ... --name ...` first, or pass --home",
        )
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; return the schema version now in force."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise ConfigError(
            f"state.db has schema version {version}, newer than this fjshare knows ({len(MIGRATIONS)})",
            hint="upgrade fjshare on this machine; never downgrade a node",
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(conn):
            if callable(script):
                script(conn)
            else:
                for statement in _statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A short write transaction taken with ``BEGIN IMMEDIATE``; commits or rolls back."""
    if conn.in_transaction:  # nested use joins the outer transaction
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
