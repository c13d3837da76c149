"""The evaluation report page (Art 37, 39, 40) as the digital office sees it: rendered from a report
dict, loaded in headless Chromium, and read back from the DOM the browser built."""

from __future__ import annotations

import csv
import io
import os
import re
import struct
from pathlib import Path

from test_catalogue_web import _chromium, chromium  # noqa: F401 (fixture)

from fjshare.supervision.report_render import csv_columns, render_csv, render_html

DOCS = Path(__file__).resolve().parent.parent / "docs"
# Read at import: conftest's autouse fixture clears every FJSHARE_* variable before a test runs.
SCREENSHOT_TO_DOCS = os.environ.get("FJSHARE_SCREENSHOT_DOCS") == "1"
XIAMEN_POLICE = "11350200MB0000001X"
XIAMEN_CIVIL = "11350200MB0000002X"
FUZHOU_MARKET = "11350100MB0000003X"
FUZHOU_HEALTH = "11350100MB0000004X"
FUZHOU_LAND = "11350100MB0000005X"


def _agency(code: str, name: str, node: str, score: int, funding: str, art40: str, *, overdue: int = 0,
            answered: int = 4, in_time: int = 4, open_overdue: int = 0, rows: int = 0) -> dict:
    return {
        "code": code, "name": name, "node": node, "region": node, "score": score, "funding": funding,
        "art40": {str(k): int(n) for k, n in zip(range(1, 9), art40)},
        "signals": {"entries": 10, "entries_published": 8, "entries_stale": 2, "resources_without_data": 1,
                    "not_updated": 1, "publication_overdue": 0, "duplicate_collection": int(art40[2]),
                    "inconsistencies": overdue + 2, "inconsistencies_resolved": 2, "inconsistencies_overdue": overdue,
                    "out_of_grant_refusals": 0, "findings": 1, "flagged_rows": 120, "complaints_against": 1,
                    "complaints_resolved": 1},
        "requests": {"made": 3, "received": answered + open_overdue, "answered": answered, "answered_in_time": in_time,
                     "late": answered - in_time, "open_overdue": open_overdue, "objections": 1, "granted": 2},
        "sharing": {"bundles": 40, "rows": rows, "uses_by_others": 17},
    }


def province_report() -> dict:
    agencies = [
        _agency(XIAMEN_POLICE, "厦门市公安局", "350200", 72, "watch", "20130010", overdue=3, answered=4, in_time=3,
                rows=34_567_890),
        _agency(XIAMEN_CIVIL, "厦门市民政局", "350200", 96, "normal", "10000000", answered=6, in_time=6, rows=1_234_567),
        _agency(FUZHOU_MARKET, "福州市市场监督管理局", "350100", 55, "suspend", "32040100", overdue=4, answered=5, in_time=2,
                open_overdue=2, rows=987_654),
        _agency(FUZHOU_HEALTH, "福州市卫生健康委员会", "350100", 88, "normal", "01000000", answered=3, in_time=3),
        _agency(FUZHOU_LAND, "福州市自然资源和规划局", "350100", 79, "watch", "10101000", overdue=1, answered=2, in_time=1,
                rows=12_000),
    ]
    return {
        "period": 2026, "generated": "2026-11-24T10:00:00+08:00", "as_of": "2026-11-24T10:00:00+08:00",
        "node": {"code": "350000", "name": "福建省", "tier": "province"}, "scope": "province",
        "scoring": {"watch_below": 80, "suspend_below": 60},
        "summary": {"agencies": 5, "score_mean": 78.0, "suspend": 1, "watch": 2, "inconsistencies_overdue": 8,
                    "requests_answered": 20, "requests_in_time": 15},
        "nodes": [{"code": "350200", "name": "厦门市", "agencies": 2, "score_mean": 84.0,
                   "art40": {"1": 3, "2": 0, "3": 1, "4": 3, "5": 0, "6": 0, "7": 1, "8": 0}},
                  {"code": "350100", "name": "福州市", "agencies": 3, "score_mean": 74.0,
                   "art40": {"1": 4, "2": 3, "3": 0, "4": 5, "5": 1, "6": 1, "7": 0, "8": 0}}],
        "agencies": sorted(agencies, key=lambda a: a["score"]),
        "findings": [
            {"id": "350000-F1", "agency": FUZHOU_MARKET, "agency_name": "福州市市场监督管理局", "item": "6",
             "text": "将共享获得的企业登记信息提供给第三方公司", "at": "2026-05-01T09:00:00+08:00", "by": "operator"},
            {"id": "350000-F2", "agency": XIAMEN_POLICE, "agency_name": "厦门市公安局", "item": "7",
             "text": "督查通报的目录问题逾期未整改", "at": "2026-06-12T15:30:00+08:00", "by": "operator"},
        ],
    }


