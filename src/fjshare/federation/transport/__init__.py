"""Transports of the federation (DESIGN §6): one interface, three places to move files.

* :class:`DirectoryTransport` - a directory (removable media for air-gapped links, tests);
* :class:`SftpTransport` - an SFTP client with a pinned host key, for the embedded server and
  for OpenSSH ``internal-sftp``;
* :class:`SftpServer` - the node's embedded SFTP server, each account jailed to its mailbox.

:func:`upload_dir` / :func:`download_dir` move a bundle directory through ``.partial/`` so a
receiver sees all of it or nothing, resuming after an interruption.
"""

from fjshare.federation.transport.base import (
    DirTransfer,
    Entry,
    PathNotFound,
    Transport,
    check_path,
    download_dir,
    upload_dir,
)
from fjshare.federation.transport.directory import DirectoryTransport
from fjshare.federation.transport.sftp_client import SftpTransport
from fjshare.federation.transport.sftp_server import Account, AccountResolver, Area, SftpServer, StaticAccounts

__all__ = [
    "Account",
    "AccountResolver",
    "Area",
    "DirTransfer",
    "DirectoryTransport",
    "Entry",
    "PathNotFound",
    "SftpServer",
    "SftpTransport",
    "StaticAccounts",
    "Transport",
    "check_path",
    "download_dir",
    "upload_dir",
]
