"""Importing this package registers every command on :data:`fjshare.cli.main.cli`."""

from fjshare.cli.commands import catalogue, data, federation, ops, quality, setup, sharing  # noqa: F401
