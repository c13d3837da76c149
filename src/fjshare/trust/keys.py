"""Key files of a node: its Ed25519 signing key, X25519 box key, root key and SSH keys (Art 35).

Layout under ``HOME/keys/`` (DESIGN §3)::

    node-sign.key  node-box.key          the node's online keys (NodeKeys, prefix "node")
    root/root-sign.key  root/root-box.key   the province root key, kept apart so it can go offline
    id_ed25519  id_ed25519.pub           SFTP client key, standard OpenSSH format (``sftp -i``)
    ssh_host_ed25519_key(.pub)           host key of the embedded SFTP server

Secret files are created with mode 0600 from the first byte (``os.open(..., 0o600)``), written to a
temporary name, fsynced and renamed into place, so a crash never leaves half a key and no other
account can ever read one. Loading refuses a secret file that group or others may read or write.

Everything here is local file handling: no network, no SQLite, no printing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from fjshare.canonical import key_id as _key_id
from fjshare.errors import BadInput, ConfigError
from fjshare.fsutil import fsync_dir

SIGN_HEADER = "fjshare-ed25519-secret-v1"
BOX_HEADER = "fjshare-x25519-secret-v1"
ROOT_DIR = "root"
ROOT_PREFIX = "root"
NODE_PREFIX = "node"
SSH_CLIENT_KEY = "id_ed25519"
SSH_HOST_KEY = "ssh_host_ed25519_key"


# --------------------------------------------------------------------------- private file I/O


def _ensure_private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temp + fsync + ``os.replace``).

    The temporary file is created 0600, so the secret is never readable by others, not even
    briefly. Raises :class:`ConfigError` if ``path`` exists and ``overwrite`` is false (a key
    is never replaced by accident) or if the file cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(
            f"key file {path} already exists",
            hint="keys are never replaced silently; move the old file away first if you mean to rotate it",
        )
    _ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # umask may only remove bits; make the mode exact
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ConfigError(f"cannot write key file {path}: {e.strerror or e}") from e
    fsync_dir(path.parent)


def write_public_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Like :func:`write_private_file` but mode 0644: public keys are meant to be shared."""
    write_private_file(path, data, overwrite=overwrite)
    os.chmod(path, 0o644)


