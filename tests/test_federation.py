"""Federation over real loopback SFTP: enrolment, sync, forwarding, ordering, faults (DESIGN §4-6, Art 41)."""

from __future__ import annotations

import json
import shutil

import pytest

from federation_kit import (agency_with_resource, build, csv_rows, drop, intake, node_cli, opened, rows_at)

from fjshare.errors import BadBundle, BadInput, HostKeyMismatch, TransportError
from fjshare.node import enrol
from fjshare.node.inbox.ingest import ingest_one
from fjshare.node.store import list_bundles
from fjshare.node.sync import sync_with_parent
from fjshare.node.setup import init_node


@pytest.fixture
def fed(tmp_path):
    f = build(tmp_path)
    yield f
    f.stop_server()


def test_city_data_reaches_the_province_exactly_once(fed):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    drop(xm, agency, res, "a.csv", csv_rows(40))
    drop(xm, agency, res, "b.csv", csv_rows(10, start=100))
    intake(xm)
    fed.settle_all()
    assert rows_at(fed.province, res) == 50
    fed.settle_all()  # more rounds change nothing
    assert rows_at(fed.province, res) == 50
    with opened(xm) as c:
        assert c.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NULL").fetchone()[0] == 0
    with opened(fed.province) as p:  # the county agency is registered at the province through its city (Art 41)
        row = p.conn.execute("SELECT node, region FROM agencies WHERE code = ?", (agency,)).fetchone()
        assert (row["node"], row["region"]) == ("350200", "350203")


def test_catalogue_and_registry_reach_every_other_city(tmp_path):
    fed = build(tmp_path, cities=("350200", "350100"))
    try:
        agency, res = agency_with_resource(fed.cities["350200"], "350200")
        fed.settle_all()
        with opened(fed.cities["350100"]) as fz:
            assert fz.conn.execute("SELECT origin_node FROM resources WHERE code = ?", (res,)).fetchone()[0] == "350200"
            assert fz.conn.execute("SELECT node FROM agencies WHERE code = ?", (agency,)).fetchone()[0] == "350200"
    finally:
        fed.stop_server()


def test_data_is_forwarded_only_to_entitled_nodes_with_the_original_signature(tmp_path):
    fed = build(tmp_path, cities=("350200", "350100", "350300"))
    try:
        xm = fed.cities["350200"]
        agency, res = agency_with_resource(xm, "350200")
        with opened(fed.province) as p:  # Fuzhou is entitled (the sharing service records this)
            p.conn.execute("INSERT INTO subscriptions (resource, node, since) VALUES (?, '350100', 'now')", (res,))
        drop(xm, agency, res, "a.csv", csv_rows(7))
        intake(xm)
        fed.settle_all()
        assert rows_at(fed.cities["350100"], res) == 7
        assert rows_at(fed.cities["350300"], res) == 0
        with opened(fed.cities["350100"]) as fz:
            [b] = list_bundles(fz.conn, res)
            assert (b.origin, b.received_from) == ("350200", "350000")  # signed by Xiamen, forwarded by the province
    finally:
        fed.stop_server()


def test_join_refuses_a_root_whose_fingerprint_does_not_match(tmp_path, fed):
    home = tmp_path / "fz"
    init_node(home, tier="city", code="350100", name="福州")
    with opened(home) as c, opened(fed.province) as p:
        admission = enrol.admit(p, enrol.enroll(c), address=fed.address)
        with pytest.raises(BadBundle) as e:
            enrol.join(c, admission.admission, root_fingerprint="0" * 64)
    assert e.value.reason == "fingerprint-mismatch"
    assert "do not join" in str(e.value)


def test_an_admission_for_another_city_is_refused(tmp_path, fed):
    a, b = tmp_path / "fz", tmp_path / "pt"
    init_node(a, tier="city", code="350100", name="福州")
    init_node(b, tier="city", code="350300", name="莆田")
    with opened(a) as ca, opened(b) as cb, opened(fed.province) as p:
        admission = enrol.admit(p, enrol.enroll(ca), address=fed.address)
        with pytest.raises(BadInput):
            enrol.join(cb, admission.admission, root_fingerprint=fed.root_fingerprint)


