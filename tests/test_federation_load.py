"""Bounded load: ten city processes syncing at once over real SFTP, 100 bundles each (issue: federation)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from federation_kit import CITY_NAMES, FIRST_COUNTY, Federation, build, csv_rows, drop, intake, opened, set_settle

from fjshare import ids
from fjshare.catalogue.resources import Resource
from fjshare.node import enrol, registry
from fjshare.node.resources import register_resource
from fjshare.node.setup import init_node
from fjshare.schema import parse_spec

# Fujian has nine prefecture-level cities; the tenth is an operator-added division (DESIGN §1: operators
# add codes the shipped list does not know) - here the Pingtan comprehensive experimental zone.
EXTRA = "351000,平潭综合实验区,city,350000\n"
CITIES = ("350100", "350200", "350300", "350400", "350500", "350600", "350700", "350800", "350900", "351000")
BUNDLES = 100


def _add_city(fed: Federation, code: str) -> None:
    home = fed.root / code
    home.mkdir()
    (home / "divisions.csv").write_text("code,name,level,parent\n" + EXTRA, encoding="utf-8")
    from fjshare.divisions import Divisions

    init_node(home, tier="city", code=code, name=CITY_NAMES.get(code, "平潭"),
              divisions=Divisions(home / "divisions.csv"))
    set_settle(home, 0)
    with opened(home) as c, opened(fed.province) as p:
        enrol.join(c, enrol.admit(p, enrol.enroll(c), address=fed.address).admission,
                   root_fingerprint=fed.root_fingerprint)
    fed.cities[code] = home


@pytest.mark.slow
def test_ten_cities_syncing_concurrently_each_bundle_ingested_once(tmp_path):
    fed = build(tmp_path, cities=())
    (fed.province / "divisions.csv").write_text("code,name,level,parent\n" + EXTRA, encoding="utf-8")
    try:
        for code in CITIES:
            _add_city(fed, code)
            county = FIRST_COUNTY[code]
            agency = ids.make_uscc(county, "MB010001")
            res = f"10{code[2:4]}01/000001"
            with opened(fed.cities[code]) as c:
                registry.add_agency(c, agency, name="某局", region=county)
                register_resource(c, Resource(res, agency, "负载", "unconditional",
                                              tuple(parse_spec("id_number:id_number,name:string,amount:int")),
                                              origin_node=code))
            for i in range(BUNDLES - 2):  # + the registration and the catalogue entry = 100 bundles
                drop(fed.cities[code], agency, res, f"{i:03d}.csv", csv_rows(3, start=i * 3))
            intake(fed.cities[code])
        env = {k: v for k, v in os.environ.items() if not k.startswith("FJSHARE_")}
        procs = [subprocess.Popen([sys.executable, "-m", "fjshare.cli", "sync"], env={**env, "FJSHARE_HOME": str(h)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for h in fed.cities.values()]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        fed.province_round()
        with opened(fed.province) as p:
            per_origin = dict(p.conn.execute(
                "SELECT origin, COUNT(*) FROM bundles WHERE origin != '350000' GROUP BY origin").fetchall())
            rows = p.conn.execute("SELECT COALESCE(SUM(rows), 0) FROM bundles WHERE kind = 'data'").fetchone()[0]
        assert per_origin == {code: BUNDLES for code in CITIES}
        assert rows == len(CITIES) * (BUNDLES - 2) * 3
    finally:
        fed.stop_server()