def city_report() -> dict:
    report = province_report()
    city = [a for a in report["agencies"] if a["node"] == "350200"]
    report.update(node={"code": "350200", "name": "厦门市", "tier": "city"}, scope="city", agencies=city,
                  summary={"agencies": 2, "score_mean": 84.0, "suspend": 0, "watch": 1, "inconsistencies_overdue": 3,
                           "requests_answered": 10, "requests_in_time": 9})
    del report["nodes"], report["findings"]
    return report


def _dom(chromium: str, tmp_path: Path, report: dict) -> str:  # noqa: F811
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    done = _chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "</html>" in done.stdout
    return done.stdout


def _row(dom: str, table: str, agency: str) -> str:
    body = re.search(rf'<table id="{table}">(.*?)</table>', dom, re.S)
    assert body, f"no table {table}"
    row = re.search(rf'<tr data-agency="{agency}">(.*?)</tr>', body.group(1), re.S)
    assert row, f"no row for {agency} in {table}"
    return row.group(1)


def _value(html: str, attrs: str) -> str:
    cell = re.search(rf'{attrs} data-value="([^"]*)"[^>]*>([^<]*)<', html)
    assert cell, f"nothing with {attrs}"
    return cell.group(1)


def _text(html: str, attrs: str) -> str:
    cell = re.search(rf'{attrs} data-value="[^"]*"[^>]*>([^<]*)<', html)
    assert cell, f"nothing with {attrs}"
    return cell.group(1)


