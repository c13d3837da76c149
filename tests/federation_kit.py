"""Real federations for tests: a province with its embedded SFTP server on 127.0.0.1 and joined cities."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fjshare import ids
from fjshare.catalogue.resources import Resource, find_resource, get_resource
from fjshare.federation.transport.sftp_server import SftpServer
from fjshare.node import enrol, registry
from fjshare.node.accounts import NodeAccounts
from fjshare.node.context import NodeContext
from fjshare.node.mailboxes import serve_mailboxes
from fjshare.node.outbox.intake import run_intake
from fjshare.node.query import read_view
from fjshare.node.resources import register_resource
from fjshare.node.setup import init_node
from fjshare.node.sync import sync_with_parent
from fjshare.schema import parse_spec

SPEC = "id_number:id_number,name:string,amount:int"
CITY_NAMES = {"350100": "福州市", "350200": "厦门市", "350300": "莆田市", "350400": "三明市", "350500": "泉州市",
              "350600": "漳州市", "350700": "南平市", "350800": "龙岩市", "350900": "宁德市"}


def set_settle(home: Path, seconds: float) -> None:
    cfg = home / "node.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("settle_seconds = 2.0", f"settle_seconds = {seconds}"),
                   encoding="utf-8")


@dataclass
class Federation:
    root: Path
    province: Path
    root_fingerprint: str
    server: SftpServer | None = None
    cities: dict[str, Path] = field(default_factory=dict)

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    def start_server(self) -> None:
        port = self.server.port if self.server is not None else 0
        self.server = SftpServer("127.0.0.1", port, self.province / "keys" / "ssh_host_ed25519_key",
                                 NodeAccounts(self.province))
        self.server.start()

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def add_city(self, code: str) -> Path:
        home = self.root / code
        init_node(home, tier="city", code=code, name=CITY_NAMES[code])
        set_settle(home, 0)
        with opened(home) as c, opened(self.province) as p:
            admission = enrol.admit(p, enrol.enroll(c), address=self.address)
            enrol.join(c, admission.admission, root_fingerprint=self.root_fingerprint)
        self.cities[code] = home
        return home

    def province_round(self) -> list:
        with opened(self.province) as p:
            return serve_mailboxes(p)

    def city_round(self, code: str):
        with opened(self.cities[code]) as c:
            return sync_with_parent(c)

    def settle_all(self, rounds: int = 3) -> None:
        """Alternate city and province rounds until everything is delivered and acknowledged."""
        for _ in range(rounds):
            for code in self.cities:
                self.city_round(code)
            self.province_round()
        for code in self.cities:
            self.city_round(code)


class opened:
    def __init__(self, home: Path, user: str | None = None) -> None:
        self.home, self.user = home, user

    def __enter__(self) -> NodeContext:
        from fjshare.clock import Clock

        self.ctx = NodeContext.open(self.home, user=self.user, clock=Clock.from_env())
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        self.ctx.close()


def build(root: Path, cities: tuple[str, ...] = ("350200",)) -> Federation:
    province = root / "province"
    result = init_node(province, tier="province", code="350000", name="福建省")
    set_settle(province, 0)
    fed = Federation(root, province, result.root_fingerprint or "")
    fed.start_server()
    for code in cities:
        fed.add_city(code)
    return fed


FIRST_COUNTY = {"350100": "350102", "350200": "350203", "350300": "350302", "350400": "350404", "350500": "350502",
                "350600": "350602", "350700": "350702", "350800": "350802", "350900": "350902", "351000": "351000"}


def county_of(city: str) -> str:
    return FIRST_COUNTY[city]


def agency_with_resource(home: Path, city: str, *, resource: str = "101001/000001", share_type: str = "unconditional",
                         basis: str | None = None, org: str = "MB010001") -> tuple[str, str]:
    county = county_of(city)
    code = ids.make_uscc(county, org)
    with opened(home) as c:
        registry.add_agency(c, code, name=f"{CITY_NAMES[city]}某局", region=county)
        register_resource(c, Resource(resource, code, "测试资源", share_type, tuple(parse_spec(SPEC)), legal_basis=basis,
                                      origin_node=city))
    return code, resource


def csv_rows(n: int, start: int = 0) -> bytes:
    lines = ["id_number,name,amount"]
    for i in range(start, start + n):
        idn = ids.make_id_number("350203", dt.date(1980, 1, 1) + dt.timedelta(days=i % 9000), i % 1000)
        lines.append(f"{idn},人{i},{i}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def drop(home: Path, agency: str, resource: str, name: str, data: bytes) -> Path:
    folder = home / "outbox" / agency / resource.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def intake(home: Path) -> list:
    with opened(home) as c:
        return run_intake(c, settle_seconds=0)


def rows_at(home: Path, resource: str) -> int:
    """Rows in the current view of ``resource`` at ``home`` (0 while its catalogue entry has not arrived)."""
    with opened(home) as c:
        if find_resource(c.conn, resource) is None:
            return 0
        return read_view(c, get_resource(c.conn, resource)).num_rows


def node_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
    full.update({"FJSHARE_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "fjshare.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout)
