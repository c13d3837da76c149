"""The catalogue service as a web page (Art 45, ``node serve``): a real server on a loopback port,
read by plain HTTP requests and by a headless Chromium."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import SIMING_AGENCY, XIAMEN_AGENCY

from fjshare.catalogue.search import index_entry
from fjshare.catalogue.web import CatalogueServer, entry_path, make_app, serve
from fjshare.errors import ConfigError
from fjshare.state.db import connect, transaction

MARRIAGE = {
    "metadata_id": "350200-MD-000001",
    "resource_code": "101001/000001",
    "name": "婚姻登记信息",
    "abstract": "思明区婚姻登记记录，含结婚、离婚登记，供核验婚姻状况。<script>alert(1)</script>",
    "provider_code": SIMING_AGENCY,
    "provider_name": "厦门市思明区民政局",
    "region_code": "350203",
    "attribute": "base",
    "topic": "民政",
    "keywords": ["婚姻", "登记"],
    "format": "数据库",
    "items": [
        {"name": "id_number", "type": "id_number", "label": "公民身份号码"},
        {"name": "full_name", "type": "string", "length": 30, "label": "姓名"},
        {"name": "married_on", "type": "date", "label": "登记日期", "share_type": "unconditional"},
    ],
    "share_type": "conditional",
    "share_condition": "仅提供给承担婚姻状况核验职责的政务部门",
    "legal_basis": "《婚姻登记条例》第二条",
    "share_modes": ["query", "download"],
    "update_mode": "upsert",
    "key": ["id_number"],
    "open_to_public": False,
    "update_cycle": "daily",
    "classified": False,
    "publish_date": "2024-03-01",
    "related_codes": ["101002/000001"],
    "maintainer": "思明区民政局信息科",
    "metadata_updated": "2024-03-01T09:30:00+08:00",
}
POPULATION = {
    "metadata_id": "350200-MD-000002",
    "resource_code": "101002/000001",
    "name": "常住人口基本信息",
    "abstract": "厦门市常住人口的姓名、性别、出生日期与居住地址。",
    "provider_code": XIAMEN_AGENCY,
    "provider_name": "厦门市公安局",
    "region_code": "350200",
    "attribute": "base",
    "topic": "公安",
    "keywords": ["人口"],
    "format": "数据库",
    "items": [{"name": "id_number", "type": "id_number", "label": "公民身份号码"}],
    "share_type": "unconditional",
    "share_modes": ["query"],
    "update_mode": "snapshot",
    "open_to_public": False,
    "update_cycle": "monthly",
    "classified": False,
}
DRAFT = dict(MARRIAGE, resource_code="101001/000002", name="婚姻登记补充信息（草稿）", metadata_id="350200-MD-000003")


def _seed(db: Path) -> None:
    conn = connect(db, create=True)
    with transaction(conn):
        for entry, status in ((MARRIAGE, "published"), (POPULATION, "published"), (DRAFT, "draft")):
            e = dict(entry, status=status, revision=1, origin_node="350200")
            conn.execute(
                """INSERT INTO resources (code, agency, name, share_type, update_mode, items, key_items, legal_basis,
                                          status, revision, origin_node, entry, created, updated, metadata_id,
                                          provider_name, region_code, topic, attribute)
                   VALUES (?,?,?,?,?,?,?,?,?,1,'350200',?,?,?,?,?,?,?,?)""",
                (e["resource_code"], e["provider_code"], e["name"], e["share_type"], e["update_mode"],
                 json.dumps(e["items"], ensure_ascii=False), json.dumps(e.get("key", [])), e.get("legal_basis"),
                 status, json.dumps(e, ensure_ascii=False), "2024-03-01T09:30:00+08:00",
                 "2024-03-01T09:30:00+08:00", e["metadata_id"], e["provider_name"], e["region_code"], e["topic"],
                 e["attribute"]),
            )
            index_entry(conn, e)
    conn.close()


@pytest.fixture
def catalogue_server(tmp_path: Path) -> Iterator[CatalogueServer]:
    db = tmp_path / "state.db"
    _seed(db)
    server = serve(db, "127.0.0.1", 0, title="厦门市政务信息资源目录")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(server: CatalogueServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read().decode("utf-8")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def _q(text: str) -> str:
    return quote(text, safe="")


# --- plain HTTP --------------------------------------------------------------------------------------


def test_browse_lists_published_entries_with_facets(catalogue_server):
    status, headers, body = _get(catalogue_server, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-CN">' in body and "厦门市政务信息资源目录" in body
    assert "婚姻登记信息" in body and "常住人口基本信息" in body
    assert "草稿" not in body  # drafts are not in the published catalogue (Art 16, 18)
    for facet in ("提供方", "行政区划", "共享类型", "主题"):
        assert f"<h2>{facet}</h2>" in body
    assert "厦门市思明区民政局" in body and "思明区" in body and "有条件共享" in body and "民政" in body
    assert "目录共 <strong>2</strong> 条" in body
    assert 'href="/entry/101001%2F000001"' in body
    assert "<script>" not in body and "&lt;script&gt;" in body  # escaped, never executed
    assert "script-src" not in headers["content-security-policy"]  # no scripts allowed at all


def test_search_in_chinese_counts_and_highlights(catalogue_server):
    status, _, body = _get(catalogue_server, "/search?q=" + _q("婚姻"))
    assert status == 200
    assert "共找到 <strong>1</strong> 条" in body
    assert "<mark>婚姻</mark>登记信息" in body
    assert "常住人口基本信息" not in body
    assert 'value="婚姻"' in body  # the query stays in the search box


def test_facet_links_filter_the_results(catalogue_server):
    _, _, body = _get(catalogue_server, "/search?share_type=unconditional")
    assert "常住人口基本信息" in body and "婚姻登记信息" not in body
    assert "共享类型：无条件共享 ×" in body  # the chosen filter, removable
    _, _, body = _get(catalogue_server, "/search?region=350203")
    assert "婚姻登记信息" in body and "常住人口基本信息" not in body
    _, _, body = _get(catalogue_server, f"/search?q={_q('信息')}&provider={SIMING_AGENCY}")
    assert "共找到 <strong>1</strong> 条" in body and "提供方：厦门市思明区民政局" in body


def test_entry_page_shows_every_field_in_chinese(catalogue_server):
    status, _, body = _get(catalogue_server, entry_path("101001/000001"))
    assert status == 200
    for text in (
        "<h1>婚姻登记信息</h1>", "101001/000001", "350200-MD-000001", SIMING_AGENCY, "厦门市思明区民政局",
        "思明区（350203）", "基础信息资源", "民政", "婚姻、登记", "数据库",
        "有条件共享", "仅提供给承担婚姻状况核验职责的政务部门", "《婚姻登记条例》第二条", "数据查询、直接交换",
        "按主键更新", "每日", "2024-03-01", "思明区民政局信息科", "已发布",
        "公民身份号码", "字符型（公民身份号码）", "姓名", "30", "登记日期", "无条件共享", "同资源",
    ):
        assert text in body, text
    assert 'href="/entry/101002%2F000001">常住人口基本信息</a>' in body  # related resource, by name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>" not in body


def test_entry_page_takes_the_code_unescaped_too(catalogue_server):
    assert _get(catalogue_server, "/entry/101002/000001")[0] == 200


def test_unpublished_or_unknown_entries_are_not_found(catalogue_server):
    status, _, body = _get(catalogue_server, entry_path("101001/000002"))
    assert status == 404 and "未找到" in body and "草稿" not in body
    assert _get(catalogue_server, entry_path("999999/000001"))[0] == 404
    assert _get(catalogue_server, "/nothing-here")[0] == 404


def test_api_search_answers_json(catalogue_server):
    status, headers, body = _get(catalogue_server, "/api/search?q=" + _q("人口"))
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["total"] == 1
    assert doc["hits"][0]["code"] == "101002/000001" and doc["hits"][0]["name"] == "常住人口基本信息"
    assert {f["value"]: f["label"] for f in doc["facets"]["provider"]} == {XIAMEN_AGENCY: "厦门市公安局"}
    doc = json.loads(_get(catalogue_server, "/api/search")[2])
    assert doc["total"] == 2
    entry = json.loads(_get(catalogue_server, "/api" + entry_path("101001/000001"))[2])
    assert entry["items"] == MARRIAGE["items"] and entry["status"] == "published"


def test_an_estimated_total_is_shown_as_about_and_the_api_counts_exactly_on_request(catalogue_server, monkeypatch):
    from fjshare.catalogue import search as cs

    monkeypatch.setattr(cs, "EXACT_UP_TO", 1)        # both entries mention 信息: more than one match
    _, _, body = _get(catalogue_server, "/search?q=" + _q("信息"))
    assert "约有 <strong>" in body and "按最新的匹配估算" in body and "共找到" not in body
    doc = json.loads(_get(catalogue_server, "/api/search?q=" + _q("信息"))[2])
    assert doc["exact"] is False
    doc = json.loads(_get(catalogue_server, "/api/search?exact=1&q=" + _q("信息"))[2])
    assert doc["exact"] is True and doc["total"] == 2


def test_bad_requests_are_answered_in_chinese(catalogue_server):
    status, _, body = _get(catalogue_server, "/search?q=" + _q("！？"))
    assert status == 400 and "请求有误" in body
    status, _, body = _get(catalogue_server, "/api/search?region=fujian")
    assert status == 400 and "error" in json.loads(body)


def test_the_service_is_read_only(catalogue_server):
    status, headers, body = _get(catalogue_server, "/search", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD" and "只读" in body
    status, _, body = _get(catalogue_server, "/", method="HEAD")
    assert status == 200 and body == ""


def test_stylesheet_is_served(catalogue_server):
    status, headers, body = _get(catalogue_server, "/static/catalogue.css")
    assert status == 200 and headers["content-type"].startswith("text/css") and ".badge" in body


def test_serve_refuses_a_missing_database(tmp_path):
    with pytest.raises(ConfigError, match="no state database"):
        serve(tmp_path / "missing.db", "127.0.0.1", 0)


def test_app_answers_503_when_the_database_goes_missing(tmp_path):
    app = make_app(tmp_path / "missing.db")
    seen: list[str] = []
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": ""},
                        lambda status, headers: seen.append(status)))
    assert seen == ["503 Service Unavailable"] and "目录暂不可用" in body.decode("utf-8")


def test_browse_is_paginated_twenty_to_a_page(tmp_path):
    db = tmp_path / "state.db"
    _seed(db)
    conn = connect(db)
    with transaction(conn):
        for n in range(2, 27):  # 25 more published entries: 27 in all
            e = dict(POPULATION, resource_code=f"101002/{n:06d}", name=f"人口专题信息{n}", metadata_id=f"M{n}")
            conn.execute(
                """INSERT INTO resources (code, agency, name, share_type, update_mode, items, status, origin_node,
                                          entry, created, updated, provider_name, region_code, topic)
                   VALUES (?,?,?,?,?,'[]','published','350200',?,'t','t',?,?,?)""",
                (e["resource_code"], e["provider_code"], e["name"], e["share_type"], e["update_mode"],
                 json.dumps(e, ensure_ascii=False), e["provider_name"], e["region_code"], e["topic"]),
            )
            index_entry(conn, e)
    conn.close()
    app = make_app(db)

    def page(query: str) -> str:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/search", "QUERY_STRING": query}
        return b"".join(app(environ, lambda status, headers: None)).decode("utf-8")

    first, second = page(""), page("page=2")
    assert "目录共 <strong>27</strong> 条" in first and "第 1 / 2 页" in first and "page=2" in first
    assert first.count('class="hit"') == 20 and second.count('class="hit"') == 7
    assert "第 2 / 2 页" in second and "上一页" in second and "下一页" not in second
    assert "人口专题信息26" in second and "人口专题信息26" not in first
    topic = page("topic=" + _q("公安") + "&page=2")  # filters survive paging
    assert "第 2 / 2 页" in topic and "page=1" in topic and "topic=%E5%85%AC%E5%AE%89" in topic


# --- a real browser -----------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must install it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args],
        check=False, capture_output=True, text=True, timeout=120,
    )


def test_browser_renders_chinese_search_results(catalogue_server, chromium, tmp_path):
    url = f"http://127.0.0.1:{catalogue_server.port}/search?q={_q('婚姻')}"
    done = _chromium(chromium, tmp_path / "profile", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "婚姻登记信息" in done.stdout.replace("<mark>", "").replace("</mark>", "")
    assert "<mark>婚姻</mark>" in done.stdout and "常住人口基本信息" not in done.stdout


def test_browser_screenshot_of_an_entry_page(catalogue_server, chromium, tmp_path):
    png = tmp_path / "page.png"
    url = f"http://127.0.0.1:{catalogue_server.port}{entry_path('101001/000001')}"
    done = _chromium(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,900", url)
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    assert len(data) > 20_000  # a rendered page, not a blank canvas
