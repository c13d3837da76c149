"""Catalogue search (DESIGN §7, Art 45): Chinese text including two-character terms, codes, facets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fjshare import ids
from fjshare.catalogue import search as cs
from fjshare.errors import UsageError
from fjshare.state.db import connect, transaction
from fjshare.state.migrations import MIGRATIONS

MINZHENG = ids.make_uscc("350203", "MB010001")   # 厦门市思明区民政局
GONGAN = ids.make_uscc("350200", "MB020002")     # 厦门市公安局
TONGJI = ids.make_uscc("350100", "MB030003")     # 福州市统计局
NOW = "2024-05-01T00:00:00Z"


def entry(code: str, name: str, *, abstract: str = "", keywords: list[str] | None = None,
          items: list[dict] | None = None, provider: str = MINZHENG, provider_name: str = "厦门市思明区民政局",
          region: str = "350203", share_type: str = "unconditional", topic: str = "民政") -> dict:
    return {
        "resource_code": code, "name": name, "abstract": abstract or f"{name}的摘要",
        "keywords": keywords or [], "items": items or [{"name": "id", "type": "string"}],
        "provider_code": provider, "provider_name": provider_name, "region_code": region,
        "topic": topic, "share_type": share_type,
    }


def put(conn: sqlite3.Connection, e: dict, *, status: str = "published") -> None:
    """Write the resources row and index it, as the catalogue store does, in one transaction."""
    with transaction(conn):
        conn.execute(
            """INSERT INTO resources (code, agency, name, share_type, update_mode, items, status, origin_node,
                                      entry, created, updated, provider_name, region_code, topic)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(code) DO UPDATE SET name = excluded.name, entry = excluded.entry,
                   status = excluded.status, agency = excluded.agency, region_code = excluded.region_code,
                   topic = excluded.topic, share_type = excluded.share_type, provider_name = excluded.provider_name""",
            (e["resource_code"], e["provider_code"], e["name"], e["share_type"], "append",
             json.dumps(e["items"], ensure_ascii=False), status, "350200", json.dumps(e, ensure_ascii=False),
             NOW, NOW, e["provider_name"], e["region_code"], e["topic"]),
        )
        cs.index_entry(conn, e)


def codes(result: cs.SearchResult) -> set[str]:
    return {h["code"] for h in result.hits}


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = connect(tmp_path / "state.db", create=True)
    put(c, entry("101001/000001", "常住人口信息", keywords=["户籍", "人口"],
                 items=[{"name": "id_number", "type": "id_number", "label": "公民身份号码"},
                        {"name": "household", "type": "string", "label": "户籍地址"}],
                 provider=GONGAN, provider_name="厦门市公安局", region="350200", topic="公共安全"))
    put(c, entry("101001/000002", "机关工作人员名录", abstract="在编工作人员的基本情况",
                 provider=TONGJI, provider_name="福州市统计局", region="350100", topic="综合政务",
                 share_type="conditional"))
    put(c, entry("102003/000001", "婚姻登记信息", abstract="结婚登记和离婚登记记录",
                 items=[{"name": "marriage_date", "type": "date", "label": "登记日期"}]))
    put(c, entry("102003/000002", "收养登记信息", abstract="收养关系成立与解除的登记"))
    put(c, entry("102003/000003", "流动人口婚育证明", abstract="流动人口的婚姻生育证明", share_type="conditional"))
    return c


def test_tokens_are_pairs_last_characters_triples_codes_and_words() -> None:
    assert cs.tokenize("人口 婚姻登记") == ["人口", "口", "婚姻", "姻登", "登记", "记", "婚姻登", "姻登记"]
    assert cs.tokenize("101001/000001") == ["101001ǂ000001", "101001", "000001"]
    assert cs.tokenize("ID_Number GDP数据") == ["id", "number", "gdp", "数据", "据"]


def test_two_character_term_finds_its_pair_only(conn) -> None:
    r = cs.search(conn, "人口")
    assert codes(r) == {"101001/000001", "102003/000003"}
    assert "101001/000002" not in codes(r)          # 人员 is not 人口
    assert codes(cs.search(conn, "婚姻")) == {"102003/000001", "102003/000003"}


def test_one_character_term_anywhere_in_a_run(conn) -> None:
    assert codes(cs.search(conn, "婚")) == {"102003/000001", "102003/000003"}   # first, middle, last (离婚)
    assert codes(cs.search(conn, "录")) == {"101001/000002", "102003/000001"}   # 名录 (last), 记录 (last)
    assert codes(cs.search(conn, "养")) == {"102003/000002"}                     # 收养 (last char)


def test_longer_phrase_must_occur_together(conn) -> None:
    assert codes(cs.search(conn, "婚姻登记")) == {"102003/000001"}
    assert codes(cs.search(conn, "常住人口信息")) == {"101001/000001"}
    # every character pair of 人口登记 occurs somewhere, but not together: no match
    assert cs.search(conn, "人口登记").total == 0
    assert cs.match_expression("婚姻登记") == '"婚姻登 姻登记"'   # a phrase of its trigrams


def test_a_phrase_does_not_run_across_punctuation_or_fields(conn) -> None:
    put(conn, entry("109001/000001", "户籍人口，登记表", keywords=["流动", "人员"]))
    assert cs.search(conn, "户籍人口").total == 1
    assert cs.search(conn, "人口登记").total == 0   # 人口，登记: two runs
    assert cs.search(conn, "口登").total == 0
    assert cs.search(conn, "流动人员").total == 0   # two keywords


def test_a_hit_shows_the_entry_as_indexed(conn) -> None:
    """Name and abstract are kept per row; provider, region, share type, topic and status are decoded
    from the index rowid through the facet dictionary."""
    assert cs.search(conn, "机关工作人员").hits == [{
        "code": "101001/000002", "name": "机关工作人员名录", "abstract": "在编工作人员的基本情况",
        "provider_code": TONGJI, "provider_name": "福州市统计局", "region_code": "350100",
        "share_type": "conditional", "topic": "综合政务", "status": "published", "score": cs.NAME_SCORE}]
    put(conn, entry("102003/000002", "收养登记信息", abstract="收养登记", region="", topic=""), status="draft")
    hit = cs.search(conn, "收养", statuses=("draft",)).hits[0]
    assert (hit["status"], hit["region_code"], hit["topic"]) == ("draft", None, None)


def test_a_renamed_provider_is_shown_under_its_new_name(conn) -> None:
    """Facet keys are decoded once per facet dictionary; a new provider name renews the dictionary,
    so neither the hits nor the facet's names show the old one."""
    assert cs.search(conn, "机关工作人员").hits[0]["provider_name"] == "福州市统计局"
    put(conn, entry("101001/000003", "统计年鉴", provider=TONGJI, provider_name="福州市统计局（更名）",
                    region="350100", topic="综合政务"))
    r = cs.search(conn, "机关工作人员")
    assert r.hits[0]["provider_name"] == "福州市统计局（更名）"
    assert r.provider_names == {TONGJI: "福州市统计局（更名）"}


