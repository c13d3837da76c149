"""SFTP client transport (paramiko), for the embedded server and for OpenSSH ``internal-sftp``.

The peer's host key is pinned by its ``SHA256:`` fingerprint (from the admission, DESIGN §4):
the key is compared right after key exchange, before the user name or any key is sent, and a
different key stops the link with :class:`~fjshare.errors.HostKeyMismatch`. No host-key policy
that trusts an unknown key is ever used.

Throughput: paramiko's defaults (2 MiB window, 32 KiB packets and SFTP requests, one write
round trip at a time) are tuned for interactive use. Here the SSH channel gets a large window
and packet size, SFTP requests are ~252 KiB (under OpenSSH's 256 KiB message limit), uploads
are pipelined (``set_pipelined``: paramiko#2438) and downloads prefetched with a bounded number
of requests in flight so memory stays flat.
"""

from __future__ import annotations

import errno
import posixpath
import socket
import stat as stat_mod
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import paramiko

from fjshare.errors import BadInput, HostKeyMismatch, TransportError
from fjshare.federation.transport.base import (
    COPY_BLOCK,
    Entry,
    PathNotFound,
    Transport,
    check_offset,
    check_path,
    open_local_for_resume,
)
from fjshare.trust.keys import load_ssh_private_key, ssh_fingerprint

#: SSH channel window: how much may be in flight before the receiver acknowledges.
WINDOW_SIZE = 64 * 1024 * 1024
#: Largest SSH packet we accept; OpenSSH accepts up to 256 KiB.
MAX_PACKET_SIZE = 256 * 1024
#: Bytes per SFTP read/write request; OpenSSH's sftp-server refuses messages over 256 KiB.
REQUEST_SIZE = 256 * 1024 - 4096
#: Read requests in flight during a download (× REQUEST_SIZE bytes buffered at most).
PREFETCH_REQUESTS = 64
#: Ciphers in order of preference: AES-GCM is one pass through OpenSSL, fastest in Python.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")

_SFTP_UNSUPPORTED = "Operation unsupported"


def normalise_fingerprint(fingerprint: str) -> str:
    """``SHA256:<base64>`` without padding. Raises :class:`BadInput` for another form."""
    fp = fingerprint.strip()
    if not fp.startswith("SHA256:") or len(fp) < 20:
        raise BadInput(
            f"not an SSH host key fingerprint: {fingerprint[:60]!r}",
            hint="give it as ssh-keygen -l prints it: SHA256:<43 base64 characters>",
        )
    return fp.rstrip("=")


