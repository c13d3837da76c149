"""`node demo`: a working node on this machine in a few seconds, checked end to end.

Until the federation lands this is the local half: a Xiamen city node, a Siming district agency
registered through it (Art 41), a resource, a sample file dropped into the outbox in GB18030 (as
Chinese office software writes it), intake, verification of the bundle, and a query. It exits
non-zero if any row dropped is missing from the query.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fjshare import ids
from fjshare.catalogue.resources import Resource
from fjshare.clock import Clock
from fjshare.node import query as query_mod
from fjshare.node import registry
from fjshare.node.context import NodeContext
from fjshare.node.inbox.verify import verify_path
from fjshare.node.outbox.intake import run_intake
from fjshare.node.setup import init_node
from fjshare.schema import parse_spec
from fjshare.node.resources import register_resource

CITY, CITY_NAME = "350200", "厦门市政务信息共享节点"
COUNTY = "350203"  # 思明区
AGENCY_NAME = "厦门市思明区民政局"
RESOURCE = "101001/000001"
RESOURCE_NAME = "思明区婚姻登记信息"
ITEMS = "id_number(身份证号):id_number,name(姓名):string,birth_date(出生日期):date,region_code:division_code,registered_on:date"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强丽娟晓东海燕文"
SIMING_STREETS = ("350203",)


@dataclass(frozen=True)
class DemoReport:
    home: Path
    rows_dropped: int
    rows_found: int
    bundle_ok: bool

    @property
    def ok(self) -> bool:
        return self.bundle_ok and self.rows_found == self.rows_dropped


def agency_code() -> str:
    return ids.make_uscc(COUNTY, "MB010001")


def sample_rows(n: int, seed: int = 2010) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(0, 365 * 55))
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
        rows.append({
            "身份证号": ids.make_id_number(rnd.choice(("350203", "350205", "350102", "110105")), birth, i % 1000),
            "姓名": name,
            "出生日期": birth.strftime("%Y/%m/%d") if i % 3 == 0 else birth.isoformat(),
            "region_code": COUNTY,
            "registered_on": (dt.date(2020, 1, 1) + dt.timedelta(days=rnd.randrange(0, 1800))).strftime("%Y%m%d"),
        })
    return rows


def run_demo(directory: Path, *, rows: int = 500, say: Callable[[str], None] = print) -> DemoReport:
    """Build the demo under ``directory`` (which must not be a node home already)."""
    clock = Clock()
    home = directory / "xiamen"
    say(f"1. node init {home} --tier city --code {CITY}")
    init_node(home, tier="city", code=CITY, name=CITY_NAME, clock=clock)
    ctx = NodeContext.open(home, clock=clock)
    try:
        code = agency_code()
        say(f"2. node agency add {code} --name {AGENCY_NAME} --region {COUNTY}   (a county agency registers at its city, Art 41)")
        registry.add_agency(ctx, code, name=AGENCY_NAME, region=COUNTY)
        registry.add_user(ctx, "demo-analyst", agency=code, role="analyst")
        say(f"3. node resource add {RESOURCE} --share-type unconditional --items {ITEMS}")
        register_resource(ctx, Resource(RESOURCE, code, RESOURCE_NAME, "unconditional", tuple(parse_spec(ITEMS)),
                                        origin_node=CITY))
        data = sample_rows(rows)
        folder = ctx.home.outbox_dir(code, RESOURCE)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(data[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(data)
        target = folder / "婚姻登记-2026-11.csv"
        target.write_bytes(buf.getvalue().encode("gb18030"))
        say(f"4. dropped {rows} rows into {target.relative_to(directory)} (GB18030, Chinese headers)")
        outcomes = run_intake(ctx, settle_seconds=0)
        stored = [o for o in outcomes if o.status == "stored"]
        say(f"5. node intake: {len(stored)} bundle(s) stored")
        ok = True
        for o in stored:
            bundle_dir = ctx.home.resource_store(RESOURCE) / f"bundle={o.bundle_id}"
            verdict = verify_path(ctx, bundle_dir)
            say(f"6. node verify: {verdict.message}")
            ok = ok and verdict.ok
        ctx_user = NodeContext.open(home, user="demo-analyst", clock=clock)
        try:
            result = query_mod.query(ctx_user, RESOURCE, where=[f"region_code={COUNTY}"], purpose="demo")
            found = result.table.num_rows
            sample = query_mod.query(ctx_user, RESOURCE, where=["name~王"], columns=["id_number", "name", "birth_date"],
                                     purpose="demo").table.slice(0, 3).to_pylist()
        finally:
            ctx_user.close()
        say(f"7. node query {RESOURCE} --where region_code={COUNTY}: {found} of {rows} rows")
        for r in sample:
            say(f"     {r['id_number']}  {r['name']}  {r['birth_date']}")
        return DemoReport(home, rows, found, ok)
    finally:
        ctx.close()
