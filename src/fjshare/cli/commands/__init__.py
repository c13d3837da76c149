"""Importing this package registers every command on :data:`fjshare.cli.main.cli`."""

from fjshare.cli.commands import data, ops, setup  # noqa: F401