def test_answers_stay_the_same_when_the_decoded_keys_are_dropped(conn, monkeypatch) -> None:
    expected = [cs.search(conn, q) for q in ("登记", "人口", "信息")]
    monkeypatch.setattr(cs._Dictionary, "MAX_KEYS", 1)   # every new key empties the cache first
    cs._Dictionary.load(conn)._values.clear()
    assert [cs.search(conn, q) for q in ("登记", "人口", "信息")] == expected


def test_the_web_servers_threads_can_share_the_decoded_keys(conn, monkeypatch) -> None:
    """``node serve`` answers from several threads; one emptying the cache must not fail another
    that has just filled it."""
    import sys
    import threading

    dictionary = cs._Dictionary.load(conn)
    keys = [row[0] & cs._FACET_MASK for row in conn.execute("SELECT -rowid FROM catalogue_search_rows")]
    keys += [k | (i << 24) for i in range(1, 60) for k in keys[:2]]   # topics with no value: decoded as None
    expected = {k: dictionary._decode(k) for k in keys}
    monkeypatch.setattr(cs._Dictionary, "MAX_KEYS", 2)   # nearly every call empties it
    failures: list[BaseException] = []

    start = threading.Barrier(6)

    def work(mine: list[int]) -> None:
        start.wait()   # all at once
        try:
            for _ in range(300):
                assert dictionary.values(mine) == [expected[k] for k in mine]
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(keys[n::6],)) for n in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_terms_are_anded(conn) -> None:
    assert codes(cs.search(conn, "登记 收养")) == {"102003/000002"}
    assert codes(cs.search(conn, "登记")) == {"102003/000001", "102003/000002"}


