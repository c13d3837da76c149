"""Whole-node commands: status and the demo."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from fjshare.cli.main import Session, cli, pass_session
from fjshare.cli.render import note, to_json
from fjshare.node.status import node_status


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@pass_session
def status_cmd(session: Session, as_json: bool) -> None:
    """Tier, code, certificate expiry, intake journal, store, quarantine and disk."""
    status = node_status(session.ctx())
    if as_json:
        click.echo(to_json(status))
        return
    _print_tree(status)


def _print_tree(value: dict, indent: int = 0) -> None:
    for key, v in value.items():
        if isinstance(v, dict):
            click.echo(f"{'  ' * indent}{key}:{'' if v else ' (none)'}")
            _print_tree(v, indent + 1)
        else:
            click.echo(f"{'  ' * indent}{key}: {'-' if v is None else v}")


@cli.command("demo")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", default=500, show_default=True, help="Rows in the sample file.")
def demo_cmd(directory: Path | None, rows: int) -> int:
    """A province and a city (Xiamen) on this machine: a county agency's file synced over SFTP and queried.

    Exit 1 if any row dropped is missing at the end. DIRECTORY defaults to a new temporary folder,
    which is kept so you can look around (`node --home DIR/province status`).
    """
    from fjshare.node.demo import run_demo

    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="fjshare-demo-"))
    elif directory.exists() and any(directory.iterdir()):
        raise click.UsageError(f"{directory} is not empty; give a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    report = run_demo(directory, rows=rows, say=click.echo)
    if report.ok:
        click.echo(f"demo OK: all {report.rows_dropped} rows dropped are queryable at the province; homes in {report.home}")
        return 0
    note(f"demo FAILED: {report.rows_found} of {report.rows_dropped} rows found; bundle verified: {report.bundle_ok}")
    return 1




@cli.command("run")
@click.option("--listen", metavar="HOST:PORT", help="Embedded SFTP server address (default from node.toml; '' disables).")
@click.option("--poll", "poll", type=float, help="Seconds between mailbox polls (default from node.toml).")
@click.option("--settle", type=float, help="Seconds a dropped file must stay unchanged (default from node.toml).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line per event, as text or JSON.")
@click.option("--once", is_flag=True, help="Do one pass (intake, sync) and exit.")
@pass_session
def run_cmd(session: Session, listen: str | None, poll: float | None, settle: float | None, log_format: str,
            once: bool) -> int:
    """The daemon: outbox watch, embedded SFTP server, sync, inbox ingest. SIGTERM stops it cleanly."""
    from fjshare.node.daemon import DaemonOptions, configure_logging, run_daemon

    configure_logging(log_format)
    return run_daemon(session.root, DaemonOptions(listen=listen, poll_seconds=poll, settle_seconds=settle, once=once))
