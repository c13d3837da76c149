"""The catalogue system (Ch.3): entries, review workflow, collection catalogue, federation (Art 6-8, 15-18, 33, 41, 42)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SIMING_AGENCY, XIAMEN_AGENCY

ENTRY = """
resource_code = "101001/000101"
name = "思明区婚姻登记信息"
abstract = "思明区民政局办理的结婚、离婚登记记录,含当事人身份证号与登记日期。"
provider_code = "{agency}"
region_code = "350203"
attribute = "department"
topic = "民政"
keywords = ["婚姻", "登记", "民政"]
format = "数据库"
share_type = "unconditional"
share_modes = ["query", "download"]
update_mode = "append"
update_cycle = "monthly"
open_to_public = false
items = [
  {{ name = "id_number", type = "id_number", label = "身份证号" }},
  {{ name = "name", type = "string", label = "姓名" }},
  {{ name = "registered_on", type = "date", label = "登记日期" }},
]
"""


@pytest.fixture
def staffed(city_home, run_cli):
    """Siming's registrar (wang), reviewer (li) and a person holding both roles (zhao)."""
    for name, role in (("wang", "registrar"), ("li", "reviewer"), ("zhao", "registrar,reviewer")):
        assert run_cli("--home", city_home, "user", "add", name, "--agency", SIMING_AGENCY, "--role", role).code == 0
    return city_home


def _file(tmp_path: Path, text: str, name: str = "entry.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _publish(run_cli, home, path, registrar="wang", reviewer="li"):
    code = "101001/000101"
    assert run_cli("--home", home, "--user", registrar, "catalogue", "register", path).code == 0
    assert run_cli("--home", home, "--user", registrar, "catalogue", "submit", code).code == 0
    assert run_cli("--home", home, "--user", reviewer, "catalogue", "review", code, "--approve").code == 0
    r = run_cli("--home", home, "--user", registrar, "catalogue", "publish", code)
    assert r.code == 0, r.err
    return code


def test_register_reports_every_problem_at_once_with_field_names(staffed, run_cli, tmp_path):
    bad = ENTRY.format(agency=SIMING_AGENCY).replace('share_type = "unconditional"', 'share_type = "conditional"')
    bad = bad.replace('resource_code = "101001/000101"', 'resource_code = "10-1/1"').replace('update_cycle = "monthly"',
                                                                                          'update_cycle = "sometimes"')
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, bad))
    assert r.code == 1
    for field in ("resource_code:", "share_condition:", "legal_basis:", "update_cycle:"):
        assert field in r.err
    assert "4 problem(s)" in r.err


def test_a_classified_resource_is_refused_art33(staffed, run_cli, tmp_path):
    text = ENTRY.format(agency=SIMING_AGENCY) + "classified = true\n"
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, text))
    assert r.code == 1 and "Art 33" in r.err


def test_purchased_information_needs_its_licence_art42(staffed, run_cli, tmp_path):
    text = ENTRY.format(agency=SIMING_AGENCY) + "purchased = true\n"
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, text))
    assert r.code == 1 and "licence:" in r.err and "Art 42" in r.err
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "register",
                _file(tmp_path, text + 'licence = "许可协议 2026-007"\n', "ok.toml"))
    assert r.code == 0, r.err


def test_an_entry_of_another_citys_region_is_refused_art41(staffed, run_cli, tmp_path):
    text = ENTRY.format(agency=SIMING_AGENCY).replace('region_code = "350203"', 'region_code = "350102"')
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, text))
    assert r.code == 1 and "region_code:" in r.err


def test_draft_submitted_approved_published_art16(staffed, run_cli, tmp_path):
    code = _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    doc = json.loads(run_cli("--home", staffed, "catalogue", "show", code, "--history").out)
    assert doc["status"] == "published" and doc["metadata_id"].startswith("350200-")
    assert [h["to_state"] for h in doc["history"]] == ["draft", "submitted", "approved", "published"]
    assert [h["actor"] for h in doc["history"]][:3] == ["wang", "wang", "li"]
    audit = run_cli("--home", staffed, "audit", "show", "--json").out
    assert '"catalogue.approved"' in audit and '"catalogue.published"' in audit