def test_code_search_whole_partial_and_class(conn) -> None:
    assert codes(cs.search(conn, "101001/000002")) == {"101001/000002"}
    assert codes(cs.search(conn, "１０１００１／０００００２")) == {"101001/000002"}   # full-width
    assert codes(cs.search(conn, "102003/00000")) == {"102003/000001", "102003/000002", "102003/000003"}
    assert codes(cs.search(conn, "101001")) == {"101001/000001", "101001/000002"}


def test_item_names_and_chinese_labels_are_searched(conn) -> None:
    assert codes(cs.search(conn, "公民身份号码")) == {"101001/000001"}
    assert codes(cs.search(conn, "id_number")) == {"101001/000001"}
    assert codes(cs.search(conn, "marriage")) == {"102003/000001"}
    assert codes(cs.search(conn, "户籍")) == {"101001/000001"}              # keyword and label


def test_abstract_and_provider_name_are_searched(conn) -> None:
    assert codes(cs.search(conn, "离婚")) == {"102003/000001"}
    assert codes(cs.search(conn, "统计局")) == {"101001/000002"}


def test_name_match_ranks_above_abstract_match(conn) -> None:
    put(conn, entry("102004/000001", "儿童福利机构信息", abstract="机构情况，含收养儿童的人数与去向"))
    hits = cs.search(conn, "收养").hits
    assert [h["code"] for h in hits] == ["102003/000002", "102004/000001"]
    assert hits[0]["score"] == cs.NAME_SCORE > hits[1]["score"] == cs.OTHER_SCORE > 0


def test_facets_count_all_matches_not_just_the_page(conn) -> None:
    r = cs.search(conn, "信息", limit=1)
    assert r.total == 3 and len(r.hits) == 1
    assert dict(r.facets["provider"]) == {MINZHENG: 2, GONGAN: 1}
    assert dict(r.facets["share_type"]) == {"unconditional": 3}
    assert dict(r.facets["region"]) == {"350203": 2, "350200": 1}
    assert r.facets["topic"][0] == ("民政", 2)
    assert r.provider_names[GONGAN] == "厦门市公安局"
    assert r.to_dict()["facets"]["provider"][0] == {"value": MINZHENG, "count": 2, "name": "厦门市思明区民政局"}


def test_facet_filters(conn) -> None:
    assert codes(cs.search(conn, "人口", facets={"share_type": "conditional"})) == {"102003/000003"}
    assert codes(cs.search(conn, "信息", facets={"provider": GONGAN})) == {"101001/000001"}
    assert codes(cs.search(conn, "", facets={"topic": "综合政务"})) == {"101001/000002"}
    assert codes(cs.search(conn, "", facets={"share_type": ["conditional", "none"]})) == {
        "101001/000002", "102003/000003"}


def test_region_filter_takes_in_lower_divisions(conn) -> None:
    assert codes(cs.search(conn, "", facets={"region": "350203"})) == {"102003/000001", "102003/000002", "102003/000003"}
    assert cs.search(conn, "", facets={"region": "350200"}).total == 4       # the city and its county
    assert cs.search(conn, "", facets={"region": "350000"}).total == 5       # the whole province
    assert cs.search(conn, "", facets={"region": "350100"}).total == 1


def test_browse_without_text_lists_by_code(conn) -> None:
    r = cs.search(conn, "")
    assert r.total == 5 and [h["code"] for h in r.hits] == sorted(codes(r))
    assert all(h["score"] is None for h in r.hits)


def test_drafts_are_not_found_by_default(conn) -> None:
    put(conn, entry("103001/000001", "人口普查数据"), status="draft")
    assert "103001/000001" not in codes(cs.search(conn, "人口普查"))
    assert codes(cs.search(conn, "人口普查", statuses=("draft", "submitted"))) == {"103001/000001"}
    assert codes(cs.search(conn, "人口普查", statuses=None)) == {"103001/000001"}
    with pytest.raises(UsageError):
        cs.search(conn, "人口", statuses=("deleted",))


