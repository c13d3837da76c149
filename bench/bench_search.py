"""Catalogue search benchmark: pre-tokenised FTS5 against a LIKE scan, and merging a delta.

    python bench/bench_search.py                    # 1,000 and 100,000 entries (~2-3 min)
    python bench/bench_search.py --large 20000 --queries 100 --json bench/out/search.json

Catalogues are generated with realistic Chinese entries (agencies of every Fujian division from
the packaged list, department subjects such as 婚姻登记 or 城乡居民最低生活保障, abstracts,
keywords, data items with Chinese labels) and merged into temporary ``state.db`` files in bundles
of 5,000 through ``merge_entries``, as a province node builds its catalogue, so the real schema,
store and index code are used.

Measured, per query category (two-character terms, longer phrases, resource codes):

* ``search()`` as the web page and the CLI call it - first page of 20 ranked hits, the total and
  the four facet counts, estimated beyond ``EXACT_UP_TO`` matches - and, in a second pass, with
  ``exact=True``, at 1k and 100k entries alternating query by query: median and p95 ms, the ratio
  100k/1k, and how far the estimated totals were from the exact ones;
* a ``LIKE '%term%'`` scan over name, abstract and keywords of the same 100k rows producing the
  same answer (page, total, facets), in the same run, and how many times slower it is.

Merging a delta = what a node does with an arriving catalogue bundle (``merge_entries``: the
revision check, the ``resources`` row, the search index in one batch), half of the entries
changes to existing ones and half new, in one transaction: 1,000 into 1,000 and 10,000 into
100,000, each on a fresh copy of the catalogue; time per entry and the ratio.

Goals from the issue: search 100k/1k <= 2 per category; at 100k >= 10x faster than LIKE;
merge time per entry (10k into 100k) / (1k into 1k) <= 1.2.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fjshare import ids
from fjshare.catalogue import search as cs
from fjshare.catalogue.store import merge_entries
from fjshare.state.db import connect, transaction

NOW = "2024-05-01T00:00:00Z"

# Department -> (topic, subjects). Subjects are the stems of real catalogue names.
DEPARTMENTS: dict[str, tuple[str, list[str]]] = {
    "公安局": ("公共安全", ["常住人口", "流动人口", "户籍迁移", "居民身份证", "机动车登记", "机动车驾驶人", "出入境证件",
                        "暂住人口", "旅馆业治安", "交通违法", "道路交通事故", "治安管理处罚", "户口登记", "重点场所"]),
    "民政局": ("民政", ["婚姻登记", "收养登记", "最低生活保障", "特困人员供养", "殡葬服务", "社会组织登记", "养老机构",
                     "残疾人两项补贴", "临时救助", "地名信息", "高龄津贴", "农村留守儿童", "孤儿基本生活保障"]),
    "人力资源和社会保障局": ("社会保障", ["城乡居民养老保险", "职工基本养老保险", "失业保险", "工伤保险", "就业登记",
                                 "职业技能鉴定", "劳动合同备案", "人才引进", "社会保障卡", "事业单位招聘"]),
    "卫生健康委员会": ("医疗卫生", ["出生医学证明", "死亡医学证明", "预防接种", "医疗机构执业", "医师执业注册",
                             "护士执业注册", "计划生育", "流动人口婚育证明", "传染病报告", "家庭医生签约"]),
    "市场监督管理局": ("市场监管", ["企业登记", "个体工商户登记", "食品经营许可", "特种设备", "行政处罚",
                             "商标注册", "计量器具检定", "产品质量抽查", "企业年度报告"]),
    "自然资源局": ("自然资源", ["不动产登记", "土地利用现状", "建设用地审批", "林地保护", "矿产资源开采",
                           "国土空间规划", "测绘成果", "海域使用权"]),
    "生态环境局": ("生态环境", ["排污许可", "环境影响评价", "空气质量监测", "水质监测", "固体废物", "环境行政处罚",
                           "噪声监测"]),
    "住房和城乡建设局": ("城乡建设", ["房屋交易备案", "住房公积金缴存", "建筑工程施工许可", "商品房预售许可",
                              "保障性住房", "物业服务企业", "建筑业企业资质"]),
    "交通运输局": ("交通运输", ["道路运输经营许可", "营运车辆", "出租汽车驾驶员", "公路建设项目", "港口经营许可",
                           "公交线路"]),
    "农业农村局": ("农业农村", ["农村土地承包经营权", "耕地地力保护补贴", "农药经营许可", "动物防疫",
                           "农民专业合作社", "渔船登记", "家庭农场"]),
    "教育局": ("教育", ["学籍管理", "教师资格认定", "学前教育机构", "义务教育招生", "学生资助", "高考报名",
                      "校外培训机构"]),
    "统计局": ("综合政务", ["国民经济核算", "人口抽样调查", "规模以上工业企业", "住户收支调查", "经济普查",
                        "农业普查"]),
    "税务局": ("财税金融", ["纳税人登记", "增值税发票", "欠税公告", "税收优惠备案", "纳税信用等级", "社会保险费缴纳"]),
    "医疗保障局": ("社会保障", ["基本医疗保险参保", "医保定点医药机构", "医疗救助", "门诊特殊病种", "医保结算"]),
    "应急管理局": ("公共安全", ["安全生产许可", "危险化学品经营", "自然灾害灾情", "应急物资储备", "安全生产事故"]),
    "退役军人事务局": ("民政", ["退役军人信息采集", "优抚对象", "烈士褒扬", "军休干部"]),
    "司法局": ("综合政务", ["律师执业", "法律援助", "公证机构", "人民调解", "社区矫正对象"]),
    "文化和旅游局": ("文化旅游", ["旅行社经营许可", "导游证", "文物保护单位", "公共图书馆", "演出经营许可"]),
}
QUALIFIERS = ["", "", "", "", "年度", "历史", "变更", "注销", "新增", "季度"]
SUFFIXES = ["信息", "信息", "数据", "基本信息", "登记信息", "名录", "统计数据", "台账", "记录", "清单", "明细"]
CYCLES = ["实时", "每日", "每周", "每月", "每季度", "每年", "不定期"]
PURPOSES = ["政务服务", "跨部门业务协同", "社会治理", "决策分析", "监督检查", "公共服务", "信用体系建设"]
ASPECTS = ["基本情况", "办理结果", "审批过程", "变更情况", "统计汇总", "证照信息", "人员情况", "机构情况"]
ITEMS: list[tuple[str, str, str]] = [
    ("id_number", "id_number", "公民身份号码"), ("name", "string", "姓名"), ("gender", "string", "性别"),
    ("birth_date", "date", "出生日期"), ("ethnicity", "string", "民族"), ("address", "string", "住址"),
    ("phone", "string", "联系电话"), ("uscc", "uscc", "统一社会信用代码"), ("org_name", "string", "单位名称"),
    ("legal_person", "string", "法定代表人"), ("reg_date", "date", "登记日期"), ("cert_no", "string", "证书编号"),
    ("valid_until", "date", "有效期至"), ("amount", "decimal", "金额"), ("region_code", "division_code", "行政区划代码"),
    ("status", "string", "状态"), ("approval_no", "string", "批准文号"), ("household_no", "string", "户号"),
    ("spouse_id", "id_number", "配偶公民身份号码"), ("license_plate", "string", "号牌号码"),
    ("insured_date", "date", "参保日期"), ("school", "string", "学校名称"), ("land_area", "decimal", "土地面积"),
]
TWO_CHAR_TERMS = ["人口", "婚姻", "收养", "救助", "殡葬", "户籍", "医保", "纳税", "车辆", "企业", "养老", "就业",
                  "学籍", "接种", "低保", "土地", "房屋", "水质", "林地", "律师", "导游", "渔船", "文物", "公证"]
PHRASES = ["婚姻登记", "最低生活保障", "流动人口", "机动车登记", "城乡居民养老保险", "不动产登记", "出生医学证明",
           "食品经营许可", "住房公积金缴存", "社区矫正对象", "农村土地承包经营权", "危险化学品经营", "空气质量监测",
           "教师资格认定", "纳税信用等级", "残疾人两项补贴", "职业技能鉴定", "特困人员供养"]
SHARE_TYPES = ["unconditional"] * 6 + ["conditional"] * 3 + ["none"]


# --- generation -----------------------------------------------------------------------------------

def _divisions() -> list[tuple[str, str]]:
    text = resources.files("fjshare").joinpath("data/fujian-divisions.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return [(r["code"], r["name"]) for r in rows]


class Generator:
    """Realistic catalogue entries, reproducible from a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.divisions = _divisions()
        names = dict(self.divisions)
        self.agencies: list[tuple[str, str, str, str]] = []  # (uscc, name, region, department)
        for d, (code, region_name) in enumerate(self.divisions):
            prefix = region_name if code.endswith("0000") else (
                region_name if code.endswith("00") else names.get(code[:4] + "00", "") + region_name)
            if code.endswith("0000"):
                prefix = "福建省"
            for k, dept in enumerate(DEPARTMENTS):
                uscc = ids.make_uscc(code, f"MB{d:03d}{k:03d}"[:8])
                self.agencies.append((uscc, prefix + dept, code, dept))
        self.subjects = [(dept, s) for dept, (_, subjects) in DEPARTMENTS.items() for s in subjects]
        self.class_of = {subject: f"{1 + i // 100}{(i // 10) % 10:02d}{i % 10:03d}" for i, subject in enumerate(self.subjects)}
        self.sequence: Counter[str] = Counter()

    def entry(self, code: str | None = None) -> dict[str, Any]:
        rng = self.rng
        uscc, agency_name, region, dept = rng.choice(self.agencies)
        topic, subjects = DEPARTMENTS[dept]
        subject = rng.choice(subjects)
        if code is None:
            cls = self.class_of[(dept, subject)]
            self.sequence[cls] += 1
            code = f"{cls}/{self.sequence[cls]:06d}"
        name = f"{subject}{rng.choice(QUALIFIERS)}{rng.choice(SUFFIXES)}"
        region_name = agency_name[: -len(dept)]
        abstract = (f"本资源由{agency_name}提供，记录{region_name}{subject}的{rng.choice(ASPECTS)}和"
                    f"{rng.choice(ASPECTS)}，{rng.choice(CYCLES)}更新，用于{rng.choice(PURPOSES)}。")
        items = [{"name": n, "type": t, "label": label} for n, t, label in rng.sample(ITEMS, rng.randint(5, 12))]
        return {
            "resource_code": code, "name": name, "abstract": abstract,
            "keywords": [subject, dept.removesuffix("局"), rng.choice(PURPOSES)],
            "items": items, "provider_code": uscc, "provider_name": agency_name, "region_code": region,
            "topic": topic, "share_type": rng.choice(SHARE_TYPES), "attribute": "department",
            "update_mode": "append", "format": "数据库",
        }


