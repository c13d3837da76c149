"""Key files (Art 35: identity authentication rests on keys nobody else can read)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from fjshare.canonical import key_id
from fjshare.errors import BadInput, ConfigError
from fjshare.trust import keys as keys_mod
from fjshare.trust.keys import (
    NodeKeys,
    generate_ssh_keys,
    load_root_keys,
    load_ssh_private_key,
    load_ssh_public_key,
    parse_ssh_public_key,
    root_key_dir,
    root_keys_present,
    save_root_keys,
    ssh_fingerprint,
    ssh_public_key_line,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_node_key_files_are_written_0600_art35(tmp_path: Path) -> None:
    NodeKeys.generate().save(tmp_path / "keys")
    sign, box = NodeKeys.paths(tmp_path / "keys")
    assert mode(sign) == 0o600 and mode(box) == 0o600
    assert mode(tmp_path / "keys") == 0o700


@posix_only
def test_key_files_are_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        NodeKeys.generate().save(tmp_path)
    finally:
        os.umask(old)
    assert all(mode(p) == 0o600 for p in NodeKeys.paths(tmp_path))


def test_temp_key_file_is_created_private_from_the_first_byte(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **kw):
        calls.append((str(path), flags, mode))
        return real_open(path, flags, mode, *a, **kw)

    monkeypatch.setattr(keys_mod.os, "open", spy)
    NodeKeys.generate().save(tmp_path)
    created = [c for c in calls if c[1] & os.O_CREAT]
    assert len(created) == 2
    for path, flags, m in created:
        assert m == 0o600 and flags & os.O_EXCL
        assert Path(path).name.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node-box.key", "node-sign.key"]  # no temp left


def test_saved_keys_load_back_identical_and_self_describing(tmp_path: Path) -> None:
    keys = NodeKeys.generate()
    keys.save(tmp_path, "node")
    loaded = NodeKeys.load(tmp_path, "node")
    assert bytes(loaded.signing) == bytes(keys.signing)
    assert bytes(loaded.box) == bytes(keys.box)
    assert loaded.key_id == key_id(keys.verify_key)
    sign, box = NodeKeys.paths(tmp_path)
    assert sign.read_text().startswith("fjshare-ed25519-secret-v1 ")
    assert box.read_text().startswith("fjshare-x25519-secret-v1 ")


def test_repr_of_keys_shows_no_secret(tmp_path: Path) -> None:
    keys = NodeKeys.generate()
    assert bytes(keys.signing).hex() not in repr(keys)
    assert keys.key_id[:16] in repr(keys)


@posix_only
@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_readable_by_group_or_others_is_refused_with_chmod_hint(tmp_path: Path, bad_mode: int) -> None:
    NodeKeys.generate().save(tmp_path)
    sign, _ = NodeKeys.paths(tmp_path)
    os.chmod(sign, bad_mode)
    with pytest.raises(ConfigError) as e:
        NodeKeys.load(tmp_path)
    assert f"{bad_mode:04o}" in str(e.value)
    assert e.value.hint == f"chmod 600 {sign}"


def test_missing_node_key_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing") as e:
        NodeKeys.load(tmp_path)
    assert "node init" in (e.value.hint or "")


def test_key_file_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    NodeKeys.generate().save(tmp_path)
    sign, box = NodeKeys.paths(tmp_path)
    sign.write_bytes(box.read_bytes())  # an X25519 key where the Ed25519 key belongs
    with pytest.raises(ConfigError, match="fjshare-ed25519-secret-v1"):
        NodeKeys.load(tmp_path)


def test_damaged_key_file_is_refused(tmp_path: Path) -> None:
    NodeKeys.generate().save(tmp_path)
    sign, _ = NodeKeys.paths(tmp_path)
    sign.write_text("fjshare-ed25519-secret-v1 abcd\n")
    with pytest.raises(ConfigError, match="damaged"):
        NodeKeys.load(tmp_path)


def test_existing_key_is_never_replaced_silently(tmp_path: Path) -> None:
    first = NodeKeys.generate()
    first.save(tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        NodeKeys.generate().save(tmp_path)
    assert NodeKeys.load(tmp_path).key_id == first.key_id
    second = NodeKeys.generate()
    second.save(tmp_path, overwrite=True)
    assert NodeKeys.load(tmp_path).key_id == second.key_id


def test_root_key_is_kept_apart_from_the_node_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    node, root = NodeKeys.generate(), NodeKeys.generate()
    node.save(keys_dir)
    where = save_root_keys(keys_dir, root)
    assert where == root_key_dir(keys_dir) == keys_dir / "root"
    assert root_keys_present(keys_dir)
    assert load_root_keys(keys_dir).key_id == root.key_id
    assert NodeKeys.load(keys_dir).key_id == node.key_id


def test_absent_root_key_is_reported_as_offline_needed_only_to_certify(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    save_root_keys(keys_dir, NodeKeys.generate())
    shutil.move(str(keys_dir / "root"), str(tmp_path / "usb-stick"))  # moved offline
    assert not root_keys_present(keys_dir)
    with pytest.raises(ConfigError) as e:
        load_root_keys(keys_dir)
    assert "offline" in e.value.message and "certify" in e.value.message


# ---------------------------------------------------------------- SSH keys


def test_ssh_keys_are_standard_openssh_files_0600(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path / "keys", comment="fjshare-350200")
    assert files.client == tmp_path / "keys" / "id_ed25519"
    assert files.host == tmp_path / "keys" / "ssh_host_ed25519_key"
    for private in (files.client, files.host):
        assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        if os.name == "posix":
            assert mode(private) == 0o600
    for pub in (files.client_pub, files.host_pub):
        assert pub.read_text().startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
        assert "fjshare-350200" in pub.read_text()
    assert files.client_pub.read_text() != files.host_pub.read_text()


def test_ssh_keys_load_in_paramiko_and_match_their_pub_files(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path)
    for private, pub in ((files.client, files.client_pub), (files.host, files.host_pub)):
        key = load_ssh_private_key(private)
        assert isinstance(key, paramiko.Ed25519Key)
        public = load_ssh_public_key(pub)
        assert ssh_public_key_line(key) == ssh_public_key_line(public)
        assert public.verify_ssh_sig(b"hello", paramiko.Message(key.sign_ssh_data(b"hello").asbytes()))


def test_ssh_fingerprint_is_openssh_sha256_without_padding(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path)
    key = load_ssh_private_key(files.host)
    fp = ssh_fingerprint(key)
    assert fp.startswith("SHA256:") and not fp.endswith("=") and len(fp) == len("SHA256:") + 43
    assert fp == key.fingerprint  # paramiko's own OpenSSH-compatible fingerprint
    assert fp == ssh_fingerprint(files.host_pub.read_text())


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_openssh_ssh_keygen_reads_our_keys_and_agrees_on_the_fingerprint(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path)
    for private, pub in ((files.client, files.client_pub), (files.host, files.host_pub)):
        listed = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True)
        assert ssh_fingerprint(pub.read_text()) in listed.stdout
        # -y derives the public key from the private file: OpenSSH itself parses our private key.
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True)
        assert derived.stdout.split()[:2] == pub.read_text().split()[:2]


@posix_only
def test_world_readable_ssh_key_is_refused(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path)
    os.chmod(files.client, 0o644)
    with pytest.raises(ConfigError) as e:
        load_ssh_private_key(files.client)
    assert e.value.hint == f"chmod 600 {files.client}"


def test_existing_ssh_host_key_is_never_replaced_silently(tmp_path: Path) -> None:
    files = generate_ssh_keys(tmp_path)
    before = files.host.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        generate_ssh_keys(tmp_path)
    assert files.host.read_bytes() == before


def test_non_openssh_private_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "id_ed25519"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(ConfigError, match="not a usable OpenSSH Ed25519 private key"):
        load_ssh_private_key(bad)


@pytest.mark.parametrize(
    "line",
    ["", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "ssh-ed25519 not-base64!!", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"],
)
def test_malformed_ssh_public_key_line_is_bad_input(line: str) -> None:
    with pytest.raises(BadInput):
        parse_ssh_public_key(line)