def test_report_page_shows_each_agencys_score_and_funding_recommendation_art39(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    assert "2026 年度政务信息共享绩效评估报告" in dom and "福建省" in dom and "全省各节点" in dom
    row = _row(dom, "agencies", FUZHOU_MARKET)
    assert _value(row, 'data-signal="score"') == "55" and _text(row, 'data-signal="score"') == "55"
    assert _value(row, 'data-signal="funding"') == "suspend" and "暂停" in row
    chart = re.search(r'<svg id="chart-scores".*?</svg>', dom, re.S).group(0)
    assert re.search(rf'<rect data-agency="{FUZHOU_MARKET}" data-value="55" data-funding="suspend"', chart)
    bars = re.findall(r'<rect data-agency="([^"]+)" data-value="(\d+)"', chart)
    assert [int(v) for _, v in bars] == [55, 72, 79, 88, 96]                     # worst first
    assert "暂停安排新建项目和运维经费" in dom and "关注线 80" in dom and "暂停线 60" in dom


def test_report_page_shows_each_agencys_art40_signals_art40(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    heat = re.search(r'<svg id="chart-art40".*?</svg>', dom, re.S).group(0)
    assert re.search(rf'<rect data-agency="{FUZHOU_MARKET}" data-item="4" data-value="4"', heat)
    assert re.search(rf'<rect data-agency="{XIAMEN_POLICE}" data-item="7" data-value="1"', heat)
    assert re.search(r'<rect data-total-item="1" data-value="7"', heat)          # item (1) over all agencies
    for title in ("目录未建立", "未核对纠错", "拒不整改", "其他违规", "（八）"):
        assert title in heat
    row = _row(dom, "agencies", FUZHOU_MARKET)
    assert _value(row, 'data-item="1"') == "3" and _value(row, 'data-item="6"') == "1"
    assert _value(row, 'data-signal="inconsistencies_overdue"') == "4"


def test_report_page_tiles_count_overdue_inconsistencies_and_requests_in_time_art40(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    assert re.search(r'id="tile-inconsistencies_overdue" data-value="8"', dom)
    assert re.search(r'id="tile-suspend" data-value="1"', dom)
    assert re.search(r'id="tile-requests_in_time" data-value="15" data-rate="75"', dom) and ">75%<" in dom
    assert re.search(r'id="tile-score_mean" data-value="78.0"', dom)


def test_report_page_shows_requests_answered_late_per_agency_art27(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    chart = re.search(r'<svg id="chart-requests".*?</svg>', dom, re.S).group(0)
    assert re.search(rf'<rect data-agency="{FUZHOU_MARKET}" data-signal="late" data-value="3"', chart)
    assert re.search(rf'<rect data-agency="{FUZHOU_MARKET}" data-signal="open_overdue" data-value="2"', chart)
    assert chart.index(FUZHOU_MARKET) < chart.index(XIAMEN_CIVIL)                 # most late first
    row = _row(dom, "agencies-more", FUZHOU_MARKET)
    assert _value(row, 'data-signal="answered_in_time"') == "2" and _value(row, 'data-signal="late"') == "3"


def test_report_page_keeps_large_figures_exact_and_readable(chromium, tmp_path):  # noqa: F811
    row = _row(_dom(chromium, tmp_path, province_report()), "agencies-more", XIAMEN_POLICE)
    assert _value(row, 'data-signal="rows"') == "34567890" and _text(row, 'data-signal="rows"') == "34,567,890"


def test_province_report_compares_the_nodes_art37_art41(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    assert re.search(r'<rect data-node="350200" data-value="84.0"', dom)
    node = re.search(r'<tr data-node="350100">(.*?)</tr>', dom, re.S).group(1)
    assert "福州市" in node and _value(node, 'data-signal="score_mean"') == "74.0"
    assert _value(node, 'data-signal="agencies"') == "3" and _value(node, 'data-signal="suspend"') == "1"
    assert _value(node, 'data-item="4"') == "5"


def test_report_page_lists_the_offices_findings_art40(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, province_report())
    found = re.search(r'<table id="findings">(.*?)</table>', dom, re.S).group(1)
    assert "将共享获得的企业登记信息提供给第三方公司" in found and "（六）擅自转让或经营性使用" in found
    assert found.index("350000-F1") < found.index("350000-F2")                    # in date order


def test_city_report_without_nodes_or_findings_says_none_art41(chromium, tmp_path):  # noqa: F811
    dom = _dom(chromium, tmp_path, city_report())
    assert "本市及所辖县（区）单位" in dom and "厦门市" in dom
    assert 'id="chart-nodes"' not in dom and 'id="nodes"' not in dom and 'id="findings"' not in dom
    findings = re.search(r'<section id="sec-findings"[^>]*>(.*?)</section>', dom, re.S).group(1)
    assert findings.endswith('</h2><p class="none">无</p>')
    assert re.search(rf'<rect data-agency="{XIAMEN_POLICE}" data-value="72"', dom)
    assert "NaN" not in dom and "None" not in dom


def test_an_empty_report_renders_placeholders_not_empty_charts():
    html = render_html({"period": 2026, "scope": "city", "node": {"code": "350200", "name": "厦门市", "tier": "city"}})
    assert "<svg" not in html and html.count('<p class="none">无</p>') == 6
    assert 'id="tile-agencies" data-value="0"' in html and ">—<" in html      # no mean, no rate
    assert render_csv({}).splitlines() == [",".join(csv_columns())]


def test_a_province_of_thousands_of_agencies_charts_those_needing_attention_and_tables_all_art37():
    one = province_report()["agencies"][0]
    many = [dict(one, code=f"11350100MB{i:07d}X", name=f"单位{i}", score=i % 101,
                 art40={str(k): (i + k) % 3 for k in range(1, 9)}) for i in range(2000)]
    html = render_html(dict(province_report(), agencies=many))
    scores = re.search(r'<svg id="chart-scores".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r"<rect data-agency=", scores)) == 40
    assert {int(v) for v in re.findall(r'<rect data-agency="[^"]+" data-value="(\d+)"', scores)} == {0, 1}   # the lowest
    assert "共 2,000 个单位，图中列出得分最低的 40 个" in html
    table = re.search(r'<table id="agencies">(.*?)</table>', html, re.S).group(1)
    assert table.count("<tr data-agency=") == 2000


def test_an_agency_name_with_markup_is_shown_as_text(chromium, tmp_path):  # noqa: F811
    report = province_report()
    report["agencies"][0]["name"] = '市场局<script>document.title="pwned"</script><b>粗</b>'
    report["findings"][0]["text"] = "<img src=x onerror=alert(1)>"
    dom = _dom(chromium, tmp_path, report)
    assert "<script>" not in dom and "<b>粗</b>" not in dom and "<img" not in dom
    assert "&lt;script&gt;" in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "pwned</title>" not in dom


def test_report_page_is_self_contained_for_a_network_without_internet():
    html = render_html(province_report())
    assert not re.search(r'(src|href)=|@import|url\(|<script|<link', html)
    assert "@media print" in html and "A4 landscape" in html


def test_report_csv_has_one_row_per_agency_with_stable_columns_art37():
    text = render_csv(province_report())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:6] == ["code", "name", "node", "region", "score", "funding"]
    assert {"art40_1", "art40_8", "signals_inconsistencies_overdue", "requests_answered_in_time", "requests_late",
            "sharing_rows", "sharing_uses_by_others"} <= set(rows[0])
    assert [r["code"] for r in rows] == [a["code"] for a in province_report()["agencies"]]
    police = next(r for r in rows if r["code"] == XIAMEN_POLICE)
    assert police["name"] == "厦门市公安局" and police["score"] == "72" and police["funding"] == "watch"
    assert police["art40_7"] == "1" and police["signals_inconsistencies_overdue"] == "3"
    assert police["requests_late"] == "1" and police["sharing_rows"] == "34567890"


def test_report_csv_quotes_names_with_commas_and_newlines():
    report = province_report()
    report["agencies"][0]["name"] = '福州市"市场",监督\n管理局'
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert rows[0]["name"] == '福州市"市场",监督\n管理局' and len(rows) == 5


def test_a_screenshot_of_the_report_page(chromium, tmp_path):  # noqa: F811
    page = tmp_path / "report.html"
    page.write_text(render_html(province_report()), encoding="utf-8")
    png = (DOCS if SCREENSHOT_TO_DOCS else tmp_path) / "report-screenshot.png"
    done = _chromium(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,1600",
                     "--hide-scrollbars", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 1600)
    assert len(data) > 40_000
