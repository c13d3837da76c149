"""Node homes, agencies, users and the audit log (DESIGN §3-4; Art 35, 41)."""

from __future__ import annotations

import json
import sqlite3
import stat
import tomllib

from conftest import SIMING_AGENCY, XIAMEN, FUZHOU_AGENCY, PROVINCIAL_AGENCY

from fjshare.node.context import NodeContext


def test_county_cannot_run_a_node_art41(run_cli, tmp_path):
    r = run_cli("init", tmp_path / "siming", "--tier", "county", "--code", "350203", "--name", "思明区")
    assert r.code == 1
    assert "Article 41" in r.err
    assert not (tmp_path / "siming" / "node.toml").exists()


def test_init_writes_a_commented_config_and_private_keys(run_cli, tmp_path):
    home = tmp_path / "xm"
    r = run_cli("init", home, "--tier", "city", "--code", XIAMEN, "--name", "厦门市节点", "--listen", "127.0.0.1:9022")
    assert r.code == 0, r.err
    text = (home / "node.toml").read_text(encoding="utf-8")
    assert "# " in text and "Art 41" in text
    cfg = tomllib.loads(text)
    assert cfg["node"] == {"tier": "city", "code": XIAMEN, "name": "厦门市节点", "listen": "127.0.0.1:9022"}
    for key in ("node-sign.key", "node-box.key", "id_ed25519", "ssh_host_ed25519_key"):
        mode = stat.S_IMODE((home / "keys" / key).stat().st_mode)
        assert mode == 0o600, key
    assert not (home / "keys" / "root").exists()  # only the province has a root key
    for d in ("outbox", "inbox/pending", "store", "quarantine", "archive"):
        assert (home / d).is_dir()


def test_province_root_key_is_kept_apart_from_the_online_key(run_cli, tmp_path):
    home = tmp_path / "fj"
    r = run_cli("init", home, "--tier", "province", "--code", "350000", "--name", "福建省节点")
    assert r.code == 0, r.err
    assert "root fingerprint" in r.err
    root = home / "keys" / "root"
    assert stat.S_IMODE((root / "root-sign.key").stat().st_mode) == 0o600
    assert (root / "root-sign.key").read_bytes() != (home / "keys" / "node-sign.key").read_bytes()


def test_init_refuses_a_code_of_the_wrong_level(run_cli, tmp_path):
    r = run_cli("init", tmp_path / "x", "--tier", "city", "--code", "350203", "--name", "x")
    assert r.code == 1 and "county-level" in r.err
    r = run_cli("init", tmp_path / "y", "--tier", "province", "--code", "350200", "--name", "x")
    assert r.code == 1 and "city-level" in r.err


def test_init_never_reinitialises_a_home(run_cli, city_home):
    r = run_cli("init", city_home, "--tier", "city", "--code", XIAMEN, "--name", "again")
    assert r.code == 1 and "already a node home" in r.err


def test_unknown_tier_is_a_usage_error(run_cli, tmp_path):
    assert run_cli("init", tmp_path / "z", "--tier", "village", "--code", "350200", "--name", "x").code == 2


def test_county_agency_registers_at_its_city_art41(run_cli, city_home):
    r = run_cli("--home", city_home, "agency", "list", "--json")
    assert r.code == 0
    assert SIMING_AGENCY in r.out
    assert (city_home / "outbox" / SIMING_AGENCY).is_dir()


def test_city_refuses_an_agency_of_another_city(run_cli, city_home):
    r = run_cli("--home", city_home, "agency", "add", FUZHOU_AGENCY, "--name", "福州市某局", "--region", "350102")
    assert r.code == 1
    assert "outside the jurisdiction" in r.err and "350102" in r.err


def test_city_refuses_a_provincial_agency(run_cli, city_home):
    r = run_cli("--home", city_home, "agency", "add", PROVINCIAL_AGENCY, "--name", "省某厅", "--region", "350000")
    assert r.code == 1 and "outside the jurisdiction" in r.err


def test_province_registers_provincial_agencies_only(run_cli, province_home):
    assert run_cli("--home", province_home, "agency", "add", PROVINCIAL_AGENCY, "--name", "省民政厅", "--region", "350000").code == 0
    r = run_cli("--home", province_home, "agency", "add", SIMING_AGENCY, "--name", "思明", "--region", "350203")
    assert r.code == 1 and "city node" in r.err


