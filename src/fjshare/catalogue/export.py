"""Catalogue exports: DCAT-AP JSON-LD, GB/T 21063.3-style XML and CSV (``node catalogue export``).

Pure: catalogue entries (dicts with the DESIGN §7 field identifiers) in, a document out. No
SQLite, no files, no clock; the caller chooses which entries to export and writes the result.
Fields an entry lacks are left out of the DCAT and XML documents and left empty in the CSV.

The Chinese labels of the coded values (``SHARE_TYPE_ZH`` and friends) are shared with the
catalogue web page, so a share type reads the same in an export and on screen.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from fjshare.divisions import Divisions, packaged_divisions

# --- Chinese labels of coded values (GB/T 21063.3, the national compilation guide) --------------

SHARE_TYPE_ZH: dict[str, str] = {
    "unconditional": "无条件共享",
    "conditional": "有条件共享",
    "none": "不予共享",
}
SHARE_MODE_ZH: dict[str, str] = {"query": "数据查询", "download": "直接交换", "processing": "定制处理"}
ATTRIBUTE_ZH: dict[str, str] = {"base": "基础信息资源", "thematic": "主题信息资源", "department": "部门信息资源"}
UPDATE_CYCLE_ZH: dict[str, str] = {
    "realtime": "实时",
    "daily": "每日",
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "yearly": "每年",
    "irregular": "不定期",
}
UPDATE_MODE_ZH: dict[str, str] = {"append": "增量追加", "snapshot": "全量快照", "upsert": "按主键更新"}
STATUS_ZH: dict[str, str] = {
    "draft": "草稿",
    "submitted": "待审核",
    "approved": "审核通过",
    "returned": "已退回",
    "published": "已发布",
    "withdrawn": "已撤销",
}
ITEM_TYPE_ZH: dict[str, str] = {
    "string": "字符型",
    "int": "整型",
    "float": "浮点型",
    "decimal": "数值型",
    "date": "日期型",
    "timestamp": "日期时间型",
    "bool": "逻辑型",
    "id_number": "字符型（公民身份号码）",
    "uscc": "字符型（统一社会信用代码）",
    "division_code": "字符型（行政区划代码）",
}


def item_type_zh(type_: str) -> str:
    """``"decimal(12,2)"`` → ``"数值型"``; an unknown type is returned unchanged."""
    base = type_.split("(", 1)[0].strip()
    return ITEM_TYPE_ZH.get(base, type_)


def item_spec(item: Mapping[str, Any]) -> str:
    """A data item in the CLI's SPEC syntax: ``name(标签):type``, ``string(n)`` for a length."""
    type_ = str(item.get("type", ""))
    if item.get("length") and type_ == "string":
        type_ = f"string({item['length']})"
    label = f"({item['label']})" if item.get("label") else ""
    return f"{item.get('name', '')}{label}:{type_}"


# --- DCAT-AP JSON-LD -------------------------------------------------------------------------------

FJ_NS = "urn:fjshare:ns#"  # fjshare's own terms: data items, share condition, legal basis, share modes
_ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
ACCESS_RIGHTS: dict[str, str] = {
    "unconditional": _ACCESS_RIGHT + "PUBLIC",
    "conditional": _ACCESS_RIGHT + "RESTRICTED",
    "none": _ACCESS_RIGHT + "NON_PUBLIC",
}
FREQUENCIES: dict[str, str] = {
    "realtime": _FREQUENCY + "UPDATE_CONT",
    "daily": _FREQUENCY + "DAILY",
    "weekly": _FREQUENCY + "WEEKLY",
    "monthly": _FREQUENCY + "MONTHLY",
    "quarterly": _FREQUENCY + "QUARTERLY",
    "yearly": _FREQUENCY + "ANNUAL",
    "irregular": _FREQUENCY + "IRREG",
}
DCAT_CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "adms": "http://www.w3.org/ns/adms#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "fj": FJ_NS,
}


def _zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def _date(value: Any) -> dict[str, str]:
    text = str(value)
    # A bare date is xsd:date; anything longer is an instant (metadata_updated is a timestamp).
    return {"@value": text, "@type": "xsd:date" if len(text) == 10 else "xsd:dateTime"}


