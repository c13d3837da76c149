"""The evaluation report (Art 37, 39, 40) as a page in a real browser, as CSV and as JSON.

A node's real figures (a comparison whose notices went past their deadline, a finding of the
office) are rendered by `node report --format html` and loaded in headless Chromium: the DOM holds
them. The page is also rendered from a hand-made province report, for the parts a single city
cannot show (other nodes, an agency name that tries to inject markup).
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct

from conftest import SIMING_AGENCY, XIAMEN_AGENCY
from test_catalogue_web import _chromium, chromium  # noqa: F401 (fixture)
from test_quality import compare, world  # noqa: F401 (fixture)

from fjshare.supervision.report_render import render_csv, render_html

LATE = {"FJSHARE_NOW": "2025-11-03T10:00:00+08:00"}


def _seed(run_cli, home) -> None:
    assert compare(run_cli, home, env={"FJSHARE_NOW": "2025-09-26T10:00:00+08:00"}).code == 0
    assert run_cli("--home", home, "finding", "add", SIMING_AGENCY, "--item", "7", "--text", "目录问题逾期未整改",
                   env={"FJSHARE_NOW": "2025-10-20T10:00:00+08:00"}).code == 0


def _cell(dom: str, agency: str, signal: str) -> str:
    row = re.search(rf'<tr data-agency="{agency}">(.*?)</tr>', dom, re.S)
    assert row, f"no row for {agency}"
    cell = re.search(rf'data-signal="{signal}" data-value="([^"]*)"', row.group(1))
    assert cell, f"no {signal} in the row of {agency}"
    return cell.group(1)


def test_the_report_page_shows_each_agencys_seeded_figures_in_a_browser_art40(world, run_cli, chromium, tmp_path):  # noqa: F811
    _seed(run_cli, world)
    page = tmp_path / "report.html"
    r = run_cli("--home", world, "report", "--period", "2025", "--format", "html", "--out", page, env=LATE)
    assert r.code == 0, r.err
    done = _chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "2025 年度政务信息共享绩效评估" in dom
    assert _cell(dom, SIMING_AGENCY, "inconsistencies_overdue") == "3"           # Art 40(4)
    assert _cell(dom, SIMING_AGENCY, "funding") == "suspend"                      # a finding of Art 40(7), Art 39
    score = _cell(dom, SIMING_AGENCY, "score")
    assert re.search(rf'<rect data-agency="{SIMING_AGENCY}" data-value="{score}"', dom)       # the score chart
    assert re.search(rf'<rect data-agency="{SIMING_AGENCY}" data-item="4" data-value="3"', dom)  # the Art 40 map
    assert re.search(r'id="tile-inconsistencies_overdue" data-value="3"', dom)
    assert "目录问题逾期未整改" in dom
    assert int(_cell(dom, XIAMEN_AGENCY, "score")) > int(score)


def test_a_screenshot_of_the_report_page(world, run_cli, chromium, tmp_path):  # noqa: F811
    _seed(run_cli, world)
    page = tmp_path / "report.html"
    assert run_cli("--home", world, "report", "--period", "2025", "--out", page, env=LATE).code == 0
    png = tmp_path / "report-screenshot.png"   # docs/report-screenshot.png comes from test_supervision_report_page
    done = _chromium(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,1600", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 1600)
    assert len(data) > 40_000


def _agency(code: str, name: str, node: str, score: int, funding: str, **art40: int) -> dict:
    return {"code": code, "name": name, "node": node, "region": node, "score": score, "funding": funding,
            "art40": {str(k): art40.get(f"i{k}", 0) for k in range(1, 9)},
            "signals": {"inconsistencies_overdue": art40.get("i4", 0), "flagged_rows": 12_345_678},
            "requests": {"answered": 4, "answered_in_time": 3, "late": 1}, "sharing": {"rows": 23_000_000}}


def province_report() -> dict:
    return {
        "period": 2026, "generated": "2026-11-24T10:00:00+08:00", "scope": "province",
        "node": {"code": "350000", "name": "福建省", "tier": "province"},
        "summary": {"agencies": 2, "score_mean": 66.5, "suspend": 1, "watch": 0, "inconsistencies_overdue": 5,
                    "requests_answered": 8, "requests_in_time": 6},
        "nodes": [{"code": "350200", "name": "厦门市", "agencies": 1, "score_mean": 95.0},
                  {"code": "350100", "name": "福州市", "agencies": 1, "score_mean": 38.0}],
        "agencies": [_agency("A1", "厦门市<script>alert(1)</script>局", "350200", 95, "normal"),
                     _agency("A2", "福州市某局", "350100", 38, "suspend", i4=5, i6=1)],
        "findings": [{"id": "350000-F1", "agency": "A2", "agency_name": "福州市某局", "item": "6", "text": "擅自转让",
                      "at": "2026-05-01T09:00:00+08:00", "by": "operator"}],
    }


def test_a_province_report_compares_nodes_and_escapes_what_agencies_named_themselves(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "p.html"
    page.write_text(render_html(province_report()), encoding="utf-8")
    dom = _chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert re.search(r'<rect data-node="350100" data-value="38.0"', dom)
    assert "<script>alert(1)</script>" not in dom and "&lt;script&gt;" in dom
    assert "12,345,678" in dom and 'data-value="12345678"' in dom        # readable, and exact underneath


def test_a_city_report_without_findings_or_requests_says_none():
    report = dict(province_report(), scope="city", nodes=[], findings=[])
    report["agencies"] = [dict(a, requests={}) for a in report["agencies"]]
    html = render_html(report)
    assert 'id="chart-nodes"' not in html and 'id="findings"' not in html and "chart-requests" not in html
    assert html.count('<p class="none">无</p>') == 2


def test_the_csv_has_one_row_per_agency_with_stable_columns(world, run_cli):  # noqa: F811
    r = run_cli("--home", world, "report", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert {row["code"] for row in rows} == {SIMING_AGENCY, XIAMEN_AGENCY}
    assert {"score", "funding", "art40_4", "signals_inconsistencies_overdue", "requests_answered_in_time",
            "sharing_rows"} <= set(rows[0])
    assert render_csv(province_report()).splitlines()[2].startswith("A2,福州市某局,350100,350100,38,suspend,0,0,0,5,0,1")
    assert json.loads(run_cli("--home", world, "report", "--format", "json").out)["scope"] == "city"


def test_a_csv_report_file_opens_in_excel_as_utf8(world, run_cli, tmp_path):  # noqa: F811
    out = tmp_path / "report.csv"
    assert run_cli("--home", world, "report", "--format", "csv", "--out", out).code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "厦门市公安局" in data.decode("utf-8-sig")
