"""`node verify` and the inbox share one verifier; each bad case says what is wrong (DESIGN §5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SIMING_AGENCY
from test_intake import RES, SPEC, drop, rows_csv

from fjshare.node.context import NodeContext
from fjshare.node.inbox.ingest import ingest_one
from fjshare.node.setup import init_node


@pytest.fixture
def stored_bundle(city_home, run_cli) -> Path:
    assert run_cli("--home", city_home, "resource", "add", RES, "--agency", SIMING_AGENCY, "--name", "x",
                   "--share-type", "unconditional", "--items", SPEC).code == 0
    drop(city_home, "a.csv", rows_csv(5).encode())
    assert run_cli("--home", city_home, "intake").code == 0
    [b] = json.loads(run_cli("--home", city_home, "bundles", "--resource", RES, "--json").out)
    return city_home / b["path"]


def test_a_stored_bundle_verifies_as_already_stored(stored_bundle, run_cli, city_home):
    r = run_cli("--home", city_home, "verify", stored_bundle, "--json")
    assert r.code == 0 and json.loads(r.out)["status"] == "stored"


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "media" / bundle.name
    shutil.copytree(bundle, dest)
    return dest


def test_tampered_payload_is_refused_with_its_own_reason(stored_bundle, run_cli, city_home, tmp_path):
    copy = _copy(stored_bundle, tmp_path)
    part = copy / "data" / "part-0000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    r = run_cli("--home", city_home, "verify", copy, "--json")
    assert r.code == 1
    assert json.loads(r.out)["reason"] in ("wrong-hash", "bad-tagfiles")


def test_an_extra_file_is_refused(stored_bundle, run_cli, city_home, tmp_path):
    copy = _copy(stored_bundle, tmp_path)
    (copy / "data" / "evil.sh").write_text("rm -rf /")
    r = run_cli("--home", city_home, "verify", copy, "--json")
    assert r.code == 1 and json.loads(r.out)["reason"] == "extra-file"


def test_a_bundle_from_an_unknown_node_is_refused(stored_bundle, run_cli, tmp_path):
    other = tmp_path / "fuzhou"
    init_node(other, tier="city", code="350100", name="福州")
    r = run_cli("--home", other, "verify", stored_bundle, "--json")
    assert r.code == 1 and json.loads(r.out)["reason"] == "unknown-signer"


def test_a_tampered_bundle_arriving_is_quarantined_with_its_reason_and_kept(stored_bundle, city_home, tmp_path):
    copy = _copy(stored_bundle, tmp_path)
    (copy / "bundle.json").write_bytes((copy / "bundle.json").read_bytes().replace(b'"rows":5', b'"rows":6'))
    ctx = NodeContext.open(city_home)
    try:
        outcome = ingest_one(ctx, copy)
    finally:
        ctx.close()
    assert outcome.status == "quarantined"
    [q] = list((city_home / "quarantine" / "inbox").glob("*.reason.txt"))
    assert "INVALID" in q.read_text(encoding="utf-8")
    assert copy.exists()  # the medium is never changed


def test_verify_refuses_a_path_that_is_not_a_directory(run_cli, city_home, tmp_path):
    f = tmp_path / "x"
    f.write_text("x")
    assert run_cli("--home", city_home, "verify", f).code == 2