def dataset_uri(catalogue_uri: str, resource_code: str) -> str:
    """The dataset's IRI: the catalogue IRI + ``/dataset/`` + the code with its ``/`` escaped."""
    return f"{catalogue_uri.rstrip('/')}/dataset/{quote(resource_code, safe='')}"


def _dataset(entry: Mapping[str, Any], catalogue_uri: str, divisions: Divisions) -> dict[str, Any]:
    code = str(entry.get("resource_code", ""))
    ds: dict[str, Any] = {
        "@id": dataset_uri(catalogue_uri, code),
        "@type": "dcat:Dataset",
        "dct:identifier": code,
    }
    if entry.get("metadata_id"):
        ds["adms:identifier"] = {"@type": "adms:Identifier", "skos:notation": str(entry["metadata_id"])}
    if entry.get("name"):
        ds["dct:title"] = _zh(str(entry["name"]))
    if entry.get("abstract"):
        ds["dct:description"] = _zh(str(entry["abstract"]))
    if entry.get("keywords"):
        ds["dcat:keyword"] = [_zh(str(k)) for k in entry["keywords"]]
    if entry.get("provider_code") or entry.get("provider_name"):
        publisher: dict[str, Any] = {"@type": "foaf:Agent"}
        if entry.get("provider_code"):
            publisher["@id"] = f"urn:uscc:{entry['provider_code']}"
            publisher["dct:identifier"] = str(entry["provider_code"])
        if entry.get("provider_name"):
            publisher["foaf:name"] = _zh(str(entry["provider_name"]))
        ds["dct:publisher"] = publisher
    region = entry.get("region_code")
    if region:
        location: dict[str, Any] = {"@id": f"urn:gbt2260:{region}", "@type": "dct:Location",
                                    "skos:notation": str(region)}
        division = divisions.get(str(region))
        if division is not None:
            location["skos:prefLabel"] = _zh(division.name)
        ds["dct:spatial"] = location
    if entry.get("topic"):
        ds["dcat:theme"] = {"@type": "skos:Concept", "skos:prefLabel": _zh(str(entry["topic"]))}
    if entry.get("attribute") in ATTRIBUTE_ZH:
        ds["dct:type"] = {"@type": "skos:Concept", "skos:notation": entry["attribute"],
                          "skos:prefLabel": _zh(ATTRIBUTE_ZH[entry["attribute"]])}
    if entry.get("format"):
        ds["dct:format"] = str(entry["format"])
    share = entry.get("share_type")
    if share in ACCESS_RIGHTS:
        ds["dct:accessRights"] = {"@id": ACCESS_RIGHTS[share]}
        ds["fj:shareType"] = share
    if entry.get("share_condition"):
        ds["fj:shareCondition"] = _zh(str(entry["share_condition"]))
    if entry.get("legal_basis"):
        ds["fj:legalBasis"] = _zh(str(entry["legal_basis"]))
    if entry.get("share_modes"):
        ds["fj:shareMode"] = [str(m) for m in entry["share_modes"]]
    if entry.get("update_mode"):
        ds["fj:updateMode"] = str(entry["update_mode"])
    if "open_to_public" in entry:
        ds["fj:openToPublic"] = bool(entry["open_to_public"])
    cycle = entry.get("update_cycle")
    if cycle in FREQUENCIES:
        ds["dct:accrualPeriodicity"] = {"@id": FREQUENCIES[cycle]}
    if entry.get("licence"):
        ds["dct:license"] = {"@type": "dct:LicenseDocument", "rdfs:label": _zh(str(entry["licence"]))}
    if entry.get("publish_date"):
        ds["dct:issued"] = _date(entry["publish_date"])
    if entry.get("metadata_updated"):
        ds["dct:modified"] = _date(entry["metadata_updated"])
    if entry.get("related_codes"):
        ds["dct:relation"] = [{"@id": dataset_uri(catalogue_uri, str(c))} for c in entry["related_codes"]]
    if entry.get("maintainer"):
        ds["dcat:contactPoint"] = {"@type": "vcard:Organization", "vcard:fn": _zh(str(entry["maintainer"]))}
    if entry.get("revision") is not None:
        ds["owl:versionInfo"] = str(entry["revision"])
    if entry.get("origin_node"):
        ds["fj:originNode"] = {"@id": f"urn:gbt2260:{entry['origin_node']}"}
    items = entry.get("items") or []
    if items:
        # The data items as the dataset's schema; fj:position keeps their order, which RDF drops.
        ds["dct:conformsTo"] = {
            "@type": "dct:Standard",
            "dct:title": _zh(f"{entry.get('name', code)} 信息项"),
            "fj:item": [_dcat_item(i, it) for i, it in enumerate(items, start=1)],
        }
    return ds


