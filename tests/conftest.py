"""Shared fixtures: real node homes in temporary directories, and a CLI runner with exit codes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from fjshare import ids
from fjshare.node.setup import init_node

XIAMEN = "350200"
SIMING = "350203"
FUZHOU = "350100"
GULOU_FZ = "350102"
SIMING_AGENCY = ids.make_uscc(SIMING, "MB010001")     # 厦门市思明区民政局 (a county agency, Art 41)
XIAMEN_AGENCY = ids.make_uscc(XIAMEN, "MB020002")     # 厦门市公安局
FUZHOU_AGENCY = ids.make_uscc(FUZHOU, "MB030003")
PROVINCIAL_AGENCY = ids.make_uscc("350000", "MB040004")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `node ...` in-process through the real entry point; returns exit code, stdout, stderr."""
    from fjshare.cli.main import main

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
        return CliResult(code, captured.out, captured.err)

    monkeypatch.delenv("FJSHARE_HOME", raising=False)
    monkeypatch.delenv("FJSHARE_USER", raising=False)
    monkeypatch.delenv("FJSHARE_NOW", raising=False)
    monkeypatch.delenv("FJSHARE_FAULT", raising=False)
    return run


@pytest.fixture
def city_home(tmp_path: Path) -> Path:
    """A Xiamen city node with the Siming civil affairs bureau and its analyst registered."""
    from fjshare.node import registry
    from fjshare.node.context import NodeContext

    home = tmp_path / "xiamen"
    init_node(home, tier="city", code=XIAMEN, name="厦门市节点")
    _set_settle(home, 0)
    ctx = NodeContext.open(home)
    registry.add_agency(ctx, SIMING_AGENCY, name="厦门市思明区民政局", region=SIMING)
    registry.add_user(ctx, "analyst", agency=SIMING_AGENCY, role="analyst")
    ctx.close()
    return home


@pytest.fixture
def province_home(tmp_path: Path) -> Path:
    home = tmp_path / "province"
    init_node(home, tier="province", code="350000", name="福建省节点")
    _set_settle(home, 0)
    return home


def _set_settle(home: Path, seconds: float) -> None:
    cfg = home / "node.toml"
    text = cfg.read_text(encoding="utf-8").replace("settle_seconds = 2.0", f"settle_seconds = {seconds}")
    cfg.write_text(text, encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch):
    for k in list(os.environ):
        if k.startswith("FJSHARE_"):
            monkeypatch.delenv(k, raising=False)
