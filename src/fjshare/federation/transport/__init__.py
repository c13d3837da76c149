"""Transports of the federation: one interface, SFTP (client and embedded server) and directory."""

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

__all__ = [
    "DirTransfer",
    "DirectoryTransport",
    "Entry",
    "PathNotFound",
    "Transport",
    "check_path",
    "download_dir",
    "upload_dir",
]
