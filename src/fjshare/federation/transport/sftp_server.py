"""The node's embedded SFTP server (paramiko server mode, DESIGN §6).

Each connection is one account, found by an :class:`AccountResolver` from the user name and the
public key the client proves it holds. Only public-key login exists: passwords, keyboard-
interactive and "none" are always refused, as are shells, exec, port forwarding and every
subsystem but ``sftp``. A refused login is logged (logger ``fjshare.sftp``) with the user name,
key fingerprint and address.

An account sees its own directory as ``/``, like an OpenSSH chroot: paths are resolved
lexically inside it (``..`` never climbs above ``/``), symbolic links are invisible and never
followed (each component is checked with ``lstat`` and files are opened ``O_NOFOLLOW``), and
links cannot be created. Writes are allowed only where the account's rule says so; written
files are fsynced when closed.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat as stat_mod
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

from fjshare.errors import TransportError
from fjshare.federation.transport.sftp_client import MAX_PACKET_SIZE, WINDOW_SIZE
from fjshare.trust.keys import load_ssh_private_key, parse_ssh_public_key, ssh_fingerprint

log = logging.getLogger("fjshare.sftp")
#: paramiko's own messages about server connections go here, below ``fjshare.sftp``.
SSH_LOG = "fjshare.sftp.ssh"


class _HangupFilter(logging.Filter):
    """A client closing its socket shows up in paramiko as an ERROR "connection reset": drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Connection reset by peer" not in record.getMessage()


logging.getLogger(SSH_LOG).addFilter(_HangupFilter())

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: Largest read served at once (OpenSSH's sftp-server serves up to 255 KiB).
MAX_READ = 256 * 1024
#: Seconds a connection may take to authenticate before it is dropped.
AUTH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Area:
    """A directory shown to an account as a top-level name, e.g. ``/outbox`` or ``/deliveries``."""

    path: Path
    writable: bool


@dataclass(frozen=True)
class Account:
    """What one SFTP login may see and change.

    ``root`` is shown as ``/``. ``writable`` is ``True`` (everything below ``/``), ``False``
    (read-only) or a set of top-level directory names inside which writes are allowed (a city
    mailbox: ``frozenset({"up"})``; the directories themselves cannot be removed or renamed).
    ``areas`` adds top-level names that map to other directories (an agency's ``outbox`` and
    ``deliveries``), each with its own write rule.
    """

    name: str
    root: Path
    writable: bool | frozenset[str] = True
    areas: Mapping[str, Area] = field(default_factory=dict)
    #: Called with the real path of every file this account finished writing (closed after a
    #: write, or renamed into place), so the node can record who supplied it (the handler).
    on_write: Callable[[Path], None] | None = None


class AccountResolver(Protocol):
    """Finds the account for a login; ``None`` refuses it."""

    def resolve(self, username: str, key: paramiko.PKey) -> Account | None:
        """The account ``username`` may use when proving ``key``, or ``None``."""
        ...


class StaticAccounts:
    """A fixed table: user name → (allowed ``ssh-ed25519`` public key lines, root, [writable]).

    Raises :class:`~fjshare.errors.BadInput` from the constructor for a malformed key line.
    """

    def __init__(self, table: Mapping[str, tuple]) -> None:  # type: ignore[type-arg]
        self._table: dict[str, tuple[set[str], Account]] = {}
        for username, spec in table.items():
            lines: Iterable[str] = spec[0]
            root = Path(spec[1])
            writable = spec[2] if len(spec) > 2 else True
            keys = {parse_ssh_public_key(line).get_base64() for line in lines}
            self._table[username] = (keys, Account(username, root, writable))

    def resolve(self, username: str, key: paramiko.PKey) -> Account | None:
        """See :class:`AccountResolver`."""
        found = self._table.get(username)
        if found is None or key.get_base64() not in found[0]:
            return None
        return found[1]


# --------------------------------------------------------------------------- authentication


class _Login(paramiko.ServerInterface):
    """Per-connection authentication policy: public key only, then the ``sftp`` subsystem only."""

    def __init__(self, accounts: AccountResolver, peer: str) -> None:
        self.accounts = accounts
        self.peer = peer
        self.account: Account | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        log.warning("refused SFTP password login for user %r from %s: only public keys are accepted", username, self.peer)
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> int:
        log.warning("refused SFTP keyboard-interactive login for user %r from %s", username, self.peer)
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # paramiko calls this once to ask whether a key is acceptable and again after checking
        # the signature, so the account kept is the one of the key actually proved.
        try:
            account = self.accounts.resolve(username, key)
        except Exception:  # a broken resolver must refuse, never crash the server thread
            log.exception("account lookup failed for user %r", username)
            account = None
        self.account = account
        if account is None:
            log.warning(
                "refused SFTP login for user %r with key %s %s from %s: unknown user or key",
                username, key.get_name(), ssh_fingerprint(key), self.peer,
            )
            return paramiko.AUTH_FAILED
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        if name != "sftp" or self.account is None:
            return False
        return super().check_channel_subsystem_request(channel, name)


# --------------------------------------------------------------------------- the jail


class _Deny(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _attrs(name: str, st: os.stat_result) -> paramiko.SFTPAttributes:
    return paramiko.SFTPAttributes.from_stat(st, name)


class _Handle(paramiko.SFTPHandle):
    """An open file: positional reads and writes on a raw descriptor; fsync on close if written."""

    def __init__(self, fd: int, flags: int, on_close: Callable[[], None] | None = None) -> None:
        super().__init__(flags)
        self.fd = fd
        self.append = bool(flags & os.O_APPEND)
        self.dirty = False
        self.on_close = on_close

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self.fd, min(length, MAX_READ), offset)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def write(self, offset: int, data: bytes) -> int:
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view) if self.append else os.pwrite(self.fd, view, offset)
                view = view[n:]
                offset += n
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        self.dirty = True
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return _attrs("", os.fstat(self.fd))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        try:
            if attr._flags & attr.FLAG_SIZE:
                os.ftruncate(self.fd, attr.st_size)
                self.dirty = True
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def close(self) -> None:
        try:
            if self.dirty:
                os.fsync(self.fd)
        finally:
            os.close(self.fd)
        if self.dirty and self.on_close is not None:
            try:
                self.on_close()
            except Exception:  # recording must never break the transfer
                log.exception("recording an upload failed")


