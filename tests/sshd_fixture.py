"""A real OpenSSH ``sshd`` on loopback for the transport tests and the transfer benchmark.

The server runs in the foreground (``-D -e``) with its own config, host key, ``authorized_keys``
and pid file, and serves one account (``fjtest``) with ``ChrootDirectory`` + ``ForceCommand
internal-sftp``, as an operator would set it up for a city (DESIGN §6). ``ChrootDirectory`` needs
every path component root-owned and not group/world-writable, so the state lives under
``/var/lib/fjshare-sshd-*`` (not ``/tmp``); the writable directory ``box/`` inside the chroot is
owned by the account. Needs root (to chroot and, if missing, to create the account, which is
removed again when the last test process using it is done). Set ``FJSHARE_KEEP_SSHD_LOG=FILE``
to keep sshd's log when the server stops (for debugging a refused login).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fjshare.trust.keys import SshKeyFiles, generate_ssh_keys, load_ssh_public_key, ssh_fingerprint

SSHD = Path("/usr/sbin/sshd")
USER = "fjtest"


def sshd_unavailable_reason() -> str | None:
    """Why a real sshd cannot be used here, or ``None`` if it can."""
    if not SSHD.exists():
        return f"OpenSSH sshd not installed ({SSHD} missing; apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "the sshd tests need root (ChrootDirectory and a test account)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OpenSshd:
    """A running sshd: where it listens, its keys and the directories of the account."""

    port: int
    keys: SshKeyFiles
    host_fingerprint: str
    state: Path
    chroot: Path
    box: Path
    proc: subprocess.Popen
    log_path: Path

    username: str = USER
    base: str = "/box"

    def known_hosts_file(self) -> Path:
        """A known_hosts file pinning this server's key, for OpenSSH's ``sftp`` client."""
        path = self.state / "known_hosts"
        path.write_text(f"[127.0.0.1]:{self.port} {self.keys.host_pub.read_text().split()[0]} "
                        f"{self.keys.host_pub.read_text().split()[1]}\n")
        return path

    def clear_box(self) -> None:
        """Empty the account's writable directory (between tests)."""
        for child in self.box.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        keep = os.environ.get("FJSHARE_KEEP_SSHD_LOG")
        if keep:
            shutil.copy(self.log_path, keep)
        shutil.rmtree(self.state, ignore_errors=True)
        _release_account()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


_USERS_DIR = Path("/run/fjshare-test-account")  # one file per test process using the account


@contextlib.contextmanager
def _account_lock():
    _USERS_DIR.mkdir(mode=0o755, exist_ok=True)
    with open(_USERS_DIR / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire_account() -> pwd.struct_passwd:
    """Make sure the account exists and register this process as a user of it.

    Several test sessions may run at once (colleagues, CI jobs); the account is created by the
    first and removed by the last, under a file lock, and only if a test created it.
    """
    with _account_lock():
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                           check=True, capture_output=True)
            (_USERS_DIR / ".created").touch()
            pw = pwd.getpwnam(USER)
        # an account with a "!" password is "locked" for sshd without PAM, even for key logins
        subprocess.run(["usermod", "-p", "*", USER], check=True, capture_output=True)
        (_USERS_DIR / str(os.getpid())).touch()
        return pw


def _release_account() -> None:
    with _account_lock():
        (_USERS_DIR / str(os.getpid())).unlink(missing_ok=True)
        users = [p for p in _USERS_DIR.iterdir() if p.name.isdigit()]
        for p in users:
            if not _pid_alive(int(p.name)):
                p.unlink(missing_ok=True)
        if not any(p.exists() for p in users) and (_USERS_DIR / ".created").exists():
            subprocess.run(["userdel", USER], check=False, capture_output=True)
            (_USERS_DIR / ".created").unlink(missing_ok=True)


def start_sshd() -> OpenSshd:
    """Start sshd on a free loopback port; raise RuntimeError (with its log) if it does not come up."""
    pw = _acquire_account()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    state = Path(tempfile.mkdtemp(prefix="fjshare-sshd-", dir="/var/lib"))
    state.chmod(0o755)
    keys = generate_ssh_keys(state / "keys", comment="fjshare-test")
    chroot = state / "chroot"
    chroot.mkdir(mode=0o755)
    box = chroot / "box"
    box.mkdir(mode=0o755)
    os.chown(box, pw.pw_uid, pw.pw_gid)
    authorized = state / "authorized_keys"
    authorized.write_text(keys.client_pub.read_text())
    authorized.chmod(0o644)
    port = free_port()
    config = state / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {keys.host}
PidFile {state / 'sshd.pid'}
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
AllowUsers {USER}
LogLevel VERBOSE
Subsystem sftp internal-sftp
Match User {USER}
    ChrootDirectory {chroot}
    ForceCommand internal-sftp
    AllowTcpForwarding no
    X11Forwarding no
    PermitTTY no
"""
    )
    log_path = state / "sshd.log"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    server = OpenSshd(
        port=port, keys=keys, host_fingerprint=ssh_fingerprint(load_ssh_public_key(keys.host_pub)),
        state=state, chroot=chroot, box=box, proc=proc, log_path=log_path,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = server.log()
            server.stop()
            raise RuntimeError(f"sshd exited with {proc.returncode}:\n{text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0"):
                    return server
        except OSError:
            time.sleep(0.05)
    text = server.log()
    server.stop()
    raise RuntimeError(f"sshd did not come up on port {port}:\n{text}")


# --------------------------------------------------------------------------- pytest fixtures

_RUNNING: list[OpenSshd] = []


def _require_sshd() -> None:
    reason = sshd_unavailable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def openssh_server():
    """One real sshd for the whole session (shared by every module that imports this fixture)."""
    _require_sshd()
    if not _RUNNING:
        _RUNNING.append(start_sshd())
    server = _RUNNING[0]
    yield server
    if _RUNNING and _RUNNING[0] is server:
        _RUNNING.clear()
        server.stop()
