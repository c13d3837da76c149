"""Outbox intake: files become signed bundles exactly once, bad files are quarantined with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import SIMING_AGENCY, XIAMEN

from fjshare.faults import POINTS

RES = "101001/000001"
SPEC = "id_number(身份证号):id_number,name(姓名):string,birth_date(出生日期):date,amount:int"
HEADER = "身份证号,姓名,出生日期,amount\r\n"


def rows_csv(n: int, start: int = 0) -> str:
    from datetime import date

    from fjshare import ids

    lines = [HEADER]
    for i in range(start, start + n):
        idn = ids.make_id_number("350203", date(1980, 1, 1 + i % 28), i % 1000)
        lines.append(f"{idn},张{i},1980-01-{1 + i % 28:02d},{i}\r\n")
    return "".join(lines)


@pytest.fixture
def node(city_home, run_cli):
    def add(code=RES, *extra):
        r = run_cli("--home", city_home, "resource", "add", code, "--agency", SIMING_AGENCY, "--name", "婚姻登记",
                    "--share-type", "unconditional", "--items", SPEC, *extra)
        assert r.code == 0, r.err
    add()
    return city_home


def drop(home: Path, name: str, data: bytes, resource: str = RES, agency: str = SIMING_AGENCY) -> Path:
    folder = home / "outbox" / agency / resource.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def count_rows(run_cli, home: Path, resource: str = RES) -> int:
    r = run_cli("--home", home, "--user", "analyst", "query", resource, "--format", "json")
    assert r.code == 0, r.err
    return len(json.loads(r.out))


def test_a_dropped_csv_becomes_a_signed_bundle_and_is_queryable(node, run_cli):
    drop(node, "a.csv", rows_csv(20).encode("utf-8"))
    r = run_cli("--home", node, "intake")
    assert r.code == 0, r.err
    assert count_rows(run_cli, node) == 20
    r = run_cli("--home", node, "bundles", "--resource", RES, "--json")
    [b] = json.loads(r.out)
    assert b["rows"] == 20 and b["provider"] == SIMING_AGENCY and b["origin"] == XIAMEN
    assert run_cli("--home", node, "verify", node / b["path"]).code == 0
    assert not any((node / "outbox" / SIMING_AGENCY / "101001_000001").iterdir())
    archived = list((node / "archive").rglob("a.csv"))
    assert len(archived) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_in_the_encodings_chinese_office_software_writes(node, run_cli, encoding):
    drop(node, "enc.csv", rows_csv(5).encode(encoding))
    assert run_cli("--home", node, "intake").code == 0
    r = run_cli("--home", node, "--user", "analyst", "query", RES, "--where", "name~张", "--format", "json")
    names = [x["name"] for x in json.loads(r.out)]
    assert names == [f"张{i}" for i in range(5)]


def test_same_bytes_dropped_twice_are_ingested_once(node, run_cli):
    data = rows_csv(10).encode()
    drop(node, "first.csv", data)
    assert run_cli("--home", node, "intake").code == 0
    drop(node, "again.csv", data)
    r = run_cli("--home", node, "intake", "--json")
    assert r.code == 0
    assert json.loads(r.out)[0]["status"] == "duplicate"
    assert count_rows(run_cli, node) == 10
    assert list((node / "archive").rglob("again.csv.duplicate"))


def test_a_file_with_a_bad_value_is_quarantined_with_row_and_column(node, run_cli):
    text = rows_csv(3) + "350203198001010011,李四,1980-01-01,many\r\n"
    original = text.encode("gb18030")
    drop(node, "bad.csv", original)
    r = run_cli("--home", node, "intake")
    assert r.code == 1
    [q] = [p for p in (node / "quarantine").rglob("bad.csv")]
    assert q.read_bytes() == original  # bytes kept exactly
    reason = q.with_name("bad.csv.reason.txt").read_text(encoding="utf-8")
    assert "row 4" in reason and "amount" in reason and "what to do" in reason
    assert count_rows(run_cli, node) == 0


def test_a_missing_column_is_quarantined_naming_it(node, run_cli):
    drop(node, "cols.csv", "身份证号,姓名,amount\r\n350203198001010011,王,1\r\n".encode())
    assert run_cli("--home", node, "intake").code == 1
    reason = next((node / "quarantine").rglob("cols.csv.reason.txt")).read_text(encoding="utf-8")
    assert "birth_date" in reason or "出生日期" in reason


def test_an_unknown_resource_folder_is_quarantined(node, run_cli):
    drop(node, "x.csv", rows_csv(2).encode(), resource="999999/000001")
    r = run_cli("--home", node, "intake")
    assert r.code == 1 and "not in this node's catalogue" in r.err
    assert next((node / "quarantine").rglob("x.csv.reason.txt"))


def test_an_unregistered_agency_folder_is_quarantined(node, run_cli):
    drop(node, "y.csv", rows_csv(2).encode(), agency="not-an-agency")
    r = run_cli("--home", node, "intake")
    assert r.code == 1 and "not a registered agency" in r.err


def test_temp_and_lock_files_are_left_alone(node, run_cli):
    for name in ("~$book.xlsx", ".~lock.a.csv#", "upload.csv.part", "x.tmp", ".hidden.csv"):
        drop(node, name, b"partial")
    r = run_cli("--home", node, "intake", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    assert len(list((node / "outbox" / SIMING_AGENCY / "101001_000001").iterdir())) == 5


def test_a_growing_file_waits_for_the_next_run(node, run_cli):
    path = drop(node, "growing.csv", rows_csv(5).encode())
    import threading

    def grow():
        time.sleep(0.3)
        with open(path, "ab") as f:
            f.write(b"350203198001010011,x,1980-01-01,1\r\n")

    t = threading.Thread(target=grow)
    t.start()
    r = run_cli("--home", node, "intake", "--settle", "1", "--json")
    t.join()
    assert json.loads(r.out)[0]["status"] == "waiting"
    assert path.exists()


def test_share_type_none_bundles_stay_local_art4(node, run_cli):
    r = run_cli("--home", node, "resource", "add", "101001/000002", "--agency", SIMING_AGENCY, "--name", "内部",
                "--share-type", "none", "--items", SPEC, "--basis", "《某条例》第十条")
    assert r.code == 0, r.err
    drop(node, "n.csv", rows_csv(3).encode(), resource="101001/000002")
    assert run_cli("--home", node, "intake").code == 0
    bundles = json.loads(run_cli("--home", node, "bundles", "--resource", "101001/000002", "--json").out)
    assert [b["local_only"] for b in bundles] == [True]
    r = run_cli("--home", node, "--user", "analyst", "query", "101001/000002")
    assert r.code == 1 and "Articles 4 and 21" in r.err


def test_conditional_resource_needs_a_basis(run_cli, city_home):
    r = run_cli("--home", city_home, "resource", "add", "101001/000003", "--agency", SIMING_AGENCY, "--name", "x",
                "--share-type", "conditional", "--items", SPEC)
    assert r.code == 1 and "legal_basis" in r.err and "Art 4" in r.err


def test_conditional_data_is_sealed_at_rest_and_only_its_agency_or_a_grantee_reads_it(node, run_cli):
    from conftest import XIAMEN_AGENCY

    r = run_cli("--home", node, "resource", "add", "101001/000004", "--agency", SIMING_AGENCY, "--name", "受限",
                "--share-type", "conditional", "--items", SPEC, "--basis", "《条例》")
    assert r.code == 0
    drop(node, "c.csv", rows_csv(3).encode(), resource="101001/000004")
    assert run_cli("--home", node, "intake").code == 0
    [b] = json.loads(run_cli("--home", node, "bundles", "--resource", "101001/000004", "--json").out)
    files = sorted(p.name for p in (node / b["path"] / "data").iterdir())
    assert files == ["part-0000.parquet.enc"]
    assert "张" not in (node / b["path"] / "data" / files[0]).read_bytes().decode("latin-1")
    # the providing agency's own staff read it, opened in memory
    r = run_cli("--home", node, "--user", "analyst", "query", "101001/000004", "--format", "json")
    assert r.code == 0 and len(json.loads(r.out)) == 3
    # another agency needs a grant (Art 23-27)
    assert run_cli("--home", node, "agency", "add", XIAMEN_AGENCY, "--name", "厦门市公安局", "--region", "350200").code == 0
    assert run_cli("--home", node, "user", "add", "other", "--agency", XIAMEN_AGENCY, "--role", "analyst").code == 0
    r = run_cli("--home", node, "--user", "other", "query", "101001/000004")
    assert r.code == 1 and "grant" in r.err


# --------------------------------------------------------------- crash at every journal step


def _intake_subprocess(home: Path, fault: str | None = None) -> int:
    env = {**os.environ, "FJSHARE_HOME": str(home)}
    env.pop("FJSHARE_FAULT", None)
    if fault:
        env["FJSHARE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "fjshare.cli", "intake"], env=env, capture_output=True).returncode


@pytest.mark.parametrize("point", POINTS)
def test_intake_killed_at_each_step_then_restarted_yields_rows_exactly_once(node, run_cli, point):
    drop(node, "one.csv", rows_csv(30).encode())
    drop(node, "two.csv", rows_csv(12, start=100).encode())
    rc = _intake_subprocess(node, point)
    assert rc == -9, f"the fault point {point} was never reached"
    assert _intake_subprocess(node) == 0
    assert _intake_subprocess(node) == 0  # a further run changes nothing
    assert count_rows(run_cli, node) == 42
    bundles = json.loads(run_cli("--home", node, "bundles", "--resource", RES, "--json").out)
    assert sorted(b["seq"] for b in bundles) == [1, 2]
    for b in bundles:
        assert run_cli("--home", node, "verify", node / b["path"]).code == 0
    assert not any((node / "work").iterdir())


# --------------------------------------------------------------- update modes


def test_update_mode_snapshot_keeps_only_the_newest_bundle(city_home, run_cli):
    assert run_cli("--home", city_home, "resource", "add", RES, "--agency", SIMING_AGENCY, "--name", "x",
                   "--share-type", "unconditional", "--items", SPEC, "--update", "snapshot").code == 0
    drop(city_home, "a.csv", rows_csv(10).encode())
    run_cli("--home", city_home, "intake")
    drop(city_home, "b.csv", rows_csv(4, start=50).encode())
    run_cli("--home", city_home, "intake")
    assert count_rows(run_cli, city_home) == 4


def test_update_mode_append_keeps_every_bundle(node, run_cli):
    drop(node, "a.csv", rows_csv(10).encode())
    run_cli("--home", node, "intake")
    drop(node, "b.csv", rows_csv(4, start=50).encode())
    run_cli("--home", node, "intake")
    assert count_rows(run_cli, node) == 14


def test_update_mode_upsert_replaces_rows_by_key(city_home, run_cli):
    assert run_cli("--home", city_home, "resource", "add", RES, "--agency", SIMING_AGENCY, "--name", "x",
                   "--share-type", "unconditional", "--items", SPEC, "--update", "upsert", "--key", "id_number").code == 0
    first = rows_csv(5)
    drop(city_home, "a.csv", first.encode())
    run_cli("--home", city_home, "intake")
    lines = first.splitlines()
    changed = HEADER + lines[1].rsplit(",", 1)[0] + ",999\r\n" + rows_csv(1, start=77).splitlines()[1] + "\r\n"
    drop(city_home, "b.csv", changed.encode())
    run_cli("--home", city_home, "intake")
    r = run_cli("--home", city_home, "--user", "analyst", "query", RES, "--format", "json", "--trace")
    rows = json.loads(r.out)
    assert len(rows) == 6
    first_id = lines[1].split(",")[0]
    [updated] = [x for x in rows if x["id_number"] == first_id]
    assert updated["amount"] == 999
    # a filter applies to the current rows, not to versions they replaced
    r = run_cli("--home", city_home, "--user", "analyst", "query", RES, "--where", "amount=0", "--format", "json")
    assert json.loads(r.out) == []


def test_every_row_is_traceable_to_bundle_provider_and_handler(node, run_cli):
    drop(node, "a.csv", rows_csv(3).encode())
    run_cli("--home", node, "intake")
    r = run_cli("--home", node, "--user", "analyst", "query", RES, "--trace", "--format", "json")
    rows = json.loads(r.out)
    assert {x["_provider"] for x in rows} == {SIMING_AGENCY}
    assert all(x["_bundle"].startswith("b") and x["_handler"] for x in rows)


def test_store_reads_as_it_lies_with_duckdb_and_pyarrow(node, run_cli):
    duckdb = pytest.importorskip("duckdb")
    drop(node, "a.csv", rows_csv(7).encode())
    run_cli("--home", node, "intake")
    glob = str(node / "store" / "101001_000001" / "*" / "data" / "*.parquet")
    con = duckdb.connect()
    n, bundles = con.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT bundle) FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone()
    assert (n, bundles) == (7, 1)
    [part] = list((node / "store" / "101001_000001").rglob("part-0000.parquet"))
    t = pq.read_table(part)
    assert t.schema.field("id_number").type == "string"
    assert t.schema.field("birth_date").type == "date32[day]"


def test_bundle_is_a_valid_bagit_bag(node, run_cli):
    bagit = pytest.importorskip("bagit")
    drop(node, "a.csv", rows_csv(7).encode())
    run_cli("--home", node, "intake")
    [bag] = list((node / "store" / "101001_000001").iterdir())
    bagit.Bag(str(bag)).validate()


def test_query_refuses_without_a_user_art35(node, run_cli):
    r = run_cli("--home", node, "query", RES)
    assert r.code == 1 and "--user" in r.err


def test_query_where_and_columns(node, run_cli):
    drop(node, "a.csv", rows_csv(20).encode())
    run_cli("--home", node, "intake")
    r = run_cli("--home", node, "--user", "analyst", "query", RES, "--where", "amount>=15", "--where", "amount<18",
                "--columns", "name,amount", "--format", "csv")
    assert r.code == 0
    assert r.out.splitlines() == ["name,amount", "张15,15", "张16,16", "张17,17"]
    r = run_cli("--home", node, "--user", "analyst", "query", RES, "--where", "amount>>1")
    assert r.code == 2
    r = run_cli("--home", node, "--user", "analyst", "query", RES, "--columns", "nope")
    assert r.code == 1 and "no data item" in r.err