def test_update_reindexes_and_unindex_removes(conn) -> None:
    put(conn, entry("102003/000002", "收养关系登记信息", abstract="收养"))
    assert codes(cs.search(conn, "收养关系")) == {"102003/000002"}
    put(conn, entry("102003/000002", "殡葬服务信息", abstract="殡葬"))
    assert cs.search(conn, "收养").total == 0
    assert codes(cs.search(conn, "殡葬")) == {"102003/000002"}
    assert conn.execute("SELECT count(*) FROM catalogue_search_rows").fetchone()[0] == 5
    with transaction(conn):
        cs.unindex(conn, "102003/000002")
    assert cs.search(conn, "殡葬").total == 0


def test_reindex_all_rebuilds_from_the_entries(conn) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('delete-all')")
        conn.execute("DELETE FROM catalogue_search_rows")
    assert cs.search(conn, "人口").total == 0
    with transaction(conn):
        assert cs.reindex_all(conn) == 5
    assert codes(cs.search(conn, "人口")) == {"101001/000001", "102003/000003"}
    assert codes(cs.search(conn, "公民身份号码")) == {"101001/000001"}


def test_reindex_keeps_the_most_recently_updated_first_chunk_by_chunk(conn, monkeypatch) -> None:
    conn.execute("UPDATE resources SET updated = '2025-01-01T00:00:00Z' WHERE code = '102003/000002'")
    monkeypatch.setattr(cs, "REINDEX_CHUNK", 2)   # 5 entries: 3 batches
    seen: list[tuple[int, int]] = []
    with transaction(conn):
        assert cs.reindex_all(conn, progress=lambda done, total: seen.append((done, total))) == 5
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert [h["code"] for h in cs.search(conn, "登记").hits] == ["102003/000002", "102003/000001"]
    assert conn.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('integrity-check')") is not None


