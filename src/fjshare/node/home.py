"""A node's home directory and its configuration (DESIGN §3).

``NodeHome`` names every path; ``NodeConfig`` is the frozen, parsed ``node.toml``. Neither opens
the database or loads keys: :mod:`fjshare.node.context` composes them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fjshare.errors import ConfigError

CONFIG_NAME = "node.toml"


def resource_dirname(code: str) -> str:
    """Resource codes contain ``/``; on disk a code is one directory level with ``/`` written as ``_``."""
    return code.replace("/", "_")


def resource_from_dirname(name: str) -> str:
    return name.replace("_", "/")


@dataclass(frozen=True)
class NodeHome:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def pending(self) -> Path:
        return self.root / "inbox" / "pending"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def work(self) -> Path:
        """Staging for bundles being built; never read by anyone but their builder."""
        return self.root / "work"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def deliveries(self) -> Path:
        return self.root / "deliveries"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def directories(self) -> list[Path]:
        return [
            self.keys, self.outbox, self.inbox, self.pending, self.store, self.quarantine,
            self.archive, self.work, self.exchange, self.deliveries, self.locks,
        ]

    def resource_store(self, resource: str) -> Path:
        return self.store / resource_dirname(resource)

    def outbox_dir(self, agency: str, resource: str | None = None) -> Path:
        base = self.outbox / agency
        return base / resource_dirname(resource) if resource else base

    def require(self) -> "NodeHome":
        """Raise ConfigError unless this looks like an initialised node home."""
        if not self.config_path.is_file():
            raise ConfigError(
                f"{self.root} is not a node home (no {CONFIG_NAME})",
                hint="pass --home DIR or set FJSHARE_HOME, or create one with `node init DIR ...`",
            )
        return self


@dataclass(frozen=True)
class ParentLink:
    code: str
    address: str
    host_key_fingerprint: str
    account: str = ""   # SFTP user name at the province: the city code, or fj<code> on OpenSSH

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host or self.address, int(port or 22)


@dataclass(frozen=True)
class NodeConfig:
    tier: str
    code: str
    name: str
    listen: str = "127.0.0.1:8022"
    settle_seconds: float = 2.0
    archive_retention_days: int = 90
    poll_seconds: float = 5.0
    parent: ParentLink | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, home: NodeHome) -> "NodeConfig":
        home.require()
        try:
            data = tomllib.loads(home.config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{home.config_path} is not valid TOML: {e}", hint="fix the file by hand") from None
        node = data.get("node", {})
        try:
            tier, code, name = node["tier"], node["code"], node["name"]
        except KeyError as e:
            raise ConfigError(f"{home.config_path}: [node] lacks {e.args[0]!r}") from None
        intake = data.get("intake", {})
        sync = data.get("sync", {})
        parent = data.get("parent")
        link = None
        if parent and parent.get("address"):
            link = ParentLink(parent["code"], parent["address"], parent.get("host_key_fingerprint", ""),
                              parent.get("account", ""))
        return cls(
            tier=tier,
            code=code,
            name=name,
            listen=node.get("listen", cls.listen),
            settle_seconds=float(intake.get("settle_seconds", cls.settle_seconds)),
            archive_retention_days=int(intake.get("archive_retention_days", cls.archive_retention_days)),
            poll_seconds=float(sync.get("poll_seconds", cls.poll_seconds)),
            parent=link,
            extra={k: v for k, v in data.items() if k not in {"node", "intake", "sync", "parent"}},
        )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(cfg: NodeConfig) -> str:
    """The commented ``node.toml`` that ``node init`` writes."""
    lines = [
        "# fjshare node configuration. Written by `node init`; edit with care and restart `node run`.",
        "",
        "[node]",
        "# province: the one provincial node (root of trust, central exchange, Art 3, 27).",
        "# city: a seamless sub-node of the province; county agencies register here (Art 41).",
        f"tier = {_toml_str(cfg.tier)}",
        "# GB/T 2260 division code of the node (350000 for the province, 35xx00 for a city).",
        f"code = {_toml_str(cfg.code)}",
        f"name = {_toml_str(cfg.name)}",
        "# Where the embedded SFTP server listens (HOST:PORT). Cities dial the province, never the reverse.",
        f"listen = {_toml_str(cfg.listen)}",
        "",
        "[intake]",
        "# A file in an outbox is complete when its size and mtime have not changed for this long.",
        f"settle_seconds = {cfg.settle_seconds}",
        "# Originals that became bundles are kept in archive/ for this many days.",
        f"archive_retention_days = {cfg.archive_retention_days}",
        "",
        "[sync]",
        "# How often the daemon polls mailboxes for new bundles.",
        f"poll_seconds = {cfg.poll_seconds}",
        "",
    ]
    if cfg.parent:
        lines += [
            "[parent]",
            "# The province this city joined (written by `node join`).",
            f"code = {_toml_str(cfg.parent.code)}",
            f"address = {_toml_str(cfg.parent.address)}",
            "# Pinned SFTP host key: a different key stops the link.",
            f"host_key_fingerprint = {_toml_str(cfg.parent.host_key_fingerprint)}",
            "# SFTP user name: this city's code on the embedded server, fj<code> on an operator's OpenSSH sshd.",
            f"account = {_toml_str(cfg.parent.account or cfg.code)}",
            "",
        ]
    return "\n".join(lines)


def write_config(home: NodeHome, cfg: NodeConfig) -> None:
    from fjshare.fsutil import atomic_write_bytes

    atomic_write_bytes(home.config_path, render_config(cfg).encode("utf-8"), mode=0o644)


def default_home() -> Path:
    return Path(os.environ.get("FJSHARE_HOME") or os.getcwd())
