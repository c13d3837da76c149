"""The `node` command (also installed as `fjshare`): the only place that parses argv, prints or exits.

Each command opens the node home, calls one library function and renders the result. Library
errors (``fjshare.errors``) become exit codes here, in one place: 1 refused or bad input, 2 usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fjshare import __version__
from fjshare.clock import Clock
from fjshare.errors import FjshareError
from fjshare.node.context import NodeContext
from fjshare.node.home import default_home


class Session:
    """What the global options give every command: where the home is and who is acting."""

    def __init__(self, home: Path | None, user: str | None) -> None:
        self.home_path = home
        self.user = user
        self._ctx: NodeContext | None = None

    @property
    def root(self) -> Path:
        return self.home_path or default_home()

    def ctx(self) -> NodeContext:
        if self._ctx is None:
            self._ctx = NodeContext.open(self.root, user=self.user, clock=Clock.from_env())
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", type=click.Path(path_type=Path), envvar="FJSHARE_HOME",
              help="Node home directory (default: $FJSHARE_HOME, else the current directory).")
@click.option("--user", envvar="FJSHARE_USER",
              help="Acting person or application system, registered with `node user add` ($FJSHARE_USER).")
@click.version_option(__version__, prog_name="fjshare")
@click.pass_context
def cli(click_ctx: click.Context, home: Path | None, user: str | None) -> None:
    """fjshare node: catalogue and exchange of government information (Fujian Measures, 闽政办〔2010〕280号).

    A province node and city nodes exchange signed Parquet bundles over SFTP or removable media.
    Agencies drop files into their outbox; `node intake` (or the daemon, `node run`) packages them.
    """
    session = Session(home, user)
    click_ctx.obj = session
    click_ctx.call_on_close(session.close)


pass_session = click.make_pass_decorator(Session)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn errors into messages and exit codes."""
    from fjshare.cli import commands  # noqa: F401  (registers the commands)

    try:
        rv = cli.main(args=argv, prog_name="node", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except FjshareError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


def entry() -> None:
    """Console-script entry: :func:`main`, then a hard exit.

    pyarrow can abort a process that exits while its thread pools wind down (apache/arrow#39862,
    "terminate called without an active exception" after a dataset scan). Every result is written
    and flushed by then, so ``node`` ends with ``os._exit`` and the exit code it meant.
    """
    import logging
    import os

    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