def test_a_tampered_enrolment_request_is_refused(fed, tmp_path):
    home = tmp_path / "fz"
    init_node(home, tier="city", code="350100", name="福州")
    with opened(home) as c, opened(fed.province) as p:
        req = enrol.enroll(c).replace(b"350100", b"350300")
        with pytest.raises(BadInput):
            enrol.admit(p, req)


def test_admit_cli_prints_the_openssh_set_up(fed, tmp_path, run_cli):
    home = tmp_path / "nd"
    init_node(home, tier="city", code="350700", name="南平")
    assert run_cli("--home", home, "enroll", "--out", tmp_path / "req.json").code == 0
    r = run_cli("--home", fed.province, "admit", tmp_path / "req.json", "--out", tmp_path / "adm.json")
    assert r.code == 0, r.err
    assert r.out.startswith("restrict ssh-ed25519 ")
    assert "Match User fj350700" in r.out and "ChrootDirectory" in r.out and "ForceCommand internal-sftp" in r.out
    r = run_cli("--home", home, "join", tmp_path / "adm.json", "--root-fingerprint", fed.root_fingerprint)
    assert r.code == 0, r.err


def test_a_changed_host_key_stops_the_link(fed):
    xm = fed.cities["350200"]
    cfg = xm / "node.toml"
    text = cfg.read_text(encoding="utf-8")
    import re

    cfg.write_text(re.sub(r'host_key_fingerprint = "[^"]*"', 'host_key_fingerprint = "SHA256:' + "A" * 43 + '"', text),
                   encoding="utf-8")
    with opened(xm) as c, pytest.raises(HostKeyMismatch) as e:
        sync_with_parent(c)
    assert "pinned" in str(e.value)


def test_a_revoked_city_is_refused_at_its_next_connection(fed):
    xm = fed.cities["350200"]
    fed.city_round("350200")
    with opened(fed.province) as p:
        enrol.revoke_node(p, "350200", reason="key lost")
    with opened(xm) as c, pytest.raises(TransportError):
        sync_with_parent(c)


def test_an_expired_city_certificate_is_refused(fed, monkeypatch):
    monkeypatch.setenv("FJSHARE_NOW", "2031-01-01T00:00:00+08:00")  # the province's clock: past the 3-year validity
    with opened(fed.cities["350200"]) as c, pytest.raises(TransportError):
        sync_with_parent(c)


def test_bundles_delivered_3_1_2_are_applied_1_2_3(fed, tmp_path):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    for i in range(3):
        drop(xm, agency, res, f"{i}.csv", csv_rows(5, start=10 * i))
        intake(xm)
    fed.settle_all()  # registry and catalogue arrive first
    province = fed.province
    with opened(xm) as c:
        bags = {b.seq: xm / b.path for b in list_bundles(c.conn, res)}
    media = tmp_path / "media"
    outcomes = []
    # a second province that only sees the data bundles, in the order 3, 1, 2
    with opened(province) as p:
        p.conn.execute("DELETE FROM bundles WHERE resource = ?", (res,))
        p.conn.execute("DELETE FROM streams WHERE channel = ?", (f"data/{res}",))
        shutil.rmtree(province / "store" / res.replace("/", "_"))
        for seq in (3, 1, 2):
            shutil.copytree(bags[seq], media / bags[seq].name)
            outcomes.append(ingest_one(p, media / bags[seq].name, received_from="350200").status)
        from fjshare.node.inbox.ingest import apply_pending

        applied = [o.status for o in apply_pending(p)]
        order = [r["seq"] for r in p.conn.execute(
            "SELECT seq FROM bundles WHERE resource = ? ORDER BY rowid", (res,))]
    assert outcomes[:2] == ["pending", "stored"]
    assert order == [1, 2, 3]
    assert "stored" in outcomes[2:] + applied
    assert rows_at(province, res) == 15


