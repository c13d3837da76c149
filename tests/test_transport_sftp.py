"""The SFTP client and the embedded server: pinning, login policy, jails (DESIGN §4, §6)."""

from __future__ import annotations

import logging
import re
import os
import socket
from pathlib import Path

import paramiko
import pytest
from sshd_fixture import free_port, openssh_server  # noqa: F401  (fixture)

from fjshare.errors import BadInput, HostKeyMismatch, TransportError
from fjshare.federation.transport import upload_dir
from fjshare.federation.transport.sftp_client import SftpTransport
from fjshare.federation.transport.sftp_server import Account, Area, SftpServer, StaticAccounts
from fjshare.trust.keys import generate_ssh_keys, load_ssh_public_key, ssh_fingerprint

XIAMEN = "350200"
FUZHOU = "350100"


@pytest.fixture
def keys(tmp_path: Path):
    return generate_ssh_keys(tmp_path / "keys")


@pytest.fixture
def other_keys(tmp_path: Path):
    return generate_ssh_keys(tmp_path / "other-keys")


def _fp(pub: Path) -> str:
    return ssh_fingerprint(load_ssh_public_key(pub))


class _Accounts:
    """An AccountResolver built from Account objects and key lines, as the node will wire it."""

    def __init__(self, table: dict[str, tuple[str, Account]]) -> None:
        self.table = table

    def resolve(self, username: str, key: paramiko.PKey) -> Account | None:
        found = self.table.get(username)
        if found and found[0].split()[1] == key.get_base64():
            return found[1]
        return None


@pytest.fixture
def server(tmp_path: Path, keys, other_keys):
    """Province server with two city mailboxes (Xiamen, Fuzhou) jailed apart."""
    jails = {}
    for code in (XIAMEN, FUZHOU):
        jails[code] = tmp_path / "exchange" / code
        jails[code].mkdir(parents=True)
    srv = SftpServer(
        "127.0.0.1", 0, keys.host,
        StaticAccounts({
            XIAMEN: ([keys.client_pub.read_text()], jails[XIAMEN]),
            FUZHOU: ([other_keys.client_pub.read_text()], jails[FUZHOU]),
        }),
    )
    srv.start()
    srv.jails = jails  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _connect(srv: SftpServer, user: str, key: Path, host_pub: Path) -> SftpTransport:
    return SftpTransport.connect("127.0.0.1", srv.port, user, key, _fp(host_pub), timeout=10)


def _raw_sftp(srv: SftpServer, user: str, key: Path) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    t = paramiko.Transport(("127.0.0.1", srv.port))
    t.start_client(timeout=10)
    t.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(str(key)))
    return t, paramiko.SFTPClient.from_transport(t)


# --------------------------------------------------------------------------- login policy


def test_unknown_key_is_refused_and_logged_with_its_fingerprint(server, keys, tmp_path, caplog) -> None:
    stranger = generate_ssh_keys(tmp_path / "stranger")
    with caplog.at_level(logging.WARNING, logger="fjshare.sftp"):
        with pytest.raises(TransportError, match="refused key") as exc:
            _connect(server, XIAMEN, stranger.client, keys.host_pub)
    assert "127.0.0.1" in str(exc.value)
    fp = _fp(stranger.client_pub)
    assert any(XIAMEN in r.getMessage() and fp in r.getMessage() for r in caplog.records)