def test_a_registrar_cannot_approve_their_own_entry_art18(staffed, run_cli, tmp_path):
    code = "101001/000101"
    assert run_cli("--home", staffed, "--user", "zhao", "catalogue", "register",
                   _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY))).code == 0
    assert run_cli("--home", staffed, "--user", "zhao", "catalogue", "submit", code).code == 0
    r = run_cli("--home", staffed, "--user", "zhao", "catalogue", "review", code, "--approve")
    assert r.code == 1 and "Art 18" in r.err
    assert run_cli("--home", staffed, "--user", "li", "catalogue", "review", code, "--approve").code == 0


def test_a_returned_entry_carries_a_comment_and_goes_back_to_review(staffed, run_cli, tmp_path):
    code = "101001/000101"
    run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    run_cli("--home", staffed, "--user", "wang", "catalogue", "submit", code)
    assert run_cli("--home", staffed, "--user", "li", "catalogue", "review", code, "--return").code == 1
    assert run_cli("--home", staffed, "--user", "li", "catalogue", "review", code, "--return",
                   "--comment", "摘要请写明数据范围").code == 0
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "publish", code)
    assert r.code == 1 and "returned" in r.err
    assert run_cli("--home", staffed, "--user", "wang", "catalogue", "submit", code).code == 0


def test_a_revision_of_a_published_entry_is_reviewed_again_while_the_old_stays_visible(staffed, run_cli, tmp_path):
    code = _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    revised = ENTRY.format(agency=SIMING_AGENCY).replace("思明区婚姻登记信息", "思明区婚姻登记信息(含补登)")
    assert run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, revised, "r.toml")).code == 0
    doc = json.loads(run_cli("--home", staffed, "catalogue", "show", code).out)
    assert doc["name"] == "思明区婚姻登记信息" and doc["revision_in_progress"] == {"state": "draft", "revision": 2}
    run_cli("--home", staffed, "--user", "wang", "catalogue", "submit", code)
    run_cli("--home", staffed, "--user", "li", "catalogue", "review", code, "--approve")
    assert run_cli("--home", staffed, "--user", "wang", "catalogue", "publish", code).code == 0
    doc = json.loads(run_cli("--home", staffed, "catalogue", "show", code).out)
    assert doc["name"].endswith("(含补登)") and doc["revision"] == 2 and "revision_in_progress" not in doc


def test_a_conditional_entry_needs_its_basis_confirmed_by_the_office_art4_art21(staffed, run_cli, tmp_path):
    text = ENTRY.format(agency=SIMING_AGENCY).replace('share_type = "unconditional"', '''share_type = "conditional"
share_condition = "仅限婚姻登记核验业务使用"
legal_basis = "《婚姻登记条例》第十条"''')
    code = "101001/000101"
    run_cli("--home", staffed, "--user", "wang", "catalogue", "register", _file(tmp_path, text))
    run_cli("--home", staffed, "--user", "wang", "catalogue", "submit", code)
    run_cli("--home", staffed, "--user", "li", "catalogue", "review", code, "--approve")
    r = run_cli("--home", staffed, "--user", "wang", "catalogue", "publish", code)
    assert r.code == 1 and "confirm-basis" in r.err
    assert run_cli("--home", staffed, "--user", "wang", "catalogue", "confirm-basis", code).code == 1  # staff cannot
    assert run_cli("--home", staffed, "catalogue", "confirm-basis", code).code == 0
    assert run_cli("--home", staffed, "--user", "wang", "catalogue", "publish", code).code == 0


def test_entries_not_reviewed_for_a_year_are_stale_art17(staffed, run_cli, tmp_path):
    _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    assert json.loads(run_cli("--home", staffed, "catalogue", "stale", "--json").out) == []
    later = run_cli("--home", staffed, "catalogue", "stale", "--json", env={"FJSHARE_NOW": "2028-01-01T00:00:00+08:00"})
    assert [e["code"] for e in json.loads(later.out)] == ["101001/000101"]


