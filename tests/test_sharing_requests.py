"""Sharing requests across a province and two cities over real SFTP (Art 23-27).

A Xiamen agency requests a Fuzhou agency's conditional resource: review by its information
administrator, filing to every party, the publisher's objection, coordination by the province
(the parties are in different cities), the grant, its revocation - each step with its deadline
in working days and its duty-holder.
"""

from __future__ import annotations

import pytest

from federation_kit import agency_with_resource, build, csv_rows, drop, intake, opened

from fjshare import ids
from fjshare.errors import Refused
from fjshare.node import registry, requests

def later(days: int) -> str:
    """An instant ``days`` after now (certificates are issued at the real time, so the clock only moves on)."""
    import datetime as dt

    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def world(tmp_path):
    fed = build(tmp_path, cities=("350200", "350100"))
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    publisher, res = agency_with_resource(fz, "350100", resource="101001/000007", share_type="conditional",
                                          basis="《婚姻登记条例》", org="MB030003")
    requester = ids.make_uscc("350203", "MB010001")
    with opened(xm) as c:
        registry.add_agency(c, requester, name="思明区人社局", region="350203")
        registry.add_user(c, "xm-staff", agency=requester, role="analyst")
        registry.add_user(c, "xm-admin", agency=requester, role="admin")
    with opened(fz) as c:
        registry.add_user(c, "fz-admin", agency=publisher, role="admin")
    drop(fz, publisher, res, "hunyin.csv", csv_rows(20))
    intake(fz)
    fed.settle_all()
    yield fed, res, requester, publisher
    fed.stop_server()


def test_the_whole_chain_of_a_conditional_request(world, monkeypatch):
    fed, res, requester, publisher = world
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    with opened(xm, "xm-staff") as c:
        r = requests.create(c, res, mode="query", items=["id_number", "name"], purpose="养老待遇资格认证",
                            until="2099-12-31")
    rid = r["id"]
    with opened(xm, "xm-staff") as c, pytest.raises(Refused):   # only the information administrator (Art 24)
        requests.review(c, rid, approve=True)
    with opened(xm, "xm-admin") as c:
        requests.review(c, rid, approve=True)
    fed.settle_all()
    with opened(fz) as c:   # the filing reached the publisher's node (Art 25)
        [row] = requests.listing(c)
        assert row["state"] == "filed" and publisher in row["duty"]
        from fjshare.clock import parse_time
        from fjshare.sharing.calendar import WorkingCalendar

        filed = parse_time([e for e in requests.get(c, rid)["events"] if e["event"] == "filed"][0]["at"])
        assert row["deadline"] == WorkingCalendar().working_days_after(filed, 5).describe()
    with opened(fz, "fz-admin") as c:
        requests.object_to(c, rid, reason="涉及个人隐私,需限定用途")
    fed.settle_all()
    with opened(fed.province) as p:
        [row] = requests.listing(p)
        assert row["state"] == "objected" and "350000" in row["duty"]   # different cities: the province coordinates
        with pytest.raises(Refused):
            requests.grant(p, rid)
        requests.coordinate(p, rid, uphold=False, comment="用途已限定")
        requests.grant(p, rid)
    fed.settle_all()
    for home in (xm, fz):
        with opened(home) as c:
            g = c.conn.execute("SELECT * FROM grants").fetchone()
            assert (g["agency"], g["resource"], g["revoked_at"]) == (requester, res, None)
            assert requests.get(c, rid)["state"] == "granted"
    # query mode at Xiamen, on the derived bundle of the granted items sealed to Xiamen (Art 27)
    from fjshare.node import query

    with opened(xm, "xm-staff") as c:
        t = query.query(c, res, purpose="养老待遇资格认证").table
        assert t.column_names == ["id_number", "name"] and t.num_rows == 20
        with pytest.raises(Refused):
            query.query(c, res, columns=["amount"])          # not granted
        audit = c.conn.execute("SELECT detail FROM audit WHERE action = 'query' ORDER BY seq DESC").fetchone()
        assert f'"grant": "g-{rid}"' in audit["detail"] and '"rows": 20' in audit["detail"]
    with opened(xm) as c:
        other = ids.make_uscc("350203", "MB010009")
        registry.add_agency(c, other, name="思明区另一局", region="350203")
        registry.add_user(c, "xm-other", agency=other, role="analyst")
    with opened(xm, "xm-other") as c, pytest.raises(Refused):
        query.query(c, res)                                     # another agency of the same node
    # a third node, given the derived files, cannot read them
    from fjshare.errors import BadBundle
    from fjshare.node.sealed import read_part

    with opened(xm) as c:
        [derived] = c.conn.execute("SELECT path FROM bundles WHERE kind = 'derived'").fetchall()
        bag = xm / derived["path"]
    with opened(fz) as c, pytest.raises(BadBundle) as e:
        read_part(c, bag)
    assert e.value.reason == "cannot-unseal"
    with opened(fed.province) as p:
        requests.revoke(p, f"g-{rid}", reason="用途变更")
    fed.settle_all()
    with opened(xm) as c:
        import datetime as dt

        assert requests.active_grant(c.conn, requester, res, dt.date.today()) is None
        assert requests.get(c, rid)["state"] == "revoked"
    with opened(xm, "xm-staff") as c, pytest.raises(Refused):
        query.query(c, res)                                     # a revoked grant allows nothing
    # the use travelled back to the provider's node (Art 30)
    from fjshare.node import usage

    with opened(fz) as c:
        [use] = usage.listing(c, res)
    assert (use["user"], use["agency"], use["grant_id"], use["rows"]) == ("xm-staff", requester, f"g-{rid}", 20)
    assert use["purpose"] == "养老待遇资格认证"