def check_private_mode(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` is a file only its owner may read or write."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"key file {path} is not a regular file")
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigError(
            f"key file {path} has mode {stat.S_IMODE(st.st_mode):04o}: group or others may access it",
            hint=f"chmod 600 {path}",
        )


def read_private_file(path: Path) -> bytes:
    """Bytes of a secret file after :func:`check_private_mode`. Raises :class:`ConfigError`."""
    check_private_mode(path)
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read key file {path}: {e.strerror or e}") from e


def _encode_secret(header: str, raw: bytes) -> bytes:
    return f"{header} {raw.hex()}\n".encode("ascii")


def _decode_secret(path: Path, header: str) -> bytes:
    text = read_private_file(path).decode("ascii", errors="replace").strip()
    parts = text.split()
    if len(parts) != 2 or parts[0] != header:
        found = parts[0] if parts else "an empty file"
        raise ConfigError(f"key file {path} is not a {header} file (found {found!r})")
    try:
        raw = bytes.fromhex(parts[1])
    except ValueError:
        raise ConfigError(f"key file {path} holds a damaged key (not hex)") from None
    if len(raw) != 32:
        raise ConfigError(f"key file {path} holds a damaged key ({len(raw)} bytes, expected 32)")
    return raw


# --------------------------------------------------------------------------- node and root keys


@dataclass(frozen=True)
class NodeKeys:
    """A node's Ed25519 signing key and X25519 box key. The repr never shows secret bytes."""

    signing: SigningKey = field(repr=False)
    box: PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> NodeKeys:
        """Fresh random keys."""
        return cls(SigningKey.generate(), PrivateKey.generate())

    @property
    def verify_key(self) -> VerifyKey:
        return self.signing.verify_key

    @property
    def box_public(self) -> PublicKey:
        return self.box.public_key

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the raw Ed25519 public key (``fjshare.canonical.key_id``)."""
        return _key_id(self.signing.verify_key)

    def __repr__(self) -> str:
        return f"NodeKeys(key_id={self.key_id[:16]}...)"

    @staticmethod
    def paths(directory: Path, prefix: str = NODE_PREFIX) -> tuple[Path, Path]:
        """``(signing key file, box key file)`` for ``prefix`` in ``directory``."""
        directory = Path(directory)
        return directory / f"{prefix}-sign.key", directory / f"{prefix}-box.key"

    def save(self, directory: Path, prefix: str = NODE_PREFIX, *, overwrite: bool = False) -> None:
        """Write both keys to ``directory`` (created 0700) as 0600 files.

        Raises :class:`ConfigError` if a file exists (unless ``overwrite``) or cannot be written.
        """
        sign_path, box_path = self.paths(directory, prefix)
        if not overwrite:
            for p in (sign_path, box_path):
                if p.exists():
                    raise ConfigError(
                        f"key file {p} already exists",
                        hint="keys are never replaced silently; move the old file away first to rotate",
                    )
        write_private_file(sign_path, _encode_secret(SIGN_HEADER, bytes(self.signing)), overwrite=overwrite)
        write_private_file(box_path, _encode_secret(BOX_HEADER, bytes(self.box)), overwrite=overwrite)

    @classmethod
    def load(cls, directory: Path, prefix: str = NODE_PREFIX) -> NodeKeys:
        """Read keys written by :meth:`save`.

        Raises :class:`ConfigError` if a file is missing, damaged, of the wrong kind, or readable
        by group/others (the hint says ``chmod 600 ...``).
        """
        sign_path, box_path = cls.paths(directory, prefix)
        for p in (sign_path, box_path):
            if not p.exists():
                raise ConfigError(
                    f"key file {p} is missing",
                    hint="run `node init` to create the node's keys, or restore them from backup",
                )
        signing = SigningKey(_decode_secret(sign_path, SIGN_HEADER))
        box = PrivateKey(_decode_secret(box_path, BOX_HEADER))
        return cls(signing, box)


def root_key_dir(keys_dir: Path) -> Path:
    """Where the province root key lives: ``keys/root/``, apart from the node's online key."""
    return Path(keys_dir) / ROOT_DIR


def save_root_keys(keys_dir: Path, keys: NodeKeys, *, overwrite: bool = False) -> Path:
    """Write the root key under ``keys_dir/root/``; return that directory. Raises ConfigError."""
    directory = root_key_dir(keys_dir)
    keys.save(directory, ROOT_PREFIX, overwrite=overwrite)
    return directory


def root_keys_present(keys_dir: Path) -> bool:
    """True if the root key is on this machine (it may have been moved offline)."""
    return all(p.exists() for p in NodeKeys.paths(root_key_dir(keys_dir), ROOT_PREFIX))


def load_root_keys(keys_dir: Path) -> NodeKeys:
    """Load the province root key from ``keys_dir/root/``.

    Raises :class:`ConfigError` if it is absent (it is offline: it is needed only to certify nodes
    and sign root revocations), damaged, or readable by group/others.
    """
    directory = root_key_dir(keys_dir)
    if not root_keys_present(keys_dir):
        raise ConfigError(
            f"the province root key is offline (not found in {directory}); "
            "it is needed only to certify nodes and to revoke their certificates",
            hint=f"bring the root key back from offline storage into {directory} for this step, then move it out again",
        )
    return NodeKeys.load(directory, ROOT_PREFIX)


# --------------------------------------------------------------------------- SSH keys


@dataclass(frozen=True)
class SshKeyFiles:
    """Paths of the SFTP client key and the SFTP server host key (each with its ``.pub``)."""

    client: Path
    client_pub: Path
    host: Path
    host_pub: Path


def _pub_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def _write_openssh_keypair(path: Path, comment: str, overwrite: bool) -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public + (b" " + comment.encode("utf-8") if comment else b"") + b"\n"
    write_private_file(path, private, overwrite=overwrite)
    write_public_file(_pub_path(path), line, overwrite=overwrite)


def generate_ssh_keys(directory: Path, *, comment: str = "fjshare", overwrite: bool = False) -> SshKeyFiles:
    """Write ``id_ed25519`` (SFTP client) and ``ssh_host_ed25519_key`` (SFTP server), each + ``.pub``.

    The private files are standard OpenSSH keys (``sftp -i keys/id_ed25519`` works), mode 0600.
    Raises :class:`ConfigError` if a file exists (a pinned host key is never replaced silently,
    unless ``overwrite``) or cannot be written.
    """
    directory = Path(directory)
    files = SshKeyFiles(
        client=directory / SSH_CLIENT_KEY,
        client_pub=_pub_path(directory / SSH_CLIENT_KEY),
        host=directory / SSH_HOST_KEY,
        host_pub=_pub_path(directory / SSH_HOST_KEY),
    )
    if not overwrite:
        for p in (files.client, files.client_pub, files.host, files.host_pub):
            if p.exists():
                raise ConfigError(
                    f"SSH key file {p} already exists",
                    hint="peers pin these keys; move the old files away first if you mean to rotate them",
                )
    _write_openssh_keypair(files.client, f"{comment} sftp-client" if comment else "", overwrite)
    _write_openssh_keypair(files.host, f"{comment} sftp-host" if comment else "", overwrite)
    return files


def load_ssh_private_key(path: Path) -> paramiko.Ed25519Key:
    """Load an OpenSSH Ed25519 private key file as a paramiko key.

    Raises :class:`ConfigError` if the file is missing, readable by group/others, or not an
    unencrypted OpenSSH Ed25519 key.
    """
    check_private_mode(path)
    try:
        return paramiko.Ed25519Key.from_private_key_file(str(path))
    except (paramiko.SSHException, OSError, ValueError) as e:
        raise ConfigError(
            f"{path} is not a usable OpenSSH Ed25519 private key: {e}",
            hint="fjshare needs an unencrypted ed25519 key (ssh-keygen -t ed25519 -N '')",
        ) from e


def parse_ssh_public_key(line: str) -> paramiko.Ed25519Key:
    """Parse an OpenSSH public key line (``ssh-ed25519 AAAA... [comment]``).

    Raises :class:`BadInput` if it is not a well-formed Ed25519 public key line.
    """
    parts = line.strip().split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise BadInput(
            f"not an ssh-ed25519 public key line: {line.strip()[:40]!r}",
            hint="give the contents of an ed25519 .pub file, e.g. 'ssh-ed25519 AAAAC3Nza... comment'",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key = paramiko.Ed25519Key(data=blob)
    except (binascii.Error, paramiko.SSHException, ValueError, TypeError) as e:
        raise BadInput(f"damaged ssh-ed25519 public key: {e}") from e
    if key.get_name() != "ssh-ed25519" or key.asbytes() != blob:
        raise BadInput("damaged ssh-ed25519 public key: the key blob does not round-trip")
    return key


def load_ssh_public_key(path: Path) -> paramiko.Ed25519Key:
    """Load a ``.pub`` file. Raises :class:`ConfigError` if unreadable, :class:`BadInput` if malformed."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read public key file {path}: {e.strerror or e}") from e
    return parse_ssh_public_key(text)


def ssh_public_key_line(key: paramiko.PKey) -> str:
    """The OpenSSH public key line (``type base64``, no comment) of a paramiko key."""
    return f"{key.get_name()} {key.get_base64()}"


def ssh_fingerprint(key: paramiko.PKey | str) -> str:
    """OpenSSH-style fingerprint ``SHA256:<base64 without padding>``, as ``ssh-keygen -l`` prints.

    ``key`` is a paramiko key or an OpenSSH public key line. Raises :class:`BadInput` for a
    malformed line.
    """
    if isinstance(key, str):
        key = parse_ssh_public_key(key)
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