def _dcat_item(position: int, item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@type": "fj:DataItem",
        "fj:position": position,
        "fj:name": str(item.get("name", "")),
        "fj:type": str(item.get("type", "")),
    }
    if item.get("length") is not None:
        out["fj:length"] = int(item["length"])
    if item.get("label"):
        out["rdfs:label"] = _zh(str(item["label"]))
    if item.get("share_type"):
        out["fj:shareType"] = str(item["share_type"])
    return out


def to_dcat(
    entries: Iterable[Mapping[str, Any]],
    *,
    catalogue_uri: str,
    title: str,
    divisions: Divisions | None = None,
) -> dict[str, Any]:
    """A DCAT-AP catalogue of ``entries`` as a JSON-LD document (``json.dumps`` it to write it).

    ``catalogue_uri`` names the catalogue; each dataset is ``<catalogue_uri>/dataset/<code>``.
    Share types map to the EU access-right vocabulary (PUBLIC / RESTRICTED / NON_PUBLIC: access
    among government agencies, Art 4, 21; ``fj:openToPublic`` says whether the public sees it),
    update cycles to the EU frequency vocabulary, regions to ``urn:gbt2260:<code>`` with the
    division's name from ``divisions`` (the packaged list by default), providers to
    ``urn:uscc:<code>`` agents. Terms DCAT lacks (data items, share condition, legal basis, share
    modes) use the ``fj:`` namespace. Never raises for missing fields; they are left out.
    """
    divisions = packaged_divisions() if divisions is None else divisions
    return {
        "@context": DCAT_CONTEXT,
        "@id": catalogue_uri,
        "@type": "dcat:Catalog",
        "dct:title": _zh(title),
        "dcat:dataset": [_dataset(e, catalogue_uri, divisions) for e in entries],
    }


# --- GB/T 21063.3-style XML ----------------------------------------------------------------------


def _text(parent: ET.Element, tag: str, value: Any) -> ET.Element | None:
    if value is None or value == "" or value == []:
        return None
    el = ET.SubElement(parent, tag)
    el.text = str(value)
    return el