def test_agency_code_must_be_a_valid_uscc(run_cli, city_home):
    bad = SIMING_AGENCY[:-1] + ("0" if SIMING_AGENCY[-1] != "0" else "1")
    r = run_cli("--home", city_home, "agency", "add", bad, "--name", "x", "--region", "350203")
    assert r.code == 1 and "check character" in r.err


def test_unknown_region_is_refused_with_a_way_to_add_it(run_cli, city_home):
    r = run_cli("--home", city_home, "agency", "add", SIMING_AGENCY, "--name", "x", "--region", "350299")
    assert r.code == 1 and "divisions.csv" in r.err


def test_user_roles_are_checked(run_cli, city_home):
    r = run_cli("--home", city_home, "user", "add", "zhang", "--agency", SIMING_AGENCY, "--role", "boss")
    assert r.code == 1 and "unknown role boss" in r.err
    r = run_cli("--home", city_home, "user", "add", "sys1", "--agency", SIMING_AGENCY, "--role", "analyst", "--system")
    assert r.code == 0, r.err
    r = run_cli("--home", city_home, "user", "list", "--json")
    assert '"sys1"' in r.out and '"is_system": true' in r.out


def test_unknown_user_is_refused_art35(run_cli, city_home):
    r = run_cli("--home", city_home, "--user", "nobody", "query", "101001/000001")
    assert r.code == 1 and "not registered" in r.err


def test_every_action_is_in_the_audit_log_with_its_actor(run_cli, city_home):
    r = run_cli("--home", city_home, "audit", "show", "--json")
    assert r.code == 0
    assert '"node.init"' in r.out and '"agency.add"' in r.out and '"user.add"' in r.out
    assert run_cli("--home", city_home, "audit", "verify").code == 0


def _tamper(home, sql):
    conn = sqlite3.connect(home / "state.db")
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_audit_verify_detects_an_edited_record(run_cli, city_home):
    _tamper(city_home, "UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
    r = run_cli("--home", city_home, "audit", "verify")
    assert r.code == 1 and "record 2" in r.err and "edited" in r.err


def test_audit_verify_detects_a_deleted_record(run_cli, city_home):
    _tamper(city_home, "DELETE FROM audit WHERE seq = 2")
    r = run_cli("--home", city_home, "audit", "verify")
    assert r.code == 1 and "deleted" in r.err


def test_audit_verify_detects_records_cut_off_the_end(run_cli, city_home):
    _tamper(city_home, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
    r = run_cli("--home", city_home, "audit", "verify")
    assert r.code == 1 and "cut off" in r.err


def test_state_db_uses_wal_and_a_busy_timeout(city_home):
    ctx = NodeContext.open(city_home)
    assert ctx.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ctx.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert ctx.conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    ctx.close()


def test_not_a_home_says_how_to_make_one(run_cli, tmp_path):
    r = run_cli("--home", tmp_path, "status")
    assert r.code == 1 and "node init" in r.err


def test_every_command_has_help(run_cli):
    from fjshare.cli import commands  # noqa: F401
    from fjshare.cli.main import cli

    def walk(group, path):
        for name, cmd in group.commands.items():
            assert cmd.help, f"`node {' '.join(path + [name])}` has no help text"
            if hasattr(cmd, "commands"):
                walk(cmd, path + [name])

    walk(cli, [])
    assert run_cli("--help").code == 0


def test_an_agency_registration_and_its_registry_bundle_commit_together(city_home, run_cli):
    """Killed between placing the bundle and recording it, nothing is half done; the retry is clean."""
    import os
    import subprocess
    import sys

    from conftest import XIAMEN_AGENCY

    env = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
    args = [sys.executable, "-m", "fjshare.cli", "--home", str(city_home), "agency", "add", XIAMEN_AGENCY,
            "--name", "厦门市公安局", "--region", "350200"]
    assert subprocess.run(args, env={**env, "FJSHARE_FAULT": "store.moved"}).returncode == -9
    assert XIAMEN_AGENCY not in run_cli("--home", city_home, "agency", "list", "--json").out
    assert subprocess.run(args, env=env, capture_output=True).returncode == 0
    bundles = json.loads(run_cli("--home", city_home, "bundles", "--json").out)
    registry = [b for b in bundles if b["kind"] == "registry"]
    assert [b["seq"] for b in registry] == [1, 2]
    for b in registry:
        assert run_cli("--home", city_home, "verify", city_home / b["path"]).code == 0