def test_upgrading_a_node_rebuilds_its_search_index(tmp_path: Path, caplog) -> None:
    """Migration 10 (trigrams, newest first ascending, texts kept instead of tokens) rebuilds the
    index a node of schema 9 left, from the catalogue it finds."""
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    for script in MIGRATIONS[:9]:
        raw.executescript(script)
    e = entry("102003/000001", "婚姻登记信息")
    raw.execute("""INSERT INTO resources (code, agency, name, share_type, update_mode, items, status, origin_node, entry,
                                          created, updated, provider_name, region_code, topic)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (e["resource_code"], e["provider_code"], e["name"], e["share_type"], "append", "[]", "published",
                 "350200", json.dumps(e, ensure_ascii=False), NOW, NOW, e["provider_name"], e["region_code"], e["topic"]))
    old_rowid = (6 << 60) | (0 << 33)   # schema 9: published was status 6, sequences counted up
    raw.execute("INSERT INTO catalogue_search_rows (rowid, code, name, tokens) VALUES (?, ?, ?, ?)",
                (old_rowid, e["resource_code"], e["name"], b"old tokens"))
    raw.execute("INSERT INTO catalogue_fts (rowid, name_tokens, other_tokens) VALUES (?, ?, ?)",
                (old_rowid, "婚姻 姻登 登记 记 信息 息", ""))
    raw.execute("PRAGMA user_version = 9")
    raw.commit()
    raw.close()
    with caplog.at_level("WARNING"):
        c = connect(path)
    assert "rebuilding the catalogue search index for 1 entries" in caplog.text
    r = cs.search(c, "婚姻登记")
    assert codes(r) == {"102003/000001"} and r.total == 1
    assert [row[0] >> 60 for row in c.execute("SELECT -rowid FROM catalogue_search_rows")] == [1]   # published
    assert "texts" in {row[1] for row in c.execute("PRAGMA table_info(catalogue_search_rows)")}
    c.execute("INSERT INTO catalogue_fts (catalogue_fts) VALUES ('integrity-check')")


def test_index_entry_joins_the_callers_transaction(conn) -> None:
    conn.execute("BEGIN IMMEDIATE")
    put(conn, entry("109001/000001", "临时条目"))  # joins the open transaction
    assert codes(cs.search(conn, "临时")) == {"109001/000001"}
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM catalogue_search_rows WHERE code = '109001/000001'").fetchone()[0] == 0
    assert cs.search(conn, "临时").total == 0


def test_an_entry_without_its_resources_row_is_not_indexed(conn) -> None:
    with pytest.raises(UsageError), transaction(conn):
        cs.index_entry(conn, entry("109001/000002", "没有行"))


def test_new_rows_take_falling_rowids_and_rank_newest_first(conn) -> None:
    put(conn, entry("201001/000001", "甲乙登记"))
    put(conn, entry("201001/000002", "甲乙名录"))
    # catalogue_search_rows keeps each index rowid negated
    rows = dict(conn.execute("SELECT code, -rowid FROM catalogue_search_rows WHERE code LIKE '201001/%'"))
    assert rows["201001/000002"] < rows["201001/000001"] < min(
        r[0] for r in conn.execute("SELECT -rowid FROM catalogue_search_rows WHERE code NOT LIKE '201001/%'"))
    assert [h["code"] for h in cs.search(conn, "甲乙").hits] == ["201001/000002", "201001/000001"]
    # a revision (of the text, here) moves the entry to the top: newest first is most recently changed
    put(conn, entry("201001/000001", "甲乙登记簿"))
    assert conn.execute("SELECT -rowid FROM catalogue_search_rows WHERE code = '201001/000001'").fetchone()[0] < rows[
        "201001/000002"]
    assert [h["code"] for h in cs.search(conn, "甲乙").hits] == ["201001/000001", "201001/000002"]
    assert codes(cs.search(conn, "登记簿")) == {"201001/000001"}


def test_status_and_facet_changes_rekey_the_row(conn) -> None:
    before = conn.execute("SELECT rowid FROM catalogue_search_rows WHERE code = '102003/000002'").fetchone()[0]
    put(conn, entry("102003/000002", "收养登记信息", abstract="收养关系成立与解除的登记", share_type="none",
                    region="350100", topic="社会保障"), status="withdrawn")
    after = conn.execute("SELECT rowid FROM catalogue_search_rows WHERE code = '102003/000002'").fetchone()[0]
    assert after != before
    assert cs.search(conn, "收养").total == 0
    r = cs.search(conn, "收养", statuses=("withdrawn",))
    assert codes(r) == {"102003/000002"}
    assert r.facets == {"provider": [(MINZHENG, 1)], "region": [("350100", 1)], "share_type": [("none", 1)],
                        "topic": [("社会保障", 1)]}
    assert codes(cs.search(conn, "收养", statuses=None, facets={"region": "350100", "share_type": "none"})) == {
        "102003/000002"}
    assert cs.search(conn, "收养", statuses=None, facets={"region": "350200"}).total == 0
    # unchanged content and facets: the row is left as it is
    put(conn, entry("102003/000002", "收养登记信息", abstract="收养关系成立与解除的登记", share_type="none",
                    region="350100", topic="社会保障"), status="withdrawn")
    assert conn.execute("SELECT rowid FROM catalogue_search_rows WHERE code = '102003/000002'").fetchone()[0] == after


def test_filters_match_the_resources_columns(conn) -> None:
    """The rowid-encoded filters give what the same filters on ``resources`` give (the browse path)."""
    put(conn, entry("102005/000001", "登记信息汇总", region="350211", share_type="none", topic="综合政务",
                    provider=TONGJI, provider_name="福州市统计局"), status="submitted")
    for facets in ({}, {"region": "350200"}, {"region": ["350100", "350211"]}, {"region": "350000"},
                   {"share_type": ["none", "conditional"]}, {"topic": ["民政", "综合政务"]},
                   {"provider": [TONGJI, GONGAN]}, {"provider": "91350000NOSUCHONE"}, {"share_type": "other"}):
        for statuses in (("published",), ("submitted", "published"), ("draft",), None):
            found = cs.search(conn, "信息", facets=facets, statuses=statuses)
            listed = cs.search(conn, "", facets=facets, statuses=statuses)
            expected = {h["code"] for h in listed.hits if "信息" in h["name"] + (h["abstract"] or "")}
            assert codes(found) == expected, (facets, statuses)
            assert found.total == len(expected)


def test_pages_run_through_both_tiers(conn) -> None:
    put(conn, entry("102004/000001", "儿童福利机构信息", abstract="收养登记前的安置"))
    put(conn, entry("102004/000002", "婚育证明补充信息", abstract="婚姻登记后的补充"))
    hits = cs.search(conn, "登记", limit=10).hits
    every = [h["code"] for h in hits]
    assert set(every[:2]) == {"102003/000001", "102003/000002"}  # names match: the first tier
    assert set(every[2:]) == {"102004/000001", "102004/000002"}
    assert [h["score"] for h in hits] == [cs.NAME_SCORE] * 2 + [cs.OTHER_SCORE] * 2
    for limit in (1, 2, 3):
        paged = [h["code"] for o in range(0, 5, limit) for h in cs.search(conn, "登记", limit=limit, offset=o).hits]
        assert paged == every, limit
    assert cs.search(conn, "登记", limit=5, offset=4).hits == []
    assert cs.search(conn, "登记", limit=0).total == 4


@pytest.mark.parametrize("text", [
    '"', '"人口', '***', '人口*', 'NEAR(人口 婚姻)', 'tokens:人口', 'code:101001', 'AND', 'OR NOT',
    "'; DROP TABLE resources; --", '^人口', '{tokens}: x', '(((', '人口" OR "婚姻', '\x00', 'ǂ',
])
def test_fts_syntax_in_the_query_is_text_never_an_operator(conn, text) -> None:
    try:
        r = cs.search(conn, text)
    except UsageError as e:
        assert "nothing to search for" in str(e)
    else:
        assert r.total <= 5
    assert conn.execute("SELECT count(*) FROM resources").fetchone()[0] == 5


def test_quoted_phrase_query_is_searched_as_text(conn) -> None:
    assert codes(cs.search(conn, '"婚姻登记"')) == {"102003/000001"}
    # OR is the word "or" (which no entry contains), not the operator: nothing matches
    assert cs.search(conn, '人口" OR "婚姻').total == 0
    assert codes(cs.search(conn, '人口 婚姻')) == {"102003/000003"}


def test_bad_arguments_are_usage_errors(conn) -> None:
    for call in (
        lambda: cs.search(conn, "人口", facets={"colour": "red"}),
        lambda: cs.search(conn, "人口", facets={"region": "35"}),
        lambda: cs.search(conn, "人口", limit=-1),
        lambda: cs.search(conn, "人" * 501),
        lambda: cs.search(conn, " ".join(f"w{i}" for i in range(40))),
    ):
        with pytest.raises(UsageError):
            call()


# --- many matches: estimated totals and facets, and exact counts on request -------------------------

@pytest.fixture
def many(tmp_path: Path, monkeypatch) -> sqlite3.Connection:
    """300 published entries that mention 婚姻: two providers, 1 in 3 of them conditional; the
    estimate threshold is lowered to 40 so the estimate path runs on a small catalogue."""
    monkeypatch.setattr(cs, "EXACT_UP_TO", 40)
    c = connect(tmp_path / "many.db", create=True)
    for i in range(300):
        provider, name = (GONGAN, "厦门市公安局") if i % 2 else (MINZHENG, "厦门市思明区民政局")
        put(c, entry(f"301001/{i:06d}", f"婚姻状况核验{i}", provider=provider, provider_name=name,
                     share_type="conditional" if i % 3 == 0 else "unconditional"))
    return c


def test_a_common_term_reports_an_estimated_total_and_facets_marked_as_such(many) -> None:
    r = cs.search(many, "婚姻", limit=20)
    assert r.exact is False and r.to_dict()["exact"] is False
    assert 240 <= r.total <= 360                              # 300 matches, estimated from the newest 40
    assert type(r.total) is int and json.loads(json.dumps(r.to_dict()))["total"] == r.total
    assert len(r.hits) == 20 and all(h["score"] == cs.NAME_SCORE for h in r.hits)
    shares = dict(r.facets["share_type"])
    assert 150 <= shares["unconditional"] <= 250 and 60 <= shares["conditional"] <= 140
    assert set(dict(r.facets["provider"])) == {MINZHENG, GONGAN}


def test_an_estimate_over_several_statuses_counts_the_statuses_the_sample_did_not_reach(many) -> None:
    for i in range(60):
        put(many, entry(f"302001/{i:06d}", f"婚姻草稿{i}"), status="draft")
    assert cs.search(many, "婚姻").total < 400                           # published only: about 300
    r = cs.search(many, "婚姻", statuses=None)                           # the 40 newest are all published
    assert r.exact is False and 320 <= r.total <= 400                    # 360
    assert cs.search(many, "婚姻", statuses=None, exact=True).total == 360


def test_an_estimate_whose_last_match_is_alone_in_its_status(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cs, "EXACT_UP_TO", 40)
    c = connect(tmp_path / "alone.db", create=True)
    for i in range(39):
        put(c, entry(f"303001/{i:06d}", f"收养登记{i}"))
    for i in range(100):
        put(c, entry(f"303002/{i:06d}", f"收养草稿{i}"), status="draft")
    r = cs.search(c, "收养", statuses=("published", "draft"))            # 39 published and 1 draft seen
    assert r.exact is False and 120 <= r.total <= 160                    # 139


def test_exact_counts_every_match_for_total_and_facets(many) -> None:
    r = cs.search(many, "婚姻", limit=20, exact=True)
    assert r.exact is True and r.total == 300
    assert dict(r.facets["share_type"]) == {"unconditional": 200, "conditional": 100}
    assert dict(r.facets["provider"]) == {MINZHENG: 150, GONGAN: 150}
    # the same page either way: newest first
    assert [h["code"] for h in r.hits] == [h["code"] for h in cs.search(many, "婚姻", limit=20).hits]


def test_a_term_below_the_threshold_is_counted_exactly(many) -> None:
    r = cs.search(many, "婚姻状况核验12")      # 12, 120-129: eleven entries
    assert r.exact is True and r.total == 11


def test_pages_beyond_the_newest_matches_read_on(many) -> None:
    seen = []
    for page in range(4):                        # 4 x 30 = 120 hits: past the 41 matches read for the estimate
        seen += [h["code"] for h in cs.search(many, "婚姻", limit=30, offset=30 * page).hits]
    assert len(seen) == len(set(seen)) == 120
    assert seen == [f"301001/{i:06d}" for i in range(299, 179, -1)]


def test_a_merge_batches_its_index_writes_and_finds_what_it_wrote(tmp_path: Path) -> None:
    """A federation merge (DESIGN §7): changed and new entries in one batch, an entry changed twice
    in the batch, a withdrawal; the index answers exactly as if written one by one."""
    from fjshare.catalogue.store import merge_entries

    c = connect(tmp_path / "merge.db", create=True)
    docs = [{"entry": entry(f"401001/{i:06d}", f"收养登记{i}"), "revision": 1} for i in range(50)]
    with transaction(c):
        merge_entries(c, docs, origin="350200", at=NOW)
    assert cs.search(c, "收养", exact=True).total == 50
    later = [{"entry": entry(f"401001/{i:06d}", f"殡葬服务{i}"), "revision": 2} for i in range(0, 50, 2)]
    later += [{"entry": entry("401001/000001", "婚姻登记一"), "revision": 2},
              {"entry": entry("401001/000001", "婚姻登记二"), "revision": 3},       # twice in one batch
              {"entry": entry("401001/000099", "新增条目"), "revision": 1},
              {"action": "withdraw", "code": "401001/000003", "revision": 2}]
    with transaction(c):
        merge_entries(c, later, origin="350200", at=NOW)
    assert cs.search(c, "收养", exact=True).total == 50 - 25 - 1 - 1
    assert cs.search(c, "殡葬", exact=True).total == 25
    assert codes(cs.search(c, "婚姻登记二")) == {"401001/000001"} and cs.search(c, "婚姻登记一").total == 0
    assert codes(cs.search(c, "新增")) == {"401001/000099"}
    assert codes(cs.search(c, "收养登记3", statuses=("withdrawn",))) == {"401001/000003"}
    # the contentless index holds exactly the rows catalogue_search_rows names: an integrity check passes
    c.execute("INSERT INTO catalogue_fts (catalogue_fts, rank) VALUES ('integrity-check', 0)")
    with transaction(c):
        assert cs.reindex_all(c) == 51
    assert cs.search(c, "殡葬", exact=True).total == 25


def test_the_cli_help_names_the_estimate_threshold_of_the_search_code() -> None:
    from fjshare.cli.commands import catalogue as cli_catalogue

    assert cli_catalogue.EXACT_UP_TO == cs.EXACT_UP_TO
    assert f"more than {cs.EXACT_UP_TO}" in cli_catalogue.search_cmd.help
    assert f"estimated beyond {cs.EXACT_UP_TO}" in " ".join(p.help or "" for p in cli_catalogue.search_cmd.params)