def test_a_tampered_bundle_in_a_mailbox_is_quarantined_and_the_link_keeps_flowing(fed):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    fed.settle_all()
    drop(xm, agency, res, "a.csv", csv_rows(5))
    intake(xm)
    with opened(xm) as c:
        [b] = list_bundles(c.conn, res)
    up = fed.province / "exchange" / "350200" / "up"
    shutil.copytree(xm / b.path, up / b.bundle_id)
    part = up / b.bundle_id / "data" / "part-0000.parquet"
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    [report] = fed.province_round()
    assert report.quarantined == [b.bundle_id]
    assert list((fed.province / "quarantine" / "inbox").glob("*.reason.txt"))
    # the city hears the rejection, is told nothing else went wrong, and new data still flows
    drop(xm, agency, res, "b.csv", csv_rows(6, start=50))
    intake(xm)
    fed.settle_all()
    assert rows_at(fed.province, res) == 11
    with opened(xm) as c:
        assert c.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'sync.resend'").fetchone()[0] == 1


def test_the_province_down_for_a_while_the_queue_grows_then_drains(fed):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    fed.stop_server()
    for i in range(3):
        drop(xm, agency, res, f"{i}.csv", csv_rows(4, start=10 * i))
        intake(xm)
        with opened(xm) as c, pytest.raises(TransportError):
            sync_with_parent(c)
    r = node_cli(xm, "status", "--json")
    status = json.loads(r.stdout)
    assert status["queue"]["350000"] >= 3
    assert status["links"]["350000"]["failures"] == 3 and status["links"]["350000"]["last_error"]
    fed.start_server()
    fed.settle_all()
    assert rows_at(fed.province, res) == 12
    status = json.loads(node_cli(xm, "status", "--json").stdout)
    assert status["queue"] == {} and status["links"]["350000"]["failures"] == 0