def test_search_finds_two_character_terms_and_facets(staffed, run_cli, tmp_path):
    _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    r = run_cli("--home", staffed, "catalogue", "search", "婚姻", "--json")
    doc = json.loads(r.out)
    assert doc["total"] == 1 and doc["hits"][0]["code"] == "101001/000101"
    assert {"value": "unconditional", "count": 1} in doc["facets"]["share_type"]
    assert json.loads(run_cli("--home", staffed, "catalogue", "search", "身份证号", "--json").out)["total"] == 1
    assert json.loads(run_cli("--home", staffed, "catalogue", "search", "人口", "--json").out)["total"] == 0
    r = run_cli("--home", staffed, "catalogue", "search", "婚姻", "--facet", "share_type=conditional", "--json")
    assert json.loads(r.out)["total"] == 0


def test_collect_once_share_many_art8(staffed, run_cli, tmp_path):
    assert run_cli("--home", staffed, "agency", "add", XIAMEN_AGENCY, "--name", "厦门市公安局", "--region", "350200").code == 0
    assert run_cli("--home", staffed, "user", "add", "chen", "--agency", XIAMEN_AGENCY, "--role", "registrar").code == 0
    r = run_cli("--home", staffed, "--user", "wang", "collect", "add", "--item", "婚姻状况", "--basis", "《婚姻登记条例》",
                "--resource", "101001/000101")
    assert r.code == 0, r.err
    r = run_cli("--home", staffed, "--user", "chen", "collect", "add", "--item", "婚姻状况", "--basis", "户籍管理")
    assert r.code == 1
    assert SIMING_AGENCY in r.err and "101001/000101" in r.err and "Art 8" in r.err
    listed = json.loads(run_cli("--home", staffed, "collect", "list", "--refused", "--json").out)
    assert [x["status"] for x in listed] == ["declared", "refused"]


def test_an_item_a_base_resource_provides_is_not_collected_again_art11(staffed, run_cli, tmp_path):
    base = ENTRY.format(agency=SIMING_AGENCY).replace('attribute = "department"', 'attribute = "base"')
    base += 'key = ["id_number"]\n'
    _publish(run_cli, staffed, _file(tmp_path, base))
    assert run_cli("--home", staffed, "agency", "add", XIAMEN_AGENCY, "--name", "厦门市公安局", "--region", "350200").code == 0
    assert run_cli("--home", staffed, "user", "add", "chen", "--agency", XIAMEN_AGENCY, "--role", "registrar").code == 0
    r = run_cli("--home", staffed, "--user", "chen", "collect", "add", "--item", "身份证号", "--basis", "x")
    assert r.code == 1 and "base resource 101001/000101" in r.err and "Art 11" in r.err


def test_the_other_catalogues_of_art45(staffed, run_cli):
    assert run_cli("--home", staffed, "catalogue", "other", "add", "--kind", "database", "--code", "db-hy",
                   "--name", "婚姻登记库", "--agency", SIMING_AGENCY, "--field", "engine=达梦").code == 0
    kinds = {x["kind"] for x in json.loads(run_cli("--home", staffed, "catalogue", "other", "list", "--json").out)}
    assert kinds == {"user", "database"}


def test_exports_dcat_xml_csv(staffed, run_cli, tmp_path):
    _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    for fmt, name in (("dcat", "c.jsonld"), ("xml", "c.xml"), ("csv", "c.csv")):
        r = run_cli("--home", staffed, "catalogue", "export", "--format", fmt, "--out", tmp_path / name)
        assert r.code == 0, r.err
        assert "思明区婚姻登记信息" in (tmp_path / name).read_text(encoding="utf-8-sig")
    rdflib = pytest.importorskip("rdflib")
    g = rdflib.Graph().parse(data=(tmp_path / "c.jsonld").read_text(encoding="utf-8"), format="json-ld")
    assert any(str(o) == "思明区婚姻登记信息" for o in g.objects())


def test_node_serve_shows_the_catalogue_in_chinese(staffed, run_cli, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    _publish(run_cli, staffed, _file(tmp_path, ENTRY.format(agency=SIMING_AGENCY)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
    proc = subprocess.Popen([sys.executable, "-m", "fjshare.cli", "--home", str(staffed), "serve", "--listen",
                             f"127.0.0.1:{port}"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        page = None
        for _ in range(100):
            try:
                url = f"http://127.0.0.1:{port}/search?q=" + urllib.parse.quote("婚姻")
                page = urllib.request.urlopen(url, timeout=2).read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.1)
        assert page is not None and "101001/000101" in page and "登记信息" in page and "厦门市节点" in page
    finally:
        proc.terminate()
        proc.wait(timeout=10)
