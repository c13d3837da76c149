"""NodeContext: one opened node home (config, state.db, keys, clock) and the acting person.

Library functions take what they need from it; the CLI opens one per command.
"""

from __future__ import annotations

import getpass
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fjshare import audit as audit_log
from fjshare.clock import Clock
from fjshare.divisions import Divisions
from fjshare.errors import NotFound, Refused
from fjshare.node.home import NodeConfig, NodeHome
from fjshare.state.db import connect
from fjshare.trust.keys import NodeKeys

OPERATOR = "operator"
EXTRA_DIVISIONS = "divisions.csv"


@dataclass(frozen=True)
class Actor:
    """Who is acting: the node's operator, or a registered user / application system (Art 35)."""

    name: str
    agency: str | None = None
    role: str | None = None
    is_system: bool = False

    @property
    def is_operator(self) -> bool:
        return self.agency is None

    @property
    def roles(self) -> frozenset[str]:
        """A user may hold several roles (stored comma-separated), e.g. registrar and reviewer."""
        return frozenset(r for r in (self.role or "").split(",") if r)

    def label(self) -> str:
        if self.is_operator:
            return f"{OPERATOR}:{self.name}"
        return self.name


@dataclass
class NodeContext:
    home: NodeHome
    config: NodeConfig
    conn: sqlite3.Connection
    keys: NodeKeys
    clock: Clock = field(default_factory=Clock)
    user: str | None = None

    @classmethod
    def open(cls, root: Path, *, user: str | None = None, clock: Clock | None = None) -> "NodeContext":
        """Open an initialised home. Raises ConfigError if it is not one, NotFound for an unknown user."""
        home = NodeHome(Path(root)).require()
        config = NodeConfig.load(home)
        conn = connect(home.state_db)
        keys = NodeKeys.load(home.keys)
        ctx = cls(home, config, conn, keys, clock or Clock(), user)
        if user:
            ctx.actor  # resolve now so an unknown --user fails before any work
        return ctx

    def close(self) -> None:
        self.conn.close()

    @cached_property
    def divisions(self) -> Divisions:
        extra = self.home.root / EXTRA_DIVISIONS
        return Divisions(extra if extra.exists() else None)

    @cached_property
    def actor(self) -> Actor:
        if not self.user:
            return Actor(getpass.getuser())
        row = self.conn.execute("SELECT * FROM users WHERE name = ?", (self.user,)).fetchone()
        if row is None:
            raise NotFound(
                f"user {self.user!r} is not registered at node {self.config.code}",
                hint="register it with `node user add NAME --agency CODE --role ...` (Art 35: every user is identified)",
            )
        return Actor(row["name"], row["agency"], row["role"], bool(row["is_system"]))

    def require_user(self, *roles: str) -> Actor:
        """For staff commands (👤): a registered user is required, with one of ``roles`` if given."""
        if not self.user:
            raise Refused(
                "this command is done by a registered person or application system, not by the operator",
                hint="pass --user NAME (or set FJSHARE_USER); Art 35 requires identity authentication for sharing",
            )
        actor = self.actor
        if roles and not (actor.roles & set(roles)):
            raise Refused(
                f"user {actor.name} has role {actor.role!r}; this needs {' or '.join(roles)}",
                hint="ask the node operator to register a user with that role",
            )
        return actor

    def now(self) -> str:
        return self.clock.stamp()

    def audit(self, action: str, target: str | None = None, **detail: Any) -> int:
        """Record an action with its actor in the hash-chained audit log."""
        return audit_log.append(
            self.conn, self.keys.signing, at=self.now(), actor=self.actor.label(), action=action, target=target,
            detail=detail,
        )