BUNDLE = 5000  # catalogue documents per merge while building (one arriving bundle)


def build(path: Path, n: int, seed: int) -> tuple[Generator, list[str]]:
    """A catalogue of ``n`` entries (one in 50 a draft) built as a province node builds one: bundles of
    :data:`BUNDLE` documents merged through ``merge_entries``, one transaction each."""
    gen = Generator(seed)
    conn = connect(path, create=True)
    codes: list[str] = []
    for start in range(0, n, BUNDLE):
        docs = []
        for i in range(start, min(n, start + BUNDLE)):
            e = dict(gen.entry(), status="draft" if i % 50 == 0 else "published")
            docs.append({"entry": e, "revision": 1})
            codes.append(e["resource_code"])
        with transaction(conn):
            merge_entries(conn, docs, origin="350000", at=NOW)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return gen, codes


def upkeep(path: Path) -> tuple[float, int]:
    """What the daemon does when idle after the merges: search.compact_until the index is merged.
    Returns the seconds it took and the steps."""
    conn = connect(path)
    t = time.perf_counter()
    steps, _ = cs.compact_until(conn)
    elapsed = time.perf_counter() - t
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return elapsed, steps


# --- the LIKE baseline ----------------------------------------------------------------------------

def like_search(conn: sqlite3.Connection, text: str, limit: int = 50) -> tuple[int, list[Any], dict[str, Counter]]:
    """The same answer as ``search()`` (page, total, facets) from a ``LIKE '%term%'`` scan.

    Name, abstract and keywords are scanned (the abstract and keywords live in the entry JSON).
    """
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        """SELECT code, name, agency, region_code, share_type, topic FROM resources
           WHERE status = 'published' AND (name LIKE ?1 ESCAPE '\\'
                 OR json_extract(entry, '$.abstract') LIKE ?1 ESCAPE '\\'
                 OR json_extract(entry, '$.keywords') LIKE ?1 ESCAPE '\\')""",
        (pattern,),
    ).fetchall()
    facets = {name: Counter() for name in cs.FACETS}
    for _, _, agency, region, share_type, topic in rows:
        facets["provider"][agency] += 1
        facets["region"][region] += 1
        facets["share_type"][share_type] += 1
        facets["topic"][topic] += 1
    page = sorted(rows, key=lambda r: r[0])[:limit]
    return len(rows), page, facets