def test_air_gapped_export_and_import_with_acknowledgements_back(fed, tmp_path):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    drop(xm, agency, res, "a.csv", csv_rows(9))
    intake(xm)
    medium = tmp_path / "usb"
    r = node_cli(xm, "export", "--peer", "350000", "--to", str(medium))
    assert r.returncode == 0, r.stderr
    r = node_cli(fed.province, "import", str(medium), "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["stored"]) == 3
    assert rows_at(fed.province, res) == 9
    r = node_cli(xm, "import", str(medium), "--json")  # the return trip carries the acknowledgements
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["acks_read"] == 3
    with opened(xm) as c:
        assert c.conn.execute("SELECT COUNT(*) FROM outgoing WHERE acked_at IS NULL").fetchone()[0] == 0


def test_a_tampered_bundle_on_the_medium_is_quarantined_and_the_rest_imports(fed, tmp_path):
    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    drop(xm, agency, res, "a.csv", csv_rows(9))
    intake(xm)
    medium = tmp_path / "usb"
    assert node_cli(xm, "export", "--peer", "350000", "--to", str(medium)).returncode == 0
    with opened(xm) as c:
        [b] = list_bundles(c.conn, res)
    bundle_json = medium / "from-350200" / b.bundle_id / "bundle.json"
    bundle_json.write_bytes(bundle_json.read_bytes().replace(b'"rows":9', b'"rows":90'))
    before = bundle_json.read_bytes()
    r = node_cli(fed.province, "import", str(medium), "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["quarantined"] == [b.bundle_id] and len(report["stored"]) == 2
    assert bundle_json.read_bytes() == before  # the medium is not changed
    reason = next((fed.province / "quarantine" / "inbox").glob("*.reason.txt")).read_text(encoding="utf-8")
    assert "INVALID" in reason


def test_an_agency_uploads_over_sftp_and_its_account_is_the_handler(fed):
    from fjshare.federation.transport.sftp_server import SftpServer
    from fjshare.federation.transport.sftp_client import SftpTransport
    from fjshare.node.accounts import NodeAccounts
    from fjshare.node import registry
    from fjshare.trust.keys import generate_ssh_keys, load_ssh_public_key, ssh_fingerprint

    xm = fed.cities["350200"]
    agency, res = agency_with_resource(xm, "350200")
    keys = generate_ssh_keys(xm.parent / "agency-keys")
    with opened(xm) as c:
        registry.add_agency_key(c, agency, keys.client_pub.read_text())
    server = SftpServer("127.0.0.1", 0, xm / "keys" / "ssh_host_ed25519_key", NodeAccounts(xm))
    server.start()
    try:
        fp = ssh_fingerprint(load_ssh_public_key(xm / "keys" / "ssh_host_ed25519_key.pub"))
        local = xm.parent / "upload.csv"
        local.write_bytes(csv_rows(8))
        with SftpTransport.connect("127.0.0.1", server.port, agency, keys.client, fp) as t:
            assert {e.name for e in t.list("")} == {"outbox", "deliveries"}
            t.put(local, "outbox/101001_000001/upload.csv")
            with pytest.raises(Exception):
                t.put(local, "deliveries/x.csv")  # deliveries are read only
    finally:
        server.stop()
    intake(xm)
    fed.settle_all()
    with opened(fed.province) as p:
        [b] = list_bundles(p.conn, res)
    assert b.handler == f"sftp:{agency}" and b.provider == agency


def test_an_addressed_message_reaches_its_node_only(tmp_path):
    from fjshare.node.emit import emit

    fed = build(tmp_path, cities=("350200", "350100", "350300"))
    try:
        with opened(fed.cities["350200"]) as c:
            sent = emit(c, kind="message", channel="to/350100", documents=[{"type": "hello"}])
        fed.settle_all()
        with opened(fed.cities["350100"]) as fz, opened(fed.cities["350300"]) as pt:
            assert fz.conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (sent.bundle_id,)).fetchone()
            assert not pt.conn.execute("SELECT 1 FROM bundles WHERE bundle_id = ?", (sent.bundle_id,)).fetchone()
    finally:
        fed.stop_server()


def test_the_province_refuses_data_a_city_signs_for_an_agency_outside_it(fed):
    """A node may only sign for agencies in its jurisdiction (DESIGN §4, Art 41)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fjshare.packaging.bag import BundleWriter
    from fjshare.packaging.manifest import Column, Provider, Resource as MR, Stream, derive_bundle_id
    from fjshare import ids

    xm = fed.cities["350200"]
    fuzhou_agency = ids.make_uscc("350102", "MB777777")
    with opened(xm) as c:
        bid = derive_bundle_id("forged")
        w = BundleWriter(xm / "work" / bid)
        pq.write_table(pa.table({"x": ["1"]}), w.data_path("part-0000.parquet"))
        w.finish(bundle_id=bid, kind="data", created=c.clock.now(), stream=Stream("350200", "data/109001/000001", 1, None),
                 handler="operator", signer_node="350200", signing_key=c.keys.signing,
                 provider=Provider(fuzhou_agency, "福州某局", "350102"),
                 resource=MR("109001/000001", "unconditional", "append"), schema=[Column("x", "string")], rows=1)
    up = fed.province / "exchange" / "350200" / "up"
    (xm / "work" / bid).rename(up / bid)
    [report] = fed.province_round()
    assert report.quarantined == [bid]
    reason = next((fed.province / "quarantine" / "inbox").glob("*.reason.txt")).read_text(encoding="utf-8")
    assert "outside-jurisdiction" in reason and "350102" in reason


def test_a_city_subscribes_to_another_citys_unconditional_resource(tmp_path):
    from fjshare.errors import Refused
    from fjshare.node import registry
    from fjshare.node.subscriptions import subscribe
    from fjshare import ids

    fed = build(tmp_path, cities=("350200", "350100"))
    try:
        xm, fz = fed.cities["350200"], fed.cities["350100"]
        agency, res = agency_with_resource(xm, "350200")
        _, secret = agency_with_resource(xm, "350200", resource="101001/000002", share_type="conditional",
                                         basis="《条例》", org="MB010002")
        drop(xm, agency, res, "a.csv", csv_rows(12))
        intake(xm)
        fed.settle_all()
        assert rows_at(fz, res) == 0  # the catalogue entry is there, the data is not
        fz_agency = ids.make_uscc("350102", "MB030003")
        with opened(fz) as c:
            registry.add_agency(c, fz_agency, name="福州市某局", region="350102")
            registry.add_user(c, "fz-analyst", agency=fz_agency, role="analyst")
        with opened(fz, "fz-analyst") as c:
            subscribe(c, res)
            with pytest.raises(Refused) as e:
                subscribe(c, secret)
            assert "grant" in str(e.value)
        fed.settle_all()
        assert rows_at(fz, res) == 12
        drop(xm, agency, res, "b.csv", csv_rows(3, start=500))  # new bundles follow
        intake(xm)
        fed.settle_all()
        assert rows_at(fz, res) == 15
    finally:
        fed.stop_server()
