"""One behaviour suite for every transport (DESIGN §6, STYLE 3): same calls, same assertions.

Backends: a directory, the embedded SFTP server over loopback, and a real OpenSSH sshd
(``internal-sftp`` in a chroot). Each test gets an empty transport root; ``disk`` is where that
root lies on this machine, so a test can plant what a hostile peer or operator might (a symbolic
link pointing outside), and ``outside`` holds a secret the transport must never reach.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sshd_fixture import openssh_server  # noqa: F401  (fixture)

from fjshare.errors import BadInput, TransportError
from fjshare.federation.transport import (
    DirectoryTransport,
    PathNotFound,
    Transport,
    download_dir,
    upload_dir,
)
from fjshare.federation.transport.sftp_client import SftpTransport
from fjshare.federation.transport.sftp_server import SftpServer, StaticAccounts
from fjshare.trust.keys import generate_ssh_keys, load_ssh_public_key, ssh_fingerprint

SECRET = b"root:x:0:0:the secret outside the jail\n"


@dataclass
class Backend:
    transport: Transport
    disk: Path
    outside: Path


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    return outside


@pytest.fixture(params=["directory", "embedded", "openssh"])
def backend(request, tmp_path: Path) -> Iterator[Backend]:
    outside = _outside(tmp_path)
    if request.param == "directory":
        root = tmp_path / "media"
        root.mkdir()
        t = DirectoryTransport(root)
        yield Backend(t, root, outside)
        t.close()
    elif request.param == "embedded":
        keys = generate_ssh_keys(tmp_path / "keys")
        jail = tmp_path / "jail"
        jail.mkdir()
        server = SftpServer("127.0.0.1", 0, keys.host, StaticAccounts({"350200": ([keys.client_pub.read_text()], jail)}))
        server.start()
        fp = ssh_fingerprint(load_ssh_public_key(keys.host_pub))
        t = SftpTransport.connect("127.0.0.1", server.port, "350200", keys.client, fp, timeout=10)
        yield Backend(t, jail, outside)
        t.close()
        server.stop()
    else:
        sshd = request.getfixturevalue("openssh_server")
        sshd.clear_box()
        t = SftpTransport.connect(
            "127.0.0.1", sshd.port, sshd.username, sshd.keys.client, sshd.host_fingerprint, timeout=10, base=sshd.base
        )
        yield Backend(t, sshd.box, outside)
        t.close()
        sshd.clear_box()


def _bundle(tmp_path: Path, name: str = "b1") -> Path:
    d = tmp_path / "local" / name
    (d / "data").mkdir(parents=True)
    (d / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (d / "bundle.json").write_bytes(b'{"signed":{}}')
    (d / "data" / "part-0000.parquet").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (d / "data" / "part-0001.parquet").write_bytes(os.urandom(1000))
    return d


def _same_tree(a: Path, b: Path) -> bool:
    fa = sorted(p.relative_to(a).as_posix() for p in a.rglob("*"))
    fb = sorted(p.relative_to(b).as_posix() for p in b.rglob("*"))
    return fa == fb and all((a / f).read_bytes() == (b / f).read_bytes() for f in fa if (a / f).is_file())


# --------------------------------------------------------------------------- files


def test_put_get_roundtrip_of_a_multi_megabyte_file(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(6 * 1024 * 1024 + 123))
    assert t.put(src, "file.bin") == src.stat().st_size
    got = tmp_path / "got.bin"
    assert t.get("file.bin", got) == src.stat().st_size
    assert got.read_bytes() == src.read_bytes()
    entry = t.stat("file.bin")
    assert (entry.name, entry.size, entry.is_dir) == ("file.bin", src.stat().st_size, False)
    assert entry.mtime > 0


def test_put_resumes_from_an_offset_after_an_interruption(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    data = os.urandom(2 * 1024 * 1024 + 5)
    part = tmp_path / "part.bin"
    part.write_bytes(data[:700_001])  # what arrived before the link dropped
    t.put(part, "f.bin")
    full = tmp_path / "full.bin"
    full.write_bytes(data)
    assert t.put(full, "f.bin", offset=t.stat("f.bin").size) == len(data) - 700_001
    got = tmp_path / "got.bin"
    t.get("f.bin", got)
    assert got.read_bytes() == data


def test_put_cannot_resume_past_what_the_remote_holds(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    src = tmp_path / "s.bin"
    src.write_bytes(b"x" * 100)
    t.put(src, "s.bin")
    with pytest.raises(TransportError, match="holds only 100"):
        t.put(src, "s.bin", offset=101)


def test_put_from_zero_replaces_a_longer_file(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    (tmp_path / "long").write_bytes(b"L" * 5000)
    (tmp_path / "short").write_bytes(b"s" * 10)
    t.put(tmp_path / "long", "f")
    t.put(tmp_path / "short", "f")
    assert t.stat("f").size == 10


def test_get_resumes_a_partial_download(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    data = os.urandom(1024 * 1024 + 9)
    (tmp_path / "src").write_bytes(data)
    t.put(tmp_path / "src", "f")
    local = tmp_path / "dl"
    local.write_bytes(data[:333_333])
    assert t.get("f", local, offset=333_333) == len(data) - 333_333
    assert local.read_bytes() == data


def test_list_gives_sizes_and_hides_dot_names(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    for name, size in (("b.txt", 3), ("a.txt", 10), (".tmp-upload", 4)):
        (tmp_path / name).write_bytes(b"z" * size)
        t.put(tmp_path / name, name)
    t.mkdir("sub")
    t.mkdir(".partial")
    assert [(e.name, e.size, e.is_dir) for e in t.list()] == [("a.txt", 10, False), ("b.txt", 3, False), ("sub", 0, True)]
    assert [e.name for e in t.list(include_hidden=True)] == [".partial", ".tmp-upload", "a.txt", "b.txt", "sub"]
    assert t.list("sub") == []


def test_missing_paths_raise_path_not_found(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    assert not t.exists("nope")
    for call in (lambda: t.stat("nope"), lambda: t.get("nope", tmp_path / "x"), lambda: t.delete("nope"),
                 lambda: t.list("nope"), lambda: t.rename("nope", "other")):
        with pytest.raises(PathNotFound):
            call()


def test_mkdir_makes_parents_and_accepts_an_existing_directory(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    t.mkdir("a/b/c")
    t.mkdir("a/b/c")
    assert t.stat("a/b/c").is_dir
    (tmp_path / "f").write_bytes(b"1")
    t.put(tmp_path / "f", "a/file")
    with pytest.raises(TransportError):
        t.mkdir("a/file/d")


def test_delete_and_rmtree(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    (tmp_path / "f").write_bytes(b"1")
    t.mkdir("d/e")
    t.put(tmp_path / "f", "d/e/.hidden")
    t.put(tmp_path / "f", "top")
    t.delete("top")
    assert not t.exists("top")
    with pytest.raises(TransportError):
        t.delete("d")  # not empty
    t.rmtree("d")
    assert t.list(include_hidden=True) == []


# --------------------------------------------------------------------------- rename


def test_rename_replaces_an_existing_file(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    (tmp_path / "new").write_bytes(b"new")
    (tmp_path / "old").write_bytes(b"old-old")
    t.put(tmp_path / "old", "ack.json")
    t.put(tmp_path / "new", ".ack.json.tmp")
    t.rename(".ack.json.tmp", "ack.json")
    assert t.stat("ack.json").size == 3
    assert not t.exists(".ack.json.tmp")


def test_rename_never_overwrites_a_directory(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    (tmp_path / "f").write_bytes(b"1")
    t.mkdir("src")
    t.put(tmp_path / "f", "src/x")
    t.mkdir("empty-dst")
    t.mkdir("full-dst")
    t.put(tmp_path / "f", "full-dst/y")
    for dst in ("empty-dst", "full-dst"):
        with pytest.raises(TransportError, match="existing directory"):
            t.rename("src", dst)
    t.put(tmp_path / "f", "file")
    with pytest.raises(TransportError, match="existing directory"):
        t.rename("file", "empty-dst")
    assert [e.name for e in t.list("src")] == ["x"]
    assert t.list("empty-dst") == []
    t.rename("src", "moved")
    assert [e.name for e in t.list("moved")] == ["x"]


# --------------------------------------------------------------------------- directories (DESIGN §6)


def test_upload_dir_goes_through_partial_then_appears_whole(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    bundle = _bundle(tmp_path)
    t.mkdir("up")
    result = upload_dir(t, bundle, "up", "b1")
    assert (result.path, result.files, result.already_present) == ("up/b1", 4, False)
    assert [e.name for e in t.list("up")] == ["b1"]  # .partial is hidden
    assert [e.name for e in t.list("up/b1")] == ["bagit.txt", "bundle.json", "data"]
    assert t.list("up/.partial", ) == []
    back = download_dir(t, "up/b1", tmp_path / "inbox")
    assert _same_tree(bundle, Path(back.path))
    assert not (tmp_path / "inbox" / ".partial").exists()


def test_interrupted_upload_dir_resumes_from_the_sizes_already_there(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    bundle = _bundle(tmp_path)
    big = bundle / "data" / "part-0000.parquet"
    half = tmp_path / "half"
    half.write_bytes(big.read_bytes()[:1_500_000])
    junk = tmp_path / "junk"
    junk.write_bytes(b"left over from something else")
    t.mkdir("up/.partial/b1/data")
    t.put(bundle / "bagit.txt", "up/.partial/b1/bagit.txt")
    t.put(half, "up/.partial/b1/data/part-0000.parquet")
    t.put(junk, "up/.partial/b1/data/stray.tmp")
    assert t.list("up") == []  # nothing visible while incomplete

    result = upload_dir(t, bundle, "up", "b1")
    assert result.bytes_resumed == 1_500_000 + (bundle / "bagit.txt").stat().st_size
    assert result.bytes_sent == sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) - result.bytes_resumed
    back = download_dir(t, "up/b1", tmp_path / "inbox")
    assert _same_tree(bundle, Path(back.path))  # the stray file was removed


def test_upload_dir_of_a_bundle_already_delivered_sends_nothing(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    bundle = _bundle(tmp_path)
    upload_dir(t, bundle, "", "b1")
    again = upload_dir(t, bundle, "", "b1")
    assert again.already_present and again.bytes_sent == 0


def test_download_dir_resumes_local_partial_files(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    bundle = _bundle(tmp_path)
    upload_dir(t, bundle, "", "b1")
    staging = tmp_path / "inbox" / ".partial" / "b1" / "data"
    staging.mkdir(parents=True)
    big = (bundle / "data" / "part-0000.parquet").read_bytes()
    (staging / "part-0000.parquet").write_bytes(big[:1_000_000])
    result = download_dir(t, "b1", tmp_path / "inbox")
    assert result.bytes_resumed == 1_000_000
    assert _same_tree(bundle, tmp_path / "inbox" / "b1")


# --------------------------------------------------------------------------- path tricks


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", "a/./b", "a//b", "a\\b", "a\x00b", ".."])
def test_path_tricks_are_refused_before_they_touch_anything(backend: Backend, tmp_path: Path, bad: str) -> None:
    t = backend.transport
    (tmp_path / "f").write_bytes(b"1")
    for call in (lambda: t.stat(bad), lambda: t.get(bad, tmp_path / "x"), lambda: t.put(tmp_path / "f", bad),
                 lambda: t.mkdir(bad), lambda: t.list(bad), lambda: t.delete(bad), lambda: t.rename("f", bad)):
        with pytest.raises(BadInput, match="refused transport path"):
            call()
    with pytest.raises(BadInput):
        upload_dir(t, tmp_path, "", bad)


def test_a_symlink_planted_in_the_jail_is_not_followed(backend: Backend, tmp_path: Path) -> None:
    t = backend.transport
    os.symlink(backend.outside / "secret.txt", backend.disk / "escape")
    os.symlink(backend.outside, backend.disk / "escape-dir")
    os.symlink("../../../../../../../../" + str(backend.outside).lstrip("/"), backend.disk / "escape-rel")
    assert t.list() == []
    for name in ("escape", "escape-dir/secret.txt", "escape-rel/secret.txt"):
        assert not t.exists(name)
        with pytest.raises(PathNotFound):
            t.get(name, tmp_path / "stolen")
        assert not (tmp_path / "stolen").exists() or SECRET not in (tmp_path / "stolen").read_bytes()
    with pytest.raises(PathNotFound):
        t.list("escape-dir")
    (tmp_path / "f").write_bytes(b"overwrite")
    with pytest.raises(TransportError):
        t.put(tmp_path / "f", "escape-dir/secret.txt")
    assert (backend.outside / "secret.txt").read_bytes() == SECRET