# --- timing ---------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": statistics.median(ms), "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
            "mean_ms": statistics.fmean(ms)}


def query_sets(codes: list[str], n: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        "two-char": [rng.choice(TWO_CHAR_TERMS) for _ in range(n)],
        "phrase": [rng.choice(PHRASES) for _ in range(n)],
        "code": [rng.choice(codes) for _ in range(n)],
    }


PAGE = 20  # hits per page, as the web page and `node catalogue search` show them


def bench_search(small: Path, large: Path, small_codes: list[str], large_codes: list[str], n: int,
                 like_n: int) -> dict[str, Any]:
    """Per category: search() as users get it (estimates beyond EXACT_UP_TO matches) and with
    exact=True, at both sizes, interleaved query by query; the LIKE scan at the large size."""
    out: dict[str, Any] = {}
    conns = {"small": connect(small), "large": connect(large)}
    queries = {"small": query_sets(small_codes, n, 1), "large": query_sets(large_codes, n, 1)}
    for conn in conns.values():  # warm the page cache the same way for both
        for q in TWO_CHAR_TERMS + PHRASES:
            cs.search(conn, q, limit=PAGE)
            cs.search(conn, q, limit=PAGE, exact=True)
    for category in ("two-char", "phrase", "code"):
        row: dict[str, Any] = {}
        samples: dict[str, list[float]] = {f"{size}{mode}": [] for size in conns for mode in ("", "_exact")}
        totals: dict[str, list[int]] = {size: [] for size in conns}
        errors: list[float] = []
        estimated = 0
        # Each mode in a pass of its own, the two sizes alternating query by query (which size goes
        # first alternates too): an exact count walks every match, and run just before an estimate
        # it would leave the caches cold for it, at 100k far more than at 1k.
        found: dict[tuple[str, bool], list[cs.SearchResult]] = {}
        for mode in (False, True):
            for i in range(n):
                for size in (("small", "large") if i % 2 == 0 else ("large", "small")):
                    q = queries[size][category][i]
                    t = time.perf_counter()
                    result = cs.search(conns[size], q, limit=PAGE, exact=mode)
                    samples[size + ("_exact" if mode else "")].append(time.perf_counter() - t)
                    found.setdefault((size, mode), []).append(result)
        for size in conns:
            for i, (r, exact) in enumerate(zip(found[(size, False)], found[(size, True)])):
                totals[size].append(exact.total)
                assert [h["code"] for h in r.hits] == [h["code"] for h in exact.hits], queries[size][category][i]
                if not r.exact:
                    estimated += size == "large"
                    errors.append(abs(r.total - exact.total) / exact.total)
        for key, values in samples.items():
            row[key] = stats(values)
        like_samples = []
        conn = conns["large"]
        for q in queries["large"][category][:like_n]:
            t = time.perf_counter()
            total, _, _ = like_search(conn, q)
            like_samples.append(time.perf_counter() - t)
            # FTS also searches item labels and provider names, so it finds at least what LIKE finds
            assert total <= cs.search(conn, q, exact=True).total, q
        row["like_large"] = stats(like_samples)
        row["mean_matches"] = {size: statistics.fmean(v) for size, v in totals.items()}
        row["estimated_share_large"] = estimated / n
        row["estimate_error"] = ({"mean": statistics.fmean(errors), "p95": sorted(errors)[int(0.95 * len(errors))],
                                  "max": max(errors)} if errors else None)
        row["ratio_large_small"] = row["large"]["median_ms"] / row["small"]["median_ms"]
        row["ratio_large_small_exact"] = row["large_exact"]["median_ms"] / row["small_exact"]["median_ms"]
        row["like_speedup"] = row["like_large"]["median_ms"] / row["large"]["median_ms"]
        out[category] = row
    for conn in conns.values():
        conn.close()
    return out


