"""Quality and supervision at one node: identifier checks, comparison with base data, inconsistency
notices with deadlines, findings and the evaluation (Art 9, 11, 14, 28, 37-40)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pyarrow.parquet as pq
import pytest

from conftest import SIMING_AGENCY, XIAMEN_AGENCY
from test_intake import drop

from fjshare import ids
from fjshare.node import registry
from fjshare.node.context import NodeContext

BASE = "102001/000001"        # 人口基础信息 (the population base resource, Art 11)
BUSINESS = "101001/000001"    # 思明区婚姻登记信息
BASE_SPEC = "id_number(公民身份号码):id_number,name(姓名):string,birth_date(出生日期):date"
BUSINESS_SPEC = "id_number(身份证号):id_number,name(姓名):string,birth_date(出生日期):date,amount:int"


def person(i: int) -> tuple[str, str, str]:
    born = date(1980, 1, 1 + i % 28)
    return ids.make_id_number("350203", born, i), f"张{i}", born.isoformat()


def base_csv(n: int) -> bytes:
    return ("公民身份号码,姓名,出生日期\n" + "".join(",".join(person(i)) + "\n" for i in range(n))).encode()


def business_csv(rows: list[tuple[str, str, str]]) -> bytes:
    return ("身份证号,姓名,出生日期,amount\n" + "".join(f"{a},{b},{c},1\n" for a, b, c in rows)).encode()


@pytest.fixture
def world(city_home, run_cli):
    """Xiamen: the city public security bureau provides the population base; Siming civil affairs
    holds marriage records, two of whose people are not in the base and one whose name differs."""
    ctx = NodeContext.open(city_home)
    registry.add_agency(ctx, XIAMEN_AGENCY, name="厦门市公安局", region="350200")
    registry.add_user(ctx, "police", agency=XIAMEN_AGENCY, role="analyst")
    registry.add_user(ctx, "siming-admin", agency=SIMING_AGENCY, role="admin")
    ctx.close()
    assert run_cli("--home", city_home, "resource", "add", BASE, "--agency", XIAMEN_AGENCY, "--name", "人口基础信息",
                   "--share-type", "unconditional", "--items", BASE_SPEC, "--key", "id_number", "--update", "snapshot",
                   "--attribute", "base").code == 0
    assert run_cli("--home", city_home, "resource", "add", BUSINESS, "--agency", SIMING_AGENCY, "--name", "婚姻登记信息",
                   "--share-type", "unconditional", "--items", BUSINESS_SPEC).code == 0
    drop(city_home, "population.csv", base_csv(10), resource=BASE, agency=XIAMEN_AGENCY)
    rows = [person(i) for i in range(2, 10)]
    rows[3] = (rows[3][0], "章5", rows[3][2])                 # the name differs from the base
    rows += [person(20), person(21)]                            # not in the base
    drop(city_home, "marriages.csv", business_csv(rows), resource=BUSINESS)
    assert run_cli("--home", city_home, "intake").code == 0
    return city_home


def compare(run_cli, home, *extra: str, user: str = "analyst", env: dict | None = None):
    return run_cli("--home", home, "--user", user, "compare", BUSINESS, "--against", BASE, "--key", "id_number",
                   "--items", "name,birth_date", *extra, env=env)


def test_compare_reports_missing_and_differing_rows_traced_to_agency_and_handler_art28(world, run_cli, tmp_path):
    out = tmp_path / "findings.csv"
    r = compare(run_cli, world, "--out", out)
    assert r.code == 0, r.err
    assert "2 missing from the base, 1 with differing items" in r.err and "3 new notices" in r.err
    found = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    missing = {f["key"] for f in found if f["finding"] == "missing_from_base"}
    assert missing == {person(20)[0], person(21)[0]}
    [diff] = [f for f in found if f["finding"] == "differs"]
    assert (diff["key"], diff["item"], diff["value"], diff["base_value"]) == (person(5)[0], "name", "章5", "张5")
    assert {f["agency"] for f in found} == {SIMING_AGENCY}       # traced to the agency that supplied the row
    assert all(f["handler"] and f["bundle"] for f in found)      # ... and to who handled it, in which bundle


def test_compare_writes_parquet_and_keeps_its_result_as_a_verifiable_bundle_art22(world, run_cli, tmp_path):
    out = tmp_path / "findings.parquet"
    r = compare(run_cli, world, "--out", out)
    assert r.code == 0, r.err
    assert pq.read_table(out).num_rows == 3
    bundle_id = r.err.split("result bundle ")[1].split(";")[0].strip()
    [bag] = [p for p in (world / "store" / "_result").iterdir() if p.name == bundle_id]
    assert run_cli("--home", world, "verify", bag).code == 0


def test_each_inconsistency_is_a_notice_with_a_deadline_and_is_not_sent_twice_art28(world, run_cli):
    assert compare(run_cli, world, env={"FJSHARE_NOW": "2025-09-26T10:00:00+08:00"}).code == 0
    notices = json.loads(run_cli("--home", world, "inconsistencies", "list", "--json").out)
    assert len(notices) == 3 and {n["agency"] for n in notices} == {SIMING_AGENCY}
    # Ten working days from Friday 26 September 2025, across the National Day holiday (1-8 October off,
    # Sunday 28 September and Saturday 11 October worked): the deadline is 16 October, 24:00 China time.
    assert {n["deadline"] for n in notices} == {"2025-10-17T00:00:00+08:00"}
    again = compare(run_cli, world, env={"FJSHARE_NOW": "2025-09-29T10:00:00+08:00"})
    assert "0 new notices" in again.err
    assert len(json.loads(run_cli("--home", world, "inconsistencies", "list", "--json").out)) == 3


def test_open_notices_past_their_deadline_are_overdue_art40_4(world, run_cli):
    assert compare(run_cli, world, env={"FJSHARE_NOW": "2025-09-26T10:00:00+08:00"}).code == 0
    before = run_cli("--home", world, "inconsistencies", "list", "--overdue", "--json",
                     env={"FJSHARE_NOW": "2025-10-16T23:59:00+08:00"})
    assert json.loads(before.out) == []
    after = run_cli("--home", world, "inconsistencies", "list", "--overdue", "--json",
                    env={"FJSHARE_NOW": "2025-10-17T00:00:01+08:00"})
    assert len(json.loads(after.out)) == 3
    status = json.loads(run_cli("--home", world, "status", "--json", env={"FJSHARE_NOW": "2025-10-17T00:00:01+08:00"}).out)
    assert status["inconsistencies"] == {"open": 3, "overdue": 3, "unsent": 0}


def test_only_the_responsible_agency_resolves_its_notices_art28(world, run_cli):
    assert compare(run_cli, world).code == 0
    [first, *rest] = json.loads(run_cli("--home", world, "inconsistencies", "list", "--json").out)
    r = run_cli("--home", world, "--user", "police", "inconsistencies", "resolve", first["id"], "--outcome", "corrected",
                "--note", "x")
    assert r.code == 1 and "only its staff check and correct it (Art 28)" in r.err
    r = run_cli("--home", world, "--user", "siming-admin", "inconsistencies", "resolve", first["id"],
                "--outcome", "corrected", "--note", "按户籍档案更正姓名")
    assert r.code == 0, r.err
    r = run_cli("--home", world, "--user", "siming-admin", "inconsistencies", "resolve", "--comparison",
                first["comparison"], "--outcome", "confirmed", "--note", "核对无误")
    assert r.code == 0 and "resolved 2 notice(s)" in r.err
    listed = json.loads(run_cli("--home", world, "inconsistencies", "list", "--json").out)
    assert {n["state"] for n in listed} == {"resolved"}
    assert {n["outcome"] for n in listed} == {"corrected", "confirmed"}
    # Found again after they were resolved: new notices.
    assert "3 new notices" in compare(run_cli, world).err


def test_comparison_needs_a_base_resource_and_known_items_art11(world, run_cli):
    r = run_cli("--home", world, "--user", "analyst", "compare", BASE, "--against", BUSINESS, "--key", "id_number")
    assert r.code == 1 and "is not a base resource" in r.err and "Articles 9, 11" in r.err
    r = compare(run_cli, world, "--items", "name,phone,amount")
    assert r.code == 1
    assert "has no item 'phone'" in r.err and "has no item 'amount'" in r.err   # every problem at once


def test_comparison_with_a_conditional_base_needs_a_grant_art27(world, run_cli):
    assert run_cli("--home", world, "resource", "add", "102001/000002", "--agency", XIAMEN_AGENCY, "--name", "人口（有条件）",
                   "--share-type", "conditional", "--basis", "《居民身份证法》", "--items", BASE_SPEC, "--key", "id_number",
                   "--attribute", "base").code == 0
    r = run_cli("--home", world, "--user", "analyst", "compare", BUSINESS, "--against", "102001/000002")
    assert r.code == 1 and "holds no live grant" in r.err
    assert '"compare.refused"' in run_cli("--home", world, "audit", "show", "--json").out


def test_a_base_resource_needs_its_unified_identifier_art11(city_home, run_cli):
    r = run_cli("--home", city_home, "resource", "add", "102001/000003", "--agency", SIMING_AGENCY, "--name", "x",
                "--share-type", "unconditional", "--items", BASE_SPEC, "--attribute", "base")
    assert r.code == 1 and "unified identifier" in r.err


def test_findings_are_recorded_by_the_office_only_art40(world, run_cli):
    r = run_cli("--home", world, "--user", "analyst", "finding", "add", SIMING_AGENCY, "--item", "7", "--text", "x")
    assert r.code == 1 and "digital office" in r.err
    r = run_cli("--home", world, "finding", "add", SIMING_AGENCY, "--item", "9", "--text", "x")
    assert r.code == 1 and "not an item of Article 40" in r.err
    r = run_cli("--home", world, "finding", "add", SIMING_AGENCY, "--item", "7", "--text", "逾期未整改目录问题")
    assert r.code == 0, r.err
    [f] = json.loads(run_cli("--home", world, "finding", "list", "--json").out)
    assert (f["agency"], f["item"]) == (SIMING_AGENCY, "7")


def test_complaints_are_resolved_by_the_provincial_office_art38(world, run_cli):
    r = run_cli("--home", world, "--user", "analyst", "complaint", "file", "--against", XIAMEN_AGENCY,
                "--article", "43", "--text", "设置技术障碍，拒绝提供接口")
    assert r.code == 0, r.err
    [c] = json.loads(run_cli("--home", world, "complaint", "list", "--json").out)
    assert (c["state"], c["article"], c["against"]) == ("filed", "43", XIAMEN_AGENCY)
    r = run_cli("--home", world, "complaint", "resolve", c["id"], "--upheld", "--outcome", "x")
    assert r.code == 1 and "provincial office (Art 38)" in r.err
    r = run_cli("--home", world, "--user", "analyst", "complaint", "file", "--against", XIAMEN_AGENCY,
                "--article", "99", "--text", "x")
    assert r.code == 1 and "not an article of the Measures" in r.err


def test_the_evaluation_counts_each_art40_signal_per_agency_art40(world, run_cli, tmp_path):
    now = {"FJSHARE_NOW": "2025-09-26T10:00:00+08:00"}
    assert compare(run_cli, world, env=now).code == 0
    assert run_cli("--home", world, "finding", "add", SIMING_AGENCY, "--item", "6", "--text", "向第三方转让共享数据",
                   env=now).code == 0
    late = {"FJSHARE_NOW": "2025-11-03T10:00:00+08:00"}
    r = run_cli("--home", world, "report", "--period", "2025", "--format", "json", env=late)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["scope"] == "city" and report["period"] == 2025
    siming = next(a for a in report["agencies"] if a["code"] == SIMING_AGENCY)
    assert siming["signals"]["inconsistencies"] == 3 and siming["signals"]["inconsistencies_overdue"] == 3
    assert siming["art40"]["4"] == 3 and siming["art40"]["6"] == 1
    assert siming["funding"] == "suspend"          # a finding of Art 40(6) holds funds back (Art 39)
    police = next(a for a in report["agencies"] if a["code"] == XIAMEN_AGENCY)
    assert police["signals"]["inconsistencies"] == 0 and police["score"] > siming["score"]
    assert report["findings"][0]["text"] == "向第三方转让共享数据"


def test_rows_flagged_at_intake_show_in_status_and_the_evaluation_art9(city_home, run_cli):
    assert run_cli("--home", city_home, "resource", "add", BUSINESS, "--agency", SIMING_AGENCY, "--name", "x",
                   "--share-type", "unconditional", "--items", BUSINESS_SPEC, "--on-invalid", "flag").code == 0
    good = person(1)
    drop(city_home, "a.csv", business_csv([good, ("350203198001010000", "李", "1980-01-01")]))
    assert run_cli("--home", city_home, "intake").code == 0
    status = json.loads(run_cli("--home", city_home, "status", "--json").out)
    assert status["flagged_rows"] == 1
    report = json.loads(run_cli("--home", city_home, "report", "--format", "json").out)
    [siming] = [a for a in report["agencies"] if a["code"] == SIMING_AGENCY]
    assert siming["signals"]["flagged_rows"] == 1


def test_a_sealed_base_is_opened_in_memory_bundle_by_bundle_for_its_own_agency(world, run_cli):
    """Conditional base data stays sealed at rest (DESIGN §5); its provider may still compare against it."""
    sealed_base = "102001/000009"
    assert run_cli("--home", world, "resource", "add", sealed_base, "--agency", XIAMEN_AGENCY, "--name", "人口（有条件）",
                   "--share-type", "conditional", "--basis", "《居民身份证法》", "--items", BASE_SPEC, "--key", "id_number",
                   "--attribute", "base").code == 0
    drop(world, "p1.csv", base_csv(6), resource=sealed_base, agency=XIAMEN_AGENCY)
    assert run_cli("--home", world, "intake").code == 0
    rest = ("公民身份号码,姓名,出生日期\n" + "".join(",".join(person(i)) + "\n" for i in range(6, 10))).encode()
    drop(world, "p2.csv", rest, resource=sealed_base, agency=XIAMEN_AGENCY)
    assert run_cli("--home", world, "intake").code == 0
    assert list((world / "store").rglob("part-0000.parquet.enc"))          # sealed at rest
    r = run_cli("--home", world, "--user", "police", "compare", BUSINESS, "--against", sealed_base, "--items", "name")
    assert r.code == 0, r.err
    assert "2 missing from the base, 1 with differing items" in r.err