def _xml_entry(root: ET.Element, entry: Mapping[str, Any], divisions: Divisions) -> None:
    res = ET.SubElement(root, "信息资源")
    _text(res, "元数据标识符", entry.get("metadata_id"))
    _text(res, "信息资源代码", entry.get("resource_code"))
    _text(res, "信息资源名称", entry.get("name"))
    _text(res, "信息资源摘要", entry.get("abstract"))
    _text(res, "信息资源提供方", entry.get("provider_name"))
    _text(res, "信息资源提供方代码", entry.get("provider_code"))
    region = entry.get("region_code")
    if region:
        el = _text(res, "行政区划代码", region)
        division = divisions.get(str(region))
        if el is not None and division is not None:
            el.set("名称", division.name)
    _text(res, "资源属性", ATTRIBUTE_ZH.get(str(entry.get("attribute")), entry.get("attribute")))
    _text(res, "信息资源分类", entry.get("topic"))
    if entry.get("keywords"):
        keywords = ET.SubElement(res, "关键字说明")
        for k in entry["keywords"]:
            _text(keywords, "关键字", k)
    _text(res, "信息资源格式", entry.get("format"))
    items = entry.get("items") or []
    if items:
        info = ET.SubElement(res, "信息项信息")
        for it in items:
            item = ET.SubElement(info, "信息项")
            _text(item, "信息项名称", it.get("label") or it.get("name"))
            _text(item, "信息项标识", it.get("name"))
            type_el = _text(item, "数据类型", item_type_zh(str(it.get("type", ""))))
            if type_el is not None:
                type_el.set("类型代码", str(it.get("type", "")))
            _text(item, "数据长度", it.get("length"))
            if it.get("share_type"):
                _text(item, "共享属性", SHARE_TYPE_ZH.get(it["share_type"], it["share_type"]))
    share = entry.get("share_type")
    _text(res, "共享属性", SHARE_TYPE_ZH.get(str(share), share))
    _text(res, "共享条件", entry.get("share_condition"))
    _text(res, "共享依据", entry.get("legal_basis"))
    if entry.get("share_modes"):
        _text(res, "共享方式", "、".join(SHARE_MODE_ZH.get(m, m) for m in entry["share_modes"]))
    _text(res, "更新方式", UPDATE_MODE_ZH.get(str(entry.get("update_mode")), entry.get("update_mode")))
    if "open_to_public" in entry:
        _text(res, "开放属性", "向社会开放" if entry["open_to_public"] else "不向社会开放")
    _text(res, "更新周期", UPDATE_CYCLE_ZH.get(str(entry.get("update_cycle")), entry.get("update_cycle")))
    if "classified" in entry:
        _text(res, "是否涉密", "是" if entry["classified"] else "否")
    _text(res, "授权许可", entry.get("licence"))
    _text(res, "发布日期", entry.get("publish_date"))
    if entry.get("related_codes"):
        related = ET.SubElement(res, "关联资源代码")
        for c in entry["related_codes"]:
            _text(related, "信息资源代码", c)
    _text(res, "维护方", entry.get("maintainer"))
    _text(res, "元数据更新日期", entry.get("metadata_updated"))
    _text(res, "状态", STATUS_ZH.get(str(entry.get("status")), entry.get("status")))
    _text(res, "版本", entry.get("revision"))
    _text(res, "登记节点", entry.get("origin_node"))


def to_xml(entries: Iterable[Mapping[str, Any]], *, divisions: Divisions | None = None) -> bytes:
    """The entries as GB/T 21063.3-style XML: ``<政务信息资源目录>`` holding one ``<信息资源>`` each.

    Element names are the standard's Chinese metadata names; coded values are written in Chinese
    (共享属性 无条件共享 / 有条件共享 / 不予共享, 更新周期 每月 ...), the data type keeps its
    fjshare code in the ``类型代码`` attribute. UTF-8 with an XML declaration; never raises for
    missing fields (their elements are left out).
    """
    divisions = packaged_divisions() if divisions is None else divisions
    root = ET.Element("政务信息资源目录")
    for entry in entries:
        _xml_entry(root, entry, divisions)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


# --- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "resource_code", "metadata_id", "name", "abstract", "provider_code", "provider_name", "region_code",
    "attribute", "topic", "keywords", "format", "items", "share_type", "share_condition", "legal_basis",
    "share_modes", "update_mode", "open_to_public", "update_cycle", "classified", "licence", "publish_date",
    "related_codes", "maintainer", "metadata_updated", "status", "revision", "origin_node",
)
LIST_SEPARATOR = ";"


def _csv_cell(field: str, value: Any) -> str:
    if value is None:
        return ""
    if field == "items":
        return LIST_SEPARATOR.join(item_spec(it) for it in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def to_csv(entries: Iterable[Mapping[str, Any]], *, bom: bool = False) -> str:
    """One row per entry under the header ``CSV_COLUMNS`` (the DESIGN §7 field identifiers).

    Lists (keywords, share modes, related codes, items) are joined with ``;``; data items are
    written in the SPEC syntax ``name(标签):type``; booleans are ``true``/``false``. ``bom=True``
    starts the text with a byte-order mark so Excel opens the UTF-8 as UTF-8. Encode the result
    as UTF-8 to write it.
    """
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([_csv_cell(f, entry.get(f)) for f in CSV_COLUMNS])
    return out.getvalue()