def test_an_unopposed_filing_waits_for_authorisation_and_becomes_overdue(world, monkeypatch, run_cli):
    fed, res, requester, publisher = world
    xm = fed.cities["350200"]
    with opened(xm, "xm-staff") as c:
        rid = requests.create(c, res, mode="query", items=["name"], purpose="核验", until="2099-12-31")["id"]
    with opened(xm, "xm-admin") as c:
        requests.review(c, rid, approve=True)
    fed.settle_all()
    monkeypatch.setenv("FJSHARE_NOW", later(12))  # the five-working-day objection window has closed
    with opened(fed.province) as p:
        [row] = requests.listing(p)
        assert row["state"] == "authorising" and not row["overdue"]
    monkeypatch.setenv("FJSHARE_NOW", later(30))
    r = run_cli("--home", fed.province, "request", "list", "--overdue", "--json")
    [late] = __import__("json").loads(r.out)
    assert late["id"] == rid and "provincial office" in late["duty"]


def test_an_objection_after_the_window_is_refused_art26(world, monkeypatch):
    fed, res, requester, publisher = world
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    with opened(xm, "xm-staff") as c:
        rid = requests.create(c, res, mode="query", items=["name"], purpose="核验", until="2099-12-31")["id"]
    with opened(xm, "xm-admin") as c:
        requests.review(c, rid, approve=True)
    fed.settle_all()
    monkeypatch.setenv("FJSHARE_NOW", later(12))
    with opened(fz, "fz-admin") as c, pytest.raises(Refused) as e:
        requests.object_to(c, rid, reason="太晚")
    assert "authorising" in str(e.value)


def test_requests_for_unconditional_or_unknown_items_are_refused(world):
    fed, res, requester, publisher = world
    with opened(fed.cities["350200"], "xm-staff") as c:
        from fjshare.errors import BadInput

        with pytest.raises(BadInput) as e:
            requests.create(c, res, mode="query", items=["salary"], purpose="x", until="2099-01-01")
        assert "items:" in str(e.value)


def test_download_mode_delivers_granted_items_and_refreshes_on_new_bundles(world, run_cli, tmp_path):
    import pyarrow.parquet as pq

    fed, res, requester, publisher = world
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    with opened(xm, "xm-staff") as c:
        rid = requests.create(c, res, mode="download", items=["id_number", "amount"], purpose="比对",
                              until="2099-12-31")["id"]
    with opened(xm, "xm-admin") as c:
        requests.review(c, rid, approve=True)
    fed.settle_all()
    import os

    os.environ["FJSHARE_NOW"] = later(12)  # unopposed: the objection window has closed
    try:
        with opened(fed.province) as p:
            requests.grant(p, rid)
        fed.settle_all()
        delivery = xm / "deliveries" / requester / (res.replace("/", "_") + ".parquet")
        t = pq.read_table(delivery)
        assert t.column_names == ["id_number", "amount"] and t.num_rows == 20
        out = tmp_path / "fetched.parquet"
        r = run_cli("--home", xm, "--user", "xm-staff", "fetch", res, "--out", out, "--purpose", "比对")
        assert r.code == 0, r.err
        assert pq.read_table(out).num_rows == 20
        drop(fz, publisher, res, "more.csv", csv_rows(5, start=900))   # the provider publishes more
        intake(fz)
        fed.settle_all()
        assert pq.read_table(delivery).num_rows == 25
    finally:
        del os.environ["FJSHARE_NOW"]


def test_within_one_city_the_city_office_coordinates_and_may_uphold_the_objection_art26(tmp_path, monkeypatch):
    fed = build(tmp_path, cities=("350200",))
    try:
        xm = fed.cities["350200"]
        publisher, res = agency_with_resource(xm, "350200", resource="101001/000008", share_type="conditional",
                                              basis="《条例》", org="MB040004")
        requester = ids.make_uscc("350203", "MB050005")
        with opened(xm) as c:
            registry.add_agency(c, requester, name="思明区某局", region="350203")
            registry.add_user(c, "req", agency=requester, role="analyst")
            registry.add_user(c, "req-admin", agency=requester, role="admin")
            registry.add_user(c, "pub-admin", agency=publisher, role="admin")
        with opened(xm, "req") as c:
            rid = requests.create(c, res, mode="query", items=["name"], purpose="核验", until="2099-12-31")["id"]
        with opened(xm, "req-admin") as c:
            requests.review(c, rid, approve=True)
        with opened(xm, "pub-admin") as c:
            requests.object_to(c, rid, reason="无必要")
        fed.settle_all()
        with opened(fed.province) as p, pytest.raises(Refused) as e:   # not the province's to settle
            requests.coordinate(p, rid, uphold=True)
        assert "350200" in str(e.value)
        with opened(xm) as c:
            [row] = requests.listing(c)
            assert "node 350200" in row["duty"]
            requests.coordinate(c, rid, uphold=True, comment="异议成立")
        fed.settle_all()
        with opened(fed.province) as p:
            assert requests.get(p, rid)["state"] == "denied"
            with pytest.raises(Refused):
                requests.grant(p, rid)
    finally:
        fed.stop_server()
