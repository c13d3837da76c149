"""Granted data at the grantee's node follows the resource's update mode (Art 27; DESIGN §5).

A Fuzhou agency publishes conditional resources of each update mode; a Xiamen agency is granted
some of their items. The province sends Xiamen derived bundles sealed to it, and Xiamen's view of
the granted items is the provider's own view cut to those items: the current snapshot only, the
newest row per key, every appended row.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from federation_kit import agency_with_resource, build, drop, intake, opened, SPEC

from fjshare import ids
from fjshare.catalogue.resources import Resource, get_resource
from fjshare.node import registry, requests
from fjshare.node.query import query, read_view
from fjshare.node.resources import register_resource
from fjshare.schema import parse_spec

APPENDED, SNAPSHOT, UPSERTED = "101001/000011", "101001/000012", "101001/000013"


def later(days: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).isoformat()


def people(rows: list[tuple[int, str, int]]) -> bytes:
    """CSV of (person number, name, amount): the person number fixes the ID number."""
    lines = ["id_number,name,amount"]
    for i, name, amount in rows:
        lines.append(f"{ids.make_id_number('350203', dt.date(1980, 1, 1) + dt.timedelta(days=i), i % 1000)},{name},{amount}")
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def world(tmp_path, monkeypatch):
    fed = build(tmp_path, cities=("350200", "350100"))
    xm, fz = fed.cities["350200"], fed.cities["350100"]
    publisher, _ = agency_with_resource(fz, "350100", resource=APPENDED, share_type="conditional",
                                        basis="《婚姻登记条例》", org="MB030003")
    with opened(fz) as c:
        for code, mode, key in ((SNAPSHOT, "snapshot", ()), (UPSERTED, "upsert", ("id_number",))):
            register_resource(c, Resource(code, publisher, f"测试资源({mode})", "conditional", tuple(parse_spec(SPEC)),
                                          update_mode=mode, key=key, legal_basis="《婚姻登记条例》", origin_node="350100"))
    requester = ids.make_uscc("350203", "MB010001")
    with opened(xm) as c:
        registry.add_agency(c, requester, name="思明区人社局", region="350203")
        registry.add_user(c, "xm-staff", agency=requester, role="analyst")
        registry.add_user(c, "xm-admin", agency=requester, role="admin")
    monkeypatch.delenv("FJSHARE_NOW", raising=False)
    yield fed, publisher
    fed.stop_server()


def publish(fed, publisher: str, resource: str, name: str, data: bytes) -> None:
    fz = fed.cities["350100"]
    drop(fz, publisher, resource, name, data)
    intake(fz)
    fed.settle_all()


def grant(fed, monkeypatch, resource: str, items: list[str]) -> str:
    """Request, review, let the objection window close unopposed, and authorise (Art 23-27)."""
    xm = fed.cities["350200"]
    with opened(xm, "xm-staff") as c:
        rid = requests.create(c, resource, mode="query", items=items, purpose="养老待遇资格认证", until="2099-12-31")["id"]
    with opened(xm, "xm-admin") as c:
        requests.review(c, rid, approve=True)
    fed.settle_all()
    monkeypatch.setenv("FJSHARE_NOW", later(12))
    with opened(fed.province) as p:
        requests.grant(p, rid)
    fed.settle_all()
    return rid


def at_grantee(fed, resource: str, **kw) -> pa.Table:
    with opened(fed.cities["350200"], "xm-staff") as c:
        return query(c, resource, purpose="养老待遇资格认证", **kw).table


def providers_view(fed, resource: str, columns: list[str]) -> pa.Table:
    with opened(fed.cities["350100"]) as c:
        return read_view(c, get_resource(c.conn, resource), columns=columns)


def derived_at_grantee(fed, resource: str) -> list[dict]:
    xm = fed.cities["350200"]
    with opened(xm) as c:
        rows = c.conn.execute("SELECT path FROM bundles WHERE resource = ? AND kind = 'derived' ORDER BY seq",
                              (resource,)).fetchall()
    return [json.loads((xm / r["path"] / "bundle.json").read_bytes())["signed"]["extensions"] for r in rows]


def test_grantee_sees_only_the_current_snapshot_art27(world, monkeypatch):
    fed, publisher = world
    publish(fed, publisher, SNAPSHOT, "2023.csv", people([(i, f"旧{i}", i) for i in range(20)]))
    publish(fed, publisher, SNAPSHOT, "2024.csv", people([(i, f"新{i}", 100 + i) for i in range(5)]))
    grant(fed, monkeypatch, SNAPSHOT, ["id_number", "name"])
    t = at_grantee(fed, SNAPSHOT)
    assert t.equals(providers_view(fed, SNAPSHOT, ["id_number", "name"]))
    assert t["name"].to_pylist() == [f"新{i}" for i in range(5)]
    assert len(derived_at_grantee(fed, SNAPSHOT)) == 1      # a replaced snapshot is never sent

    publish(fed, publisher, SNAPSHOT, "2025.csv", people([(i, f"今{i}", 200 + i) for i in range(3, 10)]))
    t = at_grantee(fed, SNAPSHOT, where=["name~今"])
    assert t["name"].to_pylist() == [f"今{i}" for i in range(3, 10)]
    assert at_grantee(fed, SNAPSHOT).num_rows == 7           # the 2024 snapshot is gone here too
    assert [d["whole_view"] for d in derived_at_grantee(fed, SNAPSHOT)] == [True, True]


def test_grantee_sees_the_newest_row_per_key_when_the_key_is_granted_art27(world, monkeypatch):
    fed, publisher = world
    publish(fed, publisher, UPSERTED, "m1.csv", people([(i, f"甲{i}", i) for i in range(20)]))
    grant(fed, monkeypatch, UPSERTED, ["id_number", "name"])
    publish(fed, publisher, UPSERTED, "m2.csv", people([(i, f"乙{i}", i) for i in range(10, 25)]))
    t = at_grantee(fed, UPSERTED, trace=True)
    expected = providers_view(fed, UPSERTED, ["id_number", "name"])
    assert t.select(["id_number", "name"]).equals(expected)    # same rows, same order as the provider's view
    assert t.num_rows == 25 and len(set(t["id_number"].to_pylist())) == 25
    assert t["name"].to_pylist() == [f"甲{i}" for i in range(10)] + [f"乙{i}" for i in range(10, 25)]
    assert len(set(t["_bundle"].to_pylist())) == 2              # every row traced to the bundle it came in
    assert [d["whole_view"] for d in derived_at_grantee(fed, UPSERTED)] == [False, False]
    assert at_grantee(fed, UPSERTED, where=["name~甲"]).num_rows == 10   # the filter sees the newest rows only


def test_grantee_without_the_key_sees_each_row_once_art27(world, monkeypatch):
    fed, publisher = world
    publish(fed, publisher, UPSERTED, "m1.csv", people([(i, f"甲{i}", i) for i in range(20)]))
    publish(fed, publisher, UPSERTED, "m2.csv", people([(i, f"乙{i}", 1000 + i) for i in range(10, 25)]))
    grant(fed, monkeypatch, UPSERTED, ["name", "amount"])
    t = at_grantee(fed, UPSERTED)
    assert t.column_names == ["name", "amount"]
    assert t.equals(providers_view(fed, UPSERTED, ["name", "amount"]))
    assert t.num_rows == 25
    from fjshare.node.sealed import read_part

    xm = fed.cities["350200"]
    with opened(xm) as c:   # the key never reached the grantee's node
        [path] = [r["path"] for r in c.conn.execute("SELECT path FROM bundles WHERE kind = 'derived'")]
        assert read_part(c, xm / path).column_names == ["name", "amount"]

    publish(fed, publisher, UPSERTED, "m3.csv", people([(0, "丙0", 7)]))
    t = at_grantee(fed, UPSERTED)
    assert t.equals(providers_view(fed, UPSERTED, ["name", "amount"]))
    assert t.num_rows == 25 and "丙0" in t["name"].to_pylist() and "甲0" not in t["name"].to_pylist()
    assert [d["whole_view"] for d in derived_at_grantee(fed, UPSERTED)] == [True, True]


def test_grantee_sees_every_appended_row_art27(world, monkeypatch):
    fed, publisher = world
    publish(fed, publisher, APPENDED, "a.csv", people([(i, f"甲{i}", i) for i in range(6)]))
    grant(fed, monkeypatch, APPENDED, ["name"])
    publish(fed, publisher, APPENDED, "b.csv", people([(i, f"乙{i}", i) for i in range(4)]))
    t = at_grantee(fed, APPENDED)
    assert t.equals(providers_view(fed, APPENDED, ["name"])) and t.num_rows == 10


def test_a_grantee_cannot_filter_on_items_outside_its_grant_art27(world, monkeypatch):
    from fjshare.errors import Refused

    fed, publisher = world
    publish(fed, publisher, APPENDED, "a.csv", people([(i, f"甲{i}", i) for i in range(6)]))
    grant(fed, monkeypatch, APPENDED, ["name"])
    with pytest.raises(Refused) as e:
        at_grantee(fed, APPENDED, where=["amount>3"])
    assert "amount" in str(e.value)