class SftpTransport(Transport):
    """A :class:`Transport` over one SFTP session. Build it with :meth:`connect`.

    ``base`` is the remote directory transport paths are relative to (``/`` is the jail root
    of the embedded server and the chroot of an OpenSSH ``ChrootDirectory`` account).
    """

    def __init__(self, ssh: paramiko.Transport, sftp: paramiko.SFTPClient, *, label: str, base: str = "/") -> None:
        self._ssh = ssh
        self._sftp = sftp
        self.label = label
        self.base = base if base.endswith("/") else base + "/"
        self._posix_rename = True

    def __repr__(self) -> str:
        return f"SftpTransport({self.label}{self.base})"

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        username: str,
        client_key_path: Path,
        pinned_host_fingerprint: str,
        *,
        timeout: float = 30.0,
        base: str = "/",
        host_key_types: Sequence[str] = ("ssh-ed25519",),
    ) -> SftpTransport:
        """Open an SFTP session to ``username@host:port`` with the key in ``client_key_path``.

        The server must present the host key whose fingerprint is ``pinned_host_fingerprint``
        (``SHA256:...``); ``host_key_types`` restricts which of the server's keys it is asked
        for, so a server with several keys shows the pinned one.

        Raises :class:`~fjshare.errors.ConfigError` if the client key cannot be loaded,
        :class:`BadInput` for a malformed fingerprint, :class:`HostKeyMismatch` if the server
        shows another key, and :class:`TransportError` (naming ``host:port`` and the cause) if
        the connection, key exchange, authentication or SFTP start fails.
        """
        pinned = normalise_fingerprint(pinned_host_fingerprint)
        key = load_ssh_private_key(Path(client_key_path))
        where = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise TransportError(
                f"cannot connect to SFTP server {where}: {e.strerror or e}",
                hint="check that the peer is running and the address and port in node.toml are right",
            ) from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ssh = paramiko.Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
        try:
            opts = ssh.get_security_options()
            opts.key_types = tuple(host_key_types)
            opts.ciphers = tuple(c for c in CIPHERS if c in opts.ciphers) + tuple(
                c for c in opts.ciphers if c not in CIPHERS
            )
            ssh.banner_timeout = ssh.handshake_timeout = ssh.auth_timeout = timeout
            ssh.start_client(timeout=timeout)
            seen = ssh.get_remote_server_key()
            seen_fp = ssh_fingerprint(seen)
            if seen_fp != pinned:
                raise HostKeyMismatch(
                    f"SFTP server {where} presented host key {seen.get_name()} {seen_fp}, "
                    f"but the pinned key is {pinned}; the link is stopped (possible impostor)",
                    hint="confirm the new key with the peer's operator out of band (ssh-keygen -l -f "
                    "on their host key) before updating the pinned fingerprint; never accept it blindly",
                )
            try:
                ssh.auth_publickey(username, key)
            except paramiko.BadAuthenticationType as e:
                raise TransportError(
                    f"SFTP server {where} does not accept public-key login for {username!r} "
                    f"(it offers {', '.join(e.allowed_types) or 'nothing'})"
                ) from e
            except paramiko.AuthenticationException as e:
                raise TransportError(
                    f"SFTP server {where} refused key {ssh_fingerprint(key)} for user {username!r}",
                    hint="ask the peer's operator to register this node's public key (keys/id_ed25519.pub)",
                ) from e
            sftp = paramiko.SFTPClient.from_transport(
                ssh, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE
            )
            if sftp is None:
                raise TransportError(f"SFTP server {where} did not open an SFTP session")
            sftp.get_channel().settimeout(timeout)
        except TransportError:
            ssh.close()
            raise
        except (paramiko.SSHException, EOFError, OSError) as e:
            ssh.close()
            raise TransportError(f"SSH connection to {where} failed: {e or type(e).__name__}") from e
        ssh.set_keepalive(30)
        return cls(ssh, sftp, label=f"{username}@{where}", base=base)

    # ------------------------------------------------------------------ helpers

    def _abs(self, path: str, *, allow_root: bool = False) -> str:
        rel = check_path(path, allow_root=allow_root)
        return posixpath.join(self.base, rel) if rel else self.base.rstrip("/") or "/"

    def _fail(self, e: BaseException, what: str) -> NoReturn:
        if isinstance(e, OSError) and e.errno == errno.ENOENT:
            raise PathNotFound(f"{what}: no such file or directory on {self.label}") from e
        if isinstance(e, (paramiko.SSHException, EOFError, socket.timeout)) or not self._ssh.is_active():
            raise TransportError(f"{what}: connection to {self.label} lost ({e or type(e).__name__})") from e
        if isinstance(e, OSError) and e.errno == errno.EACCES:
            raise TransportError(f"{what}: permission denied by {self.label}") from e
        raise TransportError(f"{what}: {self.label} says {e}") from e

    def _lstat(self, path: str) -> paramiko.SFTPAttributes:
        """Attributes of ``path`` without following a link; a link counts as missing."""
        try:
            attr = self._sftp.lstat(self._abs(path))
        except (OSError, paramiko.SSHException, EOFError) as e:
            self._fail(e, path)
        if stat_mod.S_ISLNK(attr.st_mode or 0):
            raise PathNotFound(f"{path}: no such file or directory (a symbolic link is not followed)")
        return attr

    @staticmethod
    def _entry(name: str, attr: paramiko.SFTPAttributes) -> Entry:
        is_dir = stat_mod.S_ISDIR(attr.st_mode or 0)
        return Entry(name, 0 if is_dir else int(attr.st_size or 0), is_dir, float(attr.st_mtime or 0))

    # ------------------------------------------------------------------ interface

    def list(self, directory: str = "", *, include_hidden: bool = False) -> list[Entry]:
        """See :meth:`Transport.list`."""
        if directory not in ("", "."):
            if not stat_mod.S_ISDIR(self._lstat(directory).st_mode or 0):
                raise TransportError(f"list {directory}: not a directory")
        try:
            attrs = self._sftp.listdir_attr(self._abs(directory, allow_root=True))
        except (OSError, paramiko.SSHException, EOFError) as e:
            self._fail(e, directory or ".")
        out = []
        for a in attrs:
            mode = a.st_mode or 0
            if a.filename in (".", "..") or (a.filename.startswith(".") and not include_hidden):
                continue
            if stat_mod.S_ISDIR(mode) or stat_mod.S_ISREG(mode):
                out.append(self._entry(a.filename, a))
        return sorted(out, key=lambda e: e.name)

    def stat(self, path: str) -> Entry:
        """See :meth:`Transport.stat`."""
        return self._entry(posixpath.basename(path), self._lstat(path))

    def get(self, path: str, local_path: Path, *, offset: int = 0) -> int:
        """See :meth:`Transport.get`. Streams with bounded prefetch."""
        attr = self._lstat(path)
        if not stat_mod.S_ISREG(attr.st_mode or 0):
            raise TransportError(f"get {path}: not a regular file")
        size = int(attr.st_size or 0)
        total = 0
        with open_local_for_resume(Path(local_path), offset) as dst:
            try:
                src = self._sftp.open(self._abs(path), "rb", bufsize=0)
                src.MAX_REQUEST_SIZE = REQUEST_SIZE
                src.seek(offset)
                if offset < size:
                    src.prefetch(size, max_concurrent_requests=PREFETCH_REQUESTS)
            except (OSError, paramiko.SSHException, EOFError) as e:
                self._fail(e, f"get {path}")
            with src:
                while True:
                    try:
                        chunk = src.read(COPY_BLOCK)
                    except (OSError, paramiko.SSHException, EOFError) as e:
                        self._fail(e, f"get {path}")
                    if not chunk:
                        break
                    try:
                        dst.write(chunk)
                    except OSError as e:
                        raise TransportError(f"cannot write {local_path}: {e.strerror or e}") from e
                    total += len(chunk)
            dst.truncate()
            dst.flush()
        return total

    def put(self, local_path: Path, path: str, *, offset: int = 0) -> int:
        """See :meth:`Transport.put`. Writes are pipelined; errors surface at close."""
        remote_size = 0
        if offset:
            remote_size = int(self._lstat(path).st_size or 0)
            check_offset(offset, remote_size, path)
        else:
            check_path(path)
        try:
            src = open(local_path, "rb")
        except OSError as e:
            raise TransportError(f"cannot read {local_path}: {e.strerror or e}") from e
        total = 0
        with src:
            src.seek(offset)
            try:
                with self._sftp.open(self._abs(path), "r+b" if offset else "wb", bufsize=0) as dst:
                    dst.MAX_REQUEST_SIZE = REQUEST_SIZE
                    dst.set_pipelined(True)
                    dst.seek(offset)
                    while True:
                        chunk = src.read(COPY_BLOCK)
                        if not chunk:
                            break
                        dst.write(chunk)
                        total += len(chunk)
                    if remote_size > offset + total:
                        dst.truncate(offset + total)
            except (OSError, paramiko.SSHException, EOFError) as e:
                self._fail(e, f"put {path}")
        return total

    def rename(self, src: str, dst: str) -> None:
        """See :meth:`Transport.rename`.

        Uses ``posix-rename@openssh.com``; against a server without it, an existing file
        ``dst`` is removed first (not atomic, but nothing is lost: the source stays until then).
        """
        check_path(src)
        check_path(dst)
        self._lstat(src)
        try:
            dst_attr = self._lstat(dst)
        except PathNotFound:
            dst_attr = None
        if dst_attr is not None and stat_mod.S_ISDIR(dst_attr.st_mode or 0):
            raise TransportError(f"cannot rename {src} to {dst}: {dst} is an existing directory")
        a, b = self._abs(src), self._abs(dst)
        try:
            if self._posix_rename:
                try:
                    self._sftp.posix_rename(a, b)
                    return
                except OSError as e:
                    if e.errno is not None or _SFTP_UNSUPPORTED not in str(e):
                        raise
                    self._posix_rename = False
            if dst_attr is not None:
                self._sftp.remove(b)
            self._sftp.rename(a, b)
        except (OSError, paramiko.SSHException, EOFError) as e:
            self._fail(e, f"rename {src} -> {dst}")

    def mkdir(self, path: str, *, parents: bool = True) -> None:
        """See :meth:`Transport.mkdir`."""
        parts = check_path(path).split("/")
        for i in range(0 if parents else len(parts) - 1, len(parts)):
            sub = "/".join(parts[: i + 1])
            try:
                attr = self._lstat(sub)
            except PathNotFound:
                try:
                    self._sftp.mkdir(self._abs(sub))
                except (OSError, paramiko.SSHException, EOFError) as e:
                    self._fail(e, f"mkdir {sub}")
                continue
            if not stat_mod.S_ISDIR(attr.st_mode or 0):
                raise TransportError(f"cannot create directory {path}: {sub} is a file")

    def delete(self, path: str) -> None:
        """See :meth:`Transport.delete`."""
        attr = self._lstat(path)
        try:
            if stat_mod.S_ISDIR(attr.st_mode or 0):
                self._sftp.rmdir(self._abs(path))
            else:
                self._sftp.remove(self._abs(path))
        except (OSError, paramiko.SSHException, EOFError) as e:
            self._fail(e, f"delete {path}")

    def rmtree(self, path: str) -> None:
        """See :meth:`Transport.rmtree`. Links inside are removed, never followed."""
        if not stat_mod.S_ISDIR(self._lstat(path).st_mode or 0):
            raise TransportError(f"rmtree {path}: not a directory")
        self._rmtree_abs(self._abs(path), path)

    def _rmtree_abs(self, apath: str, shown: str) -> None:
        try:
            for a in self._sftp.listdir_attr(apath):
                if a.filename in (".", ".."):
                    continue
                child = posixpath.join(apath, a.filename)
                if stat_mod.S_ISDIR(a.st_mode or 0):
                    self._rmtree_abs(child, shown)
                else:
                    self._sftp.remove(child)
            self._sftp.rmdir(apath)
        except (OSError, paramiko.SSHException, EOFError) as e:
            self._fail(e, f"rmtree {shown}")

    def close(self) -> None:
        """Close the SFTP session and the SSH connection."""
        try:
            self._sftp.close()
        finally:
            self._ssh.close()
