"""`node demo`: a province and a city on this machine, checked end to end in a few seconds.

A province node and Xiamen (a city node) are initialised; Xiamen enrols and joins the province;
a Siming district agency registers through Xiamen (Art 41); a sample file in GB18030 (as Chinese
office software writes it) is dropped into its outbox, packaged into a signed bundle, verified,
synced over real loopback SFTP to the province's embedded server, and queried at the province.
It exits non-zero if any row dropped is missing there.
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
    """Build the demo under ``directory``: a province and Xiamen, synced over real loopback SFTP."""
    from fjshare.federation.transport.sftp_server import SftpServer
    from fjshare.node import enrol
    from fjshare.node.accounts import NodeAccounts
    from fjshare.node.mailboxes import serve_mailboxes
    from fjshare.node.sync import sync_with_parent

    clock = Clock()
    p_home, c_home = directory / "province", directory / "xiamen"
    say(f"1. node init {p_home.name} --tier province --code 350000;  node init {c_home.name} --tier city --code {CITY}")
    prov = init_node(p_home, tier="province", code="350000", name="福建省政务信息共享节点", clock=clock)
    init_node(c_home, tier="city", code=CITY, name=CITY_NAME, clock=clock)
    server = SftpServer("127.0.0.1", 0, p_home / "keys" / "ssh_host_ed25519_key", NodeAccounts(p_home))
    server.start()
    p = NodeContext.open(p_home, clock=clock)
    c = NodeContext.open(c_home, clock=clock)
    try:
        say(f"2. the province's embedded SFTP server listens on 127.0.0.1:{server.port}")
        admission = enrol.admit(p, enrol.enroll(c), address=f"127.0.0.1:{server.port}")
        enrol.join(c, admission.admission, root_fingerprint=prov.root_fingerprint)
        c.close()
        c = NodeContext.open(c_home, clock=clock)
        say(f"3. node enroll -> node admit -> node join --root-fingerprint {prov.root_fingerprint[:16]}...")
        code = agency_code()
        say(f"4. node agency add {code} --name {AGENCY_NAME} --region {COUNTY}   (a county agency registers at its city, Art 41)")
        registry.add_agency(c, code, name=AGENCY_NAME, region=COUNTY)
        say(f"5. node resource add {RESOURCE} --share-type unconditional --items {ITEMS}")
        register_resource(c, Resource(RESOURCE, code, RESOURCE_NAME, "unconditional", tuple(parse_spec(ITEMS)),
                                      origin_node=CITY))
        data = sample_rows(rows)
        folder = c.home.outbox_dir(code, RESOURCE)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(data[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(data)
        target = folder / "婚姻登记-2026-11.csv"
        target.write_bytes(buf.getvalue().encode("gb18030"))
        say(f"6. dropped {rows} rows into xiamen/{target.relative_to(c_home)} (GB18030, Chinese headers)")
        stored = [o for o in run_intake(c, settle_seconds=0) if o.status == "stored"]
        ok = bool(stored)
        for o in stored:
            verdict = verify_path(c, c.home.resource_store(RESOURCE) / f"bundle={o.bundle_id}")
            ok = ok and verdict.ok
            say(f"7. node intake: bundle {o.bundle_id} ({o.rows} rows), node verify: {verdict.status}")
        report = sync_with_parent(c)
        say(f"8. node sync (Xiamen -> province over SFTP): pushed {len(report.pushed)} bundles "
            "(registration, catalogue entry, data)")
        for r in serve_mailboxes(p):
            say(f"9. province takes its mailbox: {len(r.received)} stored, {len(r.quarantined)} quarantined")
        report = sync_with_parent(c)
        say(f"10. node sync again: the province acknowledged {len(report.acked)}, Xiamen pulled {len(report.pulled)}")
        pa = ids.make_uscc("350000", "MB990001")
        registry.add_agency(p, pa, name="福建省数字福建建设领导小组办公室", region="350000")
        registry.add_user(p, "demo-analyst", agency=pa, role="analyst")
        pu = NodeContext.open(p_home, user="demo-analyst", clock=clock)
        try:
            found = query_mod.query(pu, RESOURCE, where=[f"region_code={COUNTY}"], purpose="demo").table.num_rows
            sample = query_mod.query(pu, RESOURCE, where=["name~王"], columns=["id_number", "name", "birth_date"],
                                     purpose="demo", trace=True).table.slice(0, 3).to_pylist()
        finally:
            pu.close()
        say(f"11. at the province: node query {RESOURCE} --where region_code={COUNTY}: {found} of {rows} rows")
        for r in sample:
            say(f"      {r['id_number']}  {r['name']}  {r['birth_date']}  (provider {r['_provider']}, bundle {r['_bundle'][:12]}...)")
        return DemoReport(directory, rows, found, ok)
    finally:
        c.close()
        p.close()
        server.stop()
