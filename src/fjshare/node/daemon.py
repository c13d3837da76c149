"""`node run`: the daemon that composes intake, the embedded SFTP server and sync (DESIGN §6).

Event-driven: a file closing (or renamed into place) in an outbox wakes the loop, which packages it
as soon as it has settled and pushes at once; mailboxes are polled every ``poll_seconds``; a dead
peer is retried with exponential backoff (2 s doubling to 5 min). After each pass, unless new work
is already waiting, the daemon merges the catalogue search index's segments, for at most
:data:`UPKEEP_SECONDS` (:func:`fjshare.catalogue.search.compact`), until a pass finds nothing to
merge; it looks again once the database has changed. One daemon per home (``run.lock``); SIGTERM
or SIGINT stops it cleanly between steps.
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from fjshare.catalogue import search
from fjshare.errors import FjshareError, TransportError
from fjshare.federation import queue
from fjshare.federation.transport.sftp_server import SftpServer
from fjshare.node.accounts import NodeAccounts
from fjshare.node.context import NodeContext
from fjshare.node.locks import hold
from fjshare.node.outbox.intake import run_intake
from fjshare.node.outbox.scan import is_temp_name

log = logging.getLogger("fjshare.daemon")

#: The longest the daemon spends on index upkeep in one pass; work that arrives meanwhile waits no longer.
UPKEEP_SECONDS = 1.0


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
               "logger": record.name, "message": record.getMessage()}
        doc.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger("fjshare")
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    # paramiko logs every dropped connection (a port probe, a load balancer's health check) as an
    # error with a traceback, one record per line; refusals that matter are logged by fjshare.sftp.
    logging.getLogger("fjshare.sftp.ssh").setLevel(logging.CRITICAL)


class _Wake(FileSystemEventHandler):
    """Any file event that might complete a drop wakes the loop (the loop decides what is ready)."""

    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        name = Path(str(getattr(event, "dest_path", "") or event.src_path)).name
        if not event.is_directory and not is_temp_name(name):
            self.wake.set()


@dataclass
class DaemonOptions:
    listen: str | None = None        # HOST:PORT for the embedded SFTP server; "" disables it
    poll_seconds: float | None = None
    settle_seconds: float | None = None
    once: bool = False               # one pass, then exit (tests, cron)


def _event(message: str, **fields: object) -> None:
    log.info(message + ("" if not fields else " " + " ".join(f"{k}={v}" for k, v in fields.items())),
             extra={"fields": fields})


class Daemon:
    def __init__(self, root: Path, options: DaemonOptions) -> None:
        self.root = Path(root)
        self.options = options
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.server: SftpServer | None = None
        self.port: int | None = None
        self._merged_as_of: tuple[int, int] | None = None  # the database's state when upkeep last found nothing

    def request_stop(self, *_: object) -> None:
        self.stop.set()
        self.wake.set()

    def run(self) -> int:
        ctx = NodeContext.open(self.root)
        with hold(ctx.home.root / "run.lock", wait=0, what="`node run`"):
            try:
                return self._run(ctx)
            finally:
                ctx.close()

    def _start_server(self, ctx: NodeContext) -> None:
        listen = self.options.listen if self.options.listen is not None else ctx.config.listen
        if not listen:
            return
        host, _, port = listen.rpartition(":")
        self.server = SftpServer(host or "127.0.0.1", int(port), ctx.home.keys / "ssh_host_ed25519_key",
                                 NodeAccounts(ctx.home.root))
        self.server.start()
        self.port = self.server.port
        _event("sftp listening", address=f"{host}:{self.server.port}")

    def _run(self, ctx: NodeContext) -> int:
        poll = self.options.poll_seconds if self.options.poll_seconds is not None else ctx.config.poll_seconds
        _event("started", tier=ctx.config.tier, code=ctx.config.code, home=str(ctx.home.root))
        self._start_server(ctx)
        observer = Observer()
        observer.schedule(_Wake(self.wake), str(ctx.home.outbox), recursive=True)
        if ctx.config.tier == "province":
            # Only the mailbox folders themselves: bundle directories come and go inside them
            # (cities admitted later are seen by the poll).
            for row in ctx.conn.execute("SELECT code FROM peers WHERE role = 'child'"):
                for sub in ("up", "up/acks"):
                    folder = ctx.home.exchange / row["code"] / sub
                    if folder.is_dir():
                        observer.schedule(_Wake(self.wake), str(folder), recursive=False)
        observer.start()
        try:
            next_poll = 0.0
            while not self.stop.is_set():
                woke = self.wake.is_set()
                self.wake.clear()
                self._intake(ctx)
                if woke or time.monotonic() >= next_poll or queue.depth(ctx.conn):
                    self._exchange(ctx)
                    next_poll = time.monotonic() + poll
                if self.options.once:
                    break
                self._upkeep(ctx)
                self.wake.wait(timeout=max(0.05, min(poll, next_poll - time.monotonic())))
        finally:
            try:
                observer.stop()
                observer.join(timeout=5)
            except Exception as e:  # watchdog can trip over a watched folder removed meanwhile
                log.debug("stopping the outbox watch: %r", e)
            if self.server is not None:
                self.server.stop()
            _event("stopped", code=ctx.config.code)
        return 0

    def _intake(self, ctx: NodeContext) -> None:
        settle = self.options.settle_seconds if self.options.settle_seconds is not None else ctx.config.settle_seconds
        try:
            outcomes = run_intake(ctx, settle_seconds=settle, wait=False)
        except FjshareError as e:
            log.error("intake failed: %s", e)
            return
        for o in outcomes:
            if o.status == "waiting":
                continue
            _event(f"intake {o.status}", source=o.source, bundle=o.bundle_id, rows=o.rows, detail=o.detail)
        if any(o.status == "waiting" for o in outcomes):
            threading.Timer(max(settle, 0.05), self.wake.set).start()

    def _upkeep(self, ctx: NodeContext) -> None:
        """Merge the search index's segments until new work arrives or UPKEEP_SECONDS pass (a step is
        about 0.2 s); nothing, not even the write lock, while the database is as it was when the
        last pass found nothing to merge (``data_version`` counts other connections' commits,
        ``total_changes`` this one's)."""
        if self._state(ctx) == self._merged_as_of:
            return
        start = time.monotonic()
        try:
            steps, merged = search.compact_until(
                ctx.conn, stop=lambda: self.wake.is_set() or time.monotonic() - start >= UPKEEP_SECONDS)
        except sqlite3.Error as e:  # a CLI command holding the database too long: next pass
            log.warning("search index upkeep skipped: %s", e)
            return
        if merged:
            self._merged_as_of = self._state(ctx)
        if steps:
            log.debug("search index upkeep: %d merge steps in %.2f s", steps, time.monotonic() - start)

    @staticmethod
    def _state(ctx: NodeContext) -> tuple[int, int]:
        return ctx.conn.execute("PRAGMA data_version").fetchone()[0], ctx.conn.total_changes

    def _exchange(self, ctx: NodeContext) -> None:
        if ctx.config.tier == "province":
            from fjshare.node.mailboxes import serve_mailboxes

            for r in serve_mailboxes(ctx):
                if r.received or r.delivered or r.acked or r.quarantined:
                    _event("mailbox", city=r.city, received=len(r.received), delivered=len(r.delivered),
                           acked=len(r.acked), quarantined=len(r.quarantined))
            return
        if ctx.config.parent is None:
            return
        row = ctx.conn.execute("SELECT next_attempt FROM peers WHERE code = ?", (ctx.config.parent.code,)).fetchone()
        if row is not None and row["next_attempt"] > time.time():
            return  # backing off after a failure
        from fjshare.node.sync import sync_with_parent

        try:
            r = sync_with_parent(ctx)
        except TransportError as e:
            failures = ctx.conn.execute("SELECT failures FROM peers WHERE code = ?", (ctx.config.parent.code,)).fetchone()
            log.warning("sync with %s failed (attempt %s): %s", ctx.config.parent.code,
                        failures["failures"] if failures else "?", e.message)
            return
        except FjshareError as e:
            log.error("sync with %s failed: %s", ctx.config.parent.code, e)
            return
        if r.pushed or r.pulled or r.acked or r.quarantined:
            _event("sync", peer=r.peer, pushed=len(r.pushed), pulled=len(r.pulled), acked=len(r.acked),
                   quarantined=len(r.quarantined), seconds=r.seconds)


def run_daemon(root: Path, options: DaemonOptions) -> int:
    daemon = Daemon(root, options)
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGINT, daemon.request_stop)
    return daemon.run()