def merge_once(base: Path, gen: Generator, codes: list[str], delta: int, rng: random.Random, k: int,
               cache_mb: int = 0) -> float:
    """Merge a delta of ``delta`` documents (half changes, half new) into a fresh copy of ``base``;
    return the seconds per entry."""
    work = base.with_name(f"{base.stem}-merge{k}.db")
    shutil.copyfile(base, work)
    changed = rng.sample(codes, delta // 2)
    entries = [gen.entry(code) for code in changed] + [gen.entry() for _ in range(delta - delta // 2)]
    rng.shuffle(entries)
    conn = connect(work)
    if cache_mb:  # the default page cache is 2 MB
        conn.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")
    docs = [{"entry": e, "revision": 2} for e in entries]
    conn.execute("SELECT count(*) FROM resources").fetchone()  # open the database before the clock starts
    os.sync()  # the copy's dirty pages written back now, not during the merge being timed
    t = time.perf_counter()
    with transaction(conn):
        merge_entries(conn, docs, origin="350000", at=NOW)
    elapsed = time.perf_counter() - t
    assert conn.execute("SELECT count(*) FROM resources").fetchone()[0] == len(codes) + delta - delta // 2
    conn.close()
    work.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    return elapsed / delta


def merge_section(report: dict[str, Any], args: argparse.Namespace, small: Path, large: Path, gen_small: Generator,
                  gen_large: Generator, codes_small: list[str], codes_large: list[str], repeat: int = 5) -> float:
    """The small and the large merges interleaved (a small one before and after each large one), each
    on a fresh copy whose pages are on disk before the clock starts: the machine's drift from minute
    to minute then falls on both."""
    sides = {"small": (small, gen_small, codes_small, args.delta_small, random.Random(3)),
             "large": (large, gen_large, codes_large, args.delta_large, random.Random(4))}
    runs: dict[str, list[float]] = {"small": [], "large": []}
    for k in range(repeat):  # small, large, small: a small merge takes a tenth of the time of a large one
        for i, side in enumerate(("small", "large", "small")):
            base, gen, codes, delta, rng = sides[side]
            runs[side].append(merge_once(base, gen, codes, delta, rng, 3 * k + i, args.cache_mb))
    for side in runs:
        report[f"merge_{side}"] = {"per_entry_us": statistics.median(runs[side]) * 1e6,
                                   "runs_us": [r * 1e6 for r in runs[side]]}
    ratio = report["merge_large"]["per_entry_us"] / report["merge_small"]["per_entry_us"]
    report["merge_ratio"] = ratio
    report["cache_mb"] = args.cache_mb
    print("\nmerge a delta (merge_entries: revision check, resources row, search index in one batch; half changes,"
          " half new, one transaction; the two sizes interleaved" +
          (f", {args.cache_mb} MB page cache" if args.cache_mb else "") + "):")
    print(f"  {args.delta_small:,} into {args.small:,}:   {report['merge_small']['per_entry_us']:.0f} us/entry "
          f"(runs {', '.join(f'{x:.0f}' for x in report['merge_small']['runs_us'])})")
    print(f"  {args.delta_large:,} into {args.large:,}: {report['merge_large']['per_entry_us']:.0f} us/entry "
          f"(runs {', '.join(f'{x:.0f}' for x in report['merge_large']['runs_us'])})")
    print(f"  ratio {ratio:.2f} (goal <= 1.2)")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300, help="queries per category and size")
    ap.add_argument("--like-queries", type=int, default=20, help="LIKE scans per category at the large size")
    ap.add_argument("--delta-small", type=int, default=1000)
    ap.add_argument("--delta-large", type=int, default=10_000)
    ap.add_argument("--cache-mb", type=int, default=0,
                    help="page cache of the merging connection in MB (default: SQLite's 2 MB)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", type=Path, help="build the catalogues in this directory and keep them")
    ap.add_argument("--skip-merge", action="store_true", help="measure the search only")
    ap.add_argument("--no-upkeep", action="store_true",
                    help="search the catalogues as the merges left them, before the daemon's index upkeep")
    ap.add_argument("--sample", type=int, default=None,
                    help=f"matches counted before the total and the facets are estimated (search.EXACT_UP_TO, "
                         f"default {cs.EXACT_UP_TO}): to see what a smaller or larger sample costs and gains")
    ap.add_argument("--reuse", action="store_true",
                    help="use the catalogues an earlier run left in --keep DIR instead of building them")
    args = ap.parse_args()
    if args.reuse and not args.keep:
        ap.error("--reuse needs --keep DIR")
    if args.sample is not None:
        if args.sample < 1:
            ap.error("--sample must be 1 or more")
        cs.EXACT_UP_TO = args.sample

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="fjshare-bench-search-"))
    tmp.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"sqlite": sqlite3.sqlite_version, "small": args.small, "large": args.large,
                              "sample": cs.EXACT_UP_TO}
    try:
        small, large = tmp / f"cat-{args.small}.db", tmp / f"cat-{args.large}.db"
        if args.reuse:  # the generators replayed to where the build left them
            gen_small, gen_large = Generator(11), Generator(12)
            codes_small = [gen_small.entry()["resource_code"] for _ in range(args.small)]
            codes_large = [gen_large.entry()["resource_code"] for _ in range(args.large)]
            print(f"reusing {small} and {large}; SQLite {sqlite3.sqlite_version}")
        else:
            for p in (small, large):
                p.unlink(missing_ok=True)
            t = time.perf_counter()
            gen_small, codes_small = build(small, args.small, seed=11)
            gen_large, codes_large = build(large, args.large, seed=12)
            report["build_s"] = time.perf_counter() - t
            report["large_db_mb"] = large.stat().st_size / 1e6
            print(f"built {args.small:,} and {args.large:,} entries in {report['build_s']:.1f} s "
                  f"({report['large_db_mb']:.0f} MB at {args.large:,}); SQLite {sqlite3.sqlite_version}")
            if not args.no_upkeep:
                report["upkeep"] = {p.stem: upkeep(p) for p in (small, large)}
                print("index upkeep as the idle daemon runs it (search.compact): " + ", ".join(
                    f"{name} {s:.1f} s in {n} steps" for name, (s, n) in report["upkeep"].items()))

        report["search"] = bench_search(small, large, codes_small, codes_large, args.queries, args.like_queries)
        print(f"\nsearch() latency (page of {PAGE}, total and 4 facets; estimated beyond {cs.EXACT_UP_TO} matches, "
              f"and with exact=True), {args.queries} queries each:")
        print(f"{'category':10} {'matches 1k/100k':>16} {'1k med ms':>10} {'100k med ms':>12} {'100k/1k':>8}"
              f" {'exact 1k/100k ms':>17} {'exact 100k/1k':>14} {'LIKE 100k ms':>13} {'LIKE/fts':>9} {'est. error':>16}")
        for cat, r in report["search"].items():
            m, e = r["mean_matches"], r["estimate_error"]
            err = f"{e['mean']:.1%} (p95 {e['p95']:.0%})" if e else "-"
            print(f"{cat:10} {m['small']:7.1f}/{m['large']:<8.1f} {r['small']['median_ms']:10.3f} {r['large']['median_ms']:12.3f}"
                  f" {r['ratio_large_small']:8.2f} {r['small_exact']['median_ms']:8.3f}/{r['large_exact']['median_ms']:<8.3f}"
                  f" {r['ratio_large_small_exact']:14.2f} {r['like_large']['median_ms']:13.1f} {r['like_speedup']:8.0f}x {err:>16}")

        ratio = None
        if not args.skip_merge:
            ratio = merge_section(report, args, small, large, gen_small, gen_large, codes_small, codes_large)
        goals = {cat: (r["ratio_large_small"] <= 2, r["like_speedup"] >= 10) for cat, r in report["search"].items()}
        print("\ngoals: " + "; ".join(f"{c}: 100k/1k<=2 {'ok' if a else 'MISSED'}, >=10x LIKE {'ok' if b else 'MISSED'}"
                                     for c, (a, b) in goals.items())
              + ("" if ratio is None else f"; merge {'ok' if ratio <= 1.2 else 'MISSED'}"))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
