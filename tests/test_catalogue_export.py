"""Catalogue exports (``node catalogue export``): DCAT-AP JSON-LD that an RDF library reads, GB/T
21063.3-style XML that parses, CSV that round-trips with its Chinese intact."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from conftest import SIMING_AGENCY, XIAMEN_AGENCY
from rdflib import Graph, Literal, Namespace, URIRef

from fjshare.catalogue.export import (
    CSV_COLUMNS,
    FJ_NS,
    dataset_uri,
    to_csv,
    to_dcat,
    to_xml,
)

CATALOGUE = "https://catalogue.xm.example/"
FJ = Namespace(FJ_NS)
# Plain namespaces: rdflib's closed ones warn when pytest probes the module's attributes.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
# rdflib's own JSON-LD parser still builds a ConjunctiveGraph internally.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
MARRIAGE = {
    "metadata_id": "350200-MD-000001",
    "resource_code": "101001/000001",
    "name": "婚姻登记信息",
    "abstract": "思明区婚姻登记记录，含结婚、离婚登记，\n供民政、公安核验婚姻状况（“一数一源”）。",
    "provider_code": SIMING_AGENCY,
    "provider_name": "厦门市思明区民政局",
    "region_code": "350203",
    "attribute": "base",
    "topic": "民政",
    "keywords": ["婚姻", "登记", "民政"],
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
    "status": "published",
    "revision": 2,
    "origin_node": "350200",
}
POPULATION = {
    "resource_code": "101002/000001",
    "name": "常住人口基本信息",
    "abstract": "厦门市常住人口基本信息, \"户籍\" & 居住证 <汇总>",
    "provider_code": XIAMEN_AGENCY,
    "provider_name": "厦门市公安局",
    "region_code": "350200",
    "share_type": "unconditional",
    "update_cycle": "monthly",
    "items": [{"name": "id_number", "type": "id_number"}],
    "keywords": [],
}
SECRET_BASIS = {
    "resource_code": "102001/000001",
    "name": "出入境证件信息",
    "share_type": "none",
    "legal_basis": "《中华人民共和国出境入境管理法》",
    "update_cycle": "irregular",
}
ENTRIES = [MARRIAGE, POPULATION, SECRET_BASIS]


def _graph() -> Graph:
    doc = to_dcat(ENTRIES, catalogue_uri=CATALOGUE, title="厦门市政务信息资源目录")
    return Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld")


def test_dcat_is_json_ld_that_rdflib_reads_with_the_chinese_title():
    g = _graph()
    ds = URIRef(dataset_uri(CATALOGUE, "101001/000001"))
    assert (ds, RDF.type, DCAT.Dataset) in g
    assert (ds, DCTERMS.title, Literal("婚姻登记信息", lang="zh")) in g
    assert (URIRef(CATALOGUE), DCAT.dataset, ds) in g
    assert len(set(g.subjects(RDF.type, DCAT.Dataset))) == 3
    assert str(ds) == "https://catalogue.xm.example/dataset/101001%2F000001"
    assert (ds, DCTERMS.identifier, Literal("101001/000001")) in g
    assert set(g.objects(ds, DCAT.keyword)) == {Literal(k, lang="zh") for k in ("婚姻", "登记", "民政")}


def test_dcat_maps_share_types_to_the_eu_access_rights():
    g = _graph()
    rights = "http://publications.europa.eu/resource/authority/access-right/"
    expected = {"101001/000001": "RESTRICTED", "101002/000001": "PUBLIC", "102001/000001": "NON_PUBLIC"}
    for code, right in expected.items():
        ds = URIRef(dataset_uri(CATALOGUE, code))
        assert g.value(ds, DCTERMS.accessRights) == URIRef(rights + right)


def test_dcat_maps_update_cycles_to_the_eu_frequencies():
    g = _graph()
    freq = "http://publications.europa.eu/resource/authority/frequency/"
    for code, f in {"101001/000001": "DAILY", "101002/000001": "MONTHLY", "102001/000001": "IRREG"}.items():
        assert g.value(URIRef(dataset_uri(CATALOGUE, code)), DCTERMS.accrualPeriodicity) == URIRef(freq + f)


def test_dcat_publisher_region_condition_basis_and_items():
    g = _graph()
    ds = URIRef(dataset_uri(CATALOGUE, "101001/000001"))
    publisher = g.value(ds, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g
    assert g.value(publisher, DCTERMS.identifier) == Literal(SIMING_AGENCY)
    assert g.value(publisher, FOAF.name) == Literal("厦门市思明区民政局", lang="zh")
    spatial = g.value(ds, DCTERMS.spatial)
    assert spatial == URIRef("urn:gbt2260:350203")
    assert g.value(spatial, SKOS.prefLabel) == Literal("思明区", lang="zh")
    assert g.value(ds, FJ.legalBasis) == Literal("《婚姻登记条例》第二条", lang="zh")
    assert g.value(ds, FJ.shareCondition) == Literal("仅提供给承担婚姻状况核验职责的政务部门", lang="zh")
    assert {str(m) for m in g.objects(ds, FJ.shareMode)} == {"query", "download"}
    assert g.value(ds, DCTERMS.issued).toPython().isoformat() == "2024-03-01"
    schema = g.value(ds, DCTERMS.conformsTo)
    items = {str(g.value(i, FJ.name)): i for i in g.objects(schema, FJ.item)}
    assert set(items) == {"id_number", "full_name", "married_on"}
    assert g.value(items["full_name"], FJ.length).toPython() == 30
    assert int(g.value(items["married_on"], FJ.position)) == 3
    related = URIRef(dataset_uri(CATALOGUE, "101002/000001"))
    assert (ds, DCTERMS.relation, related) in g


def test_dcat_leaves_out_what_an_entry_lacks():
    doc = to_dcat([{"resource_code": "101001/000009", "name": "最少字段"}], catalogue_uri=CATALOGUE, title="t")
    (ds,) = doc["dcat:dataset"]
    assert set(ds) == {"@id", "@type", "dct:identifier", "dct:title"}
    assert Graph().parse(data=json.dumps(doc), format="json-ld")


def test_xml_parses_and_holds_every_entry_in_chinese():
    data = to_xml(ENTRIES)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(data)
    assert root.tag == "政务信息资源目录"
    resources = root.findall("信息资源")
    assert [r.findtext("信息资源代码") for r in resources] == ["101001/000001", "101002/000001", "102001/000001"]
    marriage = resources[0]
    assert marriage.findtext("信息资源名称") == "婚姻登记信息"
    assert marriage.findtext("信息资源提供方") == "厦门市思明区民政局"
    assert marriage.findtext("信息资源提供方代码") == SIMING_AGENCY
    assert marriage.findtext("信息资源摘要") == MARRIAGE["abstract"]
    assert marriage.findtext("元数据标识符") == "350200-MD-000001"
    assert marriage.find("行政区划代码").get("名称") == "思明区"
    assert marriage.findtext("共享属性") == "有条件共享"
    assert marriage.findtext("共享条件") == MARRIAGE["share_condition"]
    assert marriage.findtext("共享依据") == MARRIAGE["legal_basis"]
    assert marriage.findtext("共享方式") == "数据查询、直接交换"
    assert marriage.findtext("开放属性") == "不向社会开放"
    assert marriage.findtext("更新周期") == "每日"
    assert marriage.findtext("发布日期") == "2024-03-01"
    assert [c.text for c in marriage.find("关联资源代码")] == ["101002/000001"]
    items = marriage.find("信息项信息").findall("信息项")
    assert [i.findtext("信息项名称") for i in items] == ["公民身份号码", "姓名", "登记日期"]
    assert items[1].findtext("数据长度") == "30"
    assert items[1].find("数据类型").get("类型代码") == "string"
    assert items[2].findtext("共享属性") == "无条件共享"
    assert resources[1].findtext("共享属性") == "无条件共享"
    assert resources[1].findtext("信息资源摘要") == POPULATION["abstract"]  # <, &, quotes escaped and back
    assert resources[2].findtext("共享属性") == "不予共享"


def test_csv_round_trips_with_chinese_intact():
    text = to_csv(ENTRIES)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["resource_code"] for r in rows] == ["101001/000001", "101002/000001", "102001/000001"]
    first = rows[0]
    assert first["name"] == "婚姻登记信息"
    assert first["abstract"] == MARRIAGE["abstract"]  # embedded newline and quotes survive
    assert first["keywords"] == "婚姻;登记;民政"
    assert first["share_modes"] == "query;download"
    assert first["items"] == "id_number(公民身份号码):id_number;full_name(姓名):string(30);married_on(登记日期):date"
    assert first["open_to_public"] == "false"
    assert first["revision"] == "2"
    assert rows[1]["abstract"] == POPULATION["abstract"]
    assert rows[2]["provider_name"] == "" and rows[2]["legal_basis"] == "《中华人民共和国出境入境管理法》"


def test_csv_with_bom_opens_in_excel_as_utf8():
    data = to_csv(ENTRIES, bom=True).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "resource_code"
    assert rows[1][CSV_COLUMNS.index("provider_name")] == "厦门市思明区民政局"
    assert not to_csv(ENTRIES).startswith("\ufeff")
