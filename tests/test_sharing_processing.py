"""Custom processing (Art 22): filter, compare, clean; results are bundles like any other."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import SIMING_AGENCY
from test_intake import SPEC, drop, rows_csv

from fjshare.sharing.processing import clean, compare


def test_compare_finds_rows_in_one_only_and_differing_values_art28():
    a = pa.table({"id": ["1", "2", "3"], "name": ["王", "李", "张"]})
    b = pa.table({"id": ["2", "3", "4"], "name": ["李", "章", "赵"]})
    found = compare(a, b, key="id", items=["name"]).to_pylist()
    assert found == [
        {"key": "1", "finding": "only_in_a", "item": None, "value_a": None, "value_b": None},
        {"key": "4", "finding": "only_in_b", "item": None, "value_a": None, "value_b": None},
        {"key": "3", "finding": "differs", "item": "name", "value_a": "张", "value_b": "章"},
    ]


def test_clean_trims_normalises_full_width_and_deduplicates():
    t = pa.table({"id": ["１", "1", "2"], "name": ["  王伟 ", "王伟", "ＡＢＣ"]})
    out = clean(t, key="id").to_pylist()
    assert out == [{"id": "1", "name": "王伟"}, {"id": "2", "name": "ABC"}]


def test_processing_jobs_store_verifiable_result_bundles(city_home, run_cli, tmp_path):
    for code in ("101001/000001", "101001/000002"):
        assert run_cli("--home", city_home, "resource", "add", code, "--agency", SIMING_AGENCY, "--name", "x",
                       "--share-type", "unconditional", "--items", SPEC).code == 0
    drop(city_home, "a.csv", rows_csv(10).encode(), resource="101001/000001")
    lines = rows_csv(8, start=2).splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",999"        # one amount differs between the two sources
    drop(city_home, "b.csv", ("\r\n".join(lines) + "\r\n").encode(), resource="101001/000002")
    assert run_cli("--home", city_home, "intake").code == 0
    out = tmp_path / "cmp.parquet"
    r = run_cli("--home", city_home, "--user", "analyst", "process", "compare", "101001/000001", "101001/000002",
                "--key", "id_number", "--items", "amount", "--out", out)
    assert r.code == 0, r.err
    bundle_id = r.out.strip()
    findings = pq.read_table(out).to_pylist()
    assert {f["finding"] for f in findings} == {"only_in_a", "differs"}
    r = run_cli("--home", city_home, "--user", "analyst", "process", "filter", "101001/000001", "--where", "amount>=5",
                "--columns", "name,amount")
    assert r.code == 0
    results = json.loads(run_cli("--home", city_home, "process", "list", "--json").out)
    assert [x["bundle_id"] for x in results][0] == bundle_id and results[1]["rows"] == 5
    [bag] = [p for p in (city_home / "store" / "_result").iterdir() if p.name == bundle_id]
    assert run_cli("--home", city_home, "verify", bag).code == 0
    audit = run_cli("--home", city_home, "audit", "show", "--json").out
    assert '"process.compare"' in audit and '"process.filter"' in audit
