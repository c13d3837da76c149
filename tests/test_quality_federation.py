"""Quality and supervision across a province and two cities over real SFTP (Art 28, 38, 40).

The province compares a Xiamen agency's business data with the provincial population base: each
inconsistency is a notice addressed to that agency at Xiamen, resolved there, and the result comes
back to the comparer. A complaint filed at Xiamen against a Fuzhou agency is resolved by the
provincial office and the outcome travels back. Findings recorded by a city office reach the
province, whose evaluation covers every node while a city's covers its own agencies.
"""

from __future__ import annotations

import json

import pytest

from federation_kit import SPEC, agency_with_resource, build, csv_rows, drop, intake, opened

from fjshare import ids
from fjshare.catalogue.resources import Resource
from fjshare.errors import Refused
from fjshare.node import evaluation, quality, registry, supervision
from fjshare.node.resources import register_resource
from fjshare.schema import parse_spec

PROVINCIAL_POLICE = ids.make_uscc("350000", "MB040004")
BASE = "102001/000001"


@pytest.fixture
def world(tmp_path):
    fed = build(tmp_path, cities=("350200", "350100"))
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    siming, business = agency_with_resource(xm, "350200", resource="101001/000001")
    fuzhou_agency, _ = agency_with_resource(fz, "350100", resource="101001/000002", org="MB030003")
    with opened(fed.province) as p:
        registry.add_agency(p, PROVINCIAL_POLICE, name="福建省公安厅", region="350000")
        registry.add_user(p, "prov-analyst", agency=PROVINCIAL_POLICE, role="analyst")
        register_resource(p, Resource(BASE, PROVINCIAL_POLICE, "人口基础信息", "unconditional", tuple(parse_spec(SPEC)),
                                      update_mode="snapshot", key=("id_number",), origin_node="350000",
                                      entry={"attribute": "base"}))
    with opened(xm) as c:
        registry.add_user(c, "siming-admin", agency=siming, role="admin")
    drop(fed.province, PROVINCIAL_POLICE, BASE, "population.csv", csv_rows(10))
    intake(fed.province)
    drop(xm, siming, business, "records.csv", csv_rows(8, start=5))     # ids 10, 11 and 12 are not in the base
    intake(xm)
    fed.settle_all()
    yield fed, siming, business, fuzhou_agency
    fed.stop_server()


def test_a_notice_reaches_the_responsible_agency_at_its_node_and_the_result_comes_back_art28(world):
    fed, siming, business, _ = world
    xm = fed.cities["350200"]
    with opened(fed.province, user="prov-analyst") as p:
        outcome = quality.compare(p, business, against=BASE, key="id_number", items=["name"])
    assert outcome.comparison["missing"] == 3 and outcome.comparison["notices"] == 3
    fed.settle_all()
    with opened(xm) as c:
        notices = quality.listing(c, agency=siming)
    assert len(notices) == 3 and {n["comparer_node"] for n in notices} == {"350000"}
    assert {n["agency_node"] for n in notices} == {"350200"}
    with opened(xm, user="siming-admin") as c:
        quality.resolve(c, [n["id"] for n in notices], outcome="corrected", note="已补录人口信息")
    fed.settle_all()
    with opened(fed.province) as p:                 # fed back to the comparing party (Art 28)
        back = quality.listing(p, comparison=outcome.comparison["id"])
    assert {(n["state"], n["outcome"], n["note"]) for n in back} == {("resolved", "corrected", "已补录人口信息")}


def test_a_complaint_is_resolved_by_the_province_and_the_outcome_travels_back_art38(world):
    fed, siming, _, fuzhou_agency = world
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    with opened(xm) as c:
        registry.add_user(c, "siming-staff", agency=siming, role="analyst")
    with opened(xm, user="siming-staff") as c:
        filed = supervision.file_complaint(c, fuzhou_agency, article="26", text="逾期未答复共享申请")
    fed.settle_all()
    with opened(fed.province) as p:
        assert [c["id"] for c in supervision.complaints(p, state="filed")] == [filed["id"]]
        supervision.resolve_complaint(p, filed["id"], upheld=True, outcome="已责令福州市某局限期答复")
    fed.settle_all()
    for home in (xm, fz):
        with opened(home) as c:
            [back] = supervision.complaints(c)
        assert (back["state"], back["upheld"], back["outcome"]) == ("resolved", True, "已责令福州市某局限期答复")


def test_a_city_office_records_findings_only_for_its_own_agencies_and_the_province_sees_them_art40(world):
    fed, siming, _, fuzhou_agency = world
    xm = fed.cities["350200"]
    with opened(xm) as c:
        with pytest.raises(Refused, match="outside this office's jurisdiction"):
            supervision.add_finding(c, fuzhou_agency, item="8", text="x")
        supervision.add_finding(c, siming, item="7", text="拒不整改目录问题")
    fed.settle_all()
    with opened(fed.province) as p:
        [f] = supervision.findings(p)
        report = evaluation.evaluate(p)
    assert (f["agency"], f["item"], f["node"]) == (siming, "7", "350200")
    codes = {a["code"] for a in report["agencies"]}
    assert {siming, fuzhou_agency, PROVINCIAL_POLICE} <= codes
    assert {n["code"] for n in report["nodes"]} == {"350000", "350100", "350200"}
    [row] = [a for a in report["agencies"] if a["code"] == siming]
    assert row["art40"]["7"] == 1 and row["funding"] == "suspend"
    with opened(xm) as c:
        city = evaluation.evaluate(c)
    assert city["scope"] == "city" and {a["code"] for a in city["agencies"]} == {siming}
    assert json.dumps(city, ensure_ascii=False)        # the JSON format of `node report`


def test_a_city_learns_the_agencies_of_a_city_admitted_after_it_in_one_round_art41(world):
    """The province's registry (with the later city's node certificate) is applied before that city's
    registrations, which are signed with it: nothing is quarantined as an unknown signer."""
    fed, _, _, fuzhou_agency = world
    xm = fed.cities["350200"]
    with opened(xm) as c:
        assert c.conn.execute("SELECT node FROM agencies WHERE code = ?", (fuzhou_agency,)).fetchone()["node"] == "350100"
    assert not list((xm / "quarantine").rglob("*.reason.txt"))