class JailedSFTP(paramiko.SFTPServerInterface):
    """SFTP operations for one authenticated account, confined to its directories."""

    def __init__(self, server: _Login, *args: object, **kwargs: object) -> None:
        super().__init__(server, *args, **kwargs)
        if server.account is None:  # cannot happen: the subsystem needs a login
            raise TransportError("SFTP session without an account")
        self.account = server.account

    # ------------------------------------------------------------------ path resolution

    def _parts(self, path: str) -> list[str]:
        if "\x00" in path:
            raise _Deny(SFTP_PERMISSION_DENIED)
        parts: list[str] = []
        for p in path.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if not parts:
                    log.warning("account %s: refused path climbing out of its jail: %r", self.account.name, path)
                    raise _Deny(SFTP_PERMISSION_DENIED)
                parts.pop()
            else:
                parts.append(p)
        return parts

    def _resolve(self, path: str, *, write: bool = False, missing_ok: bool = False) -> Path:
        """Real path of ``path``; raises :class:`_Deny` for escapes, links, missing or read-only."""
        parts = self._parts(path)
        acct = self.account
        if parts and parts[0] in acct.areas:
            area = acct.areas[parts[0]]
            base, rest, writable = area.path, parts[1:], bool(area.writable)
            if write and not rest:
                raise _Deny(SFTP_PERMISSION_DENIED)
        else:
            base, rest = acct.root, parts
            rule = acct.writable
            if isinstance(rule, bool):
                writable = rule and bool(rest)
            else:
                writable = len(rest) >= 2 and rest[0] in rule
        if write and not writable:
            raise _Deny(SFTP_PERMISSION_DENIED)
        current = base
        for i, part in enumerate(rest):
            current = current / part
            try:
                st = current.lstat()
            except OSError as e:
                if missing_ok and i == len(rest) - 1 and e.errno == errno.ENOENT:
                    return current
                raise _Deny(SFTP_NO_SUCH_FILE) from e
            if stat_mod.S_ISLNK(st.st_mode) or (i < len(rest) - 1 and not stat_mod.S_ISDIR(st.st_mode)):
                raise _Deny(SFTP_NO_SUCH_FILE)
        return current

    def _guard(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except _Deny as d:
            return d.code
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    # ------------------------------------------------------------------ operations

    def canonicalize(self, path: str) -> str:
        try:
            return "/" + "/".join(self._parts(path))
        except _Deny:
            return "/"

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        def run() -> list[paramiko.SFTPAttributes]:
            d = self._resolve(path)
            out = []
            with os.scandir(d) as it:
                for de in it:
                    st = de.stat(follow_symlinks=False)
                    if stat_mod.S_ISDIR(st.st_mode) or stat_mod.S_ISREG(st.st_mode):
                        out.append(_attrs(de.name, st))
            if not self._parts(path):
                for name, area in self.account.areas.items():
                    if area.path.is_dir():
                        out.append(_attrs(name, area.path.stat()))
            return out

        return self._guard(run)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        return self._guard(lambda: _attrs(Path(path).name, self._resolve(path).lstat()))

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> _Handle | int:
        def run() -> _Handle:
            write = bool(flags & _WRITE_FLAGS)
            real = self._resolve(path, write=write, missing_ok=bool(flags & os.O_CREAT))
            fd = os.open(real, flags | _NOFOLLOW | os.O_CLOEXEC, 0o644)
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise _Deny(SFTP_FAILURE)
            return _Handle(fd, flags, self._written(real) if write else None)

        return self._guard(run)

    def _written(self, real: Path) -> Callable[[], None] | None:
        hook = self.account.on_write
        return None if hook is None else (lambda: hook(real))

    def _renamed(self, dst: Path) -> None:
        if self.account.on_write is not None and dst.is_file():
            try:
                self.account.on_write(dst)
            except Exception:
                log.exception("recording an upload failed")

    def remove(self, path: str) -> int:
        def run() -> int:
            real = self._resolve(path, write=True)
            if real.is_dir():
                return SFTP_FAILURE
            os.unlink(real)
            return SFTP_OK

        return self._guard(run)

    def rename(self, oldpath: str, newpath: str) -> int:
        """Plain SFTP rename never replaces an existing name (as OpenSSH's sftp-server)."""

        def run() -> int:
            src = self._resolve(oldpath, write=True)
            dst = self._resolve(newpath, write=True, missing_ok=True)
            if os.path.lexists(dst):
                return SFTP_FAILURE
            os.rename(src, dst)
            self._renamed(dst)
            return SFTP_OK

        return self._guard(run)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        """``posix-rename@openssh.com``: rename(2) semantics, an existing file is replaced."""

        def run() -> int:
            src = self._resolve(oldpath, write=True)
            dst = self._resolve(newpath, write=True, missing_ok=True)
            os.rename(src, dst)
            _fsync_dir(dst.parent)
            self._renamed(dst)
            return SFTP_OK

        return self._guard(run)

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        def run() -> int:
            os.mkdir(self._resolve(path, write=True, missing_ok=True), 0o755)
            return SFTP_OK

        return self._guard(run)

    def rmdir(self, path: str) -> int:
        def run() -> int:
            os.rmdir(self._resolve(path, write=True))
            return SFTP_OK

        return self._guard(run)

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        """Size and times are applied; owner and permission changes are ignored."""

        def run() -> int:
            wants = attr._flags & (attr.FLAG_SIZE | attr.FLAG_AMTIME)
            real = self._resolve(path, write=bool(wants))
            if attr._flags & attr.FLAG_SIZE:
                os.truncate(real, attr.st_size)
            if attr._flags & attr.FLAG_AMTIME:
                os.utime(real, (attr.st_atime, attr.st_mtime), follow_symlinks=False)
            return SFTP_OK

        return self._guard(run)

    def readlink(self, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def symlink(self, target_path: str, path: str) -> int:
        log.warning("account %s: refused to create symbolic link %r", self.account.name, path)
        return SFTP_PERMISSION_DENIED


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the server


class SftpServer:
    """Embedded SFTP server: one thread accepting, one per connection.

    ``listen_port`` 0 picks a free port; read :attr:`port` after :meth:`start`. Raises
    :class:`~fjshare.errors.ConfigError` from :meth:`start` if the host key cannot be loaded,
    :class:`TransportError` if the address cannot be bound.
    """

    def __init__(self, listen_host: str, listen_port: int, host_key_path: Path, accounts: AccountResolver) -> None:
        self.listen_host = listen_host
        self.port = listen_port
        self.host_key_path = Path(host_key_path)
        self.accounts = accounts
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Load the host key, bind, and accept connections in a background thread."""
        self._host_key = load_ssh_private_key(self.host_key_path)
        try:
            sock = socket.create_server((self.listen_host, self.port), reuse_port=False)
        except OSError as e:
            raise TransportError(f"cannot listen on {self.listen_host}:{self.port}: {e.strerror or e}") from e
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        t = threading.Thread(target=self._accept_loop, name=f"fjshare-sftp-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("SFTP server listening on %s:%d, host key %s", self.listen_host, self.port, ssh_fingerprint(self._host_key))

    def stop(self) -> None:
        """Stop accepting, close every connection and wait for the threads."""
        self._stopping.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        with self._lock:
            transports = list(self._transports)
        for t in transports:
            t.close()
        with self._lock:
            threads = list(self._threads)
        for th in threads:
            th.join(timeout=5)
        with self._lock:
            self._threads = [th for th in self._threads if th.is_alive()]

    def __enter__(self) -> SftpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stopping.is_set():
            try:
                conn, addr = sock.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(0.1)
                continue
            th = threading.Thread(target=self._serve, args=(conn, f"{addr[0]}:{addr[1]}"), daemon=True)
            th.start()
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [th]

    def _serve(self, conn: socket.socket, peer: str) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(conn, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
        t.set_log_channel(SSH_LOG)
        t.add_server_key(self._host_key)
        t.set_subsystem_handler("sftp", paramiko.SFTPServer, JailedSFTP)
        with self._lock:
            self._transports.add(t)
        try:
            t.start_server(server=_Login(self.accounts, peer))
            deadline = time.monotonic() + AUTH_TIMEOUT
            while t.is_active() and not t.is_authenticated():
                if time.monotonic() > deadline or self._stopping.is_set():
                    log.warning("dropping SFTP connection from %s: no login within %.0fs", peer, AUTH_TIMEOUT)
                    return
                time.sleep(0.05)
            while t.is_active() and not self._stopping.is_set():
                t.join(timeout=0.5)
        except (paramiko.SSHException, EOFError, OSError) as e:
            log.info("SFTP connection from %s ended: %s", peer, e or type(e).__name__)
        finally:
            t.close()
            with self._lock:
                self._transports.discard(t)


__all__ = ["Account", "AccountResolver", "Area", "JailedSFTP", "SftpServer", "StaticAccounts"]