def test_unknown_user_is_refused_and_logged(server, keys, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fjshare.sftp"):
        with pytest.raises(TransportError):
            _connect(server, "350500", keys.client, keys.host_pub)
    assert any("'350500'" in r.getMessage() for r in caplog.records)


def test_password_and_none_logins_are_refused(server, caplog) -> None:
    t = paramiko.Transport(("127.0.0.1", server.port))
    try:
        t.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as exc:
            t.auth_none(XIAMEN)
        assert exc.value.allowed_types == ["publickey"]
        with caplog.at_level(logging.WARNING, logger="fjshare.sftp"):
            with pytest.raises(paramiko.AuthenticationException):
                t.auth_password(XIAMEN, "hunter2")
        assert not t.is_authenticated()
    finally:
        t.close()


def test_shell_and_exec_are_refused_after_login(server, keys) -> None:
    t, sftp = _raw_sftp(server, XIAMEN, keys.client)
    try:
        chan = t.open_session()
        with pytest.raises(paramiko.SSHException):
            chan.exec_command("cat /etc/passwd")
        chan = t.open_session()
        with pytest.raises(paramiko.SSHException):
            chan.invoke_shell()
    finally:
        t.close()


def test_a_changed_host_key_stops_the_link(server, keys, other_keys) -> None:
    with pytest.raises(HostKeyMismatch) as exc:
        _connect(server, XIAMEN, keys.client, other_keys.host_pub)
    msg = str(exc.value)
    assert _fp(other_keys.host_pub) in msg and _fp(keys.host_pub) in msg and "what to do" in msg


def test_a_malformed_pinned_fingerprint_is_bad_input(server, keys) -> None:
    with pytest.raises(BadInput, match="fingerprint"):
        SftpTransport.connect("127.0.0.1", server.port, XIAMEN, keys.client, "MD5:aa:bb", timeout=5)


def test_connection_failure_names_host_and_port(keys) -> None:
    port = free_port()
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        SftpTransport.connect("127.0.0.1", port, XIAMEN, keys.client, _fp(keys.host_pub), timeout=5)


def test_a_server_that_is_not_ssh_is_a_transport_error(keys) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        import threading

        def babble() -> None:
            conn, _ = listener.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

        threading.Thread(target=babble, daemon=True).start()
        with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
            SftpTransport.connect("127.0.0.1", port, XIAMEN, keys.client, _fp(keys.host_pub), timeout=5)


# --------------------------------------------------------------------------- jails


def test_a_city_cannot_see_another_citys_mailbox(server, keys, other_keys, tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"xiamen data")
    with _connect(server, XIAMEN, keys.client, keys.host_pub) as xm:
        xm.mkdir("up")
        xm.put(tmp_path / "f", "up/private.bin")
    with _connect(server, FUZHOU, other_keys.client, keys.host_pub) as fz:
        assert fz.list() == []
        assert not fz.exists("up/private.bin")
    t, sftp = _raw_sftp(server, FUZHOU, other_keys.client)
    try:
        for path in (f"/../{XIAMEN}/up/private.bin", f"../{XIAMEN}/up/private.bin"):
            with pytest.raises(PermissionError):
                sftp.open(path)
        assert sftp.normalize("/../../..") == "/"
    finally:
        t.close()


def test_raw_sftp_requests_cannot_leave_the_jail(server, keys, tmp_path) -> None:
    jail = server.jails[XIAMEN]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.symlink(outside, jail / "link")
    t, sftp = _raw_sftp(server, XIAMEN, keys.client)
    try:
        with pytest.raises(FileNotFoundError):
            sftp.open("/etc/passwd")  # "/" is the jail root
        with pytest.raises(FileNotFoundError):
            sftp.open("/link/secret")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/link")
        with pytest.raises(FileNotFoundError):
            sftp.stat("link")
        assert sftp.listdir("/") == []  # the link is invisible
        with pytest.raises(PermissionError):
            sftp.symlink(str(outside / "secret"), "/made-link")
        with pytest.raises(OSError):
            sftp.rename("/nothing", "/../escaped")
        sftp.mkdir("/d")
        with sftp.open("/d/../f", "wb") as f:
            f.write(b"inside")
        assert (jail / "f").read_bytes() == b"inside"
    finally:
        t.close()
    assert not (jail / "made-link").exists()
    assert (outside / "secret").read_bytes() == b"secret"


def test_write_rules_up_writable_down_readable(tmp_path, keys) -> None:
    """A city mailbox: the city writes only under up/, reads down/ (DESIGN §3)."""
    box = tmp_path / "exchange" / XIAMEN
    (box / "up").mkdir(parents=True)
    (box / "down").mkdir()
    (box / "down" / "for-city.bin").write_bytes(b"from the province")
    account = Account(XIAMEN, box, writable=frozenset({"up"}))
    accounts = _Accounts({XIAMEN: (keys.client_pub.read_text(), account)})
    (tmp_path / "f").write_bytes(b"1")
    with SftpServer("127.0.0.1", 0, keys.host, accounts) as srv, _connect(srv, XIAMEN, keys.client, keys.host_pub) as t:
        t.put(tmp_path / "f", "up/x")
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        (bundle / "bagit.txt").write_bytes(b"x")
        upload_dir(t, bundle, "up", "b1")
        assert [e.name for e in t.list("up")] == ["b1", "x"]
        t.get("down/for-city.bin", tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == b"from the province"
        for denied in (lambda: t.put(tmp_path / "f", "down/x"), lambda: t.put(tmp_path / "f", "x"),
                       lambda: t.delete("down/for-city.bin"), lambda: t.delete("up"), lambda: t.rename("up", "up2"),
                       lambda: t.rename("up/x", "down/x"), lambda: t.mkdir("new")):
            with pytest.raises(TransportError, match="permission denied"):
                denied()
    assert (box / "down" / "for-city.bin").exists() and (box / "up").is_dir()


def test_an_agency_sees_its_outbox_and_deliveries_as_areas(tmp_path, keys) -> None:
    home = tmp_path / "home"
    outbox = home / "outbox" / "AGENCY"
    deliveries = home / "deliveries" / "AGENCY"
    outbox.mkdir(parents=True)
    deliveries.mkdir(parents=True)
    (deliveries / "granted.parquet").write_bytes(b"PAR1")
    empty_root = home / "sftp-root" / "AGENCY"
    empty_root.mkdir(parents=True)
    account = Account("AGENCY", empty_root, writable=False,
                      areas={"outbox": Area(outbox, True), "deliveries": Area(deliveries, False)})
    accounts = _Accounts({"AGENCY": (keys.client_pub.read_text(), account)})
    (tmp_path / "data.csv").write_bytes(b"a,b\n1,2\n")
    with SftpServer("127.0.0.1", 0, keys.host, accounts) as srv, _connect(srv, "AGENCY", keys.client, keys.host_pub) as t:
        assert [e.name for e in t.list()] == ["deliveries", "outbox"]
        t.put(tmp_path / "data.csv", "outbox/data.csv")
        t.get("deliveries/granted.parquet", tmp_path / "g")
        with pytest.raises(TransportError, match="permission denied"):
            t.put(tmp_path / "data.csv", "deliveries/x.csv")
        with pytest.raises(TransportError, match="permission denied"):
            t.delete("outbox")
    assert (outbox / "data.csv").read_bytes() == b"a,b\n1,2\n"


def test_stop_closes_open_connections(server, keys) -> None:
    t = _connect(server, XIAMEN, keys.client, keys.host_pub)
    server.stop()
    with pytest.raises(TransportError):
        t.list()
    t.close()


# --------------------------------------------------------------------------- against OpenSSH


def test_openssh_changed_host_key_raises_host_key_mismatch(openssh_server, other_keys) -> None:  # noqa: F811
    s = openssh_server
    with pytest.raises(HostKeyMismatch, match=re.escape(s.host_fingerprint)):
        SftpTransport.connect("127.0.0.1", s.port, s.username, s.keys.client, _fp(other_keys.host_pub), timeout=10)


def test_openssh_refuses_an_unregistered_key(openssh_server, other_keys) -> None:  # noqa: F811
    s = openssh_server
    with pytest.raises(TransportError, match="refused key"):
        SftpTransport.connect("127.0.0.1", s.port, s.username, other_keys.client, s.host_fingerprint, timeout=10)


def test_openssh_chroot_root_is_not_writable_but_box_is(openssh_server, tmp_path) -> None:  # noqa: F811
    s = openssh_server
    (tmp_path / "f").write_bytes(b"1")
    with SftpTransport.connect("127.0.0.1", s.port, s.username, s.keys.client, s.host_fingerprint, timeout=10) as t:
        assert [e.name for e in t.list()] == ["box"]
        with pytest.raises(TransportError, match="permission denied"):
            t.put(tmp_path / "f", "f")
        t.put(tmp_path / "f", "box/f")
        t.delete("box/f")
