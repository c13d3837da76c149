"""The catalogue travels: city -> province -> every city, so the provincial catalogue is searchable
everywhere (Art 41 "seamless"); withdrawals travel as tombstones; newer revisions replace older ones."""

from __future__ import annotations

import pytest

from federation_kit import build, opened
from test_catalogue import ENTRY

from fjshare import ids
from fjshare.errors import Refused
from fjshare.node import catalogue, collection, registry
from fjshare.node.emit import emit


@pytest.fixture
def fed(tmp_path):
    f = build(tmp_path, cities=("350200", "350100"))
    yield f
    f.stop_server()


def _staff(home, county, org):
    agency = ids.make_uscc(county, org)
    with opened(home) as c:
        registry.add_agency(c, agency, name=f"{county}某局", region=county)
        registry.add_user(c, f"reg-{county}", agency=agency, role="registrar")
        registry.add_user(c, f"rev-{county}", agency=agency, role="reviewer")
    return agency


def _publish(home, county, text):
    import tomllib

    data = tomllib.loads(text)
    with opened(home, f"reg-{county}") as c:
        catalogue.register(c, data)
        catalogue.submit(c, data["resource_code"])
    with opened(home, f"rev-{county}") as c:
        catalogue.review(c, data["resource_code"], approve=True)
    with opened(home, f"reg-{county}") as c:
        catalogue.publish(c, data["resource_code"])


def _search(home, text):
    with opened(home) as c:
        return catalogue.search_catalogue(c, text, {})


def test_an_entry_published_in_xiamen_is_searchable_in_fuzhou_with_its_origin(fed):
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    agency = _staff(xm, "350203", "MB010001")
    _publish(xm, "350203", ENTRY.format(agency=agency))
    fed.settle_all()
    hits = _search(fz, "婚姻").hits
    assert [h["code"] for h in hits] == ["101001/000101"]
    with opened(fz) as c:
        assert catalogue.show(c, "101001/000101")["origin_node"] == "350200"
    assert _search(fed.province, "登记").total == 1


def test_a_newer_revision_replaces_and_a_withdrawal_travels_as_a_tombstone(fed):
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    agency = _staff(xm, "350203", "MB010001")
    _publish(xm, "350203", ENTRY.format(agency=agency))
    fed.settle_all()
    _publish(xm, "350203", ENTRY.format(agency=agency).replace("思明区婚姻登记信息", "思明区婚姻登记信息第二版"))
    fed.settle_all()
    with opened(fz) as c:
        doc = catalogue.show(c, "101001/000101")
        assert (doc["name"], doc["revision"]) == ("思明区婚姻登记信息第二版", 2)
    with opened(xm, "reg-350203") as c:
        catalogue.withdraw(c, "101001/000101", reason="业务调整")
    fed.settle_all()
    assert _search(fz, "婚姻").total == 0
    with opened(fz) as c:
        assert catalogue.show(c, "101001/000101")["status"] == "withdrawn"


def test_the_province_rejects_a_citys_entry_for_a_region_outside_it(fed):
    xm = fed.cities["350200"]
    with opened(xm) as c:  # forged: validation at Xiamen would refuse it, so it is emitted directly
        emit(c, kind="catalogue", channel="catalogue", documents=[{"type": "resource", "action": "publish", "revision": 1,
             "entry": {"resource_code": "101001/000999", "name": "福州某信息", "provider_code": ids.make_uscc("350102", "MB000001"),
                       "region_code": "350102", "share_type": "unconditional", "items": [], "update_mode": "append"}}])
    fed.settle_all()
    assert list((fed.province / "quarantine" / "inbox").glob("*.reason.txt"))
    assert _search(fed.province, "福州").total == 0


def test_collection_is_checked_against_the_whole_province(fed):
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    xa = _staff(xm, "350203", "MB010001")
    _staff(fz, "350102", "MB020002")
    with opened(xm, "reg-350203") as c:
        collection.declare(c, "婚姻状况", basis="《婚姻登记条例》")
    fed.settle_all()
    with opened(fz, "reg-350102") as c, pytest.raises(Refused) as e:
        collection.declare(c, "婚姻状况", basis="x")
    assert xa in str(e.value)
    with opened(fed.province) as p:
        uid = collection.listing(p)[0]["uid"]
        collection.decide(p, uid, confirm=True)
    fed.settle_all()
    with opened(xm) as c:
        assert collection.listing(c)[0]["status"] == "confirmed"
